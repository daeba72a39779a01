"""torchrun support: process group set-up and reductions (gloo on CPU, nccl on CUDA)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_from_env(device: torch.device) -> tuple[int, int]:
    """Join the process group torchrun describes in the environment; (rank, world_size)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def sum_dict(values: dict[str, torch.Tensor | float], device: torch.device) -> dict[str, float]:
    """Add up scalar sums across ranks (one all_reduce for all of them)."""
    keys = sorted(values)
    vec = torch.stack([torch.as_tensor(values[k], dtype=torch.float64, device=device) for k in keys])
    if active():
        dist.all_reduce(vec)
    return dict(zip(keys, vec.tolist()))


def any_flag(flag: torch.Tensor) -> bool:
    """Whether ``flag`` (a bool tensor) is set on any rank: one all_reduce, one host sync."""
    value = flag.to(torch.int32)
    if active():
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def union_keys(keys: list[str]) -> list[str]:
    """The sorted union of every rank's ``keys``."""
    return sorted({k for part in gather_objects(keys) for k in part})


def gather_objects(obj):
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
    if not active():
        return [obj]
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj):
    """Rank 0's ``obj`` on every rank (``obj`` itself outside torchrun)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if active():
        dist.barrier()


def gather_arrays(arrays: list) -> list:
    """Concatenate per-rank lists of numpy arrays on every rank."""
    return [a for part in gather_objects(arrays) for a in part]


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
