"""Overlap (segmentation) losses: the documented edge cases, one test each, and the identities
between the losses. The generic suites (reference, gradcheck, reductions, Modules, errors) run
over these losses from ``tests/infos/overlap.py``; this file checks what they cannot."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit.losses import _lovasz as lv
from losskit.losses import _overlap as ov
from losskit.nn import _lovasz as lvnn
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
    kw = {"normalize": "sigmoid", "ignore_index": -1}
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
    loss = _fn(name)(p, t, normalize=None, smooth=smooth)
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
    loss = _fn(name)(p, torch.zeros(1, 2, 4), normalize=None, smooth=0.0)
    (grad,) = torch.autograd.grad(loss, p)
    assert loss.item() == 0.0 and torch.count_nonzero(grad) == 0


@pytest.mark.parametrize("name", REGION)
def test_empty_target_with_a_prediction_costs_about_one(name: str) -> None:
    """False positives on an empty target are penalised (the overlap is smooth / (P + smooth));
    the gradient pushes every prediction down."""
    p = torch.full((1, 1, 8), 0.4, dtype=torch.float64, requires_grad=True)
    loss = _fn(name)(p, torch.zeros(1, 1, 8), normalize=None)
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
    t = ov.tversky(x, m, normalize="sigmoid", reduction="none")
    f = ov.focal_tversky(x, m, normalize="sigmoid", gamma=2.0, reduction="none")
    torch.testing.assert_close(f, t.sqrt())


def test_jaccard_is_dice_over_two_minus_dice(gen: torch.Generator) -> None:
    x, m = _logits(gen, 4, 1, 3, 3), torch.rand(4, 1, 3, 3, generator=gen, dtype=torch.float64)
    kw = {"normalize": "sigmoid", "smooth": 0.0, "reduction": "none"}
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
    got = ov.generalized_dice(p, y, normalize=None, smooth=0.0)
    torch.testing.assert_close(got, want)
    m = torch.zeros(1, 3, 6)  # empty masks everywhere: uniform weights, false positives count
    got = ov.generalized_dice(p, m, normalize=None, smooth=0.0)
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
def test_probabilities_equal_logits_with_their_normalization(
    name: str, gen: torch.Generator
) -> None:
    x, y = _logits(gen, 2, 3, 5), _labels(gen, 3, 2, 5)
    torch.testing.assert_close(_fn(name)(torch.softmax(x, 1), y, normalize=None), _fn(name)(x, y))
    with losskit.checks("debug"):  # >= 16 probabilities: the debug heuristic must not fire
        p = torch.softmax(_logits(gen, 2, 3, 8), 1)
        _fn(name)(p, _labels(gen, 3, 2, 8), normalize=None)


@pytest.mark.parametrize("name", (*REGION, "lovasz_softmax"))
def test_perfect_probabilities_give_zero(name: str, gen: torch.Generator) -> None:
    y = _labels(gen, 3, 2, 6)
    p = F.one_hot(y, 3).movedim(-1, 1).double().requires_grad_()
    loss = _fn(name)(p, y, normalize=None, **({} if name == "lovasz_softmax" else {"smooth": 0.0}))
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
    got = ov.dice(x, m, normalize="sigmoid", squared_denominator=True, smooth=0.0)
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
    present = lv.lovasz_softmax(p, y, normalize=None)
    every = lv.lovasz_softmax(p, y, normalize=None, classes="all")
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
        ov.dice(x, torch.zeros(2, 4), normalize="sigmoid")
    with pytest.raises(losskit.LossInputError, match="normalize=None"):
        ov.dice(torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long), normalize="identity")
    with pytest.raises(losskit.LossInputError, match=r"labels must be .*argmax\(1\)"):
        lv.lovasz_softmax(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))


# ----------------------------------------------------------------------------- Modules
def test_module_activation_and_decodes_follow_normalize(gen: torch.Generator) -> None:
    """fastai's activation()/decodes() follow the stored normalize option (torch's softmax,
    sigmoid and argmax are the references)."""
    x = _logits(gen, 2, 3, 4)
    soft, sig = ovnn.DiceLoss(), ovnn.DiceLoss(normalize="sigmoid")
    torch.testing.assert_close(soft.activation(x), torch.softmax(x, 1))
    assert torch.equal(soft.decodes(soft.activation(x)), x.argmax(1))
    torch.testing.assert_close(sig.activation(x), torch.sigmoid(x))
    assert torch.equal(sig.decodes(sig.activation(x)), torch.sigmoid(x) > 0.5)
    probs = ovnn.DiceLoss(normalize=None)
    p = torch.softmax(x, 1)
    assert torch.equal(probs.activation(p), p)
    assert torch.equal(probs.decodes(p), p.argmax(1))
    one = torch.rand(2, 1, 4, generator=gen, dtype=torch.float64)  # one channel: threshold
    assert torch.equal(probs.decodes(one), one > 0.5)
    lovasz = lvnn.LovaszSoftmaxLoss(normalize=None)
    assert torch.equal(lovasz.activation(p), p) and torch.equal(lovasz.decodes(p), p.argmax(1))
    m = (torch.rand(2, 3, 4, generator=gen) > 0.5).double()
    torch.testing.assert_close(sig(x, m), ov.dice(x, m, normalize="sigmoid"))
    assert "normalize='sigmoid'" in repr(sig)


def test_module_weight_is_a_buffer_and_pickles(gen: torch.Generator) -> None:
    w = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    module = ovnn.TverskyLoss(weight=w, alpha=0.4, beta=0.6)
    assert "weight" in module.state_dict()
    clone = pickle.loads(pickle.dumps(module))
    x, y = _logits(gen, 2, 3, 5), _labels(gen, 3, 2, 5)
    torch.testing.assert_close(clone(x, y), ov.tversky(x, y, weight=w, alpha=0.4, beta=0.6))
    assert clone.normalize == "softmax"


# ----------------------------------------------------------------------------- the renamed option
NORMALIZED = (*REGION, "lovasz_softmax")
MODULES = {
    "dice": ovnn.DiceLoss,
    "jaccard": ovnn.JaccardLoss,
    "tversky": ovnn.TverskyLoss,
    "focal_tversky": ovnn.FocalTverskyLoss,
    "generalized_dice": ovnn.GeneralizedDiceLoss,
    "lovasz_softmax": lvnn.LovaszSoftmaxLoss,
}


@pytest.mark.parametrize("name", NORMALIZED)
def test_old_activation_keyword_is_refused_naming_normalize(name: str) -> None:
    """Issue 13 item 5: activation= is now normalize=; the old name gets a clear error from
    the function and the Module, another unknown keyword Python's TypeError."""
    x, y = torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(losskit.LossInputError, match=r"activation= is now normalize=.*None"):
        _fn(name)(x, y, activation=None)
    with pytest.raises(losskit.LossInputError, match=r"activation= is now normalize="):
        MODULES[name](activation="softmax")
    with pytest.raises(TypeError, match="unexpected keyword argument 'normalise'"):
        _fn(name)(x, y, normalise=None)
    with pytest.raises(TypeError, match="unexpected keyword argument 'normalise'"):
        MODULES[name](normalise=None)
    assert "normalize" in inspect.signature(_fn(name)).parameters


