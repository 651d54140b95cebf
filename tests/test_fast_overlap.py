"""The one-hot-free path of the overlap losses for class-label targets against its slow twin:
the same loss given the one-hot mask of the labels (the general mask path), and a plain
float64 formula; values and gradients, with and without ignored labels, weights, empty batch,
NaN input and half precision."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import losskit
from losskit.losses import _overlap as ov

C = 4
LOSSES = ("dice", "jaccard", "tversky", "focal_tversky", "generalized_dice")


def _inputs(ignored: bool, seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, C, 5, 6, generator=g, dtype=torch.float64)
    labels = torch.randint(0, C, (3, 5, 6), generator=g)
    if ignored:
        labels[0, :2] = -100
        labels[2] = -100  # an image with no counted pixel
    return x, labels


def _as_mask(labels: Tensor) -> Tensor:
    """One-hot mask; ignored pixels carry the ignore value in every channel."""
    hot = F.one_hot(labels.clamp_min(0), C).movedim(-1, 1).to(torch.float64)
    return torch.where((labels == -100).unsqueeze(1), -100.0, hot)


def _both(
    fn: Callable[..., Tensor], x: Tensor, labels: Tensor, **kw: object
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    fast = fn(a, labels, **kw)
    slow = fn(b, _as_mask(labels), **kw)
    (ga,) = torch.autograd.grad(fast.sum(), a)
    (gb,) = torch.autograd.grad(slow.sum(), b)
    return fast, slow, ga, gb


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("ignored", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_labels_match_mask_path(name: str, ignored: bool, reduction: str) -> None:
    x, labels = _inputs(ignored)
    fast, slow, ga, gb = _both(getattr(losskit, name), x, labels, reduction=reduction)
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(ga, gb)


@pytest.mark.parametrize("name", ("dice", "jaccard", "tversky", "focal_tversky"))
@pytest.mark.parametrize("average", ["macro", "micro"])
def test_weights_and_average(name: str, average: str) -> None:
    x, labels = _inputs(True, seed=1)
    w = torch.tensor([0.5, 1.0, 2.0, 0.0], dtype=torch.float64)
    fast, slow, ga, gb = _both(getattr(losskit, name), x, labels, weight=w, average=average)
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(ga, gb)


@pytest.mark.parametrize("ignored", [False, True])
def test_dice_squared_and_probabilities(ignored: bool) -> None:
    x, labels = _inputs(ignored, seed=2)
    fast, slow, ga, gb = _both(losskit.dice, x, labels, squared_denominator=True)
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(ga, gb)
    probs = torch.softmax(x, 1)
    fast, slow, ga, gb = _both(losskit.dice, probs, labels, normalize=None)
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(ga, gb)


def test_ignore_index_that_is_a_class() -> None:
    x, labels = _inputs(False, seed=3)
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    fast = losskit.dice(a, labels, ignore_index=2)
    hot = F.one_hot(labels, C).movedim(-1, 1).to(torch.float64)
    mask = torch.where((labels == 2).unsqueeze(1), 2.0, hot)
    slow = losskit.dice(b, mask, ignore_index=2)
    torch.testing.assert_close(fast, slow)
    (ga,) = torch.autograd.grad(fast, a)
    (gb,) = torch.autograd.grad(slow, b)
    torch.testing.assert_close(ga, gb)
    assert ga.masked_select((labels == 2).unsqueeze(1)).abs().max() == 0


@pytest.mark.parametrize("ignored", [False, True])
def test_dice_formula_float64(ignored: bool) -> None:
    x, labels = _inputs(ignored, seed=4)
    got = losskit.dice(x, labels, reduction="none")
    valid = (labels != -100).flatten(1).unsqueeze(1).to(torch.float64)
    p = torch.softmax(x, 1).flatten(2) * valid
    t = F.one_hot(labels.clamp_min(0), C).movedim(-1, 1).flatten(2).to(torch.float64) * valid
    d = (2 * (p * t).sum(-1) + 1e-5) / (p.sum(-1) + t.sum(-1) + 1e-5)
    want = torch.where(valid.flatten(1).any(-1), (1 - d).mean(-1), 0.0)
    torch.testing.assert_close(got, want)


def test_dice_cross_entropy_formula() -> None:
    x, labels = _inputs(True, seed=5)
    a = x.clone().requires_grad_()
    got = losskit.dice_cross_entropy(a, labels, reduction="none")
    valid = labels != -100
    ce = F.cross_entropy(x, labels, reduction="none").flatten(1).sum(-1)
    ce = ce / valid.flatten(1).sum(-1).clamp_min(1)
    v = valid.flatten(1).unsqueeze(1).to(torch.float64)
    p = torch.softmax(x, 1).flatten(2) * v
    t = F.one_hot(labels.clamp_min(0), C).movedim(-1, 1).flatten(2).to(torch.float64) * v
    d = (2 * (p * t).sum(-1) + 1e-5) / (p.sum(-1) + t.sum(-1) + 1e-5)
    want = torch.where(valid.flatten(1).any(-1), ce + (1 - d[:, 1:]).mean(-1), 0.0)
    torch.testing.assert_close(got, want)
    assert torch.autograd.gradcheck(lambda z: losskit.dice_cross_entropy(z, labels), (a,))


@pytest.mark.parametrize("name", (*LOSSES, "dice_cross_entropy"))
def test_gradcheck_labels(name: str) -> None:
    x, labels = _inputs(True, seed=6)
    a = x[:2, :, :3, :3].clone().requires_grad_()
    lab = labels[:2, :3, :3]
    assert torch.autograd.gradcheck(lambda z: getattr(losskit, name)(z, lab), (a,))


@pytest.mark.parametrize("name", (*LOSSES, "dice_cross_entropy"))
def test_empty_batch_and_nan(name: str) -> None:
    fn = getattr(losskit, name)
    x = torch.zeros(0, C, 4, 4, requires_grad=True)
    out = fn(x, torch.zeros(0, 4, 4, dtype=torch.long))
    assert out.item() == 0.0
    out.backward()
    y = torch.randn(2, C, 4, 4)
    y[0, 1, 2, 2] = float("nan")
    lab = torch.randint(0, C, (2, 4, 4))
    with losskit.checks("shapes"):
        assert torch.isnan(fn(y, lab))


@pytest.mark.parametrize("name", LOSSES)
def test_half_precision(name: str) -> None:
    x, labels = _inputs(True, seed=7)
    fn = getattr(losskit, name)
    got = fn(x.to(torch.bfloat16), labels)
    assert got.dtype == torch.bfloat16
    want = fn(x.to(torch.bfloat16).double(), labels)
    torch.testing.assert_close(got.double(), want, atol=1e-2, rtol=1e-2)


# ----------------------------------------------------------------------------- fused score
# With label targets, the softmax, the macro mean and no class weights, the per-image loss is
# computed inside the one autograd Function (Fused) with its gradient in closed form; full
# mode, having read the labels, also skips the ignore mask when no label is ignored. Both
# branches against float64 formulas written here, and against the general mask path.
def _onehot(labels: Tensor) -> Tensor:
    return F.one_hot(labels.clamp_min(0), C).movedim(-1, 1).flatten(2).to(torch.float64)


def _overlap_formula(
    name: str, x: Tensor, labels: Tensor, smooth: float = 1e-5, **kw: float
) -> Tensor:
    """Per-image loss of dice / jaccard / tversky / focal_tversky in float64, macro mean over
    classes, images without a counted pixel 0."""
    valid = (labels != -100).flatten(1).unsqueeze(1).to(torch.float64)
    p = torch.softmax(x.double(), 1).flatten(2) * valid
    t = _onehot(labels) * valid
    i, ps, g = (p * t).sum(-1), p.sum(-1), t.sum(-1)
    if name == "dice":
        score = (2 * i + smooth) / (ps + g + smooth)
    elif name == "jaccard":
        score = (i + smooth) / (ps + g - i + smooth)
    else:  # tversky, focal_tversky: alpha on false positives P - I, beta on false negatives
        a, b = kw.get("alpha", 0.3), kw.get("beta", 0.7)
        score = (i + smooth) / (i + a * (ps - i) + b * (g - i) + smooth)
    loss = 1 - score
    if name == "focal_tversky":
        # 0 ** (3/4) has an infinite slope: the loss's minimum, defined with gradient 0
        pos = loss > 0
        loss = torch.where(pos, torch.where(pos, loss, 1.0) ** (1 / kw.get("gamma", 4 / 3)), 0.0)
    return torch.where(valid.flatten(1).any(-1), loss.mean(-1), 0.0)


@pytest.mark.parametrize("name", ("dice", "jaccard", "tversky", "focal_tversky"))
@pytest.mark.parametrize("mode", ["full", "shapes"])
@pytest.mark.parametrize("ignored", [False, True])
def test_fused_loss_against_float64_formula(name: str, mode: str, ignored: bool) -> None:
    x, labels = _inputs(ignored, seed=8)
    a = x.float().requires_grad_()
    b = x.clone().requires_grad_()
    with losskit.checks(mode):  # type: ignore[arg-type]
        got = getattr(losskit, name)(a, labels, reduction="none")
    want = _overlap_formula(name, b, labels)
    torch.testing.assert_close(got.double(), want.detach(), rtol=1e-5, atol=1e-6)
    w = torch.tensor([0.3, 1.0, 2.0])
    (ga,) = torch.autograd.grad((got * w).sum(), a)
    (gb,) = torch.autograd.grad((want * w.double()).sum(), b)
    torch.testing.assert_close(ga.double(), gb, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ("dice", "jaccard", "tversky"))
def test_fused_loss_without_smoothing_on_an_absent_class(name: str) -> None:
    """smooth = 0: a class absent from the target and predicted with probability 0 has 0/0,
    defined as overlap 1 with a zero gradient, as on the mask path."""
    x = torch.zeros(1, C, 2, 2, dtype=torch.float64)
    x[:, 2:] = -1e4  # classes 2 and 3: probability 0 (underflow), and no pixel of them
    labels = torch.tensor([[[0, 1], [1, 0]]])
    fast, slow, ga, gb = _both(getattr(losskit, name), x, labels, smooth=0.0)
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(ga, gb)
    assert torch.isfinite(ga).all()


@pytest.mark.parametrize("mode", ["full", "shapes"])
@pytest.mark.parametrize("ignored", [False, True])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"include_background": True},
        {"dice_weight": 0.5, "ce_weight": 2.0},
        {"ce_weight": 0.0},
        {"dice_weight": 0.0},
    ],
)
def test_dice_cross_entropy_against_float64_formula(
    mode: str, ignored: bool, kw: dict[str, float]
) -> None:
    x, labels = _inputs(ignored, seed=9)
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    with losskit.checks(mode):  # type: ignore[arg-type]
        got = losskit.dice_cross_entropy(a, labels, reduction="none", **kw)  # type: ignore[arg-type]
    keep = labels != -100
    safe = torch.where(keep, labels, 0)
    ce = -torch.log_softmax(b, 1).gather(1, safe.unsqueeze(1)).squeeze(1) * keep
    count = keep.flatten(1).sum(-1)
    ce = ce.flatten(1).sum(-1) / count.clamp_min(1)
    v = keep.flatten(1).unsqueeze(1).to(torch.float64)
    p = torch.softmax(b, 1).flatten(2) * v
    t = _onehot(labels) * v
    d = (2 * (p * t).sum(-1) + 1e-5) / (p.sum(-1) + t.sum(-1) + 1e-5)
    first = 0 if kw.get("include_background") else 1
    dice_term = (1 - d[:, first:]).mean(-1)
    per_image = kw.get("ce_weight", 1.0) * ce + kw.get("dice_weight", 1.0) * dice_term
    want = torch.where(count > 0, per_image, 0.0)
    torch.testing.assert_close(got, want)
    w = torch.tensor([0.3, 1.0, 2.0], dtype=torch.float64)
    (ga,) = torch.autograd.grad((got * w).sum(), a)
    (gb,) = torch.autograd.grad((want * w).sum(), b)
    torch.testing.assert_close(ga, gb)


@pytest.mark.parametrize("name", ("dice", "jaccard", "focal_tversky", "dice_cross_entropy"))
def test_fused_double_backward_matches_autograd(name: str) -> None:
    """The second derivative (create_graph) of the fused path against the mask path's, which
    is plain autograd on the formula."""
    x, labels = _inputs(True, seed=10)
    x, labels = x[:2, :, :3, :3], labels[:2, :3, :3]
    fn = getattr(losskit, name)
    direction = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)

    def hvp(target: Tensor) -> Tensor:
        z = x.clone().requires_grad_()
        (g,) = torch.autograd.grad(fn(z, target), z, create_graph=True)
        (h,) = torch.autograd.grad((g * direction).sum(), z)
        return h

    if name == "dice_cross_entropy":  # labels only: autograd on the float64 formula
        z = x.clone().requires_grad_()
        keep = labels != -100
        ce = -torch.log_softmax(z, 1).gather(1, torch.where(keep, labels, 0).unsqueeze(1))
        ce = (ce.squeeze(1) * keep).flatten(1).sum(-1) / keep.flatten(1).sum(-1).clamp_min(1)
        v = keep.flatten(1).unsqueeze(1).to(x.dtype)
        p = torch.softmax(z, 1).flatten(2) * v
        t = _onehot(labels) * v
        d = (2 * (p * t).sum(-1) + 1e-5) / (p.sum(-1) + t.sum(-1) + 1e-5)
        loss = (ce + (1 - d[:, 1:]).mean(-1)).mean()
        (g,) = torch.autograd.grad(loss, z, create_graph=True)
        (want,) = torch.autograd.grad((g * direction).sum(), z)
    else:
        want = hvp(_as_mask(labels))
    torch.testing.assert_close(hvp(labels), want)


@pytest.mark.parametrize("ignore_index", [-100, 2, 7])
def test_full_mode_skips_the_mask_only_when_nothing_is_ignored(ignore_index: int) -> None:
    """Full mode reads the labels and builds no mask when no label equals ignore_index (an
    index below, inside or above the class range); shapes mode always masks. Both give the
    formula's value, with and without an ignored label present."""
    x, labels = _inputs(False, seed=11)
    if ignore_index == 2:
        labels = labels.clamp_max(1)  # class 2 absent: nothing ignored
    present = labels.clone()
    present[0, 0, :3] = ignore_index
    for lab in (labels, present):
        keep = (lab != ignore_index).flatten(1).unsqueeze(1).to(torch.float64)
        safe = torch.where(lab == ignore_index, 0, lab)
        p = torch.softmax(x, 1).flatten(2) * keep
        t = F.one_hot(safe, C).movedim(-1, 1).flatten(2).to(torch.float64) * keep
        d = (2 * (p * t).sum(-1) + 1e-5) / (p.sum(-1) + t.sum(-1) + 1e-5)
        want = (1 - d).mean(-1)
        for mode in ("full", "shapes"):
            with losskit.checks(mode):  # type: ignore[arg-type]
                got = losskit.dice(x, lab, ignore_index=ignore_index, reduction="none")
            torch.testing.assert_close(got, want)
    assert ov._ignored_occurs(present, ignore_index, C)
    assert not ov._ignored_occurs(labels, ignore_index, C)


