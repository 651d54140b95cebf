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
from tests.infos.multiclass import (
    _ce_ref,
    _cs_ref,
    _focal_ref,
    _gce_ref,
    _la_ref,
    _poly1_ref,
    _soft_ce_ref,
    _sparsemax_ref,
    _sparsemax_rows,
    _z_ref,
)

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


# ----------------------------------------------------------------------------- issue 14
# Each test compares with an independent reference: float64 NumPy (tests/infos/multiclass.py),
# or torch's own kernel, or a float64 torch formula written here.
def _padded_batch(gen):
    """(5, 4) float64 logits whose row 2 is all -inf at an ignored label (padding)."""
    x = 2 * torch.randn(5, 4, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 3, -100, 1, 2])
    x[2] = float("-inf")
    return x, y


def _softmax_rows(x, y):
    p = torch.softmax(x, 1)
    return p, p.gather(1, y[:, None]).squeeze(1)


# per-item torch float64 formulas on the kept rows: the reference of the gradient
_PER_ITEM = {
    "cross_entropy": (
        cross_entropy,
        {},
        _ce_ref,
        lambda x, y: -torch.log_softmax(x, 1)[range(len(y)), y],
    ),
    "softmax_focal": (
        softmax_focal,
        {"gamma": 2.0},
        _focal_ref,
        lambda x, y: -((1 - _softmax_rows(x, y)[1]) ** 2) * torch.log(_softmax_rows(x, y)[1]),
    ),
    "poly1_cross_entropy": (
        poly1_cross_entropy,
        {"epsilon": 1.0},
        _poly1_ref,
        lambda x, y: -torch.log(_softmax_rows(x, y)[1]) + (1 - _softmax_rows(x, y)[1]),
    ),
    "generalized_cross_entropy": (
        generalized_cross_entropy,
        {"q": 0.7},
        _gce_ref,
        lambda x, y: (1 - _softmax_rows(x, y)[1] ** 0.7) / 0.7,
    ),
    "z_loss": (z_loss, {}, _z_ref, lambda x, y: torch.logsumexp(x, 1) ** 2),
    "sparsemax_loss": (sparsemax_loss, {}, _sparsemax_ref, None),
    "multiclass_hinge": (multiclass_hinge, {}, _cs_ref, None),
}


@pytest.mark.parametrize("name", sorted(_PER_ITEM))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_an_all_minus_inf_padding_row_gives_the_finite_loss_and_zero_gradients(
    gen, name, reduction
) -> None:
    fn, opts, ref, per_item = _PER_ITEM[name]
    x, y = _padded_batch(gen)
    keep = y != -100
    x.requires_grad_(True)
    got = fn(x, y, **opts, reduction=reduction)
    want = ref(x.detach()[keep].numpy(), y[keep].numpy(), reduction=reduction)
    if reduction == "none":
        assert got[2].item() == 0.0
        got = got[keep]
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-10, atol=1e-12)
    (grad,) = torch.autograd.grad(got.sum(), x)
    assert torch.isfinite(grad).all()
    assert (grad[2] == 0).all()
    if per_item is not None:
        rows = x.detach()[keep].requires_grad_(True)
        per = per_item(rows, y[keep])
        total = per.sum() if reduction != "mean" else per.mean()
        (want_grad,) = torch.autograd.grad(total, rows)
        torch.testing.assert_close(grad[keep], want_grad, rtol=1e-9, atol=1e-12)


def test_padding_rows_in_cross_entropy_match_torch_gradients(gen) -> None:
    x, y = _padded_batch(gen)
    x.requires_grad_(True)
    keep = y != -100
    (grad,) = torch.autograd.grad(cross_entropy(x, y, label_smoothing=0.1), x)
    rows = x.detach()[keep].requires_grad_(True)
    (want,) = torch.autograd.grad(F.cross_entropy(rows, y[keep], label_smoothing=0.1), rows)
    torch.testing.assert_close(grad[keep], want)
    assert (grad[2] == 0).all()


