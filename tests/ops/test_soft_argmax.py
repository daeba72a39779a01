"""``torch.ops.fastkp.soft_argmax``: against a float64 formula written out by hand and
against the eager composite, gradients (gradcheck), layouts, autocast, the peak, and
the operator inside PyTorch's machinery (opcheck, TorchScript in a fresh process,
torch.compile, torch.export, AOTInductor, the ONNX decomposition), on every device."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import fastkp.ops as ops
from support.capability import run_with_capability
from support.devices import cpu_and_cuda

DEVICES = cpu_and_cuda()
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-6)}
# Gradients are beta * p * (x - cx): a difference of numbers near 1, scaled by beta.
GRAD_TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-4, atol=1e-5)}
# W below, at and above a SIMD register of every width (4, 8, 16 lanes), and the
# issue's training sizes in small batches.
SHAPES = [(2, 3, 5, 7), (1, 1, 1, 1), (1, 2, 1, 9), (2, 2, 3, 16), (1, 3, 4, 33), (2, 17, 24, 32), (1, 4, 48, 64)]


def heatmaps(shape, dtype=torch.float64, device="cpu", scale=2.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(device, dtype)


def peaked(shape, dtype=torch.float64, seed=0):
    """Maps with one clear maximum each (as a trained head's), plus noise."""
    h = heatmaps(shape, dtype, scale=0.3, seed=seed)
    b, k, hh, ww = shape
    g = torch.Generator().manual_seed(seed + 1)
    idx = torch.randint(hh * ww, (b, k), generator=g)
    h.view(b, k, -1).scatter_add_(2, idx[..., None], torch.full((b, k, 1), 1.0, dtype=dtype))
    return h


def reference(h: torch.Tensor, beta: float):
    """The contract, written out in float64: p = softmax(beta * h) per map, coords = the
    p-weighted cell centres (2j + 1)/W - 1, (2i + 1)/H - 1, peak = max p."""
    h = h.double().cpu()
    b, k, hh, ww = h.shape
    z = beta * h.reshape(b, k, -1)
    e = torch.exp(z - z.max(dim=-1, keepdim=True).values)
    p = (e / e.sum(dim=-1, keepdim=True)).reshape(b, k, hh, ww)
    x = torch.tensor([(2 * j + 1) / ww - 1 for j in range(ww)], dtype=torch.float64)
    y = torch.tensor([(2 * i + 1) / hh - 1 for i in range(hh)], dtype=torch.float64)
    cx = (p * x[None, None, None, :]).sum(dim=(2, 3))
    cy = (p * y[None, None, :, None]).sum(dim=(2, 3))
    return torch.stack([cx, cy], dim=-1), p.reshape(b, k, -1).max(dim=-1).values


def reference_grad(h: torch.Tensor, beta: float, g: torch.Tensor):
    """d (coords . g) / d h = beta * p * (gx (x - cx) + gy (y - cy)), in float64."""
    h = h.double().cpu()
    b, k, hh, ww = h.shape
    z = beta * h.reshape(b, k, -1)
    e = torch.exp(z - z.max(dim=-1, keepdim=True).values)
    p = (e / e.sum(dim=-1, keepdim=True)).reshape(b, k, hh, ww)
    coords, _ = reference(h, beta)
    x = ((torch.arange(ww, dtype=torch.float64) * 2 + 1) / ww - 1)[None, None, None, :]
    y = ((torch.arange(hh, dtype=torch.float64) * 2 + 1) / hh - 1)[None, None, :, None]
    g = g.double().cpu()
    gx, gy = g[..., 0, None, None], g[..., 1, None, None]
    cx, cy = coords[..., 0, None, None], coords[..., 1, None, None]
    return beta * p * (gx * (x - cx) + gy * (y - cy))


# ---- values and gradients -----------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("beta", [1.0, 7.5, -0.5])
def test_matches_float64_reference(device, dtype, shape, beta):
    h = heatmaps(shape, dtype, device).requires_grad_()
    coords, peak = ops.soft_argmax(h, beta)
    assert coords.shape == (*shape[:2], 2) and peak.shape == shape[:2]
    assert coords.dtype == dtype and peak.dtype == dtype and coords.device == h.device
    ref_coords, ref_peak = reference(h.detach(), beta)
    torch.testing.assert_close(coords.detach().cpu().double(), ref_coords, **TOL[dtype])
    torch.testing.assert_close(peak.cpu().double(), ref_peak, **TOL[dtype])
    g = heatmaps((*shape[:2], 2), dtype, device, seed=3)
    (grad,) = torch.autograd.grad(coords, h, g)
    assert grad.is_contiguous() and grad.dtype == dtype
    torch.testing.assert_close(grad.cpu().double(), reference_grad(h.detach(), beta, g), **GRAD_TOL[dtype])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(64, 17, 24, 32), (16, 68, 16, 16), (4, 4, 48, 64)])
