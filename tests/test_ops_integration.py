"""The operators inside PyTorch's machinery: opcheck, autocast, TorchScript,
torch.compile, torch.export, and the errors for bad arguments."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import fastkp.nn
import fastkp.ops as ops


def example_bce_args():
    x = torch.randn(8, 5, requires_grad=True)
    t = torch.rand(8, 5)
    return [
        (x, t, None, None, 1),
        (x, t, torch.rand(5) + 0.5, torch.rand(5) * 2, 0),
        (x, t.clone().requires_grad_(), torch.rand(8, 1), None, 2),
        (x.detach().double(), t.double(), None, torch.rand(5, dtype=torch.float64), 1),
    ]


def test_opcheck_sigmoid_range():
    for x in (torch.randn(8, 2, requires_grad=True), torch.randn(3, 4, 5, dtype=torch.float64)):
        torch.library.opcheck(torch.ops.fastkp.sigmoid_range.default, (x, -1.0, 1.0))


@pytest.mark.parametrize("i", range(4))
def test_opcheck_bce(i):
    torch.library.opcheck(torch.ops.fastkp.bce_with_logits.default, example_bce_args()[i])


def test_autocast_computes_in_float32():
    x = torch.randn(16, 20)
    t = (torch.rand(16, 20) > 0.5).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = torch.nn.Linear(20, 20)(x)  # bf16 under autocast
        assert h.dtype == torch.bfloat16
        loss = ops.bce_with_logits(h, t)
        kp = ops.sigmoid_range(h, -1, 1)
    assert loss.dtype == torch.float32 and kp.dtype == torch.float32
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(h.float(), t))
    torch.testing.assert_close(kp, torch.sigmoid(h.float()) * 2 - 1)
    loss.backward()  # gradients flow back through the cast


class Head(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(6, 4)
        self.act = fastkp.nn.SigmoidRange(-1.0, 1.0)
        self.loss = fastkp.nn.BCEWithLogitsLoss(pos_weight=torch.full((4,), 2.0))

    def forward(self, x: torch.Tensor, t: torch.Tensor):
        z = self.linear(x)
        return self.act(z), self.loss(z, t)


def test_torchscript_round_trip(tmp_path):
    torch.manual_seed(0)
    model = Head().eval()
    x, t = torch.randn(3, 6), torch.rand(3, 4)
    path = tmp_path / "head.pt"
    torch.jit.script(model).save(str(path))
    loaded = torch.jit.load(str(path))
    assert "ops.fastkp.sigmoid_range" in loaded.act.code
    assert "ops.fastkp.bce_with_logits" in loaded.loss.code
    for a, b in zip(loaded(x, t), model(x, t)):
        torch.testing.assert_close(a, b)


def train_step(model, x, t):
    kp, loss = model(x, t)
    total = loss + kp.square().mean()
    total.backward()
    return total.detach()


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_torch_compile_fullgraph(backend):
    torch.manual_seed(0)
    eager, compiled = Head(), Head()
    compiled.load_state_dict(eager.state_dict())
    x, t = torch.randn(5, 6), torch.rand(5, 4)
    fn = torch.compile(compiled, fullgraph=True, backend=backend)
    kp_c, loss_c = fn(x, t)
    (loss_c + kp_c.square().mean()).backward()
    expected = train_step(eager, x, t)
    torch.testing.assert_close(loss_c + kp_c.square().mean(), expected)
    for p_e, p_c in zip(eager.parameters(), compiled.parameters()):
        torch.testing.assert_close(p_c.grad, p_e.grad)


def test_torch_export():
    torch.manual_seed(0)
    model = Head().eval()
    x, t = torch.randn(3, 6), torch.rand(3, 4)
    exported = torch.export.export(model, (x, t))
    targets = {str(n.target) for n in exported.graph.nodes if n.op == "call_function"}
    assert "fastkp.sigmoid_range.default" in targets and "fastkp.bce_with_logits.default" in targets
    for a, b in zip(exported.module()(x, t), model(x, t)):
        torch.testing.assert_close(a, b)


# ---- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ops.sigmoid_range(torch.arange(4), 0, 1), r"x must be a float32.*got Long"),
        (lambda: ops.sigmoid_range(torch.randn(4), 0, float("inf")), "lo and hi must be finite"),
        (lambda: ops.bce_with_logits(torch.randn(4), torch.ones(4, dtype=torch.long)), r"target must be a float32.*got Long"),
        (lambda: ops.bce_with_logits(torch.ones(4, dtype=torch.int32), torch.ones(4)), "input must be a float32"),
        (lambda: ops.bce_with_logits(torch.randn(4, 3), torch.rand(4, 2)), r"target of shape \[4, 2\]"),
        (lambda: ops.bce_with_logits(torch.randn(4, 3), torch.rand(4, 3), weight=torch.rand(4)), r"weight of shape \[4\] cannot be broadcast"),
        (lambda: ops.bce_with_logits(torch.randn(4, 3), torch.rand(4, 3), pos_weight=torch.rand(2, 4, 3)), r"pos_weight of shape \[2, 4, 3\]"),
        (lambda: ops.bce_with_logits(torch.randn(4, 3), torch.rand(4, 3), pos_weight=torch.rand(3).double()), "pos_weight has dtype Double"),
        (lambda: ops.bce_with_logits(torch.randn(4), torch.rand(4), reduction="avg"), "reduction must be 'none', 'mean' or 'sum', got 'avg'"),
        (lambda: torch.ops.fastkp.bce_with_logits(torch.randn(4), torch.rand(4), None, None, 7), "reduction must be 0"),
        (lambda: fastkp.nn.BCEWithLogitsLoss(reduction="max"), "reduction must be"),
        (lambda: torch.ops.fastkp.sigmoid_range.out(torch.randn(3), 0.0, 1.0, out=torch.empty(3).double()), "out has dtype Double but x has dtype Float"),
        (lambda: torch.ops.fastkp.sigmoid_range_backward(torch.randn(3), torch.randn(4), 0.0, 1.0), r"grad of shape \[3\]"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises((RuntimeError, ValueError), match=message):
        call()


def test_build_info():
    assert ops.cpu_capability() in {"DEFAULT", "AVX2", "AVX512"}
    assert ops.library_path().endswith("libfastkp_ops.so")
    # CI and every set-up here compile the CUDA kernels; the dispatcher must see them.
    assert ops.has_cuda_kernels() == torch._C._dispatch_has_kernel_for_dispatch_key("fastkp::sigmoid_range", "CUDA")
    assert torch._C._dispatch_has_kernel_for_dispatch_key("fastkp::bce_with_logits", "AutocastCPU")