def test_logit_adjusted_padding_row_is_finite(gen) -> None:
    x, y = _padded_batch(gen)
    priors = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
    x.requires_grad_(True)
    keep = y != -100
    got = logit_adjusted_cross_entropy(x, y, class_priors=priors)
    want = _la_ref(
        x.detach()[keep].numpy(), y[keep].numpy(), reduction="mean", class_priors=priors.numpy()
    )
    np.testing.assert_allclose(got.item(), want, rtol=1e-10)
    (grad,) = torch.autograd.grad(got, x)
    assert torch.isfinite(grad).all() and (grad[2] == 0).all()


def test_soft_cross_entropy_is_exact_at_minus_inf_logits_without_target_mass(gen) -> None:
    x = 2 * torch.randn(3, 4, generator=gen, dtype=torch.float64)
    q = torch.softmax(torch.randn(3, 4, generator=gen, dtype=torch.float64), 1)
    x[:, 1] = float("-inf")  # a masked class...
    q[:, 1] = 0.0  # ...with no target mass
    q = q / q.sum(1, keepdim=True)
    x.requires_grad_(True)
    cols = [0, 2, 3]
    for reduction in REDUCTIONS:
        got = soft_cross_entropy(x, q, reduction=reduction)
        want = _soft_ce_ref(x.detach()[:, cols].numpy(), q[:, cols].numpy(), reduction=reduction)
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12)
    (grad,) = torch.autograd.grad(soft_cross_entropy(x, q), x)
    rows = x.detach()[:, cols].requires_grad_(True)
    (want,) = torch.autograd.grad(F.cross_entropy(rows, q[:, cols]), rows)
    torch.testing.assert_close(grad[:, cols], want)
    assert (grad[:, 1] == 0).all()


def test_sparsemax_loss_is_exact_at_minus_inf_logits_off_the_label(gen) -> None:
    x = 2 * torch.randn(4, 5, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 2, 3, 4])
    x[:, 1] = float("-inf")
    x.requires_grad_(True)
    cols = [0, 2, 3, 4]
    got = sparsemax_loss(x, y, reduction="none")
    want = _sparsemax_ref(x.detach()[:, cols].numpy(), np.array([0, 1, 2, 3]), reduction="none")
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-10, atol=1e-12)
    (grad,) = torch.autograd.grad(got.sum(), x)
    _support, tau = _sparsemax_rows(x.detach()[:, cols].numpy())
    probs = np.maximum(x.detach()[:, cols].numpy() - tau[:, None], 0)
    onehot = np.eye(4)[[0, 1, 2, 3]]
    np.testing.assert_allclose(grad[:, cols].numpy(), probs - onehot, atol=1e-12)
    assert (grad[:, 1] == 0).all()


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_sparsemax_loss_with_a_non_finite_logit_is_refused_by_name_never_finite(bad) -> None:
    x = torch.tensor([[1.0, bad, 0.0], [0.5, 0.2, 0.1]])
    y = torch.tensor([0, 1])
    with pytest.raises(losskit.LossInputError, match="logits holds non-finite"):
        sparsemax_loss(x, y)
    with losskit.checks("off"):
        assert not torch.isfinite(sparsemax_loss(x, y, reduction="none")[0])


def test_nll_row_holding_nan_is_nan_and_ignored_rows_stay_zero() -> None:
    lp = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]))
    lp[0, 2] = math.nan  # not the label's entry: the kernel alone would not see it
    lp[2, 0] = math.nan  # an ignored row
    y = torch.tensor([0, 2, -100])
    with losskit.checks("off"):
        got = nll(lp, y, reduction="none")
    assert math.isnan(got[0].item()) and got[2].item() == 0.0
    assert got[1].item() == pytest.approx(-math.log(0.8), rel=1e-6)
    with pytest.raises(losskit.LossInputError, match="log_probs holds non-finite"):
        nll(lp, y)


