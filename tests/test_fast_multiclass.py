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

Mode = Literal["full", "shapes", "off"]
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


@pytest.mark.parametrize("name", [*MASKED, "sparsemax_loss", "multiclass_hinge"])
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


# ----------------------------------------------------------------------------- nll's NaN guard
# Outside full mode (and in full mode once its maximum has found a NaN) the NaN rows are found
# by a sum over the scores: one sum for every row when no label can be ignored, one per row
# otherwise. A row with -inf (a class of probability 0) sums to -inf and is not a NaN row.


def _with_zero_prob_classes(n: int, c: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities with some -inf entries (never at the label): valid distributions."""
    logits = torch.randn(n, c, dtype=torch.float64)
    labels = torch.randint(0, c, (n,))
    off = (labels + 1) % c
    logits[torch.arange(n), off] = -math.inf
    return torch.log_softmax(logits, 1).float(), labels


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [-100, None])
def test_nll_minus_inf_entries_are_not_nan_rows(
    mode: Mode, reduction: str, ignore_index: int | None
) -> None:
    log_probs, labels = _with_zero_prob_classes(10, 4)
    if ignore_index is not None:
        labels[4] = ignore_index
    log_probs.requires_grad_(True)
    with losskit.checks(mode):
        out = nll(log_probs, labels, ignore_index=ignore_index, reduction=reduction)
    assert torch.isfinite(out).all()
    ref_x = log_probs.detach().double().requires_grad_(True)
    if reduction == "none":
        keep = torch.ones(10, dtype=torch.bool) if ignore_index is None else labels != -100
        safe = torch.where(keep, labels, 0)
        ref = torch.where(keep, -ref_x.gather(1, safe[:, None]).squeeze(1), 0.0)
    else:
        ref = _nll_ref(ref_x, labels, weight=None, ignore_index=ignore_index, reduction=reduction)
    torch.testing.assert_close(out.double(), ref.detach(), rtol=1e-6, atol=1e-7)
    (grad,) = torch.autograd.grad(out.sum(), log_probs)
    (ref_grad,) = torch.autograd.grad(ref.sum(), ref_x)
    torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode", ["off", "shapes"])  # full mode refuses the NaN result
@pytest.mark.parametrize("ignore_index", [-100, None])
def test_nll_none_marks_exactly_the_counted_nan_rows(mode: Mode, ignore_index: int | None) -> None:
    log_probs, labels = _inputs(6, 4, ignored=False)
    x = log_probs.detach().clone()
    x[1, (int(labels[1]) + 1) % 4] = math.nan  # a counted row, NaN off the label
    x[3] = math.nan  # ignored where an ignore_index is given
    if ignore_index is not None:
        labels[3] = ignore_index
    with losskit.checks(mode):
        out = nll(x, labels, ignore_index=ignore_index, reduction="none")
    expected_nan = torch.tensor([False, True, False, ignore_index is None, False, False])
    assert torch.equal(out.isnan(), expected_nan)
    if ignore_index is not None:
        assert float(out[3]) == 0.0
    picked = -x.double().gather(1, labels.clamp_min(0)[:, None]).squeeze(1)
    fine = ~expected_nan & (labels != -100)
    torch.testing.assert_close(out.double()[fine], picked[fine])
    with pytest.raises(losskit.LossInputError, match="log_probs"):
        nll(x, labels, ignore_index=ignore_index, reduction="none")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("ignore_index", [-100, None])
def test_nll_nan_rows_beyond_two_dims_and_with_weights(
    mode: Mode, reduction: str, ignore_index: int | None
) -> None:
    """(N, C, d) log-probabilities (the per-item path) and class weights (the weighted mean's
    denominator carries the NaN); a NaN off the label in a counted item, then in an ignored one."""
    x = torch.log_softmax(torch.randn(3, 4, 5, dtype=torch.float64), 1).float()
    labels = torch.randint(0, 4, (3, 5))
    weight = torch.rand(4) + 0.1
    bad = x.clone()
    bad[1, (int(labels[1, 2]) + 1) % 4, 2] = math.nan
    with losskit.checks("off" if mode == "full" else mode):  # full mode refuses a NaN result
        out = nll(bad, labels, ignore_index=ignore_index, reduction=reduction)
        flat = nll(bad[0, :, 0], labels[0, 0], weight=weight, ignore_index=ignore_index)
        two_d = nll(bad[1].T, labels[1], weight=weight, ignore_index=ignore_index)
    assert math.isnan(float(out)) and math.isnan(float(two_d))
    assert math.isfinite(float(flat))  # the single example (C,) holds no NaN
    if ignore_index is not None:
        labels[1, 2] = ignore_index
        with losskit.checks(mode):
            out = nll(bad, labels, ignore_index=ignore_index, reduction=reduction)
            two_d = nll(bad[1].T, labels[1], weight=weight, reduction=reduction)
        keep = labels != ignore_index
        per = -x.double().gather(1, labels.clamp_min(0)[:, None]).squeeze(1)
        total = torch.where(keep, per, 0.0).sum()
        want = total if reduction == "sum" else total / keep.sum()
        torch.testing.assert_close(out.double(), want)
        rows = bad[1].T.double()
        w_y = torch.where(keep[1], weight.double()[labels[1].clamp_min(0)], 0.0)
        per_2d = torch.where(keep[1], -rows.gather(1, labels[1].clamp_min(0)[:, None])[:, 0], 0.0)
        want_2d = (w_y * per_2d).sum()
        if reduction == "mean":
            want_2d = want_2d / w_y.sum()
        torch.testing.assert_close(two_d.double(), want_2d)


@pytest.mark.parametrize("mode", MODES)
def test_nll_nan_row_with_normalizer_is_nan(mode: Mode) -> None:
    log_probs, labels = _inputs(5, 3, ignored=True)
    x = log_probs.detach().clone()
    x[1, (int(labels[1]) + 1) % 3] = math.nan  # row 1 is counted (every third is ignored)
    with losskit.checks("off" if mode == "full" else mode):
        assert math.isnan(float(nll(x, labels, normalizer=4.0)))
    x[0] = math.nan  # row 0 is ignored: read by nothing
    x[1] = log_probs[1].detach()
    with losskit.checks(mode):
        out = nll(x, labels, normalizer=4.0)
    keep = labels != -100
    per = -log_probs.detach().double().gather(1, labels.clamp_min(0)[:, None]).squeeze(1)
    torch.testing.assert_close(out.double(), torch.where(keep, per, 0.0).sum() / 4.0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", [*MASKED, "sparsemax_loss", "multiclass_hinge"])
def test_mean_over_every_label_ignored_is_zero(mode: Mode, name: str) -> None:
    """The mean's count raised to 1 where nothing counts: 0.0 with a zero gradient."""
    logits = torch.randn(4, 3, requires_grad=True)
    with losskit.checks(mode):
        out = getattr(losskit, name)(logits, torch.full((4,), -100))
    assert out.shape == () and float(out.detach()) == 0.0
    (grad,) = torch.autograd.grad(out, logits)
    assert torch.equal(grad, torch.zeros_like(logits))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("rows", [6, 3000])  # below and above the size of the Python backward
def test_logit_adjusted_matches_formula_with_padding(mode: Mode, reduction: str, rows: int) -> None:
    """cross_entropy's path (masked log-softmax, the nll kernel) against the float64 formula
    ``-log softmax(x + tau log pi)[y]`` over the kept rows; ignored rows all -inf (padding)."""
    c = 8
    logits = (2 * torch.randn(rows, c)).requires_grad_(True)
    labels = torch.randint(0, c, (rows,))
    labels[::3] = -100
    with torch.no_grad():
        logits[::3] = -math.inf
    priors = torch.softmax(torch.randn(c), 0)
    with losskit.checks(mode):
        out = losskit.logit_adjusted_cross_entropy(
            logits, labels, class_priors=priors, tau=0.5, reduction=reduction
        )
    ref_x = logits.detach().double().requires_grad_(True)
    keep = labels != -100
    shifted = torch.where(keep[:, None], ref_x + 0.5 * priors.double().log(), 0.0)
    per = -torch.log_softmax(shifted, 1).gather(1, labels.clamp_min(0)[:, None]).squeeze(1)
    per = torch.where(keep, per, 0.0)
    ref = per if reduction == "none" else per.sum()
    if reduction == "mean":
        ref = ref / keep.sum()
    torch.testing.assert_close(out.double(), ref.detach(), rtol=1e-5, atol=1e-6)
    (grad,) = torch.autograd.grad(out.sum(), logits)
    (ref_grad,) = torch.autograd.grad(ref.sum(), ref_x)
    assert torch.isfinite(grad).all() and float(grad[::3].abs().sum()) == 0.0
    torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
def test_multiclass_hinge_at_ties_and_far_margins(mode: Mode) -> None:
    """Hand-checked: scores [3, 2, 0] with label 0 and margin 1 sit at the kink (3 = 2 + 1):
    loss 0, the gradient shared equally by the label's and the rival's term (amax's rule):
    d/dx = (-1 + 1/2, 1/2, 0). Label 0 of [5, 2, 0]: loss 0, gradient 0. Label 2 of [3, 2, 0]:
    1 + 3 - 0 = 4, gradient (1, 0, -1)."""
    logits = torch.tensor([[3.0, 2.0, 0.0], [5.0, 2.0, 0.0], [3.0, 2.0, 0.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 2])
    with losskit.checks(mode):
        out = losskit.multiclass_hinge(logits, labels, reduction="none")
    assert out.tolist() == [0.0, 0.0, 4.0]
    (grad,) = torch.autograd.grad(out.sum(), logits)
    want = torch.tensor([[-0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, -1.0]])
    torch.testing.assert_close(grad, want)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("rows", [6, 3000])  # below and above the size of the Python backward
def test_z_loss_padding_rows_match_formula(mode: Mode, reduction: str, rows: int) -> None:
    """Against the float64 ``logsumexp(x)^2`` over the kept rows: ignored rows all -inf or
    NaN give 0 and a zero gradient."""
    c = 8
    logits = (2 * torch.randn(rows, c)).requires_grad_(True)
    labels = torch.randint(0, c, (rows,))
    labels[::3] = -100
    with torch.no_grad():
        logits[::3] = -math.inf
        logits[3] = math.nan
    with losskit.checks(mode):
        out = losskit.z_loss(logits, labels, reduction=reduction)
    ref_x = logits.detach().double().requires_grad_(True)
    keep = labels != -100
    per = torch.logsumexp(torch.where(keep[:, None], ref_x, 0.0), 1).square()
    per = torch.where(keep, per, 0.0)
    ref = per if reduction == "none" else per.sum()
    if reduction == "mean":
        ref = ref / keep.sum()
    torch.testing.assert_close(out.double(), ref.detach(), rtol=1e-5, atol=1e-5)
    (grad,) = torch.autograd.grad(out.sum(), logits)
    (ref_grad,) = torch.autograd.grad(ref.sum(), ref_x)
    assert torch.isfinite(grad).all() and float(grad[::3].abs().sum()) == 0.0
    torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rows", [6, 3000])
def test_z_loss_counted_nan_row_has_a_nan_gradient(rows: int) -> None:
    logits = torch.randn(rows, 8, requires_grad=True)
    labels = torch.randint(0, 8, (rows,))
    labels[0] = -100
    with torch.no_grad():
        logits[1, 2] = math.nan  # counted
        logits[0] = math.nan  # ignored
    with losskit.checks("shapes"):
        out = losskit.z_loss(logits, labels, reduction="sum")
    assert math.isnan(float(out.detach()))
    (grad,) = torch.autograd.grad(out, logits)
    assert bool(grad[1].isnan().any()) and float(grad[0].abs().sum()) == 0.0
    assert torch.isfinite(grad[2:]).all()


def test_z_loss_masked_backward_has_its_own_gradient() -> None:
    """create_graph: the masked log-sum-exp's backward is differentiable, against the float64
    formula's second derivative (a Hessian-vector product)."""
    logits = torch.randn(3000, 8, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 8, (3000,))
    labels[::5] = -100
    v = torch.randn_like(logits)
    keep = labels != -100

    def hvp(fn: object) -> torch.Tensor:
        out = fn(logits)  # type: ignore[operator]
        (g,) = torch.autograd.grad(out, logits, create_graph=True)
        (h,) = torch.autograd.grad((g * v).sum(), logits)
        return h

    def ref(x: torch.Tensor) -> torch.Tensor:
        lse = torch.logsumexp(torch.where(keep[:, None], x, 0.0), 1)
        return torch.where(keep, lse.square(), 0.0).sum()

    with losskit.checks("shapes"):
        got = hvp(lambda x: losskit.z_loss(x, labels, reduction="sum"))
    torch.testing.assert_close(got, hvp(ref))
