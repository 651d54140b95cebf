"""The fast paths of the multiclass losses against their slow twins: the same values and
gradients as the plain float64 formula, in every check mode, on the cases the fast paths treat
specially (ignored labels present or absent, no ``ignore_index``, class weights, an empty batch,
NaN in a counted or an ignored row)."""

from __future__ import annotations

import math
from typing import Literal

import pytest
import torch

import losskit
from losskit.losses._multiclass import nll

Mode = Literal["full", "shapes"]
MODES: tuple[Mode, ...] = ("full", "shapes")


def _nll_ref(
    log_probs: torch.Tensor,
    labels: torch.Tensor,
    *,
    weight: torch.Tensor | None,
    ignore_index: int | None,
    reduction: str,
) -> torch.Tensor:
    """The formula in float64: ``-w_y log_probs[y]`` over the counted items, NaN for a counted
    row holding NaN; ``"mean"`` over the sum of the counted weights, 0.0 over nothing."""
    x = log_probs.double()
    keep = torch.ones_like(labels, dtype=torch.bool)
    if ignore_index is not None:
        keep = labels != ignore_index
    safe = torch.where(keep, labels, 0).long()
    w = torch.ones(x.shape[1], dtype=torch.float64) if weight is None else weight.double()
    w_y = torch.where(keep, w[safe], 0.0)
    picked = x.gather(1, safe[:, None]).squeeze(1)
    nan_row = torch.isnan(x).any(1) & keep
    per_item = torch.where(keep, -w_y * torch.where(nan_row, math.nan, picked), 0.0)
    if reduction == "sum":
        return per_item.sum()
    denom = w_y.sum()
    return per_item.sum() / denom if denom > 0 else per_item.sum() * 0


def _inputs(
    n: int, c: int, *, ignored: bool, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    log_probs = torch.log_softmax(torch.randn(n, c, dtype=torch.float64), 1).to(dtype)
    labels = torch.randint(0, c, (n,))
    if ignored and n:
        labels[::3] = -100
    return log_probs.requires_grad_(True), labels


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("ignored", "ignore_index"), [(False, -100), (True, -100), (False, None)])
def test_nll_reduced_matches_formula(
    mode: Mode, reduction: str, weighted: bool, ignored: bool, ignore_index: int | None
) -> None:
    log_probs, labels = _inputs(12, 5, ignored=ignored)
    weight = torch.rand(5) + 0.1 if weighted else None
    with losskit.checks(mode):
        out = nll(log_probs, labels, weight=weight, ignore_index=ignore_index, reduction=reduction)
    ref_x = log_probs.detach().double().requires_grad_(True)
    ref = _nll_ref(ref_x, labels, weight=weight, ignore_index=ignore_index, reduction=reduction)
    assert out.shape == ()
    torch.testing.assert_close(out.double(), ref.detach(), rtol=1e-6, atol=1e-7)
    (grad,) = torch.autograd.grad(out, log_probs)
    (ref_grad,) = torch.autograd.grad(ref, ref_x)
    torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_nll_reduced_equals_unreduced_path(mode: Mode, reduction: str) -> None:
    """The kernel's own reduction against ``"none"`` (the per-item path) reduced by hand."""
    log_probs, labels = _inputs(9, 4, ignored=True)
    weight = torch.tensor([0.5, 1.0, 2.0, 0.0])
    with losskit.checks(mode):
        out = nll(log_probs, labels, weight=weight, reduction=reduction)
        per_item = nll(log_probs, labels, weight=weight, reduction="none")
    keep = labels != -100
    expected = per_item.sum()
    if reduction == "mean":
        expected = expected / weight[torch.where(keep, labels, 0)][keep].sum()
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_nll_reduced_over_nothing_is_zero(mode: Mode, reduction: str) -> None:
    for log_probs, labels in (
        _inputs(0, 3, ignored=False),
        (_inputs(4, 3, ignored=False)[0], torch.full((4,), -100)),
    ):
        with losskit.checks(mode):
            out = nll(log_probs, labels, reduction=reduction)
        assert out.shape == () and float(out.detach()) == 0.0
        (grad,) = torch.autograd.grad(out, log_probs)
        assert torch.equal(grad, torch.zeros_like(log_probs))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("ignore_index", [-100, None])
