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


# ----------------------------------------------------------------------------- issue 14
def _both_branches(monkeypatch, fn):
    """(eager kernel branch, the written-out branch taken under tracing) of one call."""
    import losskit.losses._multilabel as ml

    kernel = fn()
    monkeypatch.setattr(ml, "tracing", lambda: True)
    traced = fn()
    monkeypatch.undo()
    return kernel, traced


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_branches_agree_with_each_other_and_the_reference(
    gen, monkeypatch, reduction
) -> None:
    x, t = _batch(gen, n=8, c=6)
    t[0], t[1] = 1, 0  # no negative, no positive label
    x[2, 1] = x[2, 0] + 1.0  # a pair exactly at the kink (gap of 1)
    x.requires_grad_(True)
    kernel, traced = _both_branches(
        monkeypatch, lambda: multilabel_margin(x, t, reduction=reduction)
    )
    want = _mlm_ref(x.detach().numpy(), t.numpy(), reduction=reduction)
    np.testing.assert_allclose(kernel.detach().numpy(), want, rtol=1e-12)
    torch.testing.assert_close(traced, kernel, rtol=1e-12, atol=0)
    (g_kernel,) = torch.autograd.grad(kernel.sum(), x)
    (g_traced,) = torch.autograd.grad(traced.sum(), x)
    torch.testing.assert_close(g_traced, g_kernel, rtol=1e-12, atol=0)


def test_multilabel_margin_compiled_is_eager(gen) -> None:
    torch._dynamo.reset()
    x, t = _batch(gen, n=5, c=4)
    compiled = torch.compile(multilabel_margin, backend="eager", fullgraph=True)
    torch.testing.assert_close(
        compiled(x, t, reduction="none"), multilabel_margin(x, t, reduction="none")
    )


def test_multilabel_margin_nan_logits_and_targets_are_not_finite(gen, monkeypatch) -> None:
    x, t = _batch(gen, n=3, c=4)
    x[0, 0] = float("nan")
    t[1, 2] = float("inf")
    with losskit.checks("off"):
        kernel, traced = _both_branches(
            monkeypatch, lambda: multilabel_margin(x, t, reduction="none")
        )
    for got in (kernel, traced):
        assert torch.isnan(got[:2]).all() and torch.isfinite(got[2])
    with pytest.raises(losskit.LossInputError, match="logits"):
        multilabel_margin(x[:1], t[:1])
    # an infinite logit keeps its limit: a positive at +inf costs nothing, a negative at +inf
    # costs +inf
    inf = float("inf")
    row = torch.tensor([[inf, 0.0, 0.0]])
    assert multilabel_margin(row, torch.tensor([[1, 0, 0]])).item() == 0.0
    with losskit.checks("off"):
        assert multilabel_margin(row, torch.tensor([[0, 1, 0]])).item() == inf


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_multilabel_soft_margin_refuses_bad_weights(bad) -> None:
    with pytest.raises(losskit.LossInputError, match="weight"):
        multilabel_soft_margin(
            torch.zeros(2, 3), torch.ones(2, 3), weight=torch.tensor([1.0, bad, 1.0])
        )


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("gamma_pos", "1", "gamma_pos must be a number"),
        ("gamma_neg", float("inf"), "gamma_neg must lie in"),
        ("gamma_neg", None, "gamma_neg must be a number"),
        ("clip", float("nan"), "clip must lie in"),
        ("clip", [0.1], "clip must be a number"),
    ],
)
def test_asl_options_are_validated_and_named(key, value, error) -> None:
    with pytest.raises(losskit.LossInputError, match=error):
        asymmetric_loss(torch.zeros(2, 3), torch.ones(2, 3), **{key: value})


def test_asl_accepts_numpy_scalars(gen) -> None:
    x, t = _batch(gen)
    torch.testing.assert_close(
        asymmetric_loss(
            x, t, gamma_pos=np.float32(1.0), gamma_neg=np.int64(2), clip=np.float64(0.1)
        ),
        asymmetric_loss(x, t, gamma_pos=1.0, gamma_neg=2.0, clip=0.1),
    )


@pytest.mark.parametrize("fn", [multilabel_soft_margin, multilabel_margin, asymmetric_loss])
def test_complex_logits_are_refused(fn) -> None:
    with pytest.raises(losskit.LossInputError, match="logits must be real"):
        fn(torch.zeros(2, 3, dtype=torch.complex64), torch.ones(2, 3))


@pytest.mark.parametrize("gamma_neg", [0.5, 1.5, 2.0, 4.0])
def test_asl_negative_focusing_branches_match_numpy(gamma_neg: float) -> None:
    """gamma_neg >= 2 takes the plain power of p_m (finite derivatives at p_m = 0), below 2 the
    guarded one: both against the float64 NumPy formula, values and a central difference."""
    x = torch.tensor([[-4.0, -2.0, -0.5, 0.0, 0.7, 3.0], [2.5, -1.2, 0.3, -3.5, 1.1, -0.1]])
    x = x.double()
    t = torch.tensor([[0, 0, 0, 1, 0, 1], [1, 0, 0, 0, 1, 0]]).double()

    def np_asl(z: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-z))
        p_m = np.maximum(p - 0.05, 0)
        pos = -np.log(p)
        neg = -(p_m**gamma_neg) * np.log(1 - p_m)
        return t.numpy() * pos + (1 - t.numpy()) * neg

    xr = x.clone().requires_grad_()
    out = asymmetric_loss(xr, t, gamma_neg=gamma_neg, reduction="none")
    (g,) = torch.autograd.grad(out.sum(), xr)
    np.testing.assert_allclose(out.detach().numpy(), np_asl(x.numpy()), rtol=1e-12, atol=1e-15)
    eps = 1e-6
    fd = (np_asl(x.numpy() + eps) - np_asl(x.numpy() - eps)) / (2 * eps)
    np.testing.assert_allclose(g.numpy(), fd, rtol=1e-6, atol=1e-9)
