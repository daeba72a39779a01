"""Where and how a run computes, from its Config: the device, mixed precision and threads.
The loaders (built before the Learner) and the model agree through this one rule."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import Config, resolve_device


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX-512 BF16 or AMX), as oneDNN decides."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    amp: bool  # autocast on: asked for, and on a CUDA device or a CPU with bf16 instructions
    amp_dtype: torch.dtype  # float16 on CUDA (with a GradScaler), bfloat16 on the CPU
    threads: int

    @classmethod
    def of(cls, config: Config) -> Runtime:
        device = resolve_device(config.device)
        # bf16 on a CPU without bf16 instructions (AVX2 only) runs about 10x slower than fp32
        amp = config.amp and (device.type == "cuda" or cpu_has_bf16())
        return cls(device, amp, torch.float16 if device.type == "cuda" else torch.bfloat16,
                   config.threads or torch.get_num_threads())

    @property
    def load_dtype(self) -> torch.dtype:
        """What the loaders emit: the autocast dtype under amp, else float32."""
        return self.amp_dtype if self.amp else torch.float32
