"""CUDA kernels against the CPU kernels (same shared math), at sizes and alignments
the device-parametrised tests do not reach. Run wherever CUDA exists (``-m cuda``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import fastkp.ops as ops

pytestmark = pytest.mark.cuda


def test_cuda_kernels_were_built():
    assert ops.has_cuda_kernels()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("n", [1, 7, 64 * 20, 1 << 20])
def test_sigmoid_range_cuda_matches_cpu(dtype, n):
    x = (torch.randn(n, dtype=torch.float64) * 5).to(dtype)
    xc = x.cuda().requires_grad_()
    y = ops.sigmoid_range(xc, -1.0, 1.0)
    y.backward(torch.ones_like(y))
    x_cpu = x.clone().requires_grad_()
    y_cpu = ops.sigmoid_range(x_cpu, -1.0, 1.0)
    y_cpu.backward(torch.ones_like(y_cpu))
    tol = dict(rtol=1e-2, atol=1e-3) if dtype in (torch.float16, torch.bfloat16) else dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(y.cpu(), y_cpu, **tol)
    torch.testing.assert_close(xc.grad.cpu(), x_cpu.grad, **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("offset", [0, 1])  # 1: misaligned pointers take the scalar-load kernel
def test_bce_cuda_matches_torch(dtype, reduction, offset):
    x = (torch.randn(4097 + offset, dtype=torch.float64) * 5).to(dtype)[offset:].view(17, 241)
    t = torch.rand(4097 + offset, dtype=torch.float64).to(dtype)[offset:].view(17, 241)
    pw = (torch.rand(241) * 3).to(dtype)
    xc, tc = x.cuda().requires_grad_(), t.cuda().requires_grad_()
    loss = ops.bce_with_logits(xc, tc, pos_weight=pw.cuda(), reduction=reduction)
    loss.sum().backward()
    x64, t64 = x.double().requires_grad_(), t.double().requires_grad_()
    ref = F.binary_cross_entropy_with_logits(x64, t64, pos_weight=pw.double(), reduction=reduction)
    ref.sum().backward()
    tol = dict(rtol=2e-2, atol=2e-3) if dtype in (torch.float16, torch.bfloat16) else dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss.double().cpu(), ref.detach(), **tol)
    torch.testing.assert_close(xc.grad.double().cpu(), x64.grad, **tol)
    torch.testing.assert_close(tc.grad.double().cpu(), t64.grad, **tol)


def test_device_mismatch_is_an_error():
    with pytest.raises(RuntimeError, match="target is on cpu but input is on cuda"):
        ops.bce_with_logits(torch.randn(4, device="cuda"), torch.rand(4))