def test_float32_matches_composite(device, shape):
    h = heatmaps(shape, torch.float32, device, scale=3.0).requires_grad_()
    h_ref = h.detach().clone().requires_grad_()
    coords, peak = ops.soft_argmax(h, 2.0)
    ref_coords, ref_peak = ops.soft_argmax_composite(h_ref, 2.0)
    torch.testing.assert_close(coords, ref_coords, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(peak, ref_peak, rtol=1e-5, atol=1e-7)
    g = heatmaps((*shape[:2], 2), torch.float32, device, seed=4)
    coords.backward(g)
    ref_coords.backward(g)
    torch.testing.assert_close(h.grad, h_ref.grad, **GRAD_TOL[torch.float32])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("beta, make", [(1.0, heatmaps), (4.0, heatmaps), (50.0, peaked), (0.25, peaked)])
def test_gradcheck(device, beta, make):
    h = make((2, 3, 5, 6)).to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: ops.soft_argmax(t, beta)[0], (h,))


@pytest.mark.parametrize("device", DEVICES)
def test_double_backward_is_refused(device):
    h = heatmaps((1, 2, 3, 4), device=device).requires_grad_()
    (g,) = torch.autograd.grad(ops.soft_argmax(h, 1.0)[0].sum(), h, create_graph=True)
    with pytest.raises(RuntimeError, match="fastkp.soft_argmax: double backward"):
        g.sum().backward()


LAYOUTS = {
    "channels_last": lambda a: a.contiguous(memory_format=torch.channels_last),
    "transposed": lambda a: a.transpose(2, 3).contiguous().transpose(2, 3),
    "strided": lambda a: torch.cat([a, a], dim=3)[..., ::2],
    "expanded": lambda a: a[:1].expand_as(a),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_any_layout(device, layout):
    dense = heatmaps((3, 4, 6, 10), torch.float32, device)
    h = LAYOUTS[layout](dense)
    assert not h.is_contiguous()
    dense = h.contiguous()
    x, x_ref = h.clone(memory_format=torch.preserve_format).requires_grad_(), dense.clone().requires_grad_()
    out, out_ref = ops.soft_argmax(x, 3.0), ops.soft_argmax(x_ref, 3.0)
    for a, b in zip(out, out_ref):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    g = heatmaps((3, 4, 2), torch.float32, device, seed=2)
    out[0].backward(g)
    out_ref[0].backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=0, atol=0)
    # The backward's result: channels-last for channels-last maps (a convolution's backward wants
    # it), else contiguous (AccumulateGrad then gives .grad the input's strides).
    grad = torch.ops.fastkp.soft_argmax_backward(g, h, out[0].detach(), out[1], 3.0)
    cl = layout == "channels_last"
    assert grad.is_contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)