# ----------------------------------------------------------------------------- lovasz
def _lovasz_numpy(errors: np.ndarray, gt: np.ndarray) -> float:
    """Berman et al.'s Algorithm 1 in float64 over one image's counted pixels."""
    order = np.argsort(-errors, kind="stable")
    e, g = errors[order], gt[order]
    gts = g.sum()
    inter = gts - np.cumsum(g)
    union = gts + np.cumsum(1 - g)
    jac = 1 - np.where(union > 0, inter / np.where(union > 0, union, 1), 1.0)
    grad = np.concatenate([jac[:1], jac[1:] - jac[:-1]])
    return float((e * grad).sum())


@pytest.mark.parametrize("mode", ["full", "shapes"])
@pytest.mark.parametrize("ignored", [False, True])
def test_lovasz_hinge_both_branches_against_numpy(mode: str, ignored: bool) -> None:
    g = torch.Generator().manual_seed(12)
    x = torch.randn(3, 5, 6, generator=g, dtype=torch.float64)
    t = torch.randint(0, 2, (3, 5, 6), generator=g)
    if ignored:
        t[0, :2] = -100
    with losskit.checks(mode):  # type: ignore[arg-type]
        got = losskit.lovasz_hinge(x, t, reduction="none")
    want = []
    for n in range(3):
        keep = (t[n] != -100).numpy().ravel()
        xn, tn = x[n].numpy().ravel()[keep], t[n].numpy().ravel()[keep].astype(np.float64)
        want.append(_lovasz_numpy(np.maximum(0, 1 - xn * (2 * tn - 1)), tn))
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64))


@pytest.mark.parametrize("mode", ["full", "shapes"])
@pytest.mark.parametrize("ignored", [False, True])
def test_lovasz_softmax_both_branches_against_numpy(mode: str, ignored: bool) -> None:
    x, labels = _inputs(ignored, seed=13)
    a = x.clone().requires_grad_()
    with losskit.checks(mode):  # type: ignore[arg-type]
        got = losskit.lovasz_softmax(a, labels, reduction="none", classes="all")
    probs = torch.softmax(x, 1).numpy()
    want = []
    for n in range(x.shape[0]):
        keep = (labels[n] != -100).numpy().ravel()
        if not keep.any():
            want.append(0.0)
            continue
        lab = labels[n].numpy().ravel()[keep]
        per_class = []
        for c in range(C):
            fg = (lab == c).astype(np.float64)
            per_class.append(_lovasz_numpy(np.abs(fg - probs[n, c].ravel()[keep]), fg))
        want.append(float(np.mean(per_class)))
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64))
    small = x[:, :, :2, :3].clone().requires_grad_()
    with losskit.checks(mode):  # type: ignore[arg-type]
        assert torch.autograd.gradcheck(
            lambda z: losskit.lovasz_softmax(z, labels[:, :2, :3]), (small,)
        )
