"""Edge cases of the embedding and ranking losses that the generic suites do not reach: zero
distances, identical embeddings, batches without pairs, masked lists, hand-checked values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import losskit
import tests.infos  # noqa: F401  (fills INFOS)
from losskit.losses._embedding import (
    contrastive,
    cosine_embedding,
    hinge_embedding,
    margin_ranking,
    ranking_softmax,
    triplet_margin,
)
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


def test_cosine_embedding_of_zero_vectors_is_finite() -> None:
    zero = torch.zeros(2, 3, dtype=D64, requires_grad=True)
    other = torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]], dtype=D64)
    y = torch.tensor([1, -1])
    out = cosine_embedding(zero, other, y, margin=-0.25, reduction="none")
    # cos(0, b) = 0: similar pair 1 - 0, dissimilar pair max(0, 0 + 0.25)
    torch.testing.assert_close(out, torch.tensor([1.0, 0.25], dtype=D64))
    assert torch.isfinite(_grad(out.sum(), zero)).all()


def test_cosine_embedding_of_identical_embeddings_is_zero_with_finite_gradient() -> None:
    e = torch.randn(4, 5, dtype=D64, requires_grad=True)
    out = cosine_embedding(e, e.detach().clone(), torch.ones(4))
    assert abs(out.item()) < 1e-12
    assert torch.isfinite(_grad(out, e)).all()


def test_cosine_embedding_unbatched_and_extra_dims_match_torch() -> None:
    a, b = torch.randn(3, 2, 6, dtype=D64), torch.randn(3, 2, 6, dtype=D64)
    y = torch.tensor([[1, -1], [-1, -1], [1, 1]])
    got = cosine_embedding(a, b, y, margin=0.1, reduction="none")
    assert got.shape == (3, 2)
    want = F.cosine_embedding_loss(
        a.reshape(6, 6), b.reshape(6, 6), y.reshape(6), margin=0.1, reduction="none"
    )
    torch.testing.assert_close(got.reshape(6), want)
    one = cosine_embedding(a[0, 0], b[0, 0], torch.tensor(1), reduction="none")
    assert one.shape == ()
    torch.testing.assert_close(
        one, F.cosine_embedding_loss(a[0, 0], b[0, 0], torch.tensor(1), reduction="none")
    )


def test_hinge_embedding_hand_values_and_no_broadcast() -> None:
    d = torch.tensor([0.2, 0.3, 1.5])
    out = hinge_embedding(d, torch.tensor([1, -1, -1]), reduction="none")
    torch.testing.assert_close(out, torch.tensor([0.2, 0.7, 0.0]))
    # torch broadcasts (3, 1) against (3,) to (3, 3) without a word; losskit refuses
    assert F.hinge_embedding_loss(
        d[:, None], torch.tensor([1, -1, -1]), reduction="none"
    ).shape == (3, 3)
    with pytest.raises(losskit.LossInputError, match=r"broadcast to \(3, 3\)"):
        hinge_embedding(d[:, None], torch.tensor([1, -1, -1]))


# ----------------------------------------------------------------------------- triplets
@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("eps", [1e-6, 0.0])
def test_triplet_identical_anchor_and_positive_has_finite_gradient(p: float, eps: float) -> None:
    a = torch.randn(4, 3, dtype=D64, requires_grad=True)
    neg = torch.randn(4, 3, dtype=D64)
    out = triplet_margin(a, a.detach().clone(), neg, margin=10.0, p=p, eps=eps)
    g = _grad(out, a)
    assert torch.isfinite(out) and torch.isfinite(g).all()
    if eps == 0.0:  # exact distance: 0, with the subgradient 0, so only the negative pulls
        d_neg = torch.linalg.vector_norm(a - neg, ord=p, dim=-1)
        torch.testing.assert_close(out, (10.0 - d_neg).mean())
        torch.testing.assert_close(g, _grad((10.0 - d_neg).mean(), a))


def test_triplet_default_eps_matches_torch_at_identical_embeddings() -> None:
    a, neg = torch.randn(5, 4), torch.randn(5, 4)
    got = triplet_margin(a, a.detach().clone(), neg, reduction="none")
    want = F.triplet_margin_loss(a, a.detach().clone(), neg, reduction="none")
    torch.testing.assert_close(got, want)


def test_triplet_swap_takes_the_harder_negative() -> None:
    a = torch.tensor([[0.0, 0.0]], dtype=D64)
    pos = torch.tensor([[3.0, 0.0]], dtype=D64)
    neg = torch.tensor([[4.0, 0.0]], dtype=D64)  # d(a, n) = 4 but d(p, n) = 1
    plain = triplet_margin(a, pos, neg, margin=1.0, eps=0.0)
    swapped = triplet_margin(a, pos, neg, margin=1.0, eps=0.0, swap=True)
    assert plain.item() == pytest.approx(0.0) and swapped.item() == pytest.approx(3.0)


def test_triplet_unbatched_and_empty() -> None:
    a, pos, neg = torch.randn(3, 6).unbind(0)
    got = triplet_margin(a, pos, neg, reduction="none")
    assert got.shape == ()
    torch.testing.assert_close(got, F.triplet_margin_loss(a, pos, neg, reduction="none"))
    empty = torch.zeros(0, 6, requires_grad=True)
    out = triplet_margin(empty, empty, empty)
    assert out.item() == 0.0 and out.grad_fn is not None  # torch gives NaN


# ----------------------------------------------------------------------------- contrastive
def test_contrastive_pairs_in_triu_order_and_mean_over_pairs() -> None:
    e = torch.tensor([[0.0, 0.0], [0.0, 0.5], [0.3, 0.4], [3.0, 4.0]], dtype=D64)
    y = torch.tensor([0, 0, 1, 1])
    none = contrastive(e, y, pos_margin=0.1, neg_margin=1.0, reduction="none")
    # pairs (0,1)+ d=.5, (0,2)- d=.5, (0,3)- d=5, (1,2)- d=sqrt(.1), (1,3)- d=sqrt(9 + 12.25),
    # (2,3)+ d=sqrt(7.29 + 12.96) = 4.5
    want = torch.tensor([0.4, 0.5, 0.0, 1 - math.sqrt(0.1), 0.0, math.sqrt(20.25) - 0.1], dtype=D64)
    torch.testing.assert_close(none, want)
    torch.testing.assert_close(contrastive(e, y, pos_margin=0.1), none.mean())
    torch.testing.assert_close(contrastive(e, y, pos_margin=0.1, reduction="sum"), none.sum())


@pytest.mark.parametrize("n", [0, 1])
def test_contrastive_without_pairs_is_a_connected_zero(n: int) -> None:
    e = torch.randn(n, 3, requires_grad=True)
    y = torch.zeros(n, dtype=torch.long)
    assert contrastive(e, y, reduction="none").shape == (0,)
    for reduction in ("mean", "sum"):
        out = contrastive(e, y, reduction=reduction)
        assert out.item() == 0.0 and out.grad_fn is not None
        assert torch.count_nonzero(_grad(out, e)) == 0


def test_contrastive_identical_embeddings_have_finite_gradients() -> None:
    e = torch.tensor(
        [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [1.0, 2.5]], dtype=D64, requires_grad=True
    )
    y = torch.tensor([0, 0, 1, 1])
    none = contrastive(e, y, neg_margin=1.0, reduction="none")
    # identical positive pair (0,1): 0; identical negative pairs (0,2), (1,2): the margin
    assert none[0].item() == 0.0 and none[1].item() == 1.0 and none[3].item() == 1.0
    g = _grad(none.sum(), e)
    assert torch.isfinite(g).all()
    # the identical pairs contribute no direction: row 0's gradient comes from pair (0, 3) only,
    # -(e0 - e3) / |e0 - e3| = (0, 1)
    torch.testing.assert_close(g[0], torch.tensor([0.0, 1.0], dtype=D64))


def test_contrastive_single_class_and_all_distinct_labels() -> None:
    e = torch.randn(5, 3, dtype=D64)
    same = contrastive(e, torch.zeros(5, dtype=torch.long), reduction="none")
    torch.testing.assert_close(same, torch.pdist(e))  # pos_margin 0: the distances themselves
    distinct = contrastive(e, torch.arange(5), reduction="none")
    torch.testing.assert_close(distinct, torch.relu(1.0 - torch.pdist(e)))


def test_contrastive_is_invariant_to_row_order() -> None:
    e, y = torch.randn(7, 4, dtype=D64), torch.tensor([0, 1, 0, 2, 1, 0, 2])
    perm = torch.randperm(7)
    torch.testing.assert_close(contrastive(e[perm], y[perm]), contrastive(e, y))


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
@pytest.mark.parametrize(
    "name",
    [
        "margin_ranking",
        "cosine_embedding",
        "hinge_embedding",
        "triplet_margin",
        "contrastive",
        "ranking_softmax",
    ],
)
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
    triplet = module_for("triplet_margin")(margin=0.5, p=1.0, swap=True)
    assert "swap=True" in repr(triplet) and triplet.spec.family == "embedding"
    assert module_for("margin_ranking")().spec.family == "ranking"