def test_multi_margin_propagates_nan_and_runs_under_vmap(gen) -> None:
    x = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0])
    bad = x.clone()
    bad[0, 2] = math.nan
    with losskit.checks("off"):
        assert math.isnan(multi_margin(bad, y).item())
    per = torch.func.vmap(lambda a, b: multi_margin(a, b, reduction="none"))(x, y)
    torch.testing.assert_close(per, F.multi_margin_loss(x, y, reduction="none"))


_WEIGHTED = {
    "cross_entropy": (cross_entropy, False),
    "nll": (nll, True),
    "softmax_focal": (softmax_focal, False),
    "multi_margin": (multi_margin, False),
}


@pytest.mark.parametrize("name", sorted(_WEIGHTED))
@pytest.mark.parametrize(
    ("weight", "match"),
    [
        ([1.0, -0.5, 1.0], "weight must be >= 0"),
        ([1.0, math.nan, 1.0], "weight holds non-finite"),
        ([1.0, math.inf, 1.0], "weight holds non-finite"),
    ],
)
def test_negative_or_non_finite_class_weights_are_refused(name, weight, match) -> None:
    fn, log = _WEIGHTED[name]
    x = torch.log_softmax(torch.zeros(2, 3), 1) if log else torch.zeros(2, 3)
    with pytest.raises(losskit.LossInputError, match=match):
        fn(x, torch.tensor([0, 2]), weight=torch.tensor(weight))


@pytest.mark.parametrize("name", sorted(_WEIGHTED))
def test_bf16_scores_with_float32_class_weights(name) -> None:
    fn, log = _WEIGHTED[name]
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(6, 3, generator=gen).bfloat16()
    if log:
        x = torch.log_softmax(x.float(), 1).bfloat16()
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    w = torch.tensor([0.5, 1.0, 2.0])
    got = fn(x, y, weight=w)
    assert got.dtype == torch.bfloat16
    x64, w64 = x.double(), w.double()
    want = {
        "cross_entropy": lambda: F.cross_entropy(x64, y, weight=w64),
        "nll": lambda: F.nll_loss(x64, y, weight=w64),
        "softmax_focal": lambda: torch.tensor(
            _focal_ref(x64.numpy(), y.numpy(), reduction="mean", weight=w64.numpy())
        ),
        "multi_margin": lambda: F.multi_margin_loss(x64, y, weight=w64),
    }[name]()
    torch.testing.assert_close(got.double(), want.double(), rtol=2e-2, atol=2e-2)


def test_module_weight_buffer_follows_float64_logits(gen) -> None:
    x, y = _batch(gen, 6)
    w = torch.tensor([0.5, 1.0, 2.0, 1.0, 0.3])  # float32 buffer, float64 logits
    for module in (
        losskit.nn.CrossEntropyLoss(weight=w),
        losskit.nn.SoftmaxFocalLoss(weight=w),
        losskit.nn.MultiMarginLoss(weight=w),
    ):
        assert module(x, y.clamp_min(0)).dtype == torch.float64
    want = F.cross_entropy(x, y, weight=w.double())
    torch.testing.assert_close(losskit.nn.CrossEntropyLoss(weight=w)(x, y), want)


@pytest.mark.parametrize("fn", [cross_entropy, nll])
@pytest.mark.parametrize(
    ("normalizer", "match"),
    [
        (math.nan, r"normalizer must lie in"),
        (-3, r"normalizer must lie in"),
        ([6.0], r"normalizer must be a number"),
        (torch.tensor([math.nan]), r"normalizer must be finite"),
        (torch.ones(2), r"normalizer must be a number or a one-element tensor"),
    ],
)
def test_bad_normalizers_are_refused(fn, normalizer, match) -> None:
    x = torch.log_softmax(torch.zeros(2, 3), 1)
    with pytest.raises(losskit.LossInputError, match=match):
        fn(x, torch.tensor([0, 2]), normalizer=normalizer)


