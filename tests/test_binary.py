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


# ----------------------------------------------------------------------------- issue 14
INF = float("inf")


@pytest.mark.parametrize("mode", ["debug", "full", "shapes", "off"])
def test_bce_with_logits_limits_at_infinite_logits_in_every_mode(mode: str) -> None:
    """One formula, no mode check: the limits 0 (right sign) and +inf (wrong sign) everywhere,
    against the closed form written here; gradient 0 where the value is 0."""
    x = torch.tensor([INF, -INF, INF, -INF, 1.5], dtype=torch.float64, requires_grad=True)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.25], dtype=torch.float64)
    pw = torch.tensor(3.0, dtype=torch.float64)
    w = torch.tensor([2.0, 2.0, 1.0, 1.0, 0.5], dtype=torch.float64)
    log_sig = lambda v: -math.log1p(math.exp(-v))  # noqa: E731
    finite = 0.5 * -(0.25 * 3.0 * log_sig(1.5) + 0.75 * log_sig(-1.5))
    with losskit.checks(mode):  # type: ignore[arg-type]
        right = bce_with_logits(
            x[[0, 1, 4]], t[[0, 1, 4]], pos_weight=pw, weight=w[[0, 1, 4]], reduction="none"
        )
        (grad,) = torch.autograd.grad(right.sum(), x)
        assert right.detach().tolist() == pytest.approx([0.0, 0.0, finite], rel=1e-12)
        assert grad[:2].tolist() == [0.0, 0.0] and torch.isfinite(grad).all()
    with losskit.checks("off"):
        wrong = bce_with_logits(x.detach()[2:4], t[2:4], reduction="none")
    assert wrong.tolist() == [INF, INF]


def test_bce_with_logits_soft_targets_at_infinite_logits_are_infinite() -> None:
    # t in (0, 1): both outcomes have mass, so an infinite logit costs +inf either way
    with losskit.checks("off"):
        got = bce_with_logits(torch.tensor([INF, -INF]), torch.tensor([0.5, 0.5]), reduction="none")
    assert got.tolist() == [INF, INF]


def _plain_focal(x: torch.Tensor, t: torch.Tensor, alpha: float | None, gamma: float):
    """The textbook formula in float64, straight from the paper (no log space)."""
    p = torch.sigmoid(x)
    ce = -(t * torch.log(p) + (1 - t) * torch.log(1 - p))
    one_minus_pt = t * (1 - p) + (1 - t) * p
    a = 1.0 if alpha is None else alpha * t + (1 - alpha) * (1 - t)
    return (a * one_minus_pt**gamma * ce).sum()


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("alpha", [None, 0.25])
def test_focal_targets_gradient_is_right_at_0_and_1(gamma: float, alpha: float | None) -> None:
    """The t = 0 / t = 1 branches keep the t-dependence of (1 - p_t)^gamma (issue 14: the
    targets gradient was up to 1.94 relative off there)."""
    x = torch.tensor([-4.0, -1.0, -0.2, 0.3, 2.0, 5.0] * 3, dtype=torch.float64)
    t = torch.tensor([0.0] * 6 + [1.0] * 6 + [0.3] * 6, dtype=torch.float64)

    def ours(x_, t_):
        return sigmoid_focal(x_, t_, alpha=alpha, gamma=gamma, reduction="sum")

    def plain(x_, t_):
        return _plain_focal(x_, t_, alpha, gamma)

    got_x, got_t = torch.func.grad(ours, argnums=(0, 1))(x, t)
    want_x, want_t = torch.func.grad(plain, argnums=(0, 1))(x, t)
    torch.testing.assert_close(got_t, want_t, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got_x, want_x, rtol=1e-10, atol=1e-12)
    # and a one-sided second-order finite difference of the plain formula in t (inside [0, 1])
    h = 1e-5
    for i in range(12):
        e = torch.zeros_like(t)
        e[i] = h if t[i] == 0 else -h
        f0, f1, f2 = plain(x, t), plain(x, t + e), plain(x, t + 2 * e)
        fd = (-3 * f0 + 4 * f1 - f2) / (2 * e[i])
        assert got_t[i].item() == pytest.approx(fd.item(), rel=1e-6, abs=1e-9)


