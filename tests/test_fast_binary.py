"""The fast paths of the binary losses against their slow twins.

bce, brier, soft_margin and (unweighted, where values are read) bce_with_logits let the torch
kernel reduce; the twin is the float64 formula of each docstring, reduced by hand.
bce_with_logits keeps its form exact at +-inf where the values cannot be read ("shapes" mode)
or the kernel's result is not finite: both modes must give the same values and gradients.
perceptron and exponential skip the elementwise ``* |s|`` guard when reduced: the twin is the
``"none"`` result reduced by hand, and a non-finite target must still give a non-finite
result."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit

D = torch.float64
REDUCTIONS = ("mean", "sum", "none")
MODES = ("full", "shapes", "off")
INF = float("inf")


def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return x
    return x.sum() if reduction == "sum" or x.numel() == 0 else x.mean()


def _grad(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().clone().requires_grad_()
    out = fn(x)
    (g,) = torch.autograd.grad(out.sum(), x)
    return out.detach(), g


def _call(fn: Callable[..., torch.Tensor], a: torch.Tensor, **kw: Any) -> torch.Tensor:
    t = kw.pop("t")
    return fn(a, t, **kw)


def _reduced(
    fn: Callable[..., torch.Tensor], a: torch.Tensor, *, t: torch.Tensor, reduction: str
) -> torch.Tensor:
    return _reduce(fn(a, t), reduction)


def _data(n: int = 50) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(n, generator=g, dtype=D)
    probs = torch.rand(n, generator=g, dtype=D) * 0.98 + 0.01
    targets = torch.randint(0, 2, (n,), generator=g).to(D)
    return logits, probs, targets


def _bce64(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return -(t * p.log().clamp(min=-100) + (1 - t) * (1 - p).log().clamp(min=-100))


def _bcel64(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return t * F.softplus(-x) + (1 - t) * F.softplus(x)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("n", [0, 1, 50])
def test_kernel_reduced_losses_match_the_formula(mode: str, reduction: str, n: int) -> None:
    x, p, t = _data(n)
    cases: list[tuple[Callable[..., torch.Tensor], torch.Tensor, Callable[..., torch.Tensor]]] = [
        (losskit.bce, p, _bce64),
        (losskit.brier, p, lambda q, s: (q - s) ** 2),
        (losskit.soft_margin, x, lambda z, s: F.softplus(-(2 * s - 1) * z)),
        (losskit.bce_with_logits, x, _bcel64),
    ]
    for fn, inp, ref in cases:
        with losskit.checks(mode):  # type: ignore[arg-type]
            out, g = _grad(functools.partial(_call, fn, t=t, reduction=reduction), inp)
        want, g_want = _grad(functools.partial(_reduced, ref, t=t, reduction=reduction), inp)
        assert out.shape == want.shape, fn
        torch.testing.assert_close(out, want)
        torch.testing.assert_close(g, g_want)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_bce_still_matches(reduction: str) -> None:
    x, p, t = _data()
    w = torch.rand(50, generator=torch.Generator().manual_seed(1), dtype=D)
    for mode in MODES:
        with losskit.checks(mode):  # type: ignore[arg-type]
            out = losskit.bce(p, t, weight=w, reduction=reduction)
            out_l = losskit.bce_with_logits(x, t, weight=w, reduction=reduction)
        torch.testing.assert_close(out, _reduce(w * _bce64(p, t), reduction))
        torch.testing.assert_close(out_l, _reduce(w * _bcel64(x, t), reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits_at_infinite_logits_is_the_same_in_every_mode(
    reduction: str, weighted: bool
) -> None:
    x = torch.tensor([INF, INF, -INF, -INF, 1.5, -0.5], dtype=D)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0], dtype=D)
    w = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0, 1.0], dtype=D) if weighted else None
    limits = torch.tensor([0.0, INF, 0.0, INF], dtype=D)
    want = torch.cat([limits, _bcel64(x[4:], t[4:])])
    if w is not None:
        want = want * w
    # correctly signed infinite logits only (0, 2, 4, 5): a finite result, which "full" mode
    # takes from the kernel's path and the other modes from the form exact at +-inf
    keep = [0, 2, 4, 5]
    results = {}
    for mode in MODES:
        with losskit.checks(mode):  # type: ignore[arg-type]
            results[mode] = _grad(
                functools.partial(
                    _call,
                    losskit.bce_with_logits,
                    t=t[keep],
                    weight=None if w is None else w[keep],
                    reduction=reduction,
                ),
                x[keep],
            )
    torch.testing.assert_close(results["full"][0], _reduce(want[keep], reduction))
    for mode in MODES:
        torch.testing.assert_close(results[mode][0], results["full"][0])
        torch.testing.assert_close(results[mode][1], results["full"][1])
    assert results["full"][1][:2].eq(0).all()  # the limits have a zero gradient
    # wrongly signed ones too: +inf where values are not read
    for mode in ("shapes", "off"):
        with losskit.checks(mode):  # type: ignore[arg-type]
            out, g = _grad(
                lambda a: losskit.bce_with_logits(a, t, weight=w, reduction=reduction), x
            )
        torch.testing.assert_close(out, _reduce(want, reduction))
        # correctly signed: a zero gradient; wrongly signed (an infinite value): finite
        assert g[[0, 2]].eq(0).all() and g.isfinite().all()
    with pytest.raises(losskit.LossInputError):
        losskit.bce_with_logits(x, t, weight=w, reduction=reduction)


def test_bce_with_logits_of_a_nan_logit_is_not_finite() -> None:
    x = torch.tensor([float("nan"), 1.0])
    t = torch.tensor([1.0, 0.0])
    for mode in ("shapes", "off"):
        with losskit.checks(mode):
            assert torch.isnan(losskit.bce_with_logits(x, t))
            assert torch.isnan(losskit.soft_margin(x, t))
            assert torch.isnan(losskit.brier(x.sigmoid(), t))


def test_half_precision_is_computed_in_float32() -> None:
    x, p, t = _data()
    for fn, inp, ref in ((losskit.bce_with_logits, x, _bcel64), (losskit.brier, p, None)):
        out = fn(inp.half(), t.bool())
        assert out.dtype == torch.float16
        want = fn(inp.half().float(), t.float())
        torch.testing.assert_close(out, want.half())
        if ref is not None:
            torch.testing.assert_close(
                out.double(), ref(inp.half().double(), t).mean(), atol=1e-3, rtol=1e-3
            )


@pytest.mark.parametrize("name", ["perceptron", "exponential"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reduced_margin_losses_match_the_elementwise_guard(
    name: str, mode: str, reduction: str
) -> None:
    fn = losskit.get_spec(name).function
    x, _, t = _data()
    with losskit.checks(mode):  # type: ignore[arg-type]
        out, g = _grad(lambda a: fn(a, t, reduction=reduction), x)
        elem, g_elem = _grad(lambda a: _reduce(fn(a, t, reduction="none"), reduction), x)
    torch.testing.assert_close(out, elem)
    torch.testing.assert_close(g, g_elem)
    s = 2 * t - 1
    formula = F.relu(-s * x) if name == "perceptron" else torch.exp(-s * x)
    torch.testing.assert_close(out, _reduce(formula, reduction))
    # gradients in the targets too (the elementwise form is kept for them)
    tt = t.clone().requires_grad_()
    with losskit.checks(mode):  # type: ignore[arg-type]
        (gt,) = torch.autograd.grad(fn(x, tt, reduction=reduction), tt)
        (gt_elem,) = torch.autograd.grad(_reduce(fn(x, tt, reduction="none"), reduction), tt)
    torch.testing.assert_close(gt, gt_elem)


@pytest.mark.parametrize("name", ["perceptron", "exponential"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_reduced_margin_losses_keep_a_non_finite_target_non_finite(
    name: str, reduction: str
) -> None:
    fn = losskit.get_spec(name).function
    x = torch.tensor([2.0, -3.0, 0.5])  # the infinite target sits where s x = +inf hides it
    for bad in (INF, -INF, float("nan")):
        t = torch.tensor([bad, 0.0, 1.0])
        for mode in ("shapes", "off"):
            with losskit.checks(mode):
                out = fn(x, t, reduction=reduction)
            assert not torch.isfinite(out).all(), (bad, mode, out)
        with pytest.raises(losskit.LossInputError):
            fn(x, t, reduction=reduction)


def test_empty_margin_losses_are_a_connected_zero() -> None:
    x = torch.zeros(0, requires_grad=True)
    for name in ("perceptron", "exponential", "soft_margin", "bce_with_logits"):
        fn = losskit.get_spec(name).function
        for mode in MODES:
            with losskit.checks(mode):  # type: ignore[arg-type]
                out = fn(x, torch.zeros(0), reduction="mean")
            assert out.item() == 0.0 and out.requires_grad


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("n", [0, 1, 7])
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_soft_margin_reduced_by_the_kernel(
    mode: str, reduction: str, n: int, weighted: bool
) -> None:
    g = torch.Generator().manual_seed(2)
    x = 3 * torch.randn(n, 5, generator=g, dtype=D)
    t = torch.randint(0, 2, (n, 5), generator=g).to(D)
    w = torch.rand(5, generator=g, dtype=D) if weighted else None

    def ref(a: torch.Tensor) -> torch.Tensor:
        per = _bcel64(a, t) if w is None else w * _bcel64(a, t)
        return _reduce(per.mean(-1), reduction)

    with losskit.checks(mode):  # type: ignore[arg-type]
        out, g_out = _grad(
            lambda a: losskit.multilabel_soft_margin(a, t, weight=w, reduction=reduction), x
        )
    want, g_want = _grad(ref, x)
    assert out.shape == want.shape
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(g_out, g_want)
    if n == 0 and reduction != "none":
        assert out.item() == 0.0


# ----------------------------------------------------------------------------- sigmoid_focal
def _np_sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


def _np_focal(x: np.ndarray, t: np.ndarray, alpha: float | None, gamma: float) -> np.ndarray:
    """The paper's formula in float64 NumPy: ``a_t (1 - p_t)^gamma bce``, ``1 - p_t`` from the
    two sigmoids (no cancellation), bce as ``t softplus(-x) + (1 - t) softplus(x)``."""
    q = t * _np_sigmoid(-x) + (1 - t) * _np_sigmoid(x)
    bce = t * np.logaddexp(0.0, -x) + (1 - t) * np.logaddexp(0.0, x)
    a = 1.0 if alpha is None else alpha * t + (1 - alpha) * (1 - t)
    return a * q**gamma * bce


def _np_focal_grad(x: np.ndarray, t: np.ndarray, alpha: float | None, gamma: float) -> np.ndarray:
    """``d l / d x`` by hand: with ``q = 1 - p_t``, ``dq/dx = (1 - 2t) s (1 - s)`` and
    ``d bce/dx = s - t``, so ``a_t [gamma q^(gamma-1) dq/dx bce + q^gamma (s - t)]``."""
    s, sn = _np_sigmoid(x), _np_sigmoid(-x)
    q = t * sn + (1 - t) * s
    bce = t * np.logaddexp(0.0, -x) + (1 - t) * np.logaddexp(0.0, x)
    a = 1.0 if alpha is None else alpha * t + (1 - alpha) * (1 - t)
    return a * (gamma * q ** (gamma - 1) * (1 - 2 * t) * s * sn * bce + q**gamma * (s - t))


def _np_reduce(v: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return v
    return v.sum() if reduction == "sum" or v.size == 0 else v.mean()


def _focal_data(n: int = 40, soft: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(4)
    x = 4 * torch.randn(n, generator=g, dtype=D)
    t = (
        torch.rand(n, generator=g, dtype=D)
        if soft
        else torch.randint(0, 2, (n,), generator=g).to(D)
    )
    return x, t


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (None, 0.5), (0.9, 3.0)])
@pytest.mark.parametrize("soft", [False, True])
def test_sigmoid_focal_fast_path_matches_the_float64_formula_and_its_twin(
    mode: str, reduction: str, alpha: float | None, gamma: float, soft: bool
) -> None:
    """Targets without a gradient take the fused Function (value and closed-form gradient in
    one pass); targets that need one take the log-space autograd form: both against NumPy."""
    x, t = _focal_data(soft=soft)
    scale = 1.0 if reduction != "mean" else 1.0 / x.numel()
    want = _np_reduce(_np_focal(x.numpy(), t.numpy(), alpha, gamma), reduction)
    g_want = torch.from_numpy(_np_focal_grad(x.numpy(), t.numpy(), alpha, gamma) * scale)
    for twin in (False, True):
        tt = t.clone().requires_grad_(twin)
        with losskit.checks(mode):  # type: ignore[arg-type]
            out, g = _grad(
                lambda a, tt=tt: losskit.sigmoid_focal(
                    a, tt, alpha=alpha, gamma=gamma, reduction=reduction
                ),
                x,
            )
            path = losskit.sigmoid_focal(
                x.clone().requires_grad_(), tt, alpha=alpha, gamma=gamma, reduction=reduction
            )
        # the branch taken: the fused Function unless the targets need a gradient
        assert ("_SigmoidFocal" in type(path.grad_fn).__name__) is not twin
        torch.testing.assert_close(out, torch.from_numpy(np.asarray(want)), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(g, g_want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_sigmoid_focal_fast_path_at_infinite_logits(reduction: str) -> None:
    """Limits without a host read: 0 and a zero gradient at a correctly signed infinite logit,
    +inf at a wrongly signed one, NaN for NaN; the same values as the autograd twin."""
    x = torch.tensor([INF, -INF, INF, -INF, 1.5, -0.5], dtype=D)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0], dtype=D)
    finite = _np_focal(x[4:].numpy(), t[4:].numpy(), 0.25, 2.0)
    want = torch.cat([torch.tensor([0.0, 0.0, INF, INF], dtype=D), torch.from_numpy(finite)])
    for mode in ("shapes", "off"):
        with losskit.checks(mode):
            out, g = _grad(lambda a: losskit.sigmoid_focal(a, t, reduction=reduction), x)
            twin = losskit.sigmoid_focal(x, t.clone().requires_grad_(), reduction=reduction)
        torch.testing.assert_close(out, _reduce(want, reduction))
        torch.testing.assert_close(twin.detach(), out)
        assert g[:2].eq(0).all() and g.isfinite().all()
        right = [0, 1, 4, 5]  # correctly signed or finite: a finite result
        with losskit.checks(mode):
            out_r = losskit.sigmoid_focal(x[right], t[right], reduction=reduction)
        torch.testing.assert_close(out_r, _reduce(want[right], reduction))
        with losskit.checks(mode):
            nan = losskit.sigmoid_focal(torch.tensor([float("nan"), 1.0]), torch.ones(2))
        assert torch.isnan(nan)
    with pytest.raises(losskit.LossInputError):
        losskit.sigmoid_focal(x, t, reduction=reduction)


def test_sigmoid_focal_fast_path_second_derivative_and_retained_graph() -> None:
    """create_graph recomputes the gradient by differentiable ops: the Hessian's diagonal
    against a central difference of the NumPy gradient; a retained graph gives the same
    gradient twice (the saved gradient is not written in place)."""
    x, t = _focal_data(soft=False)
    xr = x.clone().requires_grad_()
    out = losskit.sigmoid_focal(xr, t, gamma=2.0, reduction="sum")
    (g,) = torch.autograd.grad(out, xr, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), xr)
    eps = 1e-6
    up = _np_focal_grad(x.numpy() + eps, t.numpy(), 0.25, 2.0)
    down = _np_focal_grad(x.numpy() - eps, t.numpy(), 0.25, 2.0)
    torch.testing.assert_close(h, torch.from_numpy((up - down) / (2 * eps)), rtol=1e-5, atol=1e-8)
    out = losskit.sigmoid_focal(xr, t)
    (g1,) = torch.autograd.grad(out, xr, retain_graph=True)
    (g2,) = torch.autograd.grad(out, xr)
    torch.testing.assert_close(g1, g2)


# ----------------------------------------------------------------------------- margin losses
def _np_margin(name: str, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(loss, d loss / d x) of the docstrings' formulas with ``s = 2t - 1``, by hand."""
    s = 2 * t - 1
    if name == "hinge":
        z = 1 - s * x
        return np.maximum(z, 0), np.where(z > 0, -s, 0.0)
    if name == "squared_hinge":
        z = np.maximum(1 - s * x, 0)
        return z**2, -2 * s * z
    if name == "perceptron":
        z = -s * x
        return np.maximum(z, 0), np.where(z > 0, -s, 0.0)
    e = np.exp(-s * x)
    return e, -s * e