@pytest.mark.parametrize("device", DEVICES)
def test_peak_is_the_largest_probability_and_not_differentiable(device):
    h = peaked((3, 5, 8, 12)).to(device).requires_grad_()
    coords, peak = ops.soft_argmax(h, 10.0)
    expected = torch.softmax(10.0 * h.detach().flatten(2), dim=-1).amax(dim=-1)
    torch.testing.assert_close(peak, expected, **TOL[torch.float64])
    assert (peak > 0).all() and (peak <= 1).all() and peak.min() > 0.1  # peaked maps score high
    assert coords.requires_grad and not peak.requires_grad
    ops.soft_argmax(h, 10.0)[0].square().sum().backward()  # peak unused
    assert h.grad is not None and h.grad.isfinite().all()
    # A loss that also uses peak: only coords carries the gradient.
    h.grad = None
    (coords.square().sum() + peak.sum()).backward()
    torch.testing.assert_close(h.grad, reference_grad(h.detach(), 10.0, 2 * coords.detach()).to(device))
    # A flat map: every cell 1 / (H W), the centre of the frame.
    flat_coords, flat_peak = ops.soft_argmax(torch.zeros(1, 1, 4, 5, device=device), 1.0)
    torch.testing.assert_close(flat_peak, torch.full((1, 1), 1 / 20, device=device))
    torch.testing.assert_close(flat_coords, torch.zeros(1, 1, 2, device=device))


@pytest.mark.parametrize("device", DEVICES)
def test_a_single_hot_cell_lands_on_its_centre(device):
    """fastkp's frame: x' = 2x/W - 1 with pixel centres at i + 0.5."""
    h = torch.full((1, 1, 6, 8), -1e4, device=device)
    h[0, 0, 2, 5] = 0
    coords, peak = ops.soft_argmax(h, 1.0)
    torch.testing.assert_close(coords[0, 0], torch.tensor([2 * 5.5 / 8 - 1, 2 * 2.5 / 6 - 1], device=device))
    assert peak.item() == 1.0


@pytest.mark.parametrize("device", DEVICES)
def test_non_finite_maps_give_nan_as_softmax_does(device):
    h = heatmaps((4, 2, 5, 19), torch.float32, device)
    h[0, 0, 1, 2] = float("nan")
    h[1, 1, 4, 18] = float("inf")  # in a register's tail
    h[2, 0] = float("-inf")
    h.requires_grad_()
    coords, peak = ops.soft_argmax(h, 2.0)
    ref_coords, ref_peak = ops.soft_argmax_composite(h.detach(), 2.0)
    torch.testing.assert_close(coords, ref_coords, equal_nan=True)
    torch.testing.assert_close(peak, ref_peak, equal_nan=True)
    bad = torch.zeros(4, 2, dtype=torch.bool, device=device)
    bad[0, 0] = bad[1, 1] = bad[2, 0] = True
    assert coords[bad].isnan().all() and coords[~bad].isfinite().all()
    coords.sum().backward()
    assert h.grad[bad].isnan().all() and h.grad[~bad].isfinite().all()


@pytest.mark.parametrize("device", DEVICES)
def test_empty_batch(device):
    h = torch.zeros(0, 3, 4, 4, device=device, requires_grad=True)
    coords, peak = ops.soft_argmax(h, 1.0)
    assert coords.shape == (0, 3, 2) and peak.shape == (0, 3)
    coords.sum().backward()
    assert h.grad.shape == h.shape


# The autocast dtype training uses on each device: bf16 on the CPU, fp16 on CUDA.
AUTOCAST = {"cpu": torch.bfloat16, "cuda": torch.float16}


