"""Overlap (segmentation) losses: the documented edge cases, one test each, and the identities
between the losses. The generic suites (reference, gradcheck, reductions, Modules, errors) run
over these losses from ``tests/infos/overlap.py``; this file checks what they cannot."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit.losses import _lovasz as lv
from losskit.losses import _overlap as ov
from losskit.nn import _overlap as ovnn

REGION = ("dice", "jaccard", "tversky", "focal_tversky", "generalized_dice")
LABEL_LOSSES = (*REGION, "lovasz_softmax", "dice_cross_entropy")


def _fn(name: str):
    return losskit.get_spec(name).function


def _labels(gen: torch.Generator, c: int, *shape: int) -> torch.Tensor:
    return torch.randint(0, c, shape, generator=gen)


def _logits(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return 2 * torch.randn(shape, generator=gen, dtype=torch.float64)


# ----------------------------------------------------------------------------- ignore_index
@pytest.mark.parametrize("name", LABEL_LOSSES)
def test_perturbing_only_ignored_pixels_changes_nothing(name: str, gen: torch.Generator) -> None:
    """MONAI's invariance test: noise on ignored pixels moves neither the loss nor a gradient."""
    x, y = _logits(gen, 2, 3, 5, 4), _labels(gen, 3, 2, 5, 4)
    y[0, 1:3] = 255
    y[1, :, 0] = 255
    ignored = (y == 255).unsqueeze(1).expand_as(x)
    noisy = torch.where(ignored, x + 10 * torch.randn(x.shape, generator=gen, dtype=x.dtype), x)
    for reduction in ("mean", "sum", "none"):
        a, b = x.clone().requires_grad_(), noisy.clone().requires_grad_()
        la = _fn(name)(a, y, ignore_index=255, reduction=reduction)
        lb = _fn(name)(b, y, ignore_index=255, reduction=reduction)
        torch.testing.assert_close(la, lb, rtol=1e-12, atol=1e-12)
        (ga,) = torch.autograd.grad(la.sum(), a)
        (gb,) = torch.autograd.grad(lb.sum(), b)
        torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)
        assert torch.count_nonzero(gb[ignored]) == 0  # no gradient reaches an ignored pixel


@pytest.mark.parametrize("name", REGION)
def test_ignored_mask_elements_change_nothing(name: str, gen: torch.Generator) -> None:
    """Mask targets: an element equal to ignore_index masks that prediction and that target;
    the target value written there (here: anything) does not matter."""
    x = _logits(gen, 2, 2, 6)
    m = (torch.rand(2, 2, 6, generator=gen) > 0.5).double()
    m[0, 1, :3] = -1
    ignored = m == -1
    noisy = torch.where(ignored, x - 7.0, x)
    kw = {"activation": "sigmoid", "ignore_index": -1}
    torch.testing.assert_close(_fn(name)(x, m, **kw), _fn(name)(noisy, m, **kw))


def test_lovasz_hinge_ignored_pixels_change_nothing(gen: torch.Generator) -> None:
    x, t = _logits(gen, 3, 4, 5), (torch.rand(3, 4, 5, generator=gen) > 0.5).long()
    t[0, :2] = 255
    t[2, 3, 4] = 255
    noisy = torch.where(t == 255, x * 50, x)
    a, b = x.clone().requires_grad_(), noisy.clone().requires_grad_()
    la, lb = lv.lovasz_hinge(a, t, ignore_index=255), lv.lovasz_hinge(b, t, ignore_index=255)
    torch.testing.assert_close(la, lb)
    torch.testing.assert_close(torch.autograd.grad(la, a)[0], torch.autograd.grad(lb, b)[0])
    # removing the ignored pixels of image 0 gives the same per-image loss
    keep = t[0] != 255
    torch.testing.assert_close(
        lv.lovasz_hinge(x[:1], t[:1], ignore_index=255, reduction="none")[0],
        lv.lovasz_hinge(x[0][keep][None], t[0][keep][None], reduction="none")[0],
    )