def test_nll_reduced_nan_in_a_counted_row_is_nan(reduction: str, ignore_index: int | None) -> None:
    log_probs, labels = _inputs(6, 4, ignored=False)
    x = log_probs.detach().clone()
    x[2, (int(labels[2]) + 1) % 4] = math.nan  # not the label's entry: the kernel skips it
    with losskit.checks("shapes"):
        assert math.isnan(float(nll(x, labels, ignore_index=ignore_index, reduction=reduction)))
    with pytest.raises(losskit.LossInputError, match="log_probs"):
        nll(x, labels, ignore_index=ignore_index, reduction=reduction)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_nll_reduced_nan_in_an_ignored_row_is_not_read(mode: Mode, reduction: str) -> None:
    log_probs, labels = _inputs(6, 4, ignored=False)
    x = log_probs.detach().clone()
    labels[1] = -100
    x[1] = math.nan
    with losskit.checks(mode):
        out = nll(x, labels, reduction=reduction)
    ref = _nll_ref(x, labels, weight=None, ignore_index=-100, reduction=reduction)
    assert math.isfinite(float(out))
    torch.testing.assert_close(out.double(), ref, rtol=1e-6, atol=1e-7)


def test_nll_reduced_normalizer_and_single_example() -> None:
    log_probs, labels = _inputs(5, 3, ignored=True)
    out = nll(log_probs, labels, normalizer=4.0)
    total = nll(log_probs, labels, reduction="sum")
    torch.testing.assert_close(out, total / 4.0)
    one = nll(log_probs[0].detach(), labels[1].clone().fill_(2))
    torch.testing.assert_close(one, -log_probs[0, 2].detach())


def test_nll_reduced_refuses_logits_in_full_mode() -> None:
    with pytest.raises(losskit.LossInputError, match="log-probabilities"):
        nll(torch.randn(4, 3).abs() + 1, torch.tensor([0, 1, 2, 0]))


def _ce_ref(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    weight: torch.Tensor | None,
    ignore_index: int | None,
    reduction: str,
) -> torch.Tensor:
    """Cross-entropy as the float64 formula: nll of log_softmax over the counted items."""
    keep = torch.ones_like(labels, dtype=torch.bool)
    if ignore_index is not None:
        keep = labels != ignore_index
    x = torch.where(keep[:, None], logits.double(), 0.0)
    return _nll_ref(
        torch.log_softmax(x, 1),
        labels,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("ignored", "ignore_index"), [(False, -100), (True, -100), (False, None)])
def test_cross_entropy_reduced_matches_formula(
    mode: Mode, reduction: str, weighted: bool, ignored: bool, ignore_index: int | None
) -> None:
    logits = (3 * torch.randn(12, 5)).requires_grad_(True)
    labels = torch.randint(0, 5, (12,))
    if ignored:
        labels[::4] = -100
        with torch.no_grad():
            logits[::4] = -math.inf  # padding rows: a finite loss and a zero gradient
    weight = torch.rand(5) + 0.1 if weighted else None
    with losskit.checks(mode):
        out = losskit.cross_entropy(
            logits, labels, weight=weight, ignore_index=ignore_index, reduction=reduction
        )
        per_item = losskit.cross_entropy(
            logits, labels, weight=weight, ignore_index=ignore_index, reduction="none"
        )
    ref_x = logits.detach().double().requires_grad_(True)
    ref = _ce_ref(ref_x, labels, weight=weight, ignore_index=ignore_index, reduction=reduction)
    assert out.shape == ()
    torch.testing.assert_close(out.double(), ref.detach(), rtol=1e-6, atol=1e-7)
    (grad,) = torch.autograd.grad(out, logits)
    (ref_grad,) = torch.autograd.grad(ref, ref_x)
    assert torch.isfinite(grad).all()
    torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-5, atol=1e-7)
    # the per-item path (torch's cross_entropy with reduction="none") reduced by hand
    keep = labels != -100
    w_y = torch.ones(12) if weight is None else weight[torch.where(keep, labels, 0)]
    expected = per_item.sum()
    if reduction == "mean":
        expected = expected / w_y[keep].sum()
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("mode", MODES)
def test_cross_entropy_reduced_over_nothing_and_smoothing(mode: Mode) -> None:
    logits = torch.randn(4, 3, requires_grad=True)
    with losskit.checks(mode):
        out = losskit.cross_entropy(logits, torch.full((4,), -100))
        empty = losskit.cross_entropy(logits[:0], torch.zeros(0, dtype=torch.long))
    assert float(out.detach()) == 0.0 and float(empty.detach()) == 0.0
    (grad,) = torch.autograd.grad(out, logits)
    assert torch.equal(grad, torch.zeros_like(logits))
    labels = torch.tensor([0, 2, 1, 1])
    smooth = losskit.cross_entropy(logits, labels, label_smoothing=0.0, reduction="sum")
    torch.testing.assert_close(
        smooth, torch.nn.functional.cross_entropy(logits, labels, reduction="sum")
    )