@pytest.mark.parametrize("device", DEVICES)
def test_autocast_computes_in_float32(device):
    conv = torch.nn.Conv2d(3, 4, 1).to(device)
    x = torch.randn(2, 3, 6, 8, device=device)
    with torch.autocast(device, dtype=AUTOCAST[device]):
        h = conv(x)
        assert h.dtype == AUTOCAST[device]
        coords, peak = ops.soft_argmax(h, 2.0)
        ref_coords, ref_peak = ops.soft_argmax_composite(h, 2.0)
    assert coords.dtype == peak.dtype == ref_coords.dtype == ref_peak.dtype == torch.float32
    expected = reference(h.float(), 2.0)
    torch.testing.assert_close(coords, expected[0].float().to(device))
    torch.testing.assert_close(peak, expected[1].float().to(device))
    torch.testing.assert_close(ref_coords, coords)
    coords.square().sum().backward()  # gradients flow back through the cast
    assert conv.weight.grad.dtype == torch.float32 and conv.weight.grad.isfinite().all()
    # float64 stays float64 under autocast, as PyTorch's own float32-list ops do.
    with torch.autocast(device, dtype=AUTOCAST[device]):
        assert ops.soft_argmax(h.double(), 1.0)[0].dtype == torch.float64


# ---- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "call, message",
    [
        (lambda d: ops.soft_argmax(torch.randn(2, 3, 4, device=d)), r"heatmaps must be a 4-D \(B, K, H, W\) tensor, got shape \[2, 3, 4\]"),
        (lambda d: ops.soft_argmax(torch.randn(1, 2, 0, 4, device=d)), r"heatmaps must have H and W of at least 1, got shape \[1, 2, 0, 4\]"),
        (lambda d: ops.soft_argmax(torch.randn(1, 2, 3, 0, device=d)), "heatmaps must have H and W of at least 1"),
        (lambda d: ops.soft_argmax(torch.ones(1, 1, 2, 2, dtype=torch.long, device=d)), r"heatmaps must be a float32 or float64 tensor.*got Long"),
        (lambda d: ops.soft_argmax(torch.ones(1, 1, 2, 2, dtype=torch.float16, device=d)), r"heatmaps must be a float32 or float64.*got Half"),
        (lambda d: ops.soft_argmax(torch.ones(1, 1, 2, 2, device=d), float("nan")), "beta must be finite, got nan"),
        (lambda d: torch.ops.fastkp.soft_argmax_backward(torch.ones(1, 2, 2, device=d), torch.ones(1, 1, 2, 2, device=d),
                                                         torch.ones(1, 1, 2, device=d), torch.ones(1, 1, device=d), 1.0),
         r"grad_coords of shape \[1, 2, 2\] must have shape \[1, 1, 2\]"),
        (lambda d: torch.ops.fastkp.soft_argmax_backward(torch.ones(1, 1, 2, device=d), torch.ones(1, 1, 2, 2, device=d),
                                                         torch.ones(1, 1, 2, device=d).double(), torch.ones(1, 1, device=d), 1.0),
         "coords has dtype Double but heatmaps has dtype Float"),
        (lambda d: torch.ops.fastkp.soft_argmax_backward(torch.ones(1, 1, 2, device=d), torch.ones(1, 1, 2, 2, device=d),
                                                         torch.ones(1, 1, 2, device=d), torch.ones(1, device=d), 1.0),
         r"peak of shape \[1\] must have shape \[1, 1\]"),
    ],
)
def test_bad_input_names_the_argument(device, call, message):
    with pytest.raises(RuntimeError, match=message):
        call(device)


# ---- inside PyTorch's machinery -----------------------------------------------------


def example_args(device):
    h = heatmaps((3, 4, 5, 7), torch.float32, device)
    return [
        (h.clone().requires_grad_(), 1.0),
        (h.double().requires_grad_(), 20.0),
        (h.contiguous(memory_format=torch.channels_last).requires_grad_(), 2.0),
        (h[:, :, :, ::2], 0.5),
    ]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("i", range(4))
def test_opcheck(device, i):
    torch.library.opcheck(torch.ops.fastkp.soft_argmax.default, example_args(device)[i])


def test_opcheck_backward():
    h = heatmaps((2, 3, 4, 5), torch.float32)
    coords, peak = ops.soft_argmax(h, 2.0)
    torch.library.opcheck(torch.ops.fastkp.soft_argmax_backward.default,
                          (torch.randn(2, 3, 2), h.contiguous(memory_format=torch.channels_last), coords, peak, 2.0))