MARGINS = ["hinge", "squared_hinge", "perceptron", "exponential"]


@pytest.mark.parametrize("name", MARGINS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("n", [0, 1, 50])
def test_margin_fast_path_matches_the_formula_and_its_twin(
    name: str, mode: str, reduction: str, n: int
) -> None:
    """Reduced, without a targets gradient: the fused Function; the twin (targets that need a
    gradient) is the autograd formula. Both against NumPy, values and logits' gradients."""
    fn = losskit.get_spec(name).function
    x, _, t = _data(n)
    x = x.clone()
    x[:3] = torch.tensor([1.0, -1.0, 1.0], dtype=D)[: min(3, n)]  # at the hinge's kink
    t[:3] = torch.tensor([1.0, 0.0, 0.0], dtype=D)[: min(3, n)]
    loss, grad = _np_margin(name, x.numpy(), t.numpy())
    want = torch.from_numpy(np.asarray(_np_reduce(loss, reduction)))
    g_want = torch.from_numpy(grad / (x.numel() if reduction == "mean" and n else 1))
    for twin in (False, True):
        tt = t.clone().requires_grad_(twin)
        with losskit.checks(mode):  # type: ignore[arg-type]
            out, g = _grad(lambda a, tt=tt: fn(a, tt, reduction=reduction), x)
        torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(g, g_want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", MARGINS)
def test_margin_fast_path_second_derivative_retained_graph_and_limits(name: str) -> None:
    fn = losskit.get_spec(name).function
    x, _, t = _data()
    xr = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(fn(xr, t, reduction="sum"), xr, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), xr)
    s = 2 * t - 1
    # second derivatives by hand: 0 (hinge, perceptron), 2 [1 - s x > 0], exp(-s x)
    want = {
        "hinge": torch.zeros_like(x),
        "perceptron": torch.zeros_like(x),
        "squared_hinge": 2.0 * (1 - s * x > 0).to(D),
        "exponential": torch.exp(-s * x),
    }[name]
    torch.testing.assert_close(h, want)
    out = fn(xr, t)
    (g1,) = torch.autograd.grad(out, xr, retain_graph=True)
    (g2,) = torch.autograd.grad(out, xr)
    torch.testing.assert_close(g1, g2)
    # infinite logits keep their limits: 0 where correctly signed, +inf where wrongly signed
    with losskit.checks("off"):
        right = fn(torch.tensor([INF, -INF]), torch.tensor([1.0, 0.0]), reduction="sum")
        wrong = fn(torch.tensor([INF, -INF]), torch.tensor([0.0, 1.0]), reduction="mean")
    assert right.item() == 0.0 and wrong.item() == INF


# ----------------------------------------------------------------------------- multilabel_margin
def _np_mlm(x: np.ndarray, hot: np.ndarray) -> np.ndarray:
    """Per row: sum over positive j and negative i of max(0, 1 - (x_j - x_i)), over C."""
    out = np.zeros(x.shape[0])
    for n in range(x.shape[0]):
        pos, neg = x[n][hot[n]], x[n][~hot[n]]
        out[n] = np.maximum(0.0, 1 - (pos[:, None] - neg[None, :])).sum() / x.shape[1]
    return out


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [D, torch.int64, torch.bool])
def test_multilabel_margin_read_and_unread_paths_match(reduction: str, dtype: torch.dtype) -> None:
    """ "full" with finite logits lets the kernel reduce (no NaN-row pass); "shapes" and "off"
    keep the pass. Both against NumPy; a NaN logit still makes its row NaN where unread."""
    g = torch.Generator().manual_seed(5)
    x = 2 * torch.randn(7, 6, generator=g, dtype=D)
    hot = torch.rand(7, 6, generator=g) < 0.4
    hot[0] = False  # a row without a positive label: 0
    hot[1] = True  # nor a negative one: 0
    want = torch.from_numpy(np.asarray(_np_reduce(_np_mlm(x.numpy(), hot.numpy()), reduction)))
    t = hot.to(dtype)
    for mode in MODES:
        with losskit.checks(mode):  # type: ignore[arg-type]
            out, gr = _grad(lambda a: losskit.multilabel_margin(a, t, reduction=reduction), x)
        torch.testing.assert_close(out, want)
        if mode == "full":
            g_full = gr
        else:
            torch.testing.assert_close(gr, g_full)
    bad = x.clone()
    bad[3, 2] = float("nan")
    with losskit.checks("off"):
        rows = losskit.multilabel_margin(bad, t, reduction="none")
        for reduced in ("mean", "sum"):  # the reduced form: one NaN test of all rows
            assert torch.isnan(losskit.multilabel_margin(bad, t, reduction=reduced))
        inf = x.clone()
        inf[3, 2] = INF  # an infinite logit keeps its limit: not NaN
        assert not torch.isnan(losskit.multilabel_margin(inf, t, reduction="mean"))
    # an empty batch never reaches the kernel's own reduction (it returns garbage over nothing)
    for mode in MODES:
        with losskit.checks(mode):  # type: ignore[arg-type]
            empty = losskit.multilabel_margin(x[:0], t[:0], reduction=reduction)
        assert empty.numel() == 0 if reduction == "none" else empty.item() == 0.0
    assert torch.isnan(rows[3]) and torch.isfinite(rows[torch.arange(7) != 3]).all()
    with pytest.raises(losskit.LossInputError):
        losskit.multilabel_margin(bad, t, reduction=reduction)