# ----------------------------------------------------------------------------- issue 14
def _focal_tversky_ref(p: np.ndarray, g: np.ndarray, alpha: float, beta: float, gamma: float):
    """float64 NumPy: mean over classes of (1 - T_c) ** (1 / gamma), one image, smooth 0."""
    i, fp, fn = (p * g).sum(-1), (p * (1 - g)).sum(-1), ((1 - p) * g).sum(-1)
    return float(np.mean((1 - i / (i + alpha * fp + beta * fn)) ** (1 / gamma)))


def test_focal_tversky_nan_logits_are_never_finite_and_named(gen: torch.Generator) -> None:
    """Issue 14: focal_tversky on NaN logits returned 0.0 (the zero-gradient branch at the
    minimum caught NaN); the value elsewhere still equals the NumPy formula."""
    x, y = _logits(gen, 1, 3, 6), _labels(gen, 3, 1, 6)
    p = torch.softmax(x, 1)[0].numpy()
    g = F.one_hot(y[0], 3).T.double().numpy()
    got = ov.focal_tversky(x, y, gamma=2.0, smooth=0.0)
    assert got.item() == pytest.approx(_focal_tversky_ref(p, g, 0.3, 0.7, 2.0), rel=1e-12)
    bad = torch.full_like(x, float("nan"))
    for average in ("macro", "micro"):
        with losskit.checks("off"):
            out = ov.focal_tversky(bad, y, gamma=2.0, average=average, reduction="none")
        assert out.shape == (1,) and torch.isnan(out).all()
        with pytest.raises(losskit.LossInputError, match="logits holds non-finite"):
            ov.focal_tversky(bad, y, gamma=2.0, average=average)


def test_focal_tversky_keeps_a_zero_gradient_at_the_minimum() -> None:
    """The NaN fix keeps the documented subgradient 0 at T = 1 (gamma > 1)."""
    y = torch.tensor([[0, 1, 1, 0]])
    p = F.one_hot(y, 2).movedim(-1, 1).double().requires_grad_()
    loss = ov.focal_tversky(p, y, normalize=None, smooth=0.0)
    (grad,) = torch.autograd.grad(loss, p)
    assert loss.item() == 0.0 and torch.count_nonzero(grad) == 0