def test_autograd_is_registered_in_cpp():
    for op in ("soft_argmax", "soft_argmax_backward"):
        autograd = next(line for line in torch._C._dispatch_dump(f"fastkp::{op}").splitlines()
                        if line.startswith("Autograd"))
        assert "csrc/ops/autograd/" in autograd  # not a Python kernel
    assert torch._C._dispatch_has_kernel_for_dispatch_key("fastkp::soft_argmax", "AutocastCPU")
    assert torch._C._dispatch_has_kernel_for_dispatch_key("fastkp::soft_argmax", "AutocastCUDA")
    assert ops.has_cuda_kernels() == torch._C._dispatch_has_kernel_for_dispatch_key("fastkp::soft_argmax", "CUDA")


class Decode(torch.nn.Module):
    """A heatmap head's end: a 1x1 convolution to K maps, decoded."""

    def __init__(self, beta: float = 4.0):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 5, 1)
        self.beta = beta

    def forward(self, x: torch.Tensor):
        coords, peak = torch.ops.fastkp.soft_argmax(self.conv(x), self.beta)
        return coords, peak


FRESH_PROCESS = """
import sys, torch
torch.ops.load_library(sys.argv[1])  # the operator library alone, as a C++ program loads it
model = torch.jit.load(sys.argv[2])
x, expected_coords, expected_peak = torch.load(sys.argv[3])
coords, peak = model(x)
torch.testing.assert_close(coords, expected_coords)
torch.testing.assert_close(peak, expected_peak)
x.requires_grad_()
model(x)[0].sum().backward()  # the backward runs in C++ too
assert x.grad.isfinite().all() and x.grad.abs().sum() > 0
print("ok")
"""


