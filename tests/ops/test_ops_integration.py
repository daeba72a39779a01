"""The operators inside PyTorch's machinery, on every device (``cpu_and_cuda()``):
opcheck, autocast, autograd in C++ (also from TorchScript), torch.compile,
torch.export, and the errors for bad arguments."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import fastkp.nn
import fastkp.ops as ops
from support.devices import cpu_and_cuda


DEVICES = cpu_and_cuda()


def example_sigmoid_range_args(device):
    x = torch.randn(4, 6, 2, device=device)
    return [
        (x[:, :, 0].clone().requires_grad_(), -1.0, 1.0),
        (x.double(), 0.0, 3.0),
        (x.transpose(0, 2).requires_grad_(), -1.0, 1.0),  # a kept memory format
        (x[:, ::2], -1.0, 1.0),
    ]


def example_bce_args(device):
    x = torch.randn(8, 5, device=device, requires_grad=True)
    t = torch.rand(8, 5, device=device)
    r = lambda *shape, dtype=torch.float32: torch.rand(*shape, device=device, dtype=dtype)  # noqa: E731
    return [
        (x, t, None, None, 1),
        (x, t, r(5) + 0.5, r(5) * 2, 0),
        (x, t.clone().requires_grad_(), r(8, 1), None, 2),
        (x.detach().double(), t.double(), None, r(5, dtype=torch.float64), 1),
        (x.detach().t().requires_grad_(), t.t(), None, r(1) * 2, 0),  # a kept memory format
    ]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("i", range(4))
def test_opcheck_sigmoid_range(device, i):
    torch.library.opcheck(torch.ops.fastkp.sigmoid_range.default, example_sigmoid_range_args(device)[i])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("i", range(5))
def test_opcheck_bce(device, i):
    torch.library.opcheck(torch.ops.fastkp.bce_with_logits.default, example_bce_args(device)[i])


# The autocast dtype training uses on each device: bf16 on the CPU, fp16 on CUDA.
AUTOCAST = {"cpu": torch.bfloat16, "cuda": torch.float16}


@pytest.mark.parametrize("device", DEVICES)
def test_autocast_computes_in_float32(device):
    x = torch.randn(16, 20, device=device)
    t = (torch.rand(16, 20, device=device) > 0.5).float()
    linear = torch.nn.Linear(20, 20).to(device)
    with torch.autocast(device, dtype=AUTOCAST[device]):
        h = linear(x)
        assert h.dtype == AUTOCAST[device]
        loss = ops.bce_with_logits(h, t)
        kp = ops.sigmoid_range(h, -1, 1)
    assert loss.dtype == torch.float32 and kp.dtype == torch.float32
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(h.float(), t))
    torch.testing.assert_close(kp, torch.sigmoid(h.float()) * 2 - 1)
    (loss + kp.sum()).backward()  # gradients flow back through the cast
    assert linear.weight.grad.dtype == torch.float32 and linear.weight.grad.isfinite().all()


def test_autograd_is_registered_in_cpp():
    for op in ("sigmoid_range", "sigmoid_range_backward", "bce_with_logits", "bce_with_logits_backward"):
        autograd = next(line for line in torch._C._dispatch_dump(f"fastkp::{op}").splitlines()
                        if line.startswith("Autograd"))
        assert "csrc/ops/autograd/" in autograd  # not a Python kernel


class Head(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 4)
        self.act = fastkp.nn.SigmoidRange(-1.0, 1.0)
        self.loss = fastkp.nn.BCEWithLogitsLoss(pos_weight=torch.full((4,), 2.0))

    def forward(self, x: torch.Tensor, t: torch.Tensor):
        z = self.linear(x)
        return self.act(z), self.loss(z, t)


@pytest.mark.parametrize("device", DEVICES)
def test_torchscript_round_trip(device, tmp_path):
    torch.manual_seed(0)
    model = Head().eval()
    x, t = torch.randn(3, 6), torch.rand(3, 4)
    path = tmp_path / "head.pt"
    torch.jit.script(model).save(str(path))
    loaded = torch.jit.load(str(path), map_location=device)
    assert "ops.fastkp.sigmoid_range" in loaded.act.code
    assert "ops.fastkp.bce_with_logits" in loaded.loss.code
    for a, b in zip(loaded(x.to(device), t.to(device)), model(x, t)):
        torch.testing.assert_close(a.cpu(), b)


def train_step(model, x, t):
    kp, loss = model(x, t)
    total = loss + kp.square().mean()
    total.backward()
    return total.detach()


@pytest.mark.parametrize("device", DEVICES)
def test_torchscript_trains(device):
    """The backward runs in C++: a scripted model trains like the eager one."""
    torch.manual_seed(0)
    eager, scripted = Head().to(device), Head().to(device)
    scripted.load_state_dict(eager.state_dict())
    scripted = torch.jit.script(scripted)
    x, t = torch.randn(5, 6, device=device), torch.rand(5, 4, device=device)
    torch.testing.assert_close(train_step(scripted, x, t), train_step(eager, x, t))
    for p_e, p_s in zip(eager.parameters(), scripted.parameters()):
        torch.testing.assert_close(p_s.grad, p_e.grad)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_torch_compile_fullgraph(device, backend):
    torch.manual_seed(0)
    eager, compiled = Head().to(device), Head().to(device)
    compiled.load_state_dict(eager.state_dict())
    x, t = torch.randn(5, 6, device=device), torch.rand(5, 4, device=device)
    fn = torch.compile(compiled, fullgraph=True, backend=backend)
    kp_c, loss_c = fn(x, t)
    (loss_c + kp_c.square().mean()).backward()
    expected = train_step(eager, x, t)
    torch.testing.assert_close(loss_c + kp_c.square().mean(), expected)
    for p_e, p_c in zip(eager.parameters(), compiled.parameters()):
        torch.testing.assert_close(p_c.grad, p_e.grad)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_export(device):
    torch.manual_seed(0)
    model = Head().to(device).eval()
    x, t = torch.randn(3, 6, device=device), torch.rand(3, 4, device=device)
    exported = torch.export.export(model, (x, t))
    targets = {str(n.target) for n in exported.graph.nodes if n.op == "call_function"}
    assert "fastkp.sigmoid_range.default" in targets and "fastkp.bce_with_logits.default" in targets
    for a, b in zip(exported.module()(x, t), model(x, t)):
        torch.testing.assert_close(a, b)


# ---- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "call, message",
    [
        (lambda d: ops.sigmoid_range(torch.arange(4, device=d), 0, 1), r"x must be a float32.*got Long"),
        (lambda d: ops.sigmoid_range(torch.randn(4, device=d), 0, float("inf")), "lo and hi must be finite"),
        (lambda d: ops.bce_with_logits(torch.randn(4, device=d), torch.ones(4, dtype=torch.long, device=d)),
         r"target must be a float32.*got Long"),
        (lambda d: ops.bce_with_logits(torch.ones(4, dtype=torch.int32, device=d), torch.ones(4, device=d)),
         "input must be a float32"),
        (lambda d: ops.bce_with_logits(torch.randn(4, 3, device=d), torch.rand(4, 2, device=d)),
         r"target of shape \[4, 2\]"),
        (lambda d: ops.bce_with_logits(torch.randn(4, 3, device=d), torch.rand(4, 3, device=d),
                                       weight=torch.rand(4, device=d)), r"weight of shape \[4\] cannot be broadcast"),
        (lambda d: ops.bce_with_logits(torch.randn(4, 3, device=d), torch.rand(4, 3, device=d),
                                       pos_weight=torch.rand(2, 4, 3, device=d)), r"pos_weight of shape \[2, 4, 3\]"),
        (lambda d: ops.bce_with_logits(torch.randn(4, 3, device=d), torch.rand(4, 3, device=d),
                                       pos_weight=torch.rand(3, device=d).double()), "pos_weight has dtype Double"),
        (lambda d: ops.bce_with_logits(torch.randn(4, device=d), torch.rand(4, device=d), reduction="avg"),
         "reduction must be 'none', 'mean' or 'sum', got 'avg'"),
        (lambda d: torch.ops.fastkp.bce_with_logits(torch.randn(4, device=d), torch.rand(4, device=d), None, None, 7),
         "reduction must be 0"),
        (lambda d: fastkp.nn.BCEWithLogitsLoss(reduction="max"), "reduction must be"),
        (lambda d: torch.ops.fastkp.sigmoid_range.out(torch.randn(3, device=d), 0.0, 1.0,
                                                      out=torch.empty(3, device=d).double()),
         "out has dtype Double but x has dtype Float"),
        (lambda d: torch.ops.fastkp.sigmoid_range_backward(torch.randn(3, device=d), torch.randn(4, device=d),
                                                           0.0, 1.0), r"grad of shape \[3\]"),
    ],
)
def test_bad_input_names_the_argument(device, call, message):
    with pytest.raises((RuntimeError, ValueError), match=message):
        call(device)


def test_build_info():
    assert ops.cpu_capability() in {"DEFAULT", "AVX2", "AVX512"}
    assert ops.library_path().endswith("libfastkp_ops.so")
    # CI and every set-up here compile the CUDA kernels; the dispatcher must see them.
    assert ops.has_cuda_kernels() == torch._C._dispatch_has_kernel_for_dispatch_key("fastkp::sigmoid_range", "CUDA")
    assert torch._C._dispatch_has_kernel_for_dispatch_key("fastkp::bce_with_logits", "AutocastCPU")