def test_a_one_element_tensor_normalizer_gives_a_scalar(gen) -> None:
    x, y = _batch(gen, 6)
    got = cross_entropy(x, y, normalizer=torch.tensor([4.0], dtype=torch.float64))
    assert got.shape == ()
    want = _ce_ref(x.numpy(), y.numpy(), reduction="sum") / 4
    assert got.item() == pytest.approx(want, rel=1e-12)
    got = cross_entropy(x, y, normalizer=np.float32(4.0))
    assert got.item() == pytest.approx(want, rel=1e-6)


_IGNORING = {
    "cross_entropy": (cross_entropy, {}, _ce_ref),
    "nll": (nll, {}, None),
    "softmax_focal": (softmax_focal, {}, _focal_ref),
    "poly1_cross_entropy": (poly1_cross_entropy, {}, _poly1_ref),
    "generalized_cross_entropy": (generalized_cross_entropy, {}, _gce_ref),
    "multiclass_hinge": (multiclass_hinge, {}, _cs_ref),
    "z_loss": (z_loss, {}, _z_ref),
    "sparsemax_loss": (sparsemax_loss, {}, _sparsemax_ref),
    "logit_adjusted_cross_entropy": (
        logit_adjusted_cross_entropy,
        {"class_priors": torch.tensor([0.3, 0.3, 0.2, 0.1, 0.1], dtype=torch.float64)},
        _la_ref,
    ),
}


@pytest.mark.parametrize("name", sorted(_IGNORING))
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ignore_index_none_ignores_no_label(gen, name, reduction) -> None:
    fn, opts, ref = _IGNORING[name]
    x, y = _batch(gen, 7, ignore=False)
    if name == "nll":
        x = torch.log_softmax(x, 1)
        want = _ce_ref(torch.log_softmax(x, 1).numpy(), y.numpy(), reduction=reduction)
    else:
        np_opts = {k: v.numpy() for k, v in opts.items()}
        want = ref(x.numpy(), y.numpy(), reduction=reduction, **np_opts)
    got = fn(x, y, **opts, ignore_index=None, reduction=reduction)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
    # with nothing ignored, -100 is a label out of range, named in every mode that reads it
    y[0] = -100
    with pytest.raises(
        losskit.LossInputError, match=r"labels must lie in \[0, 5\) .*got values in \[-100"
    ):
        fn(x, y, **opts, ignore_index=None)


@pytest.mark.parametrize(
    ("fn", "option", "value"),
    [
        (cross_entropy, "label_smoothing", np.float32(0.1)),
        (softmax_focal, "gamma", np.float64(1.5)),
        (softmax_focal, "gamma", torch.tensor(1.5)),
        (poly1_cross_entropy, "epsilon", np.float32(0.5)),
        (generalized_cross_entropy, "q", np.float32(0.5)),
        (multiclass_hinge, "margin", np.int64(2)),
        (multi_margin, "margin", np.float32(0.5)),
        (multi_margin, "p", np.int64(2)),
        (cross_entropy, "ignore_index", np.int64(-1)),
    ],
)
def test_numpy_scalar_options_are_accepted(gen, fn, option, value) -> None:
    x, y = _batch(gen, 6, ignore=False)
    got = fn(x, y, **{option: value})
    want = fn(x, y, **{option: value.item()})
    assert got.item() == want.item()


