"""Edge cases of the ranking losses that the generic suites do not reach: masked lists,
hand-checked values, options, non-finite labels and vmap, each against a reference written here
(float64 NumPy, optax's documented values) or torch's own loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
import tests.infos  # noqa: F401  (fills INFOS)
from losskit.losses._ranking import margin_ranking, ranking_softmax
from losskit.nn import module_for
from tests.lossinfo import INFOS

D64 = torch.float64


def _grad(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(out, x)
    return g


# ----------------------------------------------------------------------------- pairwise
def test_margin_ranking_hand_values() -> None:
    # l = max(0, -y (s1 - s2) + 0.5): (-1 + .5 -> 0), (.5 + .5 = 1), (-2 + .5 -> 0)
    s1, s2 = torch.tensor([2.0, 0.5, 1.0]), torch.tensor([1.0, 1.0, 3.0])
    out = margin_ranking(s1, s2, torch.tensor([1, 1, -1]), margin=0.5, reduction="none")
    assert torch.equal(out, torch.tensor([0.0, 1.0, 0.0]))


def test_margin_ranking_refuses_zero_one_labels_that_torch_accepts() -> None:
    s1, s2, y01 = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0])
    assert torch.isfinite(F.margin_ranking_loss(s1, s2, y01))  # torch: silently wrong
    with pytest.raises(losskit.LossInputError, match=r"2 \* targets - 1"):
        margin_ranking(s1, s2, y01)


# ----------------------------------------------------------------------------- ranking_softmax
def test_ranking_softmax_matches_optax_documented_values() -> None:
    # optax's docstring: 1.408 for one list, gradient [-0.755, 0.09, 0.665]
    s = torch.tensor([2.0, 1.0, 3.0], dtype=D64, requires_grad=True)
    out = ranking_softmax(s, torch.tensor([1.0, 0.0, 0.0], dtype=D64))
    assert out.shape == ()
    want = math.log(math.exp(2) + math.exp(1) + math.exp(3)) - 2.0
    assert out.item() == pytest.approx(want) and out.item() == pytest.approx(1.408, abs=5e-4)
    g = _grad(out, s)
    torch.testing.assert_close(
        g, torch.softmax(s.detach(), 0) - torch.tensor([1.0, 0, 0], dtype=D64)
    )
    assert g.tolist() == pytest.approx([-0.755, 0.090, 0.665], abs=5e-4)


def test_ranking_softmax_mask_equals_slicing_and_ignores_padding() -> None:
    s, y = torch.randn(3, 6, dtype=D64), torch.rand(3, 6, dtype=D64)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]]).bool()
    none = ranking_softmax(s, y, mask, reduction="none")
    for b in range(3):
        keep = mask[b]
        torch.testing.assert_close(none[b], ranking_softmax(s[b, keep], y[b, keep]))
    # changing padded scores or relevance changes neither the loss nor the real items' gradient
    s1 = s.clone().requires_grad_()
    s2 = torch.where(mask, s, s + 100 * torch.randn_like(s)).requires_grad_()
    y2 = torch.where(mask, y, 5.0)
    l1, l2 = ranking_softmax(s1, y, mask), ranking_softmax(s2, y2, mask)
    torch.testing.assert_close(l1, l2)
    g1, g2 = _grad(l1, s1), _grad(l2, s2)
    torch.testing.assert_close(g1, g2)
    assert torch.count_nonzero(g2[~mask]) == 0


def test_ranking_softmax_empty_and_irrelevant_lists() -> None:
    s = torch.randn(3, 4, dtype=D64, requires_grad=True)
    y = torch.tensor([[0.0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 2, 0]], dtype=D64)
    none = ranking_softmax(s, y, reduction="none")
    assert none[1].item() == 0.0  # no relevant item: 0, and it still counts in the mean (optax)
    torch.testing.assert_close(ranking_softmax(s, y), none.mean())
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[0] = False  # a list of padding only: 0, not counted
    none = ranking_softmax(s, y, mask, reduction="none")
    assert none[0].item() == 0.0
    torch.testing.assert_close(ranking_softmax(s, y, mask), none.sum() / 2)
    nothing = ranking_softmax(s, y, torch.zeros(3, 4, dtype=torch.bool))
    assert nothing.item() == 0.0 and not torch.isnan(nothing)
    assert torch.count_nonzero(_grad(nothing, s)) == 0


def test_ranking_softmax_graded_relevance_is_not_normalised() -> None:
    s, y = torch.randn(2, 5, dtype=D64), torch.rand(2, 5, dtype=D64)
    torch.testing.assert_close(ranking_softmax(s, 3 * y), 3 * ranking_softmax(s, y))


def test_ranking_softmax_extreme_scores_stay_finite() -> None:
    s = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], requires_grad=True)
    out = ranking_softmax(s, torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]))
    assert torch.isfinite(out) and torch.isfinite(_grad(out, s)).all()
    assert out.item() == pytest.approx((2e4 + 2e4 + (1e4 - 5)) / 2)


# ----------------------------------------------------------------------------- shared
@pytest.mark.parametrize("name", ["margin_ranking", "ranking_softmax"])
def test_half_precision_is_computed_in_float32(name: str) -> None:
    gen = torch.Generator().manual_seed(0)
    sample = INFOS[name].samples(gen, torch.float16)[1]
    out = losskit.get_spec(name).function(*sample.args, **sample.kwargs)
    assert out.dtype == torch.float32 and torch.isfinite(out)


def test_modules_store_options_and_forward_extra_inputs() -> None:
    module = module_for("ranking_softmax")(reduction="none")
    s, y = torch.randn(2, 3), torch.rand(2, 3)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    torch.testing.assert_close(module(s, y, mask), ranking_softmax(s, y, mask, reduction="none"))
    assert module.spec.family == "ranking"
    assert module_for("margin_ranking")().spec.family == "ranking"


def test_ranking_losses_live_in_their_own_module() -> None:
    # issue 13: ranking is a family of its own, not part of _embedding
    import losskit.losses._embedding as embedding
    import losskit.losses._ranking as ranking

    assert set(ranking.__all__) == {"margin_ranking", "ranking_softmax"}
    assert not {"margin_ranking", "ranking_softmax"} & set(embedding.__all__)
    for name in ranking.__all__:
        assert losskit.get_spec(name).family == "ranking"


# ----------------------------------------------------------------------------- issue 14
def _margin_ranking_np(s1, s2, y, margin):
    return np.maximum(0.0, -y * (s1 - s2) + margin)


def test_margin_ranking_under_vmap_gives_per_sample_losses() -> None:
    # PyTorch's margin_ranking_loss kernel has no vmap batching rule; the written-out formula has
    gen = torch.Generator().manual_seed(1)
    s1, s2 = (
        torch.randn(3, 5, generator=gen, dtype=D64),
        torch.randn(3, 5, generator=gen, dtype=D64),
    )
    y = (2 * torch.randint(0, 2, (3, 5), generator=gen) - 1).to(D64)
    got = torch.func.vmap(lambda a, b, t: margin_ranking(a, b, t, margin=0.2, reduction="none"))(
        s1, s2, y
    )
    want = _margin_ranking_np(s1.numpy(), s2.numpy(), y.numpy(), 0.2)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    grads = torch.func.vmap(torch.func.grad(lambda a, b, t: margin_ranking(a, b, t, margin=0.2)))(
        s1, s2, y
    )
    active = want > 0  # d/ds1 of the mean over 5 items: -y / 5 where the hinge is active
    np.testing.assert_allclose(grads.numpy(), np.where(active, -y.numpy() / 5, 0.0))


def test_margin_ranking_matches_torch_with_numpy_and_tensor_margins() -> None:
    s1, s2 = torch.randn(6, dtype=D64), torch.randn(6, dtype=D64)
    y = torch.tensor([1.0, -1, 1, -1, 1, -1], dtype=D64)
    want = F.margin_ranking_loss(s1, s2, y, margin=0.3)
    for margin in (0.3, np.float32(0.3), np.float64(0.3), torch.tensor(0.3, dtype=D64)):
        torch.testing.assert_close(margin_ranking(s1, s2, y, margin=margin), want)


@pytest.mark.parametrize("margin", ["0.1", None, [0.1], float("nan"), float("inf"), True])
def test_margin_ranking_refuses_a_bad_margin(margin: object) -> None:
    s = torch.zeros(3)
    with pytest.raises(losskit.LossInputError, match="margin"):
        margin_ranking(s, s, torch.ones(3), margin=margin)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_margin_ranking_non_finite_targets_never_give_a_finite_loss(bad: float) -> None:
    s1, s2 = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])
    y = torch.tensor([bad, 1.0])
    with losskit.checks("off"):
        assert not torch.isfinite(margin_ranking(s1, s2, y))
    with pytest.raises(losskit.LossInputError, match="targets"):
        margin_ranking(s1, s2, y)


def test_scores_of_two_dtypes_promote_and_complex_is_refused() -> None:
    s1, s2 = torch.randn(4, dtype=D64), torch.randn(4)
    y = torch.tensor([1.0, -1.0, 1.0, -1.0])
    out = margin_ranking(s1, s2, y, margin=0.1)
    assert out.dtype == D64
    want = _margin_ranking_np(s1.numpy(), s2.double().numpy(), y.double().numpy(), 0.1).mean()
    assert out.item() == pytest.approx(want, rel=1e-12)
    with pytest.raises(losskit.LossInputError, match="scores1 must be real"):
        margin_ranking(s1.to(torch.complex128), s1.to(torch.complex128), y)
    with pytest.raises(losskit.LossInputError, match="scores must be real"):
        ranking_softmax(torch.zeros(2, 3, dtype=torch.complex64), torch.zeros(2, 3))
    with pytest.raises(losskit.LossInputError, match="relevance must be real"):
        ranking_softmax(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.complex64))


def test_ranking_softmax_under_vmap_gives_per_list_losses() -> None:
    gen = torch.Generator().manual_seed(2)
    s = torch.randn(3, 4, 6, generator=gen, dtype=D64)
    y = (torch.rand(3, 4, 6, generator=gen) > 0.5).to(D64)
    got = torch.func.vmap(lambda a, b: ranking_softmax(a, b, reduction="none"))(s, y)
    x = s.numpy()
    log_sm = x - x.max(-1, keepdims=True)
    log_sm = log_sm - np.log(np.exp(log_sm).sum(-1, keepdims=True))
    np.testing.assert_allclose(got.numpy(), -(y.numpy() * log_sm).sum(-1), rtol=1e-12)
    assert math.isfinite(float(got.sum()))
