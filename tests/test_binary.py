"""Binary losses beyond the generic suites: identities between variants, hand-checked values,
extreme logits, and the label conventions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit.losses._binary import (
    bce_with_logits,
    brier,
    exponential,
    hinge,
    perceptron,
    sigmoid_focal,
    soft_margin,
    squared_hinge,
)

REDUCTIONS = ("mean", "sum", "none")
BINARY = (
    "mnist_loss",
    "bce",
    "bce_with_logits",
    "sigmoid_focal",
    "hinge",
    "squared_hinge",
    "soft_margin",
    "perceptron",
    "exponential",
    "brier",
)


def test_every_binary_loss_is_listed_in_its_family() -> None:
    listed = {s.name for s in losskit.list_specs("binary")}
    assert set(BINARY) <= listed
    for name in ("hinge", "squared_hinge", "soft_margin", "perceptron", "exponential"):
        # the 0/1 -> -1/+1 mapping is stated where users read it
        assert "0/1 targets" in losskit.get_spec(name).summary
        assert "mapped to -1 and +1" in losskit.get_spec(name).function.__doc__


# ----------------------------------------------------------------------------- focal
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("soft", [False, True])
def test_focal_with_gamma_0_is_bce_with_logits(gen, reduction: str, soft: bool) -> None:
    x = 4 * torch.randn(6, 5, generator=gen, dtype=torch.float64)
    t = (
        torch.rand(6, 5, generator=gen, dtype=torch.float64)
        if soft
        else torch.randint(0, 2, (6, 5), generator=gen).double()
    )
    got = sigmoid_focal(x, t, alpha=None, gamma=0.0, reduction=reduction)
    want = bce_with_logits(x, t, reduction=reduction)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-14, atol=0)
    # alpha weights positives by alpha and negatives by 1 - alpha
    alpha_t = 0.3 * t + 0.7 * (1 - t)
    weighted = sigmoid_focal(x, t, alpha=0.3, gamma=0.0, reduction="none")
    torch.testing.assert_close(weighted, alpha_t * bce_with_logits(x, t, reduction="none"))


def test_focal_hand_checked_value() -> None:
    # x = 2, t = 1: p = sigmoid(2) = 0.880797; bce = softplus(-2) = 0.126928;
    # (1 - p)^2 = 0.119203^2 = 0.0142094; alpha_t = 0.25 -> 0.25 * 0.0142094 * 0.126928
    got = sigmoid_focal(torch.tensor([2.0], dtype=torch.float64), torch.tensor([1.0]))
    assert got.item() == pytest.approx(0.25 * 0.11920292202211755**2 * 0.12692801104297263)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_focal_is_finite_with_finite_gradients_at_extreme_logits(gamma, dtype) -> None:
    x = torch.tensor([100.0, -100.0, 100.0, -100.0, 30.0, -30.0], dtype=dtype, requires_grad=True)
    for t in (
        torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0], dtype=dtype),  # right, right, wrong, wrong
        torch.tensor([0.9, 0.1, 0.1, 0.9, 0.9, 0.1], dtype=dtype),  # soft (optax's test)
    ):
        loss = sigmoid_focal(x, t, alpha=None, gamma=gamma, reduction="none")
        (grad,) = torch.autograd.grad(loss.sum(), x, create_graph=True)
        (hess,) = torch.autograd.grad(grad.sum(), x)
        assert torch.isfinite(loss).all() and torch.isfinite(grad).all()
        assert torch.isfinite(hess).all()
    hard = sigmoid_focal(
        x.detach(),
        torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0], dtype=dtype),
        alpha=None,
        gamma=gamma,
        reduction="none",
    )
    # a confident mistake costs ~100 whatever gamma is ((1 - p_t) rounds to 1)
    torch.testing.assert_close(hard[2:4], torch.full((2,), 100.0, dtype=dtype))
    assert (hard[:2] >= 0).all() and (hard[:2] < 1e-40).all()


def test_naive_focal_gradient_is_nan_where_ours_is_finite() -> None:
    """Why log space: torchvision's formula at gamma = 0.5 on a confident right answer."""
    x = torch.tensor([30.0], requires_grad=True)
    t = torch.tensor([1.0])
    p = torch.sigmoid(x)
    naive = F.binary_cross_entropy_with_logits(x, t, reduction="none") * (1 - p) ** 0.5
    (naive_grad,) = torch.autograd.grad(naive.sum(), x)
    assert torch.isnan(naive_grad).all()
    (grad,) = torch.autograd.grad(sigmoid_focal(x, t, gamma=0.5), x)
    assert torch.isfinite(grad).all()


