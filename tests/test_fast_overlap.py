"""The one-hot-free path of the overlap losses for class-label targets against its slow twin:
the same loss given the one-hot mask of the labels (the general mask path), and a plain
float64 formula; values and gradients, with and without ignored labels, weights, empty batch,
NaN input and half precision."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import losskit

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