def test_focal_logits_gradient_stays_finite_at_100_with_target_gradients() -> None:
    x = torch.tensor([100.0, -100.0, 100.0, -100.0], requires_grad=True)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0], requires_grad=True)
    for gamma in (0.5, 2.0):
        loss = sigmoid_focal(x, t, gamma=gamma)
        gx, gt = torch.autograd.grad(loss, (x, t), create_graph=True)
        (hess,) = torch.autograd.grad(gx.sum(), x)
        assert torch.isfinite(gx).all() and torch.isfinite(hess).all()
        assert torch.isfinite(gt[2:]).all()  # wrong answers: d/dt is about -+100 / 4


@pytest.mark.parametrize("name", ["bce_with_logits", "sigmoid_focal", "hinge"])
def test_nan_targets_are_named_in_full_mode(name: str) -> None:
    fn = losskit.get_spec(name).function
    t = torch.tensor([float("nan"), 1.0, 0.0])
    with pytest.raises(losskit.LossInputError, match="targets"):
        fn(torch.zeros(3), t)
    with losskit.checks("off"):
        assert torch.isnan(fn(torch.zeros(3), t))


@pytest.mark.parametrize("name", ["hinge", "squared_hinge", "perceptron", "exponential"])
def test_margin_losses_keep_an_infinite_target_non_finite(name: str) -> None:
    fn = losskit.get_spec(name).function
    x = torch.tensor([2.0, -3.0, 0.0])
    for bad in (INF, -INF, float("nan")):
        with losskit.checks("off"):
            out = fn(x, torch.tensor([bad, bad, bad]), reduction="none")
        assert not torch.isfinite(out).any(), (bad, out)


@pytest.mark.parametrize("name", ["hinge", "squared_hinge", "perceptron", "exponential"])
def test_margin_losses_take_their_limits_at_infinite_logits(name: str) -> None:
    fn = losskit.get_spec(name).function
    out = fn(torch.tensor([INF, -INF]), torch.tensor([1.0, 0.0]), reduction="none")
    assert out.tolist() == [0.0, 0.0]


def test_mnist_loss_of_a_nan_target_is_not_finite() -> None:
    with losskit.checks("off"):
        assert torch.isnan(losskit.mnist_loss(torch.zeros(2), torch.tensor([float("nan"), 1.0])))
    # the lerp is exact at 0 and 1: the same values as the where of the docstring
    x = torch.linspace(-30, 30, 101, dtype=torch.float64)
    t = (torch.arange(101) % 2).double()
    p = torch.sigmoid(x)
    assert torch.equal(losskit.mnist_loss(x, t, reduction="none"), torch.where(t == 1, 1 - p, p))


@pytest.mark.parametrize(
    ("name", "key", "make"),
    [
        ("bce", "weight", lambda: (torch.full((3,), 0.5), torch.ones(3))),
        ("bce_with_logits", "weight", lambda: (torch.zeros(3), torch.ones(3))),
        ("bce_with_logits", "pos_weight", lambda: (torch.zeros(3), torch.ones(3))),
        ("multilabel_soft_margin", "weight", lambda: (torch.zeros(2, 3), torch.ones(2, 3))),
    ],
)
@pytest.mark.parametrize("bad", [-0.5, float("nan"), INF])
def test_negative_or_non_finite_weights_are_refused(name, key, make, bad) -> None:
    fn = losskit.get_spec(name).function
    w = torch.tensor([1.0, bad, 1.0])
    with pytest.raises(losskit.LossInputError, match=key):
        fn(*make(), **{key: w})