def test_focal_in_half_precision_is_computed_in_float32() -> None:
    x = torch.tensor([12.0, -12.0, 0.5], dtype=torch.float16)
    t = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float16)
    got = sigmoid_focal(x, t, reduction="none")
    assert got.dtype == torch.float16
    want = sigmoid_focal(x.double(), t.double(), reduction="none")
    torch.testing.assert_close(got.double(), want, rtol=2e-3, atol=1e-7)


# ----------------------------------------------------------------------------- BCE smoothing
def test_label_smoothing_closed_form_at_saturated_logits() -> None:
    # x = +-100 on the right side: t' = 1 - e/2 (or e/2), so each item costs (e/2) * 100
    x = torch.tensor([100.0, -100.0, 100.0], dtype=torch.float64)
    t = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    got = bce_with_logits(x, t, label_smoothing=0.1)
    assert got.item() == pytest.approx(0.05 * 100, rel=1e-12)
    assert bce_with_logits(x, t, label_smoothing=0.0).item() < 1e-40


def test_label_smoothing_moves_the_minimum_to_the_smoothed_target() -> None:
    # d/dx bce(x, t') = sigmoid(x) - t': zero at sigmoid(x) = t' = 1 - e/2
    e = 0.2
    x = torch.tensor([math.log((1 - e / 2) / (e / 2))], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(bce_with_logits(x, torch.ones(1), label_smoothing=e), x)
    assert abs(grad.item()) < 1e-12


def test_label_smoothing_is_cross_entropy_smoothing_with_two_classes(gen) -> None:
    x = 3 * torch.randn(8, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (8,), generator=gen)
    # two logits (0, x): softmax gives (1 - sigmoid(x), sigmoid(x))
    two = torch.stack([torch.zeros_like(x), x], dim=1)
    want = F.cross_entropy(two, y, label_smoothing=0.3)
    torch.testing.assert_close(bce_with_logits(x, y, label_smoothing=0.3), want)


# ----------------------------------------------------------------------------- margin losses
def test_margin_losses_hand_checked() -> None:
    # s = (+1, -1, -1), margins s x = (2, 0.5, -0.3)
    x = torch.tensor([2.0, -0.5, 0.3], dtype=torch.float64)
    t = torch.tensor([1, 0, 0])
    torch.testing.assert_close(
        hinge(x, t, reduction="none"), torch.tensor([0.0, 0.5, 1.3], dtype=torch.float64)
    )
    torch.testing.assert_close(
        squared_hinge(x, t, reduction="none"), torch.tensor([0.0, 0.25, 1.69], dtype=torch.float64)
    )
    torch.testing.assert_close(
        perceptron(x, t, reduction="none"), torch.tensor([0.0, 0.0, 0.3], dtype=torch.float64)
    )
    torch.testing.assert_close(
        exponential(x, t, reduction="none"),
        torch.tensor([math.exp(-2), math.exp(-0.5), math.exp(0.3)], dtype=torch.float64),
    )
    torch.testing.assert_close(
        soft_margin(x, t, reduction="none"),
        torch.tensor(
            [math.log1p(math.exp(-2)), math.log1p(math.exp(-0.5)), math.log1p(math.exp(0.3))],
            dtype=torch.float64,
        ),
    )


@pytest.mark.parametrize("fn", [hinge, squared_hinge, soft_margin, perceptron, exponential])
def test_margin_losses_depend_on_the_margin_only(gen, fn) -> None:
    """Flipping a logit's sign and its label keeps the loss: {0, 1} really maps to -1/+1."""
    x = 2 * torch.randn(10, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 2, (10,), generator=gen)
    torch.testing.assert_close(fn(x, t, reduction="none"), fn(-x, 1 - t, reduction="none"))
    # bool and float targets give the same as integer ones
    torch.testing.assert_close(fn(x, t.bool()), fn(x, t.double()))


@pytest.mark.parametrize("fn", [hinge, squared_hinge, soft_margin, perceptron, exponential])
def test_svm_style_targets_are_refused_with_the_mapping(fn) -> None:
    with pytest.raises(losskit.LossInputError, match=r"\(targets \+ 1\) / 2"):
        fn(torch.zeros(3), torch.tensor([-1.0, 1.0, 1.0]))


def test_soft_margin_equals_bce_on_hard_targets_and_stays_finite(gen) -> None:
    x = 3 * torch.randn(4, 5, generator=gen)
    t = torch.randint(0, 2, (4, 5), generator=gen).float()
    torch.testing.assert_close(soft_margin(x, t), bce_with_logits(x, t))
    far = torch.tensor([-100.0, 100.0])
    wrong = torch.tensor([1.0, 0.0])
    # torch's soft_margin_loss overflows here; the true value is 100 for each
    assert torch.isinf(F.soft_margin_loss(far, 2 * wrong - 1, reduction="none")).all()
    torch.testing.assert_close(soft_margin(far, wrong, reduction="none"), torch.full((2,), 100.0))


def test_exponential_overflows_to_the_true_infinite_value_without_an_error() -> None:
    got = exponential(torch.tensor([-100.0]), torch.tensor([1.0]))
    assert torch.isinf(got)  # exp(100) > float32 max: documented, not clamped, not refused


def test_perceptron_is_zero_for_every_correct_decision(gen) -> None:
    t = torch.randint(0, 2, (20,), generator=gen)
    x = (2 * t - 1) * torch.rand(20, generator=gen) * 1e-3  # right side, barely
    assert perceptron(x, t).item() == 0.0
    assert hinge(x, t).item() > 0.99  # the hinge still wants a margin of 1


# ----------------------------------------------------------------------------- brier
def test_brier_is_the_squared_error_of_probabilities(gen) -> None:
    p = torch.rand(5, 4, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 2, (5, 4), generator=gen)
    torch.testing.assert_close(brier(p, t), F.mse_loss(p, t.double()))
    assert brier(torch.tensor([0.0, 1.0]), torch.tensor([1, 0])).item() == 1.0  # bounded by 1
    assert brier(t.double(), t).item() == 0.0


def test_brier_refuses_logits() -> None:
    with pytest.raises(losskit.LossInputError, match=r"must be probabilities.*sigmoid"):
        brier(torch.tensor([2.0, -1.0]), torch.tensor([1, 0]))


# ----------------------------------------------------------------------------- shapes, modules
@pytest.mark.parametrize("name", BINARY)
def test_empty_batch_mean_is_a_connected_zero(name: str) -> None:
    x = torch.zeros(0, 3, requires_grad=True)
    out = losskit.get_spec(name).function(x, torch.zeros(0, 3))
    assert out.item() == 0.0 and out.grad_fn is not None


def test_modules_store_their_options() -> None:
    from losskit.nn._binary import BCEWithLogitsLoss, SigmoidFocalLoss

    focal = SigmoidFocalLoss(alpha=None, gamma=0.5)
    x, t = torch.randn(4, 3), torch.randint(0, 2, (4, 3)).float()
    torch.testing.assert_close(focal(x, t), sigmoid_focal(x, t, alpha=None, gamma=0.5))
    assert "gamma=0.5" in repr(focal) and focal.activation(x).min() >= 0
    smooth = BCEWithLogitsLoss(label_smoothing=0.1, pos_weight=torch.ones(3))
    assert "pos_weight" in dict(smooth.named_buffers())
    torch.testing.assert_close(smooth(x, t), bce_with_logits(x, t, label_smoothing=0.1))


def test_bce_with_logits_at_infinite_logits_takes_its_limits() -> None:
    """+-inf logits: 0 where correctly signed (torch's kernel gives NaN there), and a named
    error where the true loss is infinite (full mode)."""
    inf = float("inf")
    x = torch.tensor([inf, -inf, 2.0], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([1.0, 0.0, 0.3], dtype=torch.float64)
    assert torch.isnan(F.binary_cross_entropy_with_logits(x, t, reduction="none")[0])
    out = losskit.bce_with_logits(
        x, t, pos_weight=torch.tensor(2.0, dtype=torch.float64), reduction="none"
    )
    log_sig = lambda v: -math.log1p(math.exp(-v))  # noqa: E731
    want = [0.0, 0.0, -(0.3 * 2 * log_sig(2.0) + 0.7 * log_sig(-2.0))]
    assert out.detach().tolist() == pytest.approx(want, rel=1e-12)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert torch.isfinite(grad).all() and grad[:2].abs().sum() == 0
    with pytest.raises(losskit.LossInputError, match="logits holds non-finite values"):
        losskit.bce_with_logits(torch.tensor([inf]), torch.tensor([0.0]))
