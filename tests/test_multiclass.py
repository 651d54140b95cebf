"""Multiclass losses beyond the generic suites: identities between variants, hand-checked
values, extreme logits, and the conventions that differ from peers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit.losses._multiclass import (
    cross_entropy,
    generalized_cross_entropy,
    logit_adjusted_cross_entropy,
    multi_margin,
    multiclass_hinge,
    nll,
    poly1_cross_entropy,
    soft_cross_entropy,
    softmax_focal,
    sparsemax_loss,
    z_loss,
)
from tests.infos.multiclass import _soft_ce_ref, _sparsemax_rows

REDUCTIONS = ("mean", "sum", "none")
MULTICLASS = (
    "cross_entropy",
    "soft_cross_entropy",
    "nll",
    "softmax_focal",
    "poly1_cross_entropy",
    "multiclass_hinge",
    "multi_margin",
    "generalized_cross_entropy",
    "logit_adjusted_cross_entropy",
    "z_loss",
    "sparsemax_loss",
)


def _batch(gen, *shape, classes=5, ignore=True):
    """logits (N, C, *extra) in float64 and labels (N, *extra), every third label ignored."""
    n, *extra = shape
    x = 3 * torch.randn(n, classes, *extra, generator=gen, dtype=torch.float64)
    y = torch.randint(0, classes, (n, *extra), generator=gen)
    if ignore:
        y.view(-1)[::3] = -100
    return x, y


def test_every_multiclass_loss_is_listed_in_its_family() -> None:
    assert set(MULTICLASS) <= {s.name for s in losskit.list_specs("multiclass")}


# ----------------------------------------------------------------------------- identities
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (3, 4, 2)])
def test_soft_cross_entropy_with_one_hot_is_cross_entropy(gen, reduction, shape) -> None:
    x, y = _batch(gen, *shape, ignore=False)
    one_hot = F.one_hot(y, 5).movedim(-1, 1).double()
    got = soft_cross_entropy(x, one_hot, reduction=reduction)
    want = cross_entropy(x, y, reduction=reduction)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14)


def test_soft_cross_entropy_with_smoothed_targets_is_label_smoothing(gen) -> None:
    x, y = _batch(gen, 8, ignore=False)
    smoothed = F.one_hot(y, 5).double() * 0.8 + 0.2 / 5
    torch.testing.assert_close(
        soft_cross_entropy(x, smoothed), cross_entropy(x, y, label_smoothing=0.2)
    )


def test_soft_cross_entropy_of_one_distribution(gen) -> None:
    x = torch.randn(6, generator=gen, dtype=torch.float64)
    q = torch.softmax(torch.randn(6, generator=gen, dtype=torch.float64), 0)
    for reduction in REDUCTIONS:
        got = soft_cross_entropy(x, q, reduction=reduction)
        assert got.shape == ()
        np.testing.assert_allclose(
            got.numpy(), _soft_ce_ref(x.numpy(), q.numpy(), reduction=reduction)
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_of_log_softmax_is_cross_entropy(gen, reduction) -> None:
    x, y = _batch(gen, 6, 3)
    w = torch.rand(5, generator=gen, dtype=torch.float64) + 0.1
    torch.testing.assert_close(
        nll(torch.log_softmax(x, 1), y, weight=w, reduction=reduction),
        cross_entropy(x, y, weight=w, reduction=reduction),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_with_gamma_0_is_cross_entropy(gen, reduction) -> None:
    x, y = _batch(gen, 9, 2)
    w = torch.rand(5, generator=gen, dtype=torch.float64) + 0.1
    for weight in (None, w):
        torch.testing.assert_close(
            softmax_focal(x, y, gamma=0.0, weight=weight, reduction=reduction),
            cross_entropy(x, y, weight=weight, reduction=reduction),
            rtol=1e-12,
            atol=1e-14,
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_poly1_with_epsilon_0_is_cross_entropy(gen, reduction) -> None:
    x, y = _batch(gen, 9, 2)
    torch.testing.assert_close(
        poly1_cross_entropy(x, y, epsilon=0.0, reduction=reduction),
        cross_entropy(x, y, reduction=reduction),
    )


def test_poly1_adds_epsilon_times_one_minus_p(gen) -> None:
    x, y = _batch(gen, 9, ignore=False)
    p_y = torch.softmax(x, 1).gather(1, y[:, None]).squeeze(1)
    want = cross_entropy(x, y, reduction="none") + 2.5 * (1 - p_y)
    torch.testing.assert_close(poly1_cross_entropy(x, y, epsilon=2.5, reduction="none"), want)


def test_generalized_cross_entropy_limits(gen) -> None:
    x, y = _batch(gen, 9)
    torch.testing.assert_close(generalized_cross_entropy(x, y, q=0.0), cross_entropy(x, y))
    # q -> 0 approaches cross-entropy continuously
    torch.testing.assert_close(
        generalized_cross_entropy(x, y, q=1e-7), cross_entropy(x, y), rtol=1e-5, atol=0
    )
    # q = 1 is the mean absolute error of the label's probability
    keep = y != -100
    p_y = torch.softmax(x[keep], 1).gather(1, y[keep][:, None]).squeeze(1)
    torch.testing.assert_close(generalized_cross_entropy(x, y, q=1.0), (1 - p_y).mean())
    # bounded by 1 / q
    far = torch.tensor([[-50.0, 50.0]], dtype=torch.float64)
    assert generalized_cross_entropy(far, torch.tensor([0]), q=0.5).item() == pytest.approx(2.0)


def test_logit_adjustment_identities(gen) -> None:
    x, y = _batch(gen, 6, 3)
    counts = torch.tensor([900.0, 50.0, 30.0, 15.0, 5.0], dtype=torch.float64)
    priors = counts / counts.sum()
    la = logit_adjusted_cross_entropy(x, y, class_priors=priors)
    shift = torch.log(priors).reshape(5, 1)
    torch.testing.assert_close(la, cross_entropy(x + shift, y))
    torch.testing.assert_close(logit_adjusted_cross_entropy(x, y, class_priors=counts), la)
    torch.testing.assert_close(
        logit_adjusted_cross_entropy(x, y, class_priors=priors, tau=0.0), cross_entropy(x, y)
    )
    # a rare label costs more than under plain cross-entropy: a handicap for the rare class
    rare = torch.zeros(1, 5, dtype=torch.float64)
    assert logit_adjusted_cross_entropy(rare, torch.tensor([4]), class_priors=priors) > math.log(5)


def test_two_class_hinges_agree(gen) -> None:
    """With C = 2 the strongest rival is the only rival: Weston-Watkins = Crammer-Singer / C."""
    x, y = _batch(gen, 12, classes=2, ignore=False)
    torch.testing.assert_close(
        multi_margin(x, y, reduction="none"), multiclass_hinge(x, y, reduction="none") / 2
    )


def test_crammer_singer_looks_at_the_strongest_rival_only() -> None:
    x = torch.tensor([[2.0, 1.5, 1.5, -3.0]], dtype=torch.float64)
    # rivals 1.5 and 1.5 are within the margin: CS counts the gap once, WW twice (divided by C)
    assert multiclass_hinge(x, torch.tensor([0])).item() == pytest.approx(0.5)
    assert multi_margin(x, torch.tensor([0])).item() == pytest.approx(1.0 / 4)


def test_multi_margin_matches_torch_including_its_weighted_mean(gen) -> None:
    x, y = _batch(gen, 10, ignore=False)
    w = torch.rand(5, generator=gen, dtype=torch.float64) + 0.1
    for p in (1, 2):
        for reduction in REDUCTIONS:
            torch.testing.assert_close(
                multi_margin(x, y, p=p, margin=0.7, weight=w, reduction=reduction),
                F.multi_margin_loss(x, y, p=p, margin=0.7, weight=w, reduction=reduction),
            )
    # torch's weighted mean divides by N, not by the sum of the label weights
    none = multi_margin(x, y, weight=w, reduction="none")
    torch.testing.assert_close(multi_margin(x, y, weight=w), none.mean())


def test_multi_margin_sum_over_an_empty_batch_is_exactly_zero() -> None:
    x = torch.zeros(0, 3, 2, requires_grad=True)
    y = torch.zeros(0, 2, dtype=torch.long)
    for reduction in ("sum", "mean"):
        out = multi_margin(x, y, reduction=reduction)
        assert out.item() == 0.0 and out.grad_fn is not None


def test_z_loss_values(gen) -> None:
    x, y = _batch(gen, 6, 2)
    keep = y != -100
    lse = torch.logsumexp(x, 1)
    torch.testing.assert_close(z_loss(x, y), (lse[keep] ** 2).mean())
    torch.testing.assert_close(z_loss(x), (lse**2).mean())
    # zero exactly when the logits are already normalised (log Z = 0)
    assert z_loss(torch.log_softmax(x, 1)).item() < 1e-25
    # labels only mask: any valid labels give the same value
    torch.testing.assert_close(z_loss(x, torch.zeros_like(y)), z_loss(x))


def test_sparsemax_loss_gradient_is_sparsemax_minus_one_hot(gen) -> None:
    x, y = _batch(gen, 8, ignore=False)
    x.requires_grad_()
    (grad,) = torch.autograd.grad(sparsemax_loss(x, y, reduction="sum"), x)
    _, tau = _sparsemax_rows(x.detach().numpy())
    probs = np.maximum(x.detach().numpy() - tau[:, None], 0)
    assert (probs == 0).any(), "sparsemax should put exact zeros somewhere"
    np.testing.assert_allclose(probs.sum(1), 1.0)
    want = probs - F.one_hot(y, 5).numpy()
    np.testing.assert_allclose(grad.numpy(), want, rtol=1e-12, atol=1e-12)


def test_sparsemax_loss_is_zero_with_a_margin_of_one_and_shift_invariant(gen) -> None:
    x = torch.tensor([[3.0, 2.0, 0.0], [0.5, 0.2, 0.1]], dtype=torch.float64)
    got = sparsemax_loss(x, torch.tensor([0, 0]), reduction="none")
    assert got[0].item() == 0.0 and got[1].item() > 0
    z, y = _batch(gen, 5, ignore=False)
    torch.testing.assert_close(sparsemax_loss(z + 1e3, y), sparsemax_loss(z, y))


# ----------------------------------------------------------------------------- extreme logits
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_softmax_focal_is_finite_where_the_label_probability_rounds_to_1(gamma) -> None:
    x = torch.tensor([[100.0, 0.0, 0.0], [-100.0, 0.0, 100.0]], requires_grad=True)
    y = torch.tensor([0, 0])
    loss = softmax_focal(x, y, gamma=gamma, reduction="none")
    (grad,) = torch.autograd.grad(loss.sum(), x, create_graph=True)
    (hess,) = torch.autograd.grad(grad.sum(), x)
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all() and torch.isfinite(hess).all()
    # right: 1 - p = 2 e^-100 (exact via logsumexp), so the loss is ~0; wrong: CE of ~200
    assert 0 <= loss[0].item() < 1e-30
    assert loss[1].item() == pytest.approx(200.0, rel=1e-6)


def test_poly1_one_minus_p_is_exact_when_p_rounds_to_1() -> None:
    x = torch.tensor([[40.0, 0.0, 0.0]], dtype=torch.float64)
    # 1 - p_y = 2 e^-40 / (1 + 2 e^-40); cross-entropy = log(1 + 2 e^-40); both ~2 e^-40
    got = poly1_cross_entropy(x, torch.tensor([0]), epsilon=1.0).item()
    assert got == pytest.approx(4 * math.exp(-40), rel=1e-10)


# ----------------------------------------------------------------------------- errors
def test_soft_cross_entropy_refuses_integer_labels_and_unnormalised_targets() -> None:
    x = torch.zeros(4, 3)
    with pytest.raises(losskit.LossInputError, match=r"logits \(4, 3\) vs target_probs \(4,\)"):
        soft_cross_entropy(x, torch.zeros(4, dtype=torch.long))
    with pytest.raises(losskit.LossInputError, match="sums in"):
        soft_cross_entropy(x, torch.ones(4, 3))
    with losskit.checks("shapes"):  # value checks off: no data is read
        soft_cross_entropy(x, torch.ones(4, 3))


def test_options_are_validated() -> None:
    x, y = torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)
    with pytest.raises(losskit.LossInputError, match="p must be 1 or 2"):
        multi_margin(x, y, p=3)
    with pytest.raises(losskit.LossInputError, match=r"q must lie in \[0"):
        generalized_cross_entropy(x, y, q=-0.1)
    with pytest.raises(losskit.LossInputError, match=r"class_priors must be a tensor of shape"):
        logit_adjusted_cross_entropy(x, y, class_priors=[0.5, 0.3, 0.2])


# ----------------------------------------------------------------------------- modules
def test_modules_keep_tensor_options_as_buffers(gen) -> None:
    from losskit.nn._multiclass import LogitAdjustedCrossEntropyLoss, SoftmaxFocalLoss, ZLoss

    x, y = _batch(gen, 4)
    priors = torch.tensor([0.4, 0.3, 0.2, 0.05, 0.05])
    la = LogitAdjustedCrossEntropyLoss(class_priors=priors).double()
    assert la.class_priors.dtype == torch.float64 and "class_priors" in la.state_dict()
    torch.testing.assert_close(
        la(x, y), logit_adjusted_cross_entropy(x, y, class_priors=priors.double())
    )
    focal = SoftmaxFocalLoss(gamma=1.0, weight=torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(
        focal(x, y), softmax_focal(x, y, gamma=1.0, weight=torch.ones(5, dtype=torch.float64))
    )
    assert focal.decodes(focal.activation(x)).shape == y.shape
    torch.testing.assert_close(ZLoss()(x), z_loss(x))


def test_cross_entropy_and_nll_normalizer_replaces_the_local_count() -> None:
    """Under DDP or gradient accumulation the mean's denominator is a global count."""
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 3, -100, 1, -100, 2])
    ls = torch.log_softmax(logits, 1).numpy()
    keep = labels.numpy() != -100
    total = -ls[np.arange(6)[keep], labels.numpy()[keep]].sum()
    got = losskit.cross_entropy(logits, labels, normalizer=10)
    assert got.item() == pytest.approx(total / 10, rel=1e-12)
    got = losskit.nll(torch.log_softmax(logits, 1), labels, normalizer=torch.tensor(10.0))
    assert got.item() == pytest.approx(total / 10, rel=1e-12)
    # an empty shard under a zero global count: 0.0, not NaN
    assert losskit.cross_entropy(logits, torch.full((6,), -100), normalizer=0).item() == 0.0
    with pytest.raises(losskit.LossInputError, match="normalizer applies to reduction='mean'"):
        losskit.cross_entropy(logits, labels, normalizer=10, reduction="sum")
