"""The fast paths of the misc losses against their slow twins: CTC's own autograd Function
against the log-space recursion (the traced path), and margin_ranking's unguarded formula (labels
the check read) against the guarded one ("shapes" mode)."""

from __future__ import annotations

from typing import Literal

import pytest
import torch

import losskit
from losskit.losses import _sequence
from losskit.losses._ranking import margin_ranking
from losskit.losses._sequence import ctc


def _ctc_inputs(
    frames: int = 12, batch: int = 4, classes: int = 5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    lp = torch.randn(frames, batch, classes, generator=g, dtype=torch.float64).log_softmax(2)
    targets = torch.randint(1, classes, (batch, 4), generator=g)
    in_len = torch.tensor([frames, frames - 2, 5, frames])[:batch]
    tgt_len = torch.tensor([4, 3, 2, 0])[:batch]
    return lp, targets, in_len, tgt_len


def _recursion(lp: torch.Tensor, *rest: torch.Tensor, zero_infinity: bool) -> torch.Tensor:
    targets, in_len, tgt_len = rest
    return _sequence._ctc_recursion(
        lp, targets, in_len, tgt_len, blank=0, zero_infinity=zero_infinity
    )


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("whole", [True, False])
def test_ctc_function_matches_recursion(
    zero_infinity: bool, whole: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not whole:  # exp(log_probs) taken back in slices of frames
        monkeypatch.setattr(_sequence, "_EXP_WHOLE", 0)
    lp, targets, in_len, tgt_len = _ctc_inputs()
    if zero_infinity:  # an impossible alignment: 4 labels, 3 with a repeat, in 2 frames
        in_len = in_len.clone()
        in_len[0] = 2
    x = lp.clone().requires_grad_()
    y = lp.clone().requires_grad_()
    got = ctc(x, targets, in_len, tgt_len, reduction="none", zero_infinity=zero_infinity)
    want = _recursion(y, targets, in_len, tgt_len, zero_infinity=zero_infinity)
    torch.testing.assert_close(got, want)
    w = torch.rand(got.shape, dtype=torch.float64)
    (gx,) = torch.autograd.grad((got * w).sum(), x)
    (gy,) = torch.autograd.grad((want * w).sum(), y)
    torch.testing.assert_close(gx, gy)
    if zero_infinity:
        assert got[0] == 0 and bool((gx[:, 0] == 0).all())


def test_ctc_function_gradcheck_and_reductions() -> None:
    lp, targets, _, _ = _ctc_inputs(frames=6, batch=2, classes=3)
    in_len, tgt_len = torch.tensor([6, 5]), torch.tensor([2, 1])
    x = lp.clone().requires_grad_()
    for reduction in ("mean", "sum", "none"):
        assert torch.autograd.gradcheck(
            lambda a, r=reduction: ctc(a, targets, in_len, tgt_len, reduction=r), (x,)
        )


def test_ctc_function_half_precision_and_no_grad() -> None:
    lp, targets, in_len, tgt_len = _ctc_inputs()
    half = lp.to(torch.bfloat16).requires_grad_()
    out = ctc(half, targets, in_len, tgt_len)
    assert out.dtype == torch.float32
    (gh,) = torch.autograd.grad(out, half)
    x = lp.float().requires_grad_()
    (gx,) = torch.autograd.grad(ctc(x, targets, in_len, tgt_len), x)
    torch.testing.assert_close(gh.float(), gx, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(
        ctc(lp, targets, in_len, tgt_len),
        _recursion(lp, targets, in_len, tgt_len, zero_infinity=False)
        .div(tgt_len.clamp(min=1))
        .mean(),
    )


def test_ctc_nan_log_probs_give_nan_or_error() -> None:
    lp, targets, in_len, tgt_len = _ctc_inputs()
    lp = lp.clone()
    lp[0, 0, 0] = float("nan")
    with losskit.checks("shapes"):
        out = ctc(lp, targets, in_len, tgt_len, reduction="none")
    assert torch.isnan(out[0])


def _margin_formula(
    s1: torch.Tensor, s2: torch.Tensor, y: torch.Tensor, margin: float
) -> torch.Tensor:
    return torch.clamp(-y.double() * (s1.double() - s2.double()) + margin, min=0)


@pytest.mark.parametrize("mode", ["full", "shapes"])
def test_margin_ranking_both_paths_match_formula(mode: Literal["full", "shapes"]) -> None:
    g = torch.Generator().manual_seed(0)
    s1 = torch.randn(50, generator=g, requires_grad=True)
    s2 = torch.randn(50, generator=g, requires_grad=True)
    y = torch.randint(0, 2, (50,), generator=g) * 2 - 1
    with losskit.checks(mode):
        got = margin_ranking(s1, s2, y, margin=0.3, reduction="none")
    want = _margin_formula(s1, s2, y, 0.3)
    torch.testing.assert_close(got.double(), want)
    ga = torch.autograd.grad(got.sum(), (s1, s2))
    gb = torch.autograd.grad(want.sum(), (s1, s2))
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("bad", [0.0, 2.0, float("nan"), float("inf")])
def test_margin_ranking_unread_labels_that_are_not_signs_give_nan(bad: float) -> None:
    s1, s2 = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.5])
    y = torch.tensor([1.0, bad])
    with losskit.checks("shapes"):
        out = margin_ranking(s1, s2, y, reduction="none")
    assert out[0] == 0 and torch.isnan(out[1])
    with pytest.raises(losskit.LossInputError):
        margin_ranking(s1, s2, y)


def test_margin_ranking_empty_mean_is_zero() -> None:
    e = torch.zeros(0, requires_grad=True)
    for mode in ("full", "shapes"):
        with losskit.checks(mode):
            assert margin_ranking(e, e, torch.zeros(0)).item() == 0.0