WEIGHTED = ("dice", "jaccard", "tversky", "focal_tversky")


@pytest.mark.parametrize("name", WEIGHTED)
@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ([1.0, -0.5, 1.0], "weight must be >= 0"),
        ([1.0, float("nan"), 1.0], "weight holds non-finite"),
        ([1.0, float("inf"), 1.0], "weight holds non-finite"),
    ],
)
def test_negative_or_non_finite_class_weights_are_refused(
    name: str, bad: list[float], match: str
) -> None:
    """Issue 14: the one class-weight validator (_validate.check_class_weight)."""
    x, y = torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(losskit.LossInputError, match=match):
        _fn(name)(x, y, weight=torch.tensor(bad))


@pytest.mark.parametrize("name", [*LABEL_LOSSES, "lovasz_hinge"])
def test_ignore_index_none_ignores_nothing(name: str, gen: torch.Generator) -> None:
    """Issue 14: ignore_index=None means no label is ignored: the value of a call with an
    ignore_index that no label takes (an independent route through the same formula)."""
    if name == "lovasz_hinge":
        x = _logits(gen, 2, 3, 4)
        y = (torch.rand(2, 3, 4, generator=gen) > 0.5).long()
        y[0, 0, 0] = -100  # a label equal to the default ignore_index is then refused
    else:
        x, y = _logits(gen, 2, 3, 4, 2), _labels(gen, 3, 2, 4, 2)
    clean = y.clamp_min(0)
    for reduction in ("mean", "none"):
        want = _fn(name)(x, clean, ignore_index=12345, reduction=reduction)
        torch.testing.assert_close(
            _fn(name)(x, clean, ignore_index=None, reduction=reduction), want
        )
    if name == "lovasz_hinge":
        with pytest.raises(losskit.LossInputError, match=r"\[0, 1\]"):
            _fn(name)(x, y, ignore_index=None)


def test_ignore_index_none_with_a_mask_counts_every_element(gen: torch.Generator) -> None:
    """A -100 in a mask is ignored by default and refused (out of [0, 1]) with None."""
    x, m = _logits(gen, 2, 2, 5), (torch.rand(2, 2, 5, generator=gen) > 0.5).double()
    p = torch.sigmoid(x)
    i, s = (p * m).sum(-1), p.sum(-1) + m.sum(-1)
    want = (1 - 2 * i / s).mean()  # float64 Dice, every element counted
    got = ov.dice(x, m, normalize="sigmoid", ignore_index=None, smooth=0.0)
    torch.testing.assert_close(got, want)
    m[0, 0, 0] = -100
    with pytest.raises(losskit.LossInputError, match=r"targets must lie in \[0, 1\]"):
        ov.dice(x, m, normalize="sigmoid", ignore_index=None)


def test_options_accept_numpy_scalars_and_one_element_tensors(gen: torch.Generator) -> None:
    """Issue 14: numbers of any kind give the value of the Python float."""
    x, y = _logits(gen, 2, 3, 5), _labels(gen, 3, 2, 5)
    want = ov.focal_tversky(x, y, alpha=0.375, beta=0.5, gamma=1.5, smooth=0.25, ignore_index=2)
    got = ov.focal_tversky(
        x,
        y,
        alpha=np.float32(0.375),
        beta=np.float64(0.5),
        gamma=torch.tensor(1.5),
        smooth=np.float32(0.25),
        ignore_index=np.int64(2),
    )
    torch.testing.assert_close(got, want)
    dce = ov.dice_cross_entropy(
        x, y, dice_weight=np.float32(0.5), ce_weight=np.int32(2), include_background=np.bool_(1)
    )
    torch.testing.assert_close(
        dce, ov.dice_cross_entropy(x, y, dice_weight=0.5, ce_weight=2.0, include_background=True)
    )