def test_bf16_logits_with_float32_weights() -> None:
    """Weights follow the logits' compute dtype (torch raised "expected scalar type")."""
    gen = torch.Generator().manual_seed(0)
    x = 2 * torch.randn(4, 3, generator=gen)
    t = torch.randint(0, 2, (4, 3), generator=gen).float()
    w = torch.rand(3, generator=gen) + 0.5
    for name, kw in (
        ("bce_with_logits", {"weight": w, "pos_weight": w}),
        ("multilabel_soft_margin", {"weight": w}),
    ):
        fn = losskit.get_spec(name).function
        got = fn(x.bfloat16(), t.bfloat16(), **kw)
        assert got.dtype == torch.bfloat16
        want = fn(x.bfloat16().double(), t.double(), **{k: v.double() for k, v in kw.items()})
        torch.testing.assert_close(got.double(), want, rtol=1e-2, atol=1e-2)
    p = torch.sigmoid(x)
    got = losskit.bce(p.bfloat16(), t.bfloat16(), weight=w)
    want = F.binary_cross_entropy(p.bfloat16().double(), t.double(), weight=w.double())
    torch.testing.assert_close(got.double(), want, rtol=1e-2, atol=1e-2)


def test_floating_targets_promote_with_the_logits() -> None:
    x, t = torch.tensor([0.5, -1.0]), torch.tensor([1.0, 0.0], dtype=torch.float64)
    for name in ("bce_with_logits", "hinge", "sigmoid_focal", "mnist_loss"):
        fn = losskit.get_spec(name).function
        assert fn(x, t).dtype == torch.result_type(x, t) == torch.float64
        assert fn(x, t.bool()).dtype == torch.float32


@pytest.mark.parametrize(
    ("name", "key", "value", "error"),
    [
        ("sigmoid_focal", "gamma", "2", "gamma must be a number"),
        ("sigmoid_focal", "gamma", INF, "gamma must lie in"),
        ("sigmoid_focal", "gamma", [2.0], "gamma must be a number"),
        ("sigmoid_focal", "alpha", float("nan"), "alpha must lie in"),
        ("sigmoid_focal", "alpha", "0.25", "alpha must be a number"),
        ("bce_with_logits", "label_smoothing", None, "label_smoothing must be a number"),
        ("bce_with_logits", "label_smoothing", 1.5, "label_smoothing must lie in"),
        ("bce_with_logits", "pos_weight", 2.0, "pos_weight must be a torch.Tensor"),
        ("bce", "weight", [1.0, 1.0], "weight must be a torch.Tensor"),
    ],
)
def test_options_are_validated_and_named(name, key, value, error) -> None:
    fn = losskit.get_spec(name).function
    with pytest.raises(losskit.LossInputError, match=error):
        fn(torch.full((2,), 0.5), torch.ones(2), **{key: value})


def test_numpy_scalar_and_tensor_options_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    x, t = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([1.0, 0.0, 0.0])
    want = sigmoid_focal(x, t, alpha=0.5, gamma=1.5)
    torch.testing.assert_close(
        sigmoid_focal(x, t, alpha=np.float32(0.5), gamma=np.float64(1.5)), want
    )
    torch.testing.assert_close(sigmoid_focal(x, t, alpha=torch.tensor(0.5), gamma=1.5), want)
    torch.testing.assert_close(
        bce_with_logits(x, t, label_smoothing=np.float32(0.25)),
        bce_with_logits(x, t, label_smoothing=0.25),
    )


@pytest.mark.parametrize("name", BINARY)
def test_complex_inputs_are_refused(name: str) -> None:
    fn = losskit.get_spec(name).function
    z = torch.full((3,), 0.5, dtype=torch.complex64)
    with pytest.raises(losskit.LossInputError, match="must be real"):
        fn(z, torch.ones(3))
    with pytest.raises(losskit.LossInputError, match="targets must be real"):
        fn(torch.full((3,), 0.5), z)