def test_torchscript_round_trip_in_a_fresh_process(tmp_path):
    torch.manual_seed(0)
    model = Decode().eval()
    x = torch.randn(2, 3, 6, 8)
    scripted = torch.jit.script(model)
    assert "ops.fastkp.soft_argmax" in scripted.code
    scripted.save(str(tmp_path / "decode.pt"))
    torch.save((x, *model(x)), tmp_path / "io.pt")
    res = subprocess.run([sys.executable, "-c", FRESH_PROCESS, ops.library_path(), str(tmp_path / "decode.pt"),
                          str(tmp_path / "io.pt")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def decode_with_the_wrapper(h: torch.Tensor):
    return ops.soft_argmax(h, 2.0)


def test_torchscript_scripts_the_python_wrapper():
    fn = torch.jit.script(decode_with_the_wrapper)
    h = heatmaps((1, 2, 3, 4))
    torch.testing.assert_close(fn(h), ops.soft_argmax(h, 2.0))


def loss_and_grads(model, x):
    coords, peak = model(x)
    loss = coords.square().sum() + peak.sum()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_torch_compile_fullgraph(device, backend):
    torch.manual_seed(0)
    eager, compiled = Decode().to(device), Decode().to(device)
    compiled.load_state_dict(eager.state_dict())
    x = torch.randn(2, 3, 6, 8, device=device)
    loss_c, grads_c = loss_and_grads(torch.compile(compiled, fullgraph=True, backend=backend), x)
    loss_e, grads_e = loss_and_grads(eager, x)
    torch.testing.assert_close(loss_c, loss_e)
    for a, b in zip(grads_c, grads_e):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_export(device):
    torch.manual_seed(0)
    model = Decode().to(device).eval()
    x = torch.randn(2, 3, 6, 8, device=device)
    batch = torch.export.Dim("batch", min=1)
    exported = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
    targets = {str(n.target) for n in exported.graph.nodes if n.op == "call_function"}
    assert "fastkp.soft_argmax.default" in targets
    x3 = torch.randn(3, 3, 6, 8, device=device)
    for a, b in zip(exported.module()(x3), model(x3)):
        torch.testing.assert_close(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_aot_inductor_package(device, tmp_path):
    """The pt2 path (fastkp.export.pt2): the operator stays a call AOTInductor's proxy executor dispatches."""
    torch.manual_seed(0)
    model = Decode().to(device).eval()
    x = torch.randn(2, 3, 6, 8, device=device)
    program = torch.export.export(model, (x,))
    path = torch._inductor.aoti_compile_and_package(program, package_path=str(tmp_path / "decode.pt2"))
    loaded = torch._inductor.aoti_load_package(path)
    for a, b in zip(loaded(x), model(x)):
        torch.testing.assert_close(a, b)


def test_onnx_decomposition_runs_in_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from fastkp.export.onnx import OPSET, decompositions

    torch.manual_seed(0)
    model = Decode().eval()
    x = torch.randn(2, 3, 6, 8)
    # batch, height and width dynamic, as fastkp.export's programs are
    dims = {"x": {0: torch.export.Dim("b", min=1), 2: torch.export.Dim("h", min=2), 3: torch.export.Dim("w", min=2)}}
    program = torch.export.export(model, (x,), dynamic_shapes=dims).run_decompositions(decompositions())
    targets = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert not any("fastkp" in t for t in targets), targets
    onnx_program = torch.onnx.export(program, dynamo=True, opset_version=OPSET, verbose=False)
    proto = onnx_program.model_proto
    kinds = {n.op_type for n in proto.graph.node}
    assert "Softmax" in kinds and "ReduceMax" in kinds, kinds
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for x in (x, torch.randn(1, 3, 11, 5)):
        coords, peak = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        with torch.no_grad():
            expected = model(x)
        torch.testing.assert_close(torch.from_numpy(coords), expected[0], rtol=0, atol=1e-5)
        torch.testing.assert_close(torch.from_numpy(peak), expected[1], rtol=0, atol=1e-5)


# ---- every CPU instruction set, and CUDA against the CPU -----------------------------

CAPABILITY_CHECK = """
import torch, fastkp.ops as ops
print(ops.cpu_capability())
g = torch.Generator().manual_seed(0)
for shape, cl in [((3, 5, 7, 13), False), ((2, 3, 16, 16), False), ((1, 2, 5, 33), False), ((2, 17, 9, 20), True)]:
    h = (torch.randn(shape, generator=g) * 3)
    h = h.contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format).requires_grad_()
    h_ref = h.detach().clone().requires_grad_()
    out, ref = ops.soft_argmax(h, 2.0), ops.soft_argmax_composite(h_ref, 2.0)
    torch.testing.assert_close(out, ref)
    out[0].sum().backward()
    ref[0].sum().backward()
    torch.testing.assert_close(h.grad, h_ref.grad)
"""


@pytest.mark.parametrize("capability", ["default", "avx2"])
def test_every_cpu_instruction_set_computes_the_same(capability):
    run_with_capability(CAPABILITY_CHECK, capability)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(64, 17, 24, 32), (16, 68, 16, 16), (2, 4, 48, 64), (3, 2, 1, 300), (1, 1, 70, 70)])
def test_cuda_matches_cpu(dtype, shape):
    h = heatmaps(shape, dtype, scale=3.0).requires_grad_()
    h_cuda = h.detach().cuda().requires_grad_()
    out, out_cuda = ops.soft_argmax(h, 3.0), ops.soft_argmax(h_cuda, 3.0)
    for a, b in zip(out_cuda, out):
        torch.testing.assert_close(a.cpu(), b, **TOL[dtype])
    g = heatmaps((*shape[:2], 2), dtype, seed=7)
    out[0].backward(g)
    out_cuda[0].backward(g.cuda())
    torch.testing.assert_close(h_cuda.grad.cpu(), h.grad, **GRAD_TOL[dtype])