@pytest.mark.parametrize("name", LABEL_LOSSES)
def test_fully_ignored_image_is_left_out_of_the_mean(name: str, gen: torch.Generator) -> None:
    x, y = _logits(gen, 3, 3, 4, 4), _labels(gen, 3, 3, 4, 4)
    y[1] = -100
    none = _fn(name)(x, y, reduction="none")
    assert none.shape == (3,) and none[1].item() == 0.0
    torch.testing.assert_close(_fn(name)(x, y), (none[0] + none[2]) / 2)
    torch.testing.assert_close(_fn(name)(x, y), _fn(name)(x[[0, 2]], y[[0, 2]]))


# ----------------------------------------------------------------------------- empty masks
@pytest.mark.parametrize(
    ("name", "grad_per_pixel"),
    [
        ("dice", 1.0),  # d(1 - (2I + s) / (P + G + s)) / dp = 1 / s at I = P = G = 0
        ("jaccard", 1.0),
        ("tversky", 0.3),  # alpha / s: a predicted pixel there is a false positive
        ("focal_tversky", 0.0),  # (1 - T) ** (1 / gamma) at T = 1: defined as 0 (the minimum)
        ("generalized_dice", 1.0),  # one class, weight 1
    ],
)
def test_empty_prediction_and_empty_target(name: str, grad_per_pixel: float) -> None:
    """The documented value: overlap 1, loss 0, and a finite gradient (1 / smooth scaled)."""
    smooth = 1e-2
    p = torch.zeros(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    t = torch.zeros(2, 1, 3, 3)
    loss = _fn(name)(p, t, activation=None, smooth=smooth)
    assert loss.item() == 0.0
    (grad,) = torch.autograd.grad(loss, p)
    assert torch.isfinite(grad).all()
    # "mean" over 2 images: each pixel's gradient is (1 / 2) * grad_per_pixel / smooth
    torch.testing.assert_close(grad, torch.full_like(grad, grad_per_pixel / smooth / 2))


@pytest.mark.parametrize(
    "name", ("dice", "jaccard", "tversky", "focal_tversky", "generalized_dice")
)
def test_empty_and_empty_without_smoothing_is_zero_with_zero_gradient(name: str) -> None:
    p = torch.zeros(1, 2, 4, dtype=torch.float64, requires_grad=True)
    loss = _fn(name)(p, torch.zeros(1, 2, 4), activation=None, smooth=0.0)
    (grad,) = torch.autograd.grad(loss, p)
    assert loss.item() == 0.0 and torch.count_nonzero(grad) == 0


@pytest.mark.parametrize("name", REGION)
def test_empty_target_with_a_prediction_costs_about_one(name: str) -> None:
    """False positives on an empty target are penalised (the overlap is smooth / (P + smooth));
    the gradient pushes every prediction down."""
    p = torch.full((1, 1, 8), 0.4, dtype=torch.float64, requires_grad=True)
    loss = _fn(name)(p, torch.zeros(1, 1, 8), activation=None)
    assert loss.item() == pytest.approx(1.0, abs=1e-4)
    (grad,) = torch.autograd.grad(loss, p)
    assert torch.isfinite(grad).all() and (grad >= 0).all()


def test_lovasz_hinge_empty_target_costs_the_largest_hinge_error() -> None:
    x = torch.tensor([[0.5, -3.0, 0.2, -0.9]], dtype=torch.float64)
    assert lv.lovasz_hinge(x, torch.zeros(1, 4)).item() == pytest.approx(1.5)  # 1 + 0.5
    # an empty prediction (every logit <= -1) on an empty target: 0, with a zero gradient
    x = torch.full((1, 4), -2.0, dtype=torch.float64, requires_grad=True)
    loss = lv.lovasz_hinge(x, torch.zeros(1, 4))
    assert loss.item() == 0.0 and torch.count_nonzero(torch.autograd.grad(loss, x)[0]) == 0


def test_absent_class_is_kept_in_the_macro_mean(gen: torch.Generator) -> None:
    """Dice averages every class; a class absent from the target adds ~1 unless nothing is
    predicted for it (smp drops such classes, MONAI keeps them, as here)."""
    x, y = _logits(gen, 1, 3, 8), _labels(gen, 2, 1, 8)  # class 2 absent
    none = ov.dice(x, y, reduction="none", smooth=0.0)
    p = torch.softmax(x, 1)[0]
    oh = F.one_hot(y[0], 3).T.double()
    per_class = 1 - 2 * (p * oh).sum(1) / (p.sum(1) + oh.sum(1))
    assert per_class[2] == 1.0
    torch.testing.assert_close(none[0], per_class.mean())


# ----------------------------------------------------------------------------- identities
def test_tversky_special_cases(gen: torch.Generator) -> None:
    x, y = _logits(gen, 3, 4, 5, 2), _labels(gen, 4, 3, 5, 2)
    for average in ("macro", "micro"):
        kw = {"average": average, "reduction": "none", "smooth": 0.0}  # smoothing differs
        torch.testing.assert_close(ov.tversky(x, y, alpha=0.5, beta=0.5, **kw), ov.dice(x, y, **kw))
        torch.testing.assert_close(
            ov.tversky(x, y, alpha=1.0, beta=1.0, **kw), ov.jaccard(x, y, **kw)
        )
        torch.testing.assert_close(ov.focal_tversky(x, y, gamma=1.0, **kw), ov.tversky(x, y, **kw))


def test_focal_tversky_is_tversky_to_the_power_one_over_gamma(gen: torch.Generator) -> None:
    x, m = _logits(gen, 2, 1, 9), (torch.rand(2, 1, 9, generator=gen) > 0.5).double()
    t = ov.tversky(x, m, activation="sigmoid", reduction="none")
    f = ov.focal_tversky(x, m, activation="sigmoid", gamma=2.0, reduction="none")
    torch.testing.assert_close(f, t.sqrt())


def test_jaccard_is_dice_over_two_minus_dice(gen: torch.Generator) -> None:
    x, m = _logits(gen, 4, 1, 3, 3), torch.rand(4, 1, 3, 3, generator=gen, dtype=torch.float64)
    kw = {"activation": "sigmoid", "smooth": 0.0, "reduction": "none"}
    d = 1 - ov.dice(x, m, **kw)
    torch.testing.assert_close(1 - ov.jaccard(x, m, **kw), d / (2 - d))


def test_uniform_generalized_dice_is_micro_dice(gen: torch.Generator) -> None:
    x, y = _logits(gen, 3, 4, 6), _labels(gen, 4, 3, 6)
    torch.testing.assert_close(
        ov.generalized_dice(x, y, weight_type="uniform", smooth=0.0, reduction="none"),
        ov.dice(x, y, average="micro", smooth=0.0, reduction="none"),
    )


def test_generalized_dice_weights_absent_and_empty(gen: torch.Generator) -> None:
    """Absent class: the largest weight of the present ones; no class present: uniform."""
    p = torch.softmax(_logits(gen, 1, 3, 6), 1)
    y = torch.tensor([[0, 0, 0, 0, 1, 1]])  # G = (4, 2, 0): weights (1/16, 1/4, 1/4), normalised
    oh = F.one_hot(y[0], 3).T.double()
    w = torch.tensor([1 / 16, 1 / 4, 1 / 4], dtype=torch.float64)
    w = w / w.sum()
    want = 1 - 2 * (w * (p[0] * oh).sum(1)).sum() / (w * (p[0].sum(1) + oh.sum(1))).sum()
    got = ov.generalized_dice(p, y, activation=None, smooth=0.0)
    torch.testing.assert_close(got, want)
    m = torch.zeros(1, 3, 6)  # empty masks everywhere: uniform weights, false positives count
    got = ov.generalized_dice(p, m, activation=None, smooth=0.0)
    assert got.item() == pytest.approx(1.0)


def test_class_weight_zero_leaves_a_class_out(gen: torch.Generator) -> None:
    x, y = _logits(gen, 2, 3, 7), _labels(gen, 3, 2, 7)
    per_class = torch.stack(
        [
            ov.dice(x, y, weight=torch.eye(3, dtype=torch.float64)[c], reduction="none")
            for c in range(3)
        ]
    )
    got = ov.dice(x, y, weight=torch.tensor([0.0, 1.0, 3.0], dtype=torch.float64), reduction="none")
    torch.testing.assert_close(got, (per_class[1] + 3 * per_class[2]) / 4)


def test_labels_equal_one_hot_masks(gen: torch.Generator) -> None:
    x, y = _logits(gen, 2, 3, 4, 3), _labels(gen, 3, 2, 4, 3)
    m = F.one_hot(y, 3).movedim(-1, 1)
    for name in REGION:
        torch.testing.assert_close(_fn(name)(x, y), _fn(name)(x, m), msg=name)


@pytest.mark.parametrize("name", (*REGION, "lovasz_softmax"))
def test_probabilities_equal_logits_with_their_activation(name: str, gen: torch.Generator) -> None:
    x, y = _logits(gen, 2, 3, 5), _labels(gen, 3, 2, 5)
    torch.testing.assert_close(_fn(name)(torch.softmax(x, 1), y, activation=None), _fn(name)(x, y))
    with losskit.checks("debug"):  # >= 16 probabilities: the debug heuristic must not fire
        p = torch.softmax(_logits(gen, 2, 3, 8), 1)
        _fn(name)(p, _labels(gen, 3, 2, 8), activation=None)


@pytest.mark.parametrize("name", (*REGION, "lovasz_softmax"))
def test_perfect_probabilities_give_zero(name: str, gen: torch.Generator) -> None:
    y = _labels(gen, 3, 2, 6)
    p = F.one_hot(y, 3).movedim(-1, 1).double().requires_grad_()
    loss = _fn(name)(p, y, activation=None, **({} if name == "lovasz_softmax" else {"smooth": 0.0}))
    assert loss.item() == pytest.approx(0.0, abs=1e-12)
    assert torch.isfinite(torch.autograd.grad(loss, p)[0]).all()


def test_micro_pools_classes(gen: torch.Generator) -> None:
    x, y = _logits(gen, 1, 3, 6), _labels(gen, 3, 1, 6)
    p, oh = torch.softmax(x, 1)[0], F.one_hot(y[0], 3).T.double()
    want = 1 - (2 * (p * oh).sum() + 1e-5) / (p.sum() + oh.sum() + 1e-5)
    torch.testing.assert_close(ov.dice(x, y, average="micro"), want)


def test_squared_denominator(gen: torch.Generator) -> None:
    x, m = _logits(gen, 1, 1, 6), (torch.rand(1, 1, 6, generator=gen) > 0.5).double()
    p = torch.sigmoid(x)
    want = 1 - (2 * (p * m).sum()) / ((p * p).sum() + (m * m).sum())
    got = ov.dice(x, m, activation="sigmoid", squared_denominator=True, smooth=0.0)
    torch.testing.assert_close(got, want)


def test_batch_as_one_image_gives_the_pooled_score(gen: torch.Generator) -> None:
    """The documented way to get nnU-Net's batch_dice: the whole batch as one image."""
    x, y = _logits(gen, 3, 3, 4, 2), _labels(gen, 3, 3, 4, 2)
    pooled = ov.dice(x.movedim(0, 1).reshape(1, 3, -1), y.reshape(1, -1), smooth=0.0)
    p, oh = torch.softmax(x, 1), F.one_hot(y, 3).movedim(-1, 1).double()
    dims = (0, 2, 3)
    want = (1 - 2 * (p * oh).sum(dims) / (p.sum(dims) + oh.sum(dims))).mean()
    torch.testing.assert_close(pooled, want)


# ----------------------------------------------------------------------------- lovasz
def test_lovasz_softmax_all_classes_charges_absent_ones_their_largest_probability() -> None:
    p = torch.tensor([[[0.7, 0.6], [0.2, 0.1], [0.1, 0.3]]], dtype=torch.float64)  # (1, 3, 2)
    y = torch.tensor([[0, 0]])
    present = lv.lovasz_softmax(p, y, activation=None)
    every = lv.lovasz_softmax(p, y, activation=None, classes="all")
    assert present.item() == pytest.approx(0.35)  # errors 0.4, 0.3; weights 1/2, 1/2
    torch.testing.assert_close(every, (present + 0.2 + 0.3) / 3)


def test_lovasz_hinge_is_jaccard_loss_at_plus_minus_one_logits() -> None:
    """At logits in {-1, +1} the errors are 0 or 2 and the loss is 2 x the Jaccard loss of the
    thresholded prediction (the extension interpolates the set function)."""
    t = torch.tensor([[1, 1, 0, 0, 1]])
    pred = torch.tensor([[1, 0, 1, 0, 1]])  # intersection 2, union 4: Jaccard loss 0.5
    x = (2 * pred - 1).double()
    assert lv.lovasz_hinge(x, t).item() == pytest.approx(2 * 0.5)


# ----------------------------------------------------------------------------- compound
def test_dice_cross_entropy_is_ce_plus_foreground_dice(gen: torch.Generator) -> None:
    x, y = _logits(gen, 2, 4, 3, 3), _labels(gen, 4, 2, 3, 3)
    ce = F.cross_entropy(x, y, reduction="none").flatten(1).mean(1)
    fg = ov.dice(x, y, weight=torch.tensor([0.0, 1, 1, 1], dtype=torch.float64), reduction="none")
    torch.testing.assert_close(ov.dice_cross_entropy(x, y, reduction="none"), ce + fg)
    # the CE term alone is torch's CE mean (images of one size, nothing ignored)
    torch.testing.assert_close(ov.dice_cross_entropy(x, y, dice_weight=0.0), F.cross_entropy(x, y))
    both = ov.dice_cross_entropy(x, y, include_background=True, ce_weight=0.0, dice_weight=2.0)
    torch.testing.assert_close(both, 2 * ov.dice(x, y))


# ----------------------------------------------------------------------------- dtypes, modes
@pytest.mark.parametrize("name", LABEL_LOSSES)
def test_half_inputs_return_their_dtype(name: str, gen: torch.Generator) -> None:
    x, y = _logits(gen, 2, 3, 4), _labels(gen, 3, 2, 4)
    for dtype in (torch.float16, torch.bfloat16):
        out = _fn(name)(x.to(dtype), y)
        assert out.dtype == dtype
        torch.testing.assert_close(out.double(), _fn(name)(x, y), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("name", [*LABEL_LOSSES, "lovasz_hinge"])
def test_check_modes_do_not_change_valid_results(name: str, gen: torch.Generator) -> None:
    x = _logits(gen, 2, 3, 4)
    y = (torch.rand(2, 3, 4, generator=gen) > 0.5).long() if name == "lovasz_hinge" else None
    y = _labels(gen, 3, 2, 4) if y is None else y
    want = _fn(name)(x, y)
    for mode in ("shapes", "off"):
        with losskit.checks(mode):
            torch.testing.assert_close(_fn(name)(x, y), want)


def test_messages_name_the_fix() -> None:
    x = torch.zeros(2, 1, 4)
    with pytest.raises(losskit.LossInputError, match=r"binary mask.*targets.unsqueeze\(1\)"):
        ov.dice(x, torch.zeros(2, 4), activation="sigmoid")
    with pytest.raises(losskit.LossInputError, match="activation=None"):
        ov.dice(torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long), activation="identity")
    with pytest.raises(losskit.LossInputError, match=r"labels must be .*argmax\(1\)"):
        lv.lovasz_softmax(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))


