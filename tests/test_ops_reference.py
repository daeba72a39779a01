"""The fused operators against PyTorch's own math, value and gradient."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import fastkp.nn
import fastkp.ops as ops

REDUCTIONS = ["none", "mean", "sum"]
HALF = [torch.float16, torch.bfloat16]
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-6)}


def ref_sigmoid_range(x, lo, hi):
    return torch.sigmoid(x) * (hi - lo) + lo


def logits(shape, dtype=torch.float64, scale=4.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def soft_targets(shape, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(shape, generator=g, dtype=torch.float64)
    t[..., ::3] = t[..., ::3].round()  # hard 0/1 labels mixed with soft ones
    return t.to(dtype)


def assert_no_worse_than_torch(ours, theirs, exact):
    """Half types: our error against float64 math is at most PyTorch's own error
    at that precision (or half an ulp of the result, whichever is larger)."""
    ulp = torch.finfo(ours.dtype).eps * exact.abs().clamp_min(torch.finfo(ours.dtype).tiny)
    our_err = (ours.double() - exact).abs()
    their_err = (theirs.double() - exact).abs()
    assert (our_err <= torch.maximum(their_err, ulp) + 1e-12).all(), (
        f"max error {our_err.max().item():.3g} vs PyTorch {their_err.max().item():.3g}"
    )


SHAPES = [(64, 2), (64, 20), (3, 5, 7), (1000,), (0, 4), ()]


# ---- sigmoid_range ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_sigmoid_range_matches_composite(dtype, shape):
    x = logits(shape, dtype).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    y = ops.sigmoid_range(x, -1.0, 2.5)
    y_ref = ref_sigmoid_range(x_ref, -1.0, 2.5)
    torch.testing.assert_close(y, y_ref, **TOL[dtype])
    g = logits(shape, dtype, seed=5)
    y.backward(g)
    y_ref.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad, **TOL[dtype])


@pytest.mark.parametrize("dtype", HALF)
def test_sigmoid_range_half_types_within_torch_error(dtype):
    x64 = logits((4096,))
    x = x64.to(dtype).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    exact = ref_sigmoid_range(x.detach().double(), -1.0, 1.0)
    y = ops.sigmoid_range(x, -1.0, 1.0)
    y_ref = ref_sigmoid_range(x_ref, -1.0, 1.0)
    assert y.dtype == dtype
    assert_no_worse_than_torch(y, y_ref, exact)
    g = torch.ones_like(y)
    y.backward(g)
    y_ref.backward(g)
    s = torch.sigmoid(x.detach().double())
    assert_no_worse_than_torch(x.grad, x_ref.grad, 2 * s * (1 - s))


@pytest.mark.parametrize("layout", ["transposed", "strided", "channels_last", "expanded"])
def test_sigmoid_range_non_contiguous(layout):
    base = logits((8, 6, 5, 4), torch.float32)
    x = {
        "transposed": base.transpose(0, 3),
        "strided": base[:, ::2, 1:, ::3],
        "channels_last": base.to(memory_format=torch.channels_last),
        "expanded": base[:1, :1].expand(8, 6, 5, 4),
    }[layout]
    torch.testing.assert_close(ops.sigmoid_range(x, 0.0, 320.0), ref_sigmoid_range(x, 0.0, 320.0), **TOL[torch.float32])


def test_sigmoid_range_out_variant_writes_in_place():
    x = logits((1000,), torch.float32)
    out = torch.empty(1000)
    res = torch.ops.fastkp.sigmoid_range.out(x, -1.0, 1.0, out=out)
    assert res.data_ptr() == out.data_ptr()
    torch.testing.assert_close(out, ref_sigmoid_range(x, -1.0, 1.0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, *HALF])
def test_sigmoid_range_extreme_logits(dtype):
    x = torch.tensor([-1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4], dtype=dtype, requires_grad=True)
    y = ops.sigmoid_range(x, -1.0, 1.0)
    y.sum().backward()
    x_ref = x.detach().clone().requires_grad_()
    y_ref = ref_sigmoid_range(x_ref, -1.0, 1.0)
    y_ref.sum().backward()
    assert torch.equal(y.isfinite(), y_ref.isfinite()) and y.isfinite().all()
    assert torch.equal(x.grad.isfinite(), x_ref.grad.isfinite())
    torch.testing.assert_close(y, y_ref, atol=1e-3 if dtype in HALF else 1e-6, rtol=0)
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-3 if dtype in HALF else 1e-6, rtol=0)


def test_sigmoid_range_gradcheck():
    x = logits((6, 3)).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: ops.sigmoid_range(t, -2.0, 3.0), (x,))


# ---- bce_with_logits ----------------------------------------------------------------


def run_bce(fn, x, t, w, pw, reduction, target_grad):
    x = x.detach().clone().requires_grad_()
    t = t.detach().clone().requires_grad_(target_grad)
    loss = fn(x, t, weight=w, pos_weight=pw, reduction=reduction)
    g = torch.ones_like(loss) if reduction != "none" else logits(loss.shape, loss.dtype, seed=9)
    loss.backward(g)
    return loss, x.grad, t.grad


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
    tol = TOL[dtype]
    close = (ours - theirs).abs() <= tol["atol"] + tol["rtol"] * theirs.abs()
    our_err = (ours.double() - exact).abs()
    their_err = (theirs.double() - exact).abs()
    ok = close | (our_err <= their_err * 1.001)
    assert ok.all(), f"{(~ok).sum().item()} elements differ; max |ours - torch| = {(ours - theirs).abs().max().item():.3g}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weights", list(WEIGHTS))
def test_bce_matches_torch(dtype, reduction, weights):
    x = logits((64, 20), dtype)
    t = soft_targets((64, 20), dtype)
    g = torch.Generator().manual_seed(3)
    w_shape, pw_shape = WEIGHTS[weights]
    w = None if w_shape is None else (torch.rand(w_shape, generator=g, dtype=torch.float64) + 0.5).to(dtype)
    pw = None if pw_shape is None else (torch.rand(pw_shape, generator=g, dtype=torch.float64) * 4).to(dtype)
    ours = run_bce(ops.bce_with_logits, x, t, w, pw, reduction, True)
    theirs = run_bce(F.binary_cross_entropy_with_logits, x, t, w, pw, reduction, True)
    as64 = lambda a: None if a is None else a.double()  # noqa: E731
    exact = run_bce(F.binary_cross_entropy_with_logits, x.double(), t.double(), as64(w), as64(pw), reduction, True)
    for a, b, e in zip(ours, theirs, exact):
        assert a.dtype == dtype and a.shape == b.shape
        assert_matches_torch(a, b, e, dtype)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_half_types_within_torch_error(dtype, reduction):
    x = logits((256, 20), dtype)
    t = soft_targets((256, 20), dtype)
    pw = (torch.rand(20) * 3).to(dtype)
    ours = run_bce(ops.bce_with_logits, x, t, None, pw, reduction, True)
    theirs = run_bce(F.binary_cross_entropy_with_logits, x, t, None, pw, reduction, True)
    exact = run_bce(F.binary_cross_entropy_with_logits, x.double(), t.double(), None, pw.double(), reduction, True)
    for a, b, e in zip(ours, theirs, exact):
        assert a.dtype == dtype
        assert_no_worse_than_torch(a, b, e)


@pytest.mark.parametrize("layout", ["transposed", "strided", "channels_last"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_non_contiguous(layout, reduction):
    base_x, base_t = logits((4, 6, 10, 8), torch.float32), soft_targets((4, 6, 10, 8), torch.float32)
    view = {
        "transposed": lambda a: a.transpose(1, 3),
        "strided": lambda a: a[:, ::2, 1:, ::3],
        "channels_last": lambda a: a.to(memory_format=torch.channels_last),
    }[layout]
    x, t = view(base_x), view(base_t)
    pw = torch.rand(x.shape[-1], generator=torch.Generator().manual_seed(4)) * 2
    ours = run_bce(ops.bce_with_logits, x, t, None, pw, reduction, True)
    theirs = run_bce(F.binary_cross_entropy_with_logits, x, t, None, pw, reduction, True)
    exact = run_bce(F.binary_cross_entropy_with_logits, x.double(), t.double(), None, pw.double(), reduction, True)
    for a, b, e in zip(ours, theirs, exact):
        assert a.stride() == b.stride() or reduction != "none"
        assert_matches_torch(a, b, e, torch.float32)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_empty(reduction):
    x = torch.empty(0, 20, requires_grad=True)
    t = torch.empty(0, 20)
    loss = ops.bce_with_logits(x, t, reduction=reduction)
    ref = F.binary_cross_entropy_with_logits(x.detach(), t, reduction=reduction)
    torch.testing.assert_close(loss, ref, equal_nan=True)
    loss.sum().backward()
    assert x.grad.shape == x.shape


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, *HALF])
def test_bce_extreme_logits(dtype):
    x = torch.tensor([-1e4, -100.0, -20.0, 0.0, 20.0, 100.0, 1e4] * 2, dtype=dtype)
    t = torch.tensor([0.0] * 7 + [1.0] * 7, dtype=dtype)
    pw = torch.tensor(3.0, dtype=dtype)
    for reduction in REDUCTIONS:
        ours = run_bce(ops.bce_with_logits, x, t, None, pw, reduction, True)
        theirs = run_bce(F.binary_cross_entropy_with_logits, x, t, None, pw, reduction, True)
        for a, b in zip(ours, theirs):
            assert torch.equal(a.isfinite(), b.isfinite())
            torch.testing.assert_close(a, b, rtol=1e-2 if dtype in HALF else 1e-5, atol=1e-5)


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


def test_bce_gradcheck():
    x = logits((5, 4)).requires_grad_()
    t = soft_targets((5, 4)).requires_grad_()
    w = torch.rand(5, 1, dtype=torch.float64) + 0.5
    pw = torch.rand(4, dtype=torch.float64) * 3
    for reduction in REDUCTIONS:
        for p in (None, pw):
            assert torch.autograd.gradcheck(
                lambda a, b: ops.bce_with_logits(a, b, weight=w, pos_weight=p, reduction=reduction), (x, t)
            )


def test_bce_module_matches_torch_module():
    pw = torch.rand(20) * 2
    x, t = logits((64, 20), torch.float32), soft_targets((64, 20), torch.float32)
    ours = fastkp.nn.BCEWithLogitsLoss(pos_weight=pw)(x, t)
    theirs = torch.nn.BCEWithLogitsLoss(pos_weight=pw)(x, t)
    torch.testing.assert_close(ours, theirs)


def test_bce_weight_gradient_is_refused():
    x, t = logits((4, 3)).requires_grad_(), soft_targets((4, 3))
    w = torch.ones(3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="weight or pos_weight"):
        ops.bce_with_logits(x, t, weight=w).backward()


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
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability)
    res = subprocess.run([sys.executable, "-c", CAPABILITY_CHECK], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == capability.upper()