OPTION_ERRORS = [
    ("dice", {"smooth": "1e-5"}, "smooth must be a number"),
    ("dice", {"smooth": None}, "smooth must be a number"),
    ("dice", {"smooth": [1e-5]}, "smooth must be a number"),
    ("dice", {"smooth": float("nan")}, r"smooth must lie in \[0, inf\)"),
    ("dice", {"smooth": float("inf")}, r"smooth must lie in \[0, inf\)"),
    ("dice", {"squared_denominator": 1}, "squared_denominator must be True or False"),
    ("dice", {"average": None}, "average must be one of"),
    ("dice", {"ignore_index": "255"}, "ignore_index must be an integer"),
    ("dice", {"ignore_index": 2.0}, "ignore_index must be an integer"),
    ("dice", {"normalize": "Softmax"}, "normalize must be one of"),
    ("tversky", {"alpha": float("inf")}, r"alpha must lie in \[0, inf\)"),
    ("tversky", {"beta": "0.7"}, "beta must be a number"),
    ("tversky", {"beta": True}, "beta must be a number"),
    ("focal_tversky", {"gamma": -1.0}, r"gamma must lie in \(0, inf\)"),
    ("focal_tversky", {"gamma": float("inf")}, r"gamma must lie in \(0, inf\)"),
    ("focal_tversky", {"gamma": 5e-324}, "gamma must be at least"),
    ("generalized_dice", {"weight_type": None}, "weight_type must be one of"),
    ("generalized_dice", {"smooth": -1}, r"smooth must lie in \[0"),
    ("dice_cross_entropy", {"ce_weight": float("nan")}, r"ce_weight must lie in \[0"),
    ("dice_cross_entropy", {"dice_weight": "1"}, "dice_weight must be a number"),
    ("dice_cross_entropy", {"include_background": "no"}, "include_background must be True"),
    ("dice_cross_entropy", {"ignore_index": 0.5}, "ignore_index must be an integer"),
    ("lovasz_softmax", {"classes": None}, "classes must be one of"),
    ("lovasz_softmax", {"ignore_index": [255]}, "ignore_index must be an integer"),
]


@pytest.mark.parametrize(("name", "options", "match"), OPTION_ERRORS)
def test_every_option_is_validated_naming_it(name: str, options: dict, match: str) -> None:
    x, y = torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(losskit.LossInputError, match=match):
        _fn(name)(x, y, **options)


def test_lovasz_hinge_options_are_validated() -> None:
    x, t = torch.zeros(2, 4), torch.zeros(2, 4)
    with pytest.raises(losskit.LossInputError, match="ignore_index must be an integer"):
        lv.lovasz_hinge(x, t, ignore_index=1.0)
    with pytest.raises(losskit.LossInputError, match="reduction must be one of"):
        lv.lovasz_hinge(x, t, reduction=None)


@pytest.mark.parametrize("name", WEIGHTED)
def test_class_weights_follow_the_logits_dtype(name: str, gen: torch.Generator) -> None:
    """Issue 14: bf16 / float32 logits with float64 (or float32) weights compute in the logits'
    compute dtype and return the logits' dtype; the float64 call is the reference."""
    x, y = _logits(gen, 2, 3, 5), _labels(gen, 3, 2, 5)
    w64 = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    want = _fn(name)(x, y, weight=w64)
    for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 3e-2)):
        for w in (w64, w64.float()):
            got = _fn(name)(x.to(dtype), y, weight=w)
            assert got.dtype == dtype
            torch.testing.assert_close(got.double(), want, rtol=tol, atol=tol)
    module = MODULES[name](weight=w64.float())  # a float32 buffer with float64 logits
    torch.testing.assert_close(module(x, y), _fn(name)(x, y, weight=w64.float().double()))


def test_a_floating_mask_promotes_with_the_logits(gen: torch.Generator) -> None:
    """Floating inputs promote as torch.result_type would (float32 logits, float64 mask:
    float64), against float64 NumPy."""
    x = _logits(gen, 2, 1, 6)
    m = torch.rand(2, 1, 6, generator=gen, dtype=torch.float64)
    got = ov.dice(x.float(), m, normalize="sigmoid", smooth=0.0, reduction="none")
    assert got.dtype == torch.result_type(x.float(), m) == torch.float64
    p = 1 / (1 + np.exp(-x.float().double().numpy()))
    t = m.numpy()
    want = 1 - 2 * (p * t).sum(-1) / (p.sum(-1) + t.sum(-1))
    np.testing.assert_allclose(got.numpy(), want[:, 0], rtol=1e-12)
    hinge = lv.lovasz_hinge(x[:, 0].float(), (m[:, 0] > 0.5).double())
    assert hinge.dtype == torch.float64


def test_value_checks_do_not_read_under_vmap(gen: torch.Generator) -> None:
    """Issue 14: the probabilities check of normalize=None uses reads(): it runs under vmap
    (which cannot read values) and gives the looped values."""
    p = torch.softmax(_logits(gen, 3, 2, 3, 4), 2)  # 3 samples of (N=2, C=3, P=4)
    y = _labels(gen, 3, 3, 2, 4)
    for name in NORMALIZED:

        def one(pi: torch.Tensor, yi: torch.Tensor, name: str = name) -> torch.Tensor:
            return _fn(name)(pi, yi, normalize=None, reduction="none")

        got = torch.func.vmap(one)(p, y)
        want = torch.stack([one(p[i], y[i]) for i in range(3)])
        torch.testing.assert_close(got, want, msg=name)
