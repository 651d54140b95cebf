"""Multilabel losses beyond the generic suites: identities, the target format, ASL's clip and
extreme logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit.losses._binary import bce_with_logits, sigmoid_focal
from losskit.losses._multilabel import asymmetric_loss, multilabel_margin, multilabel_soft_margin
from tests.infos.multilabel import _mlm_ref, _msm_ref

REDUCTIONS = ("mean", "sum", "none")


def _batch(gen, n=6, c=5):
    x = 3 * torch.randn(n, c, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 2, (n, c), generator=gen).double()
    return x, t


def test_every_multilabel_loss_is_listed_in_its_family() -> None:
    listed = {s.name for s in losskit.list_specs("multilabel")}
    assert {"multilabel_soft_margin", "multilabel_margin", "asymmetric_loss"} <= listed


def test_soft_margin_mean_is_bce_with_logits(gen) -> None:
    x, t = _batch(gen)
    w = torch.rand(5, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(multilabel_soft_margin(x, t), bce_with_logits(x, t))
    torch.testing.assert_close(
        multilabel_soft_margin(x, t, weight=w), bce_with_logits(x, t, weight=w)
    )
    per_item = bce_with_logits(x, t, reduction="none").mean(1)
    torch.testing.assert_close(multilabel_soft_margin(x, t, reduction="none"), per_item)


def test_one_example_against_the_references(gen) -> None:
    x = 3 * torch.randn(6, generator=gen, dtype=torch.float64)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    for reduction in REDUCTIONS:
        for fn, ref in ((multilabel_soft_margin, _msm_ref), (multilabel_margin, _mlm_ref)):
            got = fn(x, t, reduction=reduction)
            assert got.shape == ()
            np.testing.assert_allclose(got.numpy(), ref(x.numpy(), t.numpy(), reduction=reduction))


def test_multilabel_margin_is_torch_with_padded_indices(gen) -> None:
    x, t = _batch(gen, n=8, c=6)
    t[0] = 1  # no negative label: 0
    t[1] = 0  # no positive label: 0
    padded = torch.full((8, 6), -1, dtype=torch.long)
    for n in range(8):
        idx = t[n].nonzero().flatten()
        padded[n, : idx.numel()] = idx
    for reduction in REDUCTIONS:
        torch.testing.assert_close(
            multilabel_margin(x, t, reduction=reduction),
            F.multilabel_margin_loss(x, padded, reduction=reduction),
        )
    none = multilabel_margin(x, t, reduction="none")
    assert none[0].item() == 0.0 and none[1].item() == 0.0


def test_multilabel_margin_hand_checked() -> None:
    # labels {0, 1}; negative 2: (1 - (2 - 0.5))^+ = 0 and (1 - (-1 - 0.5))^+ = 2.5; / C = 3
    x = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    assert multilabel_margin(x, torch.tensor([1, 1, 0])).item() == pytest.approx(2.5 / 3)


def test_torch_padded_targets_are_refused_with_the_format() -> None:
    with pytest.raises(losskit.LossInputError, match=r"padded index format.*multi-hot"):
        multilabel_margin(torch.zeros(2, 4), torch.tensor([[3, 0, -1, 1], [2, -1, 0, 0]]))


# ----------------------------------------------------------------------------- ASL
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_asl_without_focusing_or_clip_is_bce_and_focal(gen, reduction) -> None:
    x, t = _batch(gen)
    plain = asymmetric_loss(x, t, gamma_pos=0.0, gamma_neg=0.0, clip=0.0, reduction=reduction)
    torch.testing.assert_close(plain, bce_with_logits(x, t, reduction=reduction))
    symmetric = asymmetric_loss(x, t, gamma_pos=2.0, gamma_neg=2.0, clip=0.0, reduction=reduction)
    torch.testing.assert_close(
        symmetric, sigmoid_focal(x, t, alpha=None, gamma=2.0, reduction=reduction)
    )


def test_asl_clip_discards_easy_negatives_with_zero_gradient() -> None:
    # negatives with p = sigmoid(x) below clip = 0.05 cost nothing: x < logit(0.05) = -2.944
    x = torch.tensor([-3.5, -5.0, -1.0, 0.0], dtype=torch.float64, requires_grad=True)
    t = torch.zeros(4, dtype=torch.float64)
    for gamma_neg in (0.0, 0.5, 4.0):
        loss = asymmetric_loss(x, t, gamma_neg=gamma_neg, reduction="none")
        (grad,) = torch.autograd.grad(loss.sum(), x)
        assert loss[:2].tolist() == [0.0, 0.0] and grad[:2].tolist() == [0.0, 0.0]
        assert (loss[2:] > 0).all() and torch.isfinite(grad).all()
    # hand-checked: x = 0, p = 0.5, p_m = 0.45, gamma_neg = 4: 0.45^4 * -log(0.55)
    got = asymmetric_loss(x.detach()[3:], t[3:]).item()
    assert got == pytest.approx(0.45**4 * -np.log(0.55))


@pytest.mark.parametrize("gammas", [(0.0, 4.0), (1.0, 0.5), (0.5, 2.0)])
@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_asl_extreme_logits_are_finite_and_exact(gammas, clip) -> None:
    x = torch.tensor([100.0, -100.0, 100.0, -100.0, 1e4, -1e4], requires_grad=True)
    t = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 1.0])
    loss = asymmetric_loss(
        x, t, gamma_pos=gammas[0], gamma_neg=gammas[1], clip=clip, reduction="none"
    )
    (grad,) = torch.autograd.grad(loss.sum(), x, create_graph=True)
    (hess,) = torch.autograd.grad(grad.sum(), x)
    assert torch.isfinite(loss).all() and torch.isfinite(grad).all() and torch.isfinite(hess).all()
    # a confident positive mistake costs its full -log p = 100 (the reference code caps it at
    # -log(1e-8) = 18.4); a negative mistake costs at most -log(clip) when clip > 0, where
    assert loss[3].item() == pytest.approx(100.0)
    assert loss[5].item() == pytest.approx(1e4)
    # p_m = 1 - clip, weighted by p_m^gamma_neg
    want = (1 - clip) ** gammas[1] * -np.log(clip) if clip else 100.0
    assert loss[2].item() == pytest.approx(want, rel=1e-6)


# ----------------------------------------------------------------------------- shapes, modules
def test_three_dimensional_inputs_are_refused_for_the_per_item_losses() -> None:
    x = torch.zeros(2, 3, 4)
    for fn in (multilabel_soft_margin, multilabel_margin):
        with pytest.raises(losskit.LossInputError, match=r"\(N, C\) or \(C,\)"):
            fn(x, torch.zeros(2, 3, 4))
    # ASL is elementwise: any shape
    assert asymmetric_loss(x, torch.zeros(2, 3, 4), reduction="none").shape == (2, 3, 4)


def test_modules(gen) -> None:
    from losskit.nn._multilabel import (
        AsymmetricLoss,
        MultiLabelMarginLoss,
        MultiLabelSoftMarginLoss,
    )

    x, t = _batch(gen)
    torch.testing.assert_close(AsymmetricLoss(clip=0.1)(x, t), asymmetric_loss(x, t, clip=0.1))
    torch.testing.assert_close(MultiLabelMarginLoss()(x, t), multilabel_margin(x, t))
    w = torch.ones(5, dtype=torch.float64)
    module = MultiLabelSoftMarginLoss(weight=w)
    assert "weight" in module.state_dict()
    torch.testing.assert_close(module(x, t), multilabel_soft_margin(x, t, weight=w))
    assert module.decodes(module.activation(x)).dtype == torch.bool
