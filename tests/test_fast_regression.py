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

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit import LossInputError
from losskit._checks import check_reduction
from losskit.losses._regression import _SMALL as _RMSE_SMALL
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


# ----------------------------------------------------------------------------- rmse, issue 15
# rmse has two paths, chosen by a static size test: up to _SMALL float32 elements the squares
# are summed in float64 by torch's norm; above it (and for other dtypes) _Rmse scales the
# residuals by their largest magnitude and gives the gradient in closed form.
_RMSE_SIZES = [100, _RMSE_SMALL, _RMSE_SMALL + 1, 3 * _RMSE_SMALL]


def _rmse_np(r: np.ndarray) -> tuple[float, np.ndarray]:
    """float64 NumPy: sqrt(mean(r^2)) and its gradient in the residuals r / (N rmse)."""
    r = r.astype(np.float64)
    root = float(np.sqrt(np.mean(r * r)))
    return root, r / (r.size * root)


@pytest.mark.parametrize("n", _RMSE_SIZES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rmse_both_paths_equal_the_float64_formula(n: int, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(n)
    p = torch.randn(n, generator=g, dtype=dtype).requires_grad_(True)
    t = torch.randn(n, generator=g, dtype=dtype).requires_grad_(True)
    got = losskit.rmse(p, t)
    gp, gt = torch.autograd.grad(got, [p, t])
    root, grad = _rmse_np(p.detach().double().numpy() - t.detach().double().numpy())
    tol = 1e-6 if dtype == torch.float32 else 1e-13
    assert got.dtype == dtype and got.item() == pytest.approx(root, rel=tol)
    np.testing.assert_allclose(gp.double().numpy(), grad, rtol=tol, atol=0)
    np.testing.assert_allclose(gt.double().numpy(), -grad, rtol=tol, atol=0)


@pytest.mark.parametrize("size", [1e30, 1e-30, 1e38, 1e-37, 1e-44])
def test_rmse_scaled_path_neither_overflows_nor_underflows(size: float) -> None:
    # float32 squares of 1e30 overflow and of 1e-30 underflow; 1e-44 is subnormal (its scale is
    # clamped to the smallest normal number, an exact power of 2)
    n = 3 * _RMSE_SMALL
    base = np.linspace(-2.0, 1.0, n)
    r32 = torch.from_numpy(base * size).float()
    r = r32.clone().requires_grad_(True)
    got = losskit.rmse(r, torch.zeros(n))
    (g,) = torch.autograd.grad(got, [r])
    root, grad = _rmse_np(r32.double().numpy())  # the float32 residuals, in float64
    assert got.item() == pytest.approx(root, rel=1e-6)
    np.testing.assert_allclose(g.double().numpy(), grad, rtol=1e-6, atol=0)


def test_rmse_scaled_path_zero_nan_and_inf() -> None:
    n = 3 * _RMSE_SMALL
    p = torch.ones(n, requires_grad=True)
    out = losskit.rmse(p, torch.ones(n))
    (g,) = torch.autograd.grad(out, [p])
    # numpy: sqrt(mean(0)) = 0; the gradient at 0 is the least-norm subgradient 0
    assert out.item() == 0.0 and torch.equal(g, torch.zeros(n))
    with losskit.checks("off"):
        nan = torch.zeros(n)
        nan[7] = math.nan
        assert math.isnan(losskit.rmse(nan, torch.zeros(n)).item())
        inf = torch.zeros(n)
        inf[7] = -math.inf
        assert losskit.rmse(inf, torch.zeros(n)).item() == math.inf  # sqrt(inf / N)


def test_rmse_scaled_path_double_backward_is_the_hessian() -> None:
    # f = sqrt(S / N), S = sum r^2: grad f = r / (N f), and
    # H v = v / (N f) - r (r . v) / (N^2 f^3)
    n = 3 * _RMSE_SMALL
    g = torch.Generator().manual_seed(3)
    p = torch.randn(n, generator=g, dtype=D).requires_grad_(True)
    t = torch.randn(n, generator=g, dtype=D)
    v = torch.randn(n, generator=g, dtype=D)
    (gp,) = torch.autograd.grad(losskit.rmse(p, t), [p], create_graph=True)
    (hv,) = torch.autograd.grad(gp, [p], v)
    r = p.detach().numpy() - t.numpy()
    f = np.sqrt(np.mean(r * r))
    want = v.numpy() / (n * f) - r * (r @ v.numpy()) / (n**2 * f**3)
    np.testing.assert_allclose(hv.numpy(), want, rtol=1e-10, atol=1e-18)
    _, grad = _rmse_np(r)
    np.testing.assert_allclose(gp.detach().numpy(), grad, rtol=1e-12, atol=0)


def test_rmse_scaled_path_under_vmap_and_compile() -> None:
    n = 3 * _RMSE_SMALL
    g = torch.Generator().manual_seed(4)
    p = torch.randn(2, n, generator=g)
    t = torch.randn(2, n, generator=g)
    vals = torch.func.vmap(losskit.rmse)(p, t)
    grads = torch.func.vmap(torch.func.grad(losskit.rmse))(p, t)
    for i in range(2):
        root, grad = _rmse_np(p[i].numpy() - t[i].numpy())
        assert vals[i].item() == pytest.approx(root, rel=1e-6)
        np.testing.assert_allclose(grads[i].double().numpy(), grad, rtol=1e-6, atol=0)
    torch._dynamo.reset()
    compiled = torch.compile(losskit.rmse, fullgraph=True, backend="eager")
    x = p[0].clone().requires_grad_(True)
    out = compiled(x, t[0])
    (gx,) = torch.autograd.grad(out, [x])
    root, grad = _rmse_np(p[0].numpy() - t[0].numpy())
    assert out.item() == pytest.approx(root, rel=1e-6)
    np.testing.assert_allclose(gx.double().numpy(), grad, rtol=1e-6, atol=0)


# ----------------------------------------------------------------------------- log_cosh, issue 15
def _log_cosh_np(r: np.ndarray) -> np.ndarray:
    """float64 NumPy, accurate at every size: log1p(2 sinh(r/2)^2) (no cancellation for tiny r)
    below |r| = 1, |r| - log 2 + log1p(exp(-2|r|)) above (no overflow)."""
    a = np.abs(r.astype(np.float64))
    near = np.log1p(2 * np.sinh(np.minimum(a, 1.0) / 2) ** 2)
    far = a - math.log(2) + np.log1p(np.exp(-2 * a))
    return np.where(a < 1, near, far)


def _residuals(n: int) -> torch.Tensor:
    """Log-uniform magnitudes from 1e-18 to 1e4 with random signs (the loss r^2 / 2 of 1e-18
    is still a normal float32), and the switch at 40."""
    g = torch.Generator().manual_seed(11)
    mag = 10 ** (torch.rand(n, generator=g, dtype=D) * 22 - 18)
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).to(D)
    edge = torch.tensor([39.999, 40.0, 40.001, -40.0, 1e30, -1e30, 0.0], dtype=D)
    return torch.cat([mag * sign, edge]).float()


def test_log_cosh_single_sinh_form_equals_the_float64_formula_eagerly_and_traced() -> None:
    r = _residuals(20_000)
    want = _log_cosh_np(r.numpy())
    slope = np.tanh(r.double().numpy())
    # eager: the in-place branch; vmap and func.grad: the out-of-place one (the tracing test)
    p = r.clone().requires_grad_(True)
    eager = losskit.log_cosh(p, torch.zeros_like(r), reduction="none")
    (g,) = torch.autograd.grad(eager.sum(), [p])
    traced = torch.func.vmap(lambda x: losskit.log_cosh(x, torch.zeros_like(x), reduction="none"))(
        r[None]
    )[0]
    traced_g = torch.func.grad(lambda x: losskit.log_cosh(x, torch.zeros_like(x), reduction="sum"))(
        r
    )
    for got in (eager.detach(), traced):
        np.testing.assert_allclose(got.double().numpy(), want, rtol=2e-6, atol=0)
    for got in (g, traced_g):
        np.testing.assert_allclose(got.double().numpy(), slope, rtol=1e-6, atol=1e-30)


# ----------------------------------------------------------------------------- tweedie, issue 15
_TWEEDIE_POWERS = [1.0, 1.2, 1.5, 1.999, 2.0, 2.5, 3.0]


def _tweedie_inputs(power: float) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(int(power * 1000))
    mu = torch.exp(torch.randn(200, generator=g, dtype=D))
    y = torch.exp(torch.randn(200, generator=g, dtype=D))
    if power < 2:
        y[::7] = 0.0  # zero targets are in the domain below power 2
    return mu, y


@pytest.mark.parametrize("power", _TWEEDIE_POWERS)
def test_tweedie_closed_form_gradient_equals_autograd_and_the_formula(power: float) -> None:
    # The closed-form path is taken when the targets need no gradient, the autograd one when
    # they do; d deviance / d mu = 2 (mu^(1-p) - y mu^(-p)) for every power (NumPy, float64).
    mu, y = _tweedie_inputs(power)
    fast = mu.clone().requires_grad_(True)
    slow = mu.clone().requires_grad_(True)
    y_slow = y.clone().requires_grad_(True)
    a = losskit.tweedie_deviance(fast, y, power=power, reduction="none")
    b = losskit.tweedie_deviance(slow, y_slow, power=power, reduction="none")
    close(a, b.detach(), rtol=1e-13, atol=1e-15)
    w = torch.linspace(0.5, 1.5, 200, dtype=D)
    (ga,) = torch.autograd.grad(a, [fast], w)
    (gb,) = torch.autograd.grad(b, [slow], w)
    m, t = mu.numpy(), y.numpy()
    want = 2 * (m ** (1 - power) - t * m ** (-power)) * w.numpy()
    np.testing.assert_allclose(ga.numpy(), want, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gb.numpy(), want, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("power", [1.5, 3.0])
def test_tweedie_closed_form_path_double_backward(power: float) -> None:
    mu, y = _tweedie_inputs(power)
    mu = mu[:6].clone().requires_grad_(True)
    fn = lambda m: losskit.tweedie_deviance(m, y[:6], power=power)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (mu,))
    assert torch.autograd.gradgradcheck(fn, (mu,))


def test_tweedie_closed_form_path_keeps_nan_and_the_zero_at_the_target() -> None:
    mu = torch.tensor([1.0, 2.0, math.nan, 0.5], requires_grad=True)
    y = torch.tensor([1.0, 2.0, 1.0, 0.5])
    with losskit.checks("off"):
        out = losskit.tweedie_deviance(mu, y, power=1.5, reduction="none")
    (g,) = torch.autograd.grad(out.sum(), [mu])
    # at mu == y the deviance and its gradient are exactly 0; a NaN mean is NaN in both
    assert out[[0, 1, 3]].tolist() == [0.0, 0.0, 0.0] and g[[0, 1, 3]].tolist() == [0.0] * 3
    assert math.isnan(out[2].item()) and math.isnan(g[2].item())


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


# ----------------------------------------------------------------------------- student_t, issue 15
@pytest.mark.parametrize("df", [0.5, 3.0, 39.9, 40.0, 1e6])
def test_student_t_number_and_tensor_df_give_the_float64_density(df: float) -> None:
    # A number df takes the host-side normaliser, a tensor df the torch one (either side of
    # the switch to the series at df = 40). Reference: the Student-t log-density in float64
    # NumPy, log s + 0.5 log(nu pi) + lgamma(nu/2) - lgamma((nu+1)/2) + (nu+1)/2 log1p(z^2/nu),
    # with math.lgamma (at nu = 1e6 the difference of two lgamma values near 6e6 keeps about
    # 1e-9 absolute: the tolerance there).
    g = torch.Generator().manual_seed(int(df * 10))
    p, t = torch.randn(50, generator=g, dtype=D), torch.randn(50, generator=g, dtype=D)
    s = torch.rand(50, generator=g, dtype=D) + 0.2
    z = (t.numpy() - p.numpy()) / s.numpy()
    norm = 0.5 * math.log(df * math.pi) + math.lgamma(df / 2) - math.lgamma((df + 1) / 2)
    want = np.log(s.numpy()) + norm + (df + 1) / 2 * np.log1p(z * z / df)
    for nu in (df, torch.tensor(df, dtype=D)):
        got = losskit.student_t_nll(p, t, s, df=nu, reduction="none")
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-12 if df < 1e3 else 1e-8)
        f32 = losskit.student_t_nll(p.float(), t.float(), s.float(), df=nu, reduction="none")
        np.testing.assert_allclose(f32.double().numpy(), want, rtol=2e-6, atol=1e-6)
