"""The fused operators against PyTorch's own math, value and gradient, on every device
(``cpu_and_cuda()``): PyTorch on the same device is the reference, float64 math on
the CPU the truth."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import fastkp.nn
import fastkp.ops as ops
from support.capability import run_with_capability
from support.devices import cpu_and_cuda

REDUCTIONS = ["none", "mean", "sum"]
HALF = [torch.float16, torch.bfloat16]
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-6)}
DEVICES = cpu_and_cuda()


def ref_sigmoid_range(x, lo, hi):
    return torch.sigmoid(x) * (hi - lo) + lo


def logits(shape, dtype=torch.float64, device="cpu", scale=4.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(device, dtype)


def soft_targets(shape, dtype=torch.float64, device="cpu", seed=1):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(shape, generator=g, dtype=torch.float64)
    t[..., ::3] = t[..., ::3].round()  # hard 0/1 labels mixed with soft ones
    return t.to(device, dtype)


def assert_no_worse_than_torch(ours, theirs, exact):
    """Half types: our error against float64 math is at most PyTorch's own error
    at that precision (or half an ulp of the result, whichever is larger)."""
    ours, theirs, exact = ours.cpu(), theirs.cpu(), exact.cpu()
    ulp = torch.finfo(ours.dtype).eps * exact.abs().clamp_min(torch.finfo(ours.dtype).tiny)
    our_err = (ours.double() - exact).abs()
    their_err = (theirs.double() - exact).abs()
    assert (our_err <= torch.maximum(their_err, ulp) + 1e-12).all(), (
        f"max error {our_err.max().item():.3g} vs PyTorch {their_err.max().item():.3g}"
    )


SHAPES = [(64, 2), (64, 20), (3, 5, 7), (1000,), (0, 4), ()]
LAYOUTS = {
    "transposed": lambda a: a.transpose(0, 3),
    "strided": lambda a: a[:, ::2, 1:, ::3],
    "channels_last": lambda a: a.contiguous(memory_format=torch.channels_last),
    "expanded": lambda a: a[:1, :1].expand_as(a),
}


# ---- sigmoid_range ------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_sigmoid_range_matches_composite(device, dtype, shape):
    x = logits(shape, dtype, device).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    y = ops.sigmoid_range(x, -1.0, 2.5)
    y_ref = ref_sigmoid_range(x_ref, -1.0, 2.5)
    torch.testing.assert_close(y, y_ref, **TOL[dtype])
    g = logits(shape, dtype, device, seed=5)
    y.backward(g)
    y_ref.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad, **TOL[dtype])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", HALF)
def test_sigmoid_range_half_types_within_torch_error(device, dtype):
    x = logits((4096,), dtype, device).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    exact = ref_sigmoid_range(x.detach().cpu().double(), -1.0, 1.0)
    y = ops.sigmoid_range(x, -1.0, 1.0)
    y_ref = ref_sigmoid_range(x_ref, -1.0, 1.0)
    assert y.dtype == dtype
    assert_no_worse_than_torch(y, y_ref, exact)
    g = torch.ones_like(y)
    y.backward(g)
    y_ref.backward(g)
    s = torch.sigmoid(x.detach().cpu().double())
    assert_no_worse_than_torch(x.grad, x_ref.grad, 2 * s * (1 - s))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_sigmoid_range_non_contiguous(device, layout):
    x = LAYOUTS[layout](logits((8, 6, 5, 4), torch.float32, device)).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()  # clone keeps the layout
    y, y_ref = ops.sigmoid_range(x, 0.0, 320.0), ref_sigmoid_range(x_ref, 0.0, 320.0)
    torch.testing.assert_close(y, y_ref, **TOL[torch.float32])
    assert y.stride() == y_ref.stride()  # the memory format is kept, as PyTorch keeps it
    g = logits(x.shape[::-1], torch.float32, device, seed=2).permute(3, 2, 1, 0)  # yet another layout
    y.backward(g)
    y_ref.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad, **TOL[torch.float32])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("out_layout", ["contiguous", "transposed", "strided", "wrong_size"])
def test_sigmoid_range_out_variant(device, out_layout):
    x = logits((20, 30), torch.float32, device)
    out = {
        "contiguous": lambda: torch.empty(20, 30, device=device),
        "transposed": lambda: torch.empty(30, 20, device=device).t(),
        "strided": lambda: torch.empty(20, 60, device=device)[:, ::2],
        "wrong_size": lambda: torch.empty(0, device=device),
    }[out_layout]()
    res = torch.ops.fastkp.sigmoid_range.out(x, -1.0, 1.0, out=out)
    assert res is out and out.shape == x.shape
    torch.testing.assert_close(out, ref_sigmoid_range(x, -1.0, 1.0))


@pytest.mark.parametrize("device", DEVICES)
def test_out_partly_overlapping_the_input_is_refused(device):
    """Small inputs take a path of their own on the CPU; it refuses what TensorIterator refuses."""
    x = logits((64,), torch.float32, device)
    with pytest.raises(RuntimeError, match="refer to a single memory location"):
        torch.ops.fastkp.sigmoid_range.out(x[1:], -1.0, 1.0, out=x[:-1])
    torch.ops.fastkp.sigmoid_range.out(x, -1.0, 1.0, out=x)  # fully in place is allowed
    torch.testing.assert_close(x, ref_sigmoid_range(logits((64,), torch.float32, device), -1.0, 1.0))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, *HALF])
def test_sigmoid_range_extreme_logits(device, dtype):
    x = torch.tensor([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4], dtype=dtype, device=device, requires_grad=True)
    y = ops.sigmoid_range(x, -1.0, 1.0)
    y.sum().backward()
    x_ref = x.detach().clone().requires_grad_()
    y_ref = ref_sigmoid_range(x_ref, -1.0, 1.0)
    y_ref.sum().backward()
    assert torch.equal(y.isfinite(), y_ref.isfinite()) and y.isfinite().all()
    assert torch.equal(x.grad.isfinite(), x_ref.grad.isfinite())
    torch.testing.assert_close(y, y_ref, atol=1e-3 if dtype in HALF else 1e-6, rtol=0)
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-3 if dtype in HALF else 1e-6, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_sigmoid_range_gradcheck(device):
    x = logits((6, 3), device=device).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: ops.sigmoid_range(t, -2.0, 3.0), (x,))


@pytest.mark.parametrize("device", DEVICES)
def test_sigmoid_range_double_backward_is_refused(device):
    x = logits((4, 2), device=device).requires_grad_()
    (g,) = torch.autograd.grad(ops.sigmoid_range(x, -1.0, 1.0).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="fastkp.sigmoid_range: double backward"):
        g.sum().backward()


# ---- bce_with_logits ----------------------------------------------------------------


def run_bce(fn, x, t, w, pw, reduction, target_grad):
    x = x.detach().clone().requires_grad_()
    t = t.detach().clone().requires_grad_(target_grad)
    loss = fn(x, t, weight=w, pos_weight=pw, reduction=reduction)
    g = torch.ones_like(loss) if reduction != "none" else logits(loss.shape, loss.dtype, loss.device, seed=9)
    loss.backward(g)
    return loss, x.grad, t.grad


def run_all(x, t, w, pw, reduction):
    """(ours, PyTorch's, float64 truth on the CPU), each (loss, grad_input, grad_target)."""
    as64 = lambda a: None if a is None else a.cpu().double()  # noqa: E731
    ours = run_bce(ops.bce_with_logits, x, t, w, pw, reduction, True)
    theirs = run_bce(F.binary_cross_entropy_with_logits, x, t, w, pw, reduction, True)
    exact = run_bce(F.binary_cross_entropy_with_logits, as64(x), as64(t), as64(w), as64(pw), reduction, True)
    return ours, theirs, exact


WEIGHTS = {
    "plain": (None, None),
    "weight": ((64, 20), None),
    "pos_weight": (None, (20,)),
    "both": ((64, 1), (20,)),
    "scalar_weight": ((), (1,)),
}


def assert_matches_torch(ours, theirs, exact, dtype):
    """Within TOL of PyTorch; where a formula cancels (the gradients with
    pos_weight subtract nearly equal terms) an ulp of difference in the
    intermediates may exceed that, so there our error against the float64
    truth must be no larger than PyTorch's own."""
    ours, theirs = ours.cpu(), theirs.cpu()
    tol = TOL[dtype]
    close = (ours - theirs).abs() <= tol["atol"] + tol["rtol"] * theirs.abs()
    our_err = (ours.double() - exact).abs()
    their_err = (theirs.double() - exact).abs()
    ok = close | (our_err <= their_err * 1.001)
    worst = (ours - theirs).abs().max().item()
    assert ok.all(), f"{(~ok).sum().item()} elements differ; max |ours - torch| = {worst:.3g}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", list(WEIGHTS))
