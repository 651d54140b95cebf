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