def test_cross_entropy_reduced_half_precision() -> None:
    logits = torch.randn(8, 4).to(torch.bfloat16)
    labels = torch.randint(0, 4, (8,))
    out = losskit.cross_entropy(logits, labels)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, torch.nn.functional.cross_entropy(logits, labels))


MASKED = ("z_loss", "generalized_cross_entropy", "poly1_cross_entropy", "softmax_focal")


@pytest.mark.parametrize("name", [*MASKED, "sparsemax_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignored", [False, True])
def test_unmasked_path_equals_masked_path(name: str, reduction: str, ignored: bool) -> None:
    """Full mode reads the labels, and with none ignored skips the mask (``counted``); shapes
    mode cannot read them and always masks: the same values and gradients."""
    fn = getattr(losskit, name)
    logits = (2 * torch.randn(10, 4, dtype=torch.float64)).requires_grad_(True)
    labels = torch.randint(0, 4, (10,))
    if ignored:
        labels[3] = -100
    options = {"weight": torch.rand(4, dtype=torch.float64)} if name == "softmax_focal" else {}
    outs, grads = [], []
    for mode in MODES:
        with losskit.checks(mode):
            out = fn(logits, labels, reduction=reduction, **options)
        outs.append(out)
        grads.append(torch.autograd.grad(out.sum(), logits)[0])
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-12)
    if ignored:
        assert float(grads[0][3].abs().sum()) == 0.0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("q", [0.0, 0.7, 1.0])
def test_gce_log_softmax_matches_logsumexp_formula(mode: Mode, q: float) -> None:
    """log p_y from log_softmax against the float64 ``x_y - logsumexp(x)``, with a -inf
    padding row (ignored) and a -inf class score."""
    logits = (3 * torch.randn(8, 5)).requires_grad_(True)
    labels = torch.randint(0, 5, (8,))
    labels[2] = -100
    with torch.no_grad():
        logits[2] = -math.inf
        logits[5, (int(labels[5]) + 1) % 5] = -math.inf
    with losskit.checks(mode):
        out = losskit.generalized_cross_entropy(logits, labels, q=q, reduction="sum")
    ref_x = logits.detach().double().requires_grad_(True)
    keep = labels != -100
    x = torch.where(keep[:, None], ref_x, 0.0)
    safe = torch.where(keep, labels, 0)
    log_p = x.gather(1, safe[:, None]).squeeze(1) - torch.logsumexp(x, 1)
    per_item = -log_p if q == 0 else (1 - torch.exp(q * log_p)) / q
    ref = torch.where(keep, per_item, 0.0).sum()
    torch.testing.assert_close(out.double(), ref.detach(), rtol=1e-5, atol=1e-6)
    (grad,) = torch.autograd.grad(out, logits)
    (ref_grad,) = torch.autograd.grad(ref, ref_x)
    assert torch.isfinite(grad).all() and float(grad[2].abs().sum()) == 0.0
    torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-5, atol=1e-6)