def test_bce_matches_torch(device, dtype, reduction, weights):
    x = logits((64, 20), dtype, device)
    t = soft_targets((64, 20), dtype, device)
    g = torch.Generator().manual_seed(3)
    w_shape, pw_shape = WEIGHTS[weights]
    w = None if w_shape is None else (torch.rand(w_shape, generator=g, dtype=torch.float64) + 0.5).to(device, dtype)
    pw = None if pw_shape is None else (torch.rand(pw_shape, generator=g, dtype=torch.float64) * 4).to(device, dtype)
    for a, b, e in zip(*run_all(x, t, w, pw, reduction)):
        assert a.dtype == dtype and a.shape == b.shape and a.device == b.device
        assert_matches_torch(a, b, e, dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_half_types_within_torch_error(device, dtype, reduction):
    x = logits((256, 20), dtype, device)
    t = soft_targets((256, 20), dtype, device)
    pw = (torch.rand(20) * 3).to(device, dtype)
    for a, b, e in zip(*run_all(x, t, None, pw, reduction)):
        assert a.dtype == dtype
        assert_no_worse_than_torch(a, b, e)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_non_contiguous(device, layout, reduction):
    view = LAYOUTS[layout]
    x = view(logits((4, 6, 10, 8), torch.float32, device))
    t = view(soft_targets((4, 6, 10, 8), torch.float32, device))
    pw = (torch.rand(x.shape[-1], generator=torch.Generator().manual_seed(4)) * 2).to(device)
    for a, b, e in zip(*run_all(x, t, None, pw, reduction)):
        assert a.stride() == b.stride()  # the memory format is kept, as PyTorch keeps it
        assert_matches_torch(a, b, e, torch.float32)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_out_variant(device, reduction):
    x, t = logits((20, 30), torch.float32, device), soft_targets((20, 30), torch.float32, device)
    out = torch.empty(30, 20, device=device).t() if reduction == "none" else torch.empty(5, device=device)
    res = torch.ops.fastkp.bce_with_logits.out(x, t, None, None, ops.reduction_code(reduction), out=out)
    assert res is out
    torch.testing.assert_close(out, F.binary_cross_entropy_with_logits(x, t, reduction=reduction))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_empty(device, reduction):
    x = torch.empty(0, 20, device=device, requires_grad=True)
    t = torch.empty(0, 20, device=device)
    loss = ops.bce_with_logits(x, t, reduction=reduction)
    ref = F.binary_cross_entropy_with_logits(x.detach(), t, reduction=reduction)
    torch.testing.assert_close(loss, ref, equal_nan=True)
    loss.sum().backward()
    assert x.grad.shape == x.shape


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, *HALF])
def test_bce_extreme_logits(device, dtype):
    x = torch.tensor([-1e4, -100.0, -20.0, 0.0, 20.0, 100.0, 1e4] * 2, dtype=dtype, device=device)
    t = torch.tensor([0.0] * 7 + [1.0] * 7, dtype=dtype, device=device)
    pw = torch.tensor(3.0, dtype=dtype, device=device)
    for reduction in REDUCTIONS:
        ours = run_bce(ops.bce_with_logits, x, t, None, pw, reduction, True)
        theirs = run_bce(F.binary_cross_entropy_with_logits, x, t, None, pw, reduction, True)
        for a, b in zip(ours, theirs):
            assert torch.equal(a.isfinite(), b.isfinite())
            torch.testing.assert_close(a, b, rtol=1e-2 if dtype in HALF else 1e-5, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_bce_gradcheck(device):
    x = logits((5, 4), device=device).requires_grad_()
    t = soft_targets((5, 4), device=device).requires_grad_()
    w = torch.rand(5, 1, dtype=torch.float64, device=device) + 0.5
    pw = torch.rand(4, dtype=torch.float64, device=device) * 3
    for reduction in REDUCTIONS:
        for p in (None, pw):
            assert torch.autograd.gradcheck(
                lambda a, b: ops.bce_with_logits(a, b, weight=w, pos_weight=p, reduction=reduction), (x, t)
            )


@pytest.mark.parametrize("device", DEVICES)
def test_bce_module_matches_torch_module(device):
    pw = torch.rand(20, device=device) * 2
    x, t = logits((64, 20), torch.float32, device), soft_targets((64, 20), torch.float32, device)
    ours = fastkp.nn.BCEWithLogitsLoss(pos_weight=pw)(x, t)
    theirs = torch.nn.BCEWithLogitsLoss(pos_weight=pw)(x, t)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["weight", "pos_weight"])
