"""The fast paths of the regression losses against their slow twins.

mse, mae, huber, smooth_l1, msle and poisson_nll call the ``torch._C._nn`` / ``torch`` kernels
directly (not the ``torch.nn.functional`` wrappers); the twin is the wrapper itself (the previous
path) and the float64 formula of each docstring. The shared helpers return early for the common
case (one dtype, valid inputs, a valid reduction); their twin is the general rule they skip
(``torch.result_type``, the full checks and their error messages)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit import LossInputError
from losskit._checks import check_reduction
from losskit.losses._regression import in_dtype, result_dtype

D = torch.float64
REDUCTIONS = ("mean", "sum", "none")


def close(
    a: torch.Tensor, b: torch.Tensor, *, rtol: float | None = None, atol: float | None = None
) -> None:
    assert a.shape == b.shape, (a.shape, b.shape)  # assert_close would broadcast
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return x
    return x.sum() if reduction == "sum" or x.numel() == 0 else x.mean()


def _huber64(r: torch.Tensor, delta: float) -> torch.Tensor:
    a = r.abs()
    return torch.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _smooth_l1_64(r: torch.Tensor, beta: float) -> torch.Tensor:
    a = r.abs()
    if beta == 0:
        return a
    return torch.where(a < beta, 0.5 * r * r / beta, a - 0.5 * beta)


# name -> (loss call, torch wrapper (the previous path), float64 formula of the docstring)
Call = Callable[..., torch.Tensor]
CASES: dict[str, tuple[Call, Call, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]] = {
    "mse": (losskit.mse, F.mse_loss, lambda p, t: (p - t) ** 2),
    "mae": (losskit.mae, F.l1_loss, lambda p, t: (p - t).abs()),
    "huber": (
        lambda p, t, **k: losskit.huber(p, t, delta=0.7, **k),
        lambda p, t, **k: F.huber_loss(p, t, delta=0.7, **k),
        lambda p, t: _huber64(p - t, 0.7),
    ),
    "smooth_l1": (
        lambda p, t, **k: losskit.smooth_l1(p, t, beta=0.5, **k),
        lambda p, t, **k: F.smooth_l1_loss(p, t, beta=0.5, **k),
        lambda p, t: _smooth_l1_64(p - t, 0.5),
    ),
    "smooth_l1_beta0": (
        lambda p, t, **k: losskit.smooth_l1(p, t, beta=0.0, **k),
        lambda p, t, **k: F.smooth_l1_loss(p, t, beta=0.0, **k),
        lambda p, t: _smooth_l1_64(p - t, 0.0),
    ),
    "msle": (
        losskit.msle,
        lambda p, t, **k: F.mse_loss(torch.log1p(p), torch.log1p(t), **k),
        lambda p, t: (torch.log1p(p) - torch.log1p(t)) ** 2,
    ),
    "poisson_nll": (
        losskit.poisson_nll,
        F.poisson_nll_loss,
        lambda p, t: torch.exp(p) - t * p,
    ),
}


def _inputs(name: str, shape: tuple[int, ...], dtype: torch.dtype) -> tuple[Any, Any]:
    g = torch.Generator().manual_seed(len(name) + sum(shape))
    p = torch.randn(shape, generator=g, dtype=D)
    t = torch.randn(shape, generator=g, dtype=D)
    if name == "msle":
        p, t = p.abs(), t.abs()
    if name == "poisson_nll":
        t = torch.poisson(torch.rand(shape, generator=g, dtype=D) * 3, generator=g)
    return p.to(dtype), t.to(dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("mode", ["full", "shapes"])
def test_direct_kernels_equal_the_torch_wrappers_and_the_formula(
    name: str, reduction: str, mode: str
) -> None:
    ours, wrapper, formula = CASES[name]
    p, t = _inputs(name, (6, 5), D)
    if name != "poisson_nll":
        t[0, 0] = p[0, 0]  # a tie: the gradient at r == 0 (0 for mae and beta = 0)
    a = p.clone().requires_grad_(True)
    b = p.clone().requires_grad_(True)
    c = p.clone().requires_grad_(True)
    with losskit.checks(mode):  # type: ignore[arg-type]
        got = ours(a, t, reduction=reduction)
    want = wrapper(b, t, reduction=reduction)
    ref = _reduce(formula(c, t), reduction)
    close(got, want, rtol=1e-12, atol=1e-12)
    close(got, ref, rtol=1e-10, atol=1e-12)
    grads = [torch.autograd.grad(x.sum(), [v])[0] for x, v in ((got, a), (want, b), (ref, c))]
    close(grads[0], grads[1], rtol=1e-12, atol=1e-12)
    close(grads[0], grads[2], rtol=1e-10, atol=1e-12)
    if name in ("mae", "smooth_l1_beta0"):
        assert grads[0][0, 0].item() == 0.0  # the least-norm subgradient, not NaN


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_direct_kernels_in_low_precision_match_the_wrapper(name: str, dtype: torch.dtype) -> None:
    ours, wrapper, _ = CASES[name]
    p, t = _inputs(name, (40,), dtype)
    got = ours(p, t)
    assert got.dtype == dtype
    close(got, wrapper(p, t), rtol=0, atol=0)


@pytest.mark.parametrize("name", list(CASES))
def test_mixed_dtypes_promote_as_torch(name: str) -> None:
    ours, wrapper, _ = CASES[name]
    p, t = _inputs(name, (12,), torch.float32)
    t64 = t.double()
    got = ours(p, t64)
    assert got.dtype == torch.float64
    close(got, wrapper(p.double(), t64))
    ti = t.round().abs().long()  # integer targets take the predictions' dtype
    got_i = ours(p, ti)
    assert got_i.dtype == torch.float32
    close(got_i, wrapper(p, ti.float()))


@pytest.mark.parametrize("name", list(CASES))
def test_empty_batch_mean_is_a_graph_connected_zero(name: str) -> None:
    ours, _, _ = CASES[name]
    p = torch.zeros(0, 3, requires_grad=True)
    out = ours(p, torch.zeros(0, 3))
    assert out.shape == () and out.item() == 0.0
    (g,) = torch.autograd.grad(out, [p])
    assert g.shape == (0, 3)
    assert ours(p, torch.zeros(0, 3), reduction="none").shape == (0, 3)


@pytest.mark.parametrize("name", list(CASES))
def test_nan_input_is_nan_with_checks_off_and_refused_in_full_mode(name: str) -> None:
    ours, _, _ = CASES[name]
    p, t = _inputs(name, (5,), torch.float32)
    p[2] = math.nan
    with losskit.checks("off"):
        assert math.isnan(ours(p, t).item())
    with pytest.raises(LossInputError, match="preds holds non-finite"):
        ours(p, t)


@pytest.mark.parametrize("mode", ["full", "shapes"])
def test_the_early_return_of_the_input_checks_keeps_every_refusal(mode: str) -> None:
    p = torch.randn(3, 2)
    with losskit.checks(mode):  # type: ignore[arg-type]
        with pytest.raises(LossInputError, match="shapes must match"):
            losskit.mse(p, torch.randn(3, 1))
        with pytest.raises(LossInputError, match="targets must be real"):
            losskit.mae(p, torch.randn(3, 2, dtype=torch.complex64))
        with pytest.raises(LossInputError, match="preds must be real"):
            losskit.huber(p.to(torch.complex64), torch.randn(3, 2))
        with pytest.raises(LossInputError, match="floating"):
            losskit.smooth_l1(torch.ones(3, 2, dtype=torch.long), torch.randn(3, 2))
        with pytest.raises(LossInputError, match=r"must be a torch\.Tensor"):
            losskit.mse(p, [[0.0, 0.0]] * 3)  # type: ignore[arg-type]


class _Str(str):
    pass


@pytest.mark.parametrize(
    "reduction", ["elementwise_mean", "batchmean", "MEAN", _Str("mean"), 1, None]
)
def test_the_fast_reduction_check_refuses_what_check_reduction_refuses(reduction: Any) -> None:
    with pytest.raises(LossInputError, match="reduction must be one of"):
        check_reduction(reduction)
    with pytest.raises(LossInputError, match="reduction must be one of"):
        losskit.mse(torch.randn(3), torch.randn(3), reduction=reduction)


def test_the_fast_reduction_check_refuses_an_unhashable_value_clearly() -> None:
    with pytest.raises(LossInputError, match="reduction must be one of"):
        check_reduction(["mean"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "dtypes",
    [
        (torch.float32, torch.float32),
        (torch.float16, torch.float16),
        (torch.float32, torch.float64),
        (torch.bfloat16, torch.float16),
        (torch.float32, torch.int64),
        (torch.float16, torch.bool),
    ],
)
def test_result_dtype_early_return_agrees_with_torch_result_type(
    dtypes: tuple[torch.dtype, torch.dtype],
) -> None:
    a, b = (torch.ones(2, dtype=d) for d in dtypes)
    assert result_dtype(a, b) == torch.result_type(a, b)
    x, y = in_dtype(torch.float32, a, 2.0)
    assert x.dtype == torch.float32 and y == 2.0
    if a.dtype == torch.float32:
        assert x is a  # no copy when the dtype is already right


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_nll_halving_after_the_reduction_equals_the_elementwise_formula(
    reduction: str, full: bool
) -> None:
    g = torch.Generator().manual_seed(3)
    p = torch.randn(7, 3, generator=g, dtype=D)
    t = torch.randn(7, 3, generator=g, dtype=D)
    v = torch.rand(7, 3, generator=g, dtype=D) + 0.1
    a, b = p.clone().requires_grad_(True), p.clone().requires_grad_(True)
    va, vb = v.clone().requires_grad_(True), v.clone().requires_grad_(True)
    got = losskit.gaussian_nll(a, t, va, full=full, reduction=reduction)
    # the float64 formula of the docstring, halved per element
    per = 0.5 * (torch.log(vb) + (b - t) ** 2 / vb) + (0.5 * math.log(2 * math.pi) if full else 0)
    want = _reduce(per, reduction)
    close(got, want, rtol=1e-12, atol=1e-12)
    close(got, F.gaussian_nll_loss(p, t, v, full=full, reduction=reduction))
    ga = torch.autograd.grad(got.sum(), [a, va])
    gb = torch.autograd.grad(want.sum(), [b, vb])
    for x, y in zip(ga, gb, strict=True):
        close(x, y, rtol=1e-12, atol=1e-12)
    empty = losskit.gaussian_nll(torch.zeros(0, requires_grad=True), torch.zeros(0), torch.ones(0))
    assert empty.item() == 0.0 and empty.requires_grad


# ----------------------------------------------------------------------------- log_cosh
def test_log_cosh_closed_form_gradient_equals_the_float64_formula() -> None:
    # tiny, moderate, near the branch point 1, and far (where cosh itself overflows float32)
    r = torch.tensor([1e-20, -3e-4, 0.5, -0.999, 1.0, 1.001, -7.0, 60.0, -120.0], dtype=D)
    p = r.float().requires_grad_(True)
    got = losskit.log_cosh(p, torch.zeros_like(p), reduction="none")
    want = torch.log(torch.cosh(r.clamp(-50, 50))) + (r.abs() - 50).clamp(min=0)  # exact tail
    close(got.double(), want, rtol=2e-6, atol=1e-30)
    (g,) = torch.autograd.grad(got.sum(), [p])
    close(g.double(), torch.tanh(r), rtol=1e-6, atol=1e-30)


def test_log_cosh_double_backward_and_targets_gradient() -> None:
    g = torch.Generator().manual_seed(5)
    p = (3 * torch.randn(6, generator=g, dtype=D)).requires_grad_(True)
    t = torch.randn(6, generator=g, dtype=D).requires_grad_(True)
    assert torch.autograd.gradcheck(losskit.log_cosh, (p, t))
    assert torch.autograd.gradgradcheck(losskit.log_cosh, (p, t))
    out = losskit.log_cosh(p, t, reduction="sum")
    gp, gt = torch.autograd.grad(out, [p, t])
    close(gp, torch.tanh(p - t).detach())
    close(gt, -torch.tanh(p - t).detach())


def test_log_cosh_non_finite_and_half_precision() -> None:
    p = torch.tensor([math.inf, -math.inf, math.nan, 0.0], requires_grad=True)
    with losskit.checks("off"):
        out = losskit.log_cosh(p, torch.zeros(4), reduction="none")
    assert out[0].item() == math.inf and out[1].item() == math.inf
    assert math.isnan(out[2].item()) and out[3].item() == 0.0
    (g,) = torch.autograd.grad(out[[0, 1, 3]].sum(), [p])
    assert g.tolist()[:2] == [1.0, -1.0] and g[3].item() == 0.0
    h = torch.tensor([0.25, -2.0, 30.0], dtype=torch.float16)
    got = losskit.log_cosh(h, torch.zeros(3, dtype=torch.float16), reduction="none")
    assert got.dtype == torch.float16
    want = torch.log(torch.cosh(h.double()))
    close(got.double(), want, rtol=1e-3, atol=0)


# ----------------------------------------------------------------------------- distillation
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_distillation_without_the_temperature_ops_at_one_equals_the_formula(
    temperature: float,
) -> None:
    g = torch.Generator().manual_seed(7)
    s = (2 * torch.randn(4, 5, generator=g, dtype=D)).requires_grad_(True)
    t = 2 * torch.randn(4, 5, generator=g, dtype=D)
    s2 = s.detach().clone().requires_grad_(True)
    got = losskit.distillation(s, t, temperature=temperature, reduction="none")
    ls, lt = torch.log_softmax(s2 / temperature, 1), torch.log_softmax(t / temperature, 1)
    want = (lt.exp() * (lt - ls)).sum(1) * temperature**2
    close(got, want, rtol=1e-12, atol=1e-14)
    close(torch.autograd.grad(got.sum(), [s])[0], torch.autograd.grad(want.sum(), [s2])[0])