@pytest.mark.parametrize(
    ("fn", "option", "value", "match"),
    [
        (cross_entropy, "label_smoothing", "0.1", "label_smoothing must be a number"),
        (cross_entropy, "label_smoothing", 1.5, r"label_smoothing must lie in \[0, 1\]"),
        (cross_entropy, "ignore_index", 1.5, "ignore_index must be an integer"),
        (cross_entropy, "ignore_index", "x", "ignore_index must be an integer"),
        (softmax_focal, "gamma", math.inf, "gamma must lie in"),
        (softmax_focal, "gamma", None, "gamma must be a number"),
        (softmax_focal, "gamma", [2.0], "gamma must be a number"),
        (poly1_cross_entropy, "epsilon", math.nan, "epsilon must lie in"),
        (poly1_cross_entropy, "epsilon", -2.0, "epsilon must lie in"),
        (generalized_cross_entropy, "q", 1.5, "q must lie in"),
        (multiclass_hinge, "margin", math.inf, "margin must lie in"),
        (multiclass_hinge, "margin", -1.0, "margin must lie in"),
        (multi_margin, "margin", "1", "margin must be a number"),
        (multi_margin, "p", 1.0, "p must be an integer"),
        (multi_margin, "p", 3, "p must be 1 or 2"),
        (sparsemax_loss, "ignore_index", True, "ignore_index must be an integer"),
        (z_loss, "ignore_index", [0], "ignore_index must be an integer"),
    ],
)
def test_bad_options_are_refused_by_name(fn, option, value, match) -> None:
    x, y = torch.zeros(2, 3), torch.tensor([0, 2])
    with pytest.raises(losskit.LossInputError, match=match):
        fn(x, y, **{option: value})


@pytest.mark.parametrize(
    ("tau", "match"), [(math.inf, "tau must lie in"), ("1", "tau must be a number")]
)
def test_logit_adjustment_options_are_validated(tau, match) -> None:
    x, y = torch.zeros(2, 3), torch.tensor([0, 2])
    with pytest.raises(losskit.LossInputError, match=match):
        logit_adjusted_cross_entropy(x, y, class_priors=torch.ones(3), tau=tau)
    for priors in (torch.tensor([0.5, 0.0, 0.5]), torch.tensor([0.5, math.nan, 0.5])):
        with pytest.raises(losskit.LossInputError, match="class_priors must be positive"):
            logit_adjusted_cross_entropy(x, y, class_priors=priors)
    with pytest.raises(losskit.LossInputError, match="class_priors must be a tensor"):
        logit_adjusted_cross_entropy(x, y, class_priors=torch.ones(3, dtype=torch.complex64))


def _all_losses():
    y = torch.tensor([0, 2])
    return [
        (cross_entropy, (y,)),
        (nll, (y,)),
        (softmax_focal, (y,)),
        (poly1_cross_entropy, (y,)),
        (generalized_cross_entropy, (y,)),
        (multiclass_hinge, (y,)),
        (multi_margin, (y,)),
        (sparsemax_loss, (y,)),
        (z_loss, ()),
        (z_loss, (y,)),
        (soft_cross_entropy, (torch.full((2, 3), 1 / 3),)),
    ]


@pytest.mark.parametrize(("fn", "rest"), _all_losses())
def test_complex_scores_are_refused_clearly(fn, rest) -> None:
    x = torch.zeros(2, 3, dtype=torch.complex64)
    name = "log_probs" if fn is nll else "logits"
    with pytest.raises(losskit.LossInputError, match=rf"{name} must be real floating scores"):
        fn(x, *rest)


def test_soft_cross_entropy_refuses_non_floating_targets_and_promotes_dtypes(gen) -> None:
    x = torch.zeros(2, 3)
    with pytest.raises(losskit.LossInputError, match="target_probs must be floating"):
        soft_cross_entropy(x, torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(losskit.LossInputError, match="target_probs must be floating"):
        soft_cross_entropy(x, torch.ones(2, 3, dtype=torch.complex64) / 3)
    x = torch.randn(4, 3, generator=gen)
    q = torch.softmax(torch.randn(4, 3, generator=gen, dtype=torch.float64), 1)
    got = soft_cross_entropy(x, q)
    assert got.dtype == torch.result_type(x, q) == torch.float64
    want = _soft_ce_ref(x.double().numpy(), q.numpy(), reduction="mean")
    assert got.item() == pytest.approx(want, rel=1e-12)