def test_bce_weight_gradient_is_refused(device, name):
    x, t = logits((4, 3), device=device).requires_grad_(), soft_targets((4, 3), device=device)
    w = torch.ones(3, dtype=torch.float64, device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="weight or pos_weight are not supported"):
        ops.bce_with_logits(x, t, **{name: w}).backward()


@pytest.mark.parametrize("device", DEVICES)
def test_bce_double_backward_is_refused(device):
    x, t = logits((4, 3), device=device).requires_grad_(), soft_targets((4, 3), device=device)
    (g,) = torch.autograd.grad(ops.bce_with_logits(x, t), x, create_graph=True)
    with pytest.raises(RuntimeError, match="fastkp.bce_with_logits: double backward"):
        g.sum().backward()


def test_bce_sum_is_deterministic_across_thread_counts():
    x = logits((300_000,), torch.float32)
    t = soft_targets((300_000,), torch.float32)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ops.bce_with_logits(x, t, reduction="sum")
        torch.set_num_threads(2)
        two = ops.bce_with_logits(x, t, reduction="sum")
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)
    torch.testing.assert_close(one, F.binary_cross_entropy_with_logits(x.double(), t.double(), reduction="sum").float())


# ---- every CPU instruction set ------------------------------------------------------

CAPABILITY_CHECK = """
import torch, torch.nn.functional as F, fastkp.ops as ops
print(ops.cpu_capability())
g = torch.Generator().manual_seed(0)
x = torch.randn(5003, generator=g) * 6
t = torch.rand(5003, generator=g)
pw = torch.rand(5003, generator=g) * 3
torch.testing.assert_close(ops.sigmoid_range(x, -1, 2), torch.sigmoid(x) * 3 - 1)
for r in ("none", "mean", "sum"):
    torch.testing.assert_close(ops.bce_with_logits(x, t, pos_weight=pw, reduction=r),
                               F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction=r))
"""


@pytest.mark.parametrize("capability", ["default", "avx2"])
def test_every_cpu_instruction_set_computes_the_same(capability):
    run_with_capability(CAPABILITY_CHECK, capability)