# ----------------------------------------------------------------------------- Modules
def test_module_activation_and_decodes_follow_the_option(gen: torch.Generator) -> None:
    x = _logits(gen, 2, 3, 4)
    soft, sig = ovnn.DiceLoss(), ovnn.DiceLoss(activation="sigmoid")
    torch.testing.assert_close(soft.activation(x), torch.softmax(x, 1))
    assert torch.equal(soft.decodes(soft.activation(x)), x.argmax(1))
    torch.testing.assert_close(sig.activation(x), torch.sigmoid(x))
    assert torch.equal(sig.decodes(sig.activation(x)), torch.sigmoid(x) > 0.5)
    probs = ovnn.DiceLoss(activation=None)
    assert torch.equal(probs.activation(x), x)
    m = (torch.rand(2, 3, 4, generator=gen) > 0.5).double()
    torch.testing.assert_close(sig(x, m), ov.dice(x, m, activation="sigmoid"))
    assert "activation='sigmoid'" in repr(sig)


def test_module_weight_is_a_buffer_and_pickles(gen: torch.Generator) -> None:
    w = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    module = ovnn.TverskyLoss(weight=w, alpha=0.4, beta=0.6)
    assert "weight" in module.state_dict()
    clone = pickle.loads(pickle.dumps(module))
    x, y = _logits(gen, 2, 3, 5), _labels(gen, 3, 2, 5)
    torch.testing.assert_close(clone(x, y), ov.tversky(x, y, weight=w, alpha=0.4, beta=0.6))
    assert clone.activation_name == "softmax"
