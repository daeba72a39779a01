"""ONNX files: ``torch.export`` of the DeployModule, converted by ``torch.onnx`` at opset 18.

The fused operators become plain ONNX: ``fastkp::sigmoid_range`` is decomposed into
Sigmoid, Mul and Add, ``fastkp::soft_argmax`` into its eager composite (Softmax, the
weighted sums as ReduceSum and Mul, ReduceMax for the peak) before conversion (the BCE
loss is not in a deployed model). Batch, height and width stay dynamic; ``fastkp.json``
is the model's ``metadata_props`` entry ``fastkp.json``. The file is self-contained (no
external data) and runs in onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..atomic import atomic_writer
from ..errors import ExportError
from .formats import ExportFormat, register
from .metadata import FILE_NAME, ModelMetadata
from .module import DeployModule
from .pt2 import export_program

OPSET = 18
INPUT = "images"
CPU = torch.device("cpu")
MAX_BYTES = 2**31 - 1  # protobuf's limit for one file without external data


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export and loading need the onnx package: pip install 'fastkp[onnx]'") from None
    return onnx


def _sigmoid_range(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return torch.sigmoid(x) * (hi - lo) + lo


def decompositions() -> dict:
    """``run_decompositions`` table: each fused operator of a deployed model -> plain torch ops."""
    from ..ops import soft_argmax_composite

    return {torch.ops.fastkp.sigmoid_range.default: _sigmoid_range,
            torch.ops.fastkp.soft_argmax.default: soft_argmax_composite}


def save_onnx(module: DeployModule, meta: ModelMetadata, out: Path, device: torch.device = CPU,
              freeze: bool = True) -> None:
    """Export ``module`` (on the CPU, unfrozen: onnxruntime folds constants itself) and write the ONNX file with ``fastkp.json``, atomically."""
    _onnx()
    program = export_program(module, torch.device("cpu"))
    program = program.run_decompositions(decompositions())
    names = [h["name"] for h in meta.heads]
    inputs = [INPUT, "boxes"] if meta.box_crop is not None else [INPUT]
    converted = torch.onnx.export(program, dynamo=True, opset_version=OPSET, input_names=inputs,
                                  output_names=names, verbose=False)
    proto = converted.model_proto
    entry = proto.metadata_props.add()
    entry.key, entry.value = FILE_NAME, meta.to_json()
    data = proto.SerializeToString()
    with atomic_writer(out) as f:
        f.write(data)


def read_onnx_metadata(path: Path) -> str:
    """The ``fastkp.json`` text of an ONNX file; ExportError naming the file otherwise."""
    onnx = _onnx()
    if path.stat().st_size > MAX_BYTES:
        raise ExportError(f"{path}: over 2 GiB, larger than an ONNX file without external data can be")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends
        raise ExportError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    external = _external_tensor(proto, onnx.TensorProto)
    if external is not None:
        raise ExportError(f"{path}: an ONNX model with external data files (tensor {external!r}); fastkp "
                          "exports and runs self-contained files only")
    found = [p.value for p in proto.metadata_props if p.key == FILE_NAME]
    if not found:
        raise ExportError(f"{path}: an ONNX model without {FILE_NAME} in its metadata: not exported by "
                          "fastkp.export")
    return found[0]


def _external_tensor(model, tensor_type) -> str | None:
    """The name of a tensor anywhere in ``model`` whose data lives in another file, or None.

    onnxruntime reads such a tensor wherever it is (a Constant node's attribute, an
    initializer of an If/Loop/Scan body, a sparse tensor's values, a function), so every
    TensorProto of the whole message tree is checked: onnx's own walker
    (``external_data_helper._get_all_tensors``) skips sparse tensors and functions."""
    from google.protobuf.message import Message  # onnx's protobuf

    stack = [model]
    while stack:  # a stack, not recursion: subgraphs nest as deep as the file says
        message = stack.pop()
        if isinstance(message, tensor_type):
            if message.data_location == tensor_type.EXTERNAL or len(message.external_data):
                return message.name or "(unnamed)"
            continue
        for field, value in message.ListFields():
            if field.type == field.TYPE_MESSAGE:  # one message, or a repeated field of them
                stack.extend([value] if isinstance(value, Message) else value)
    return None


def load_onnx(path: Path, meta: ModelMetadata, device: torch.device):
    """A callable running the ONNX file in onnxruntime on ``device``: uint8 (B, H, W, 3)
    tensor (and float32 (B, 4) boxes for a box-crop model) -> one float32 tensor per head
    (the tensor itself for one head)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError(f"{path}: running ONNX models needs onnxruntime: pip install 'fastkp[onnx]'") from None
    provider = "CUDAExecutionProvider" if device.type == "cuda" else "CPUExecutionProvider"
    if provider not in ort.get_available_providers():
        raise ExportError(f"{path}: onnxruntime here has no {provider} (install onnxruntime-gpu for CUDA)")
    try:
        session = ort.InferenceSession(str(path), providers=[provider])
    except Exception as e:  # onnxruntime's Fail / InvalidGraph ...
        raise ExportError(f"{path}: onnxruntime cannot load it ({str(e).splitlines()[0]})") from None
    names = [i.name for i in session.get_inputs()]

    def run(*inputs: torch.Tensor):
        feed = {name: t.cpu().numpy() for name, t in zip(names, inputs)}
        outs = [torch.from_numpy(o).to(device) for o in session.run(None, feed)]
        return outs[0] if len(outs) == 1 else outs

    return run


register(ExportFormat("onnx", save_onnx, load_onnx))
