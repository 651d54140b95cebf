"""Edge cases of the embedding losses that the generic suites do not reach: zero distances,
identical embeddings, batches without pairs, hand-checked values, options, non-finite input,
dtypes and vmap, each against a reference written here (float64 NumPy) or torch's own loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
import tests.infos  # noqa: F401  (fills INFOS)
from losskit.losses._embedding import (
    contrastive,
    cosine_embedding,
    hinge_embedding,
    triplet_margin,
)
from losskit.nn import module_for
from tests.lossinfo import INFOS

D64 = torch.float64


def _grad(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(out, x)
    return g


# ----------------------------------------------------------------------------- pairs
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


# ----------------------------------------------------------------------------- shared
@pytest.mark.parametrize(
    "name",
    ["cosine_embedding", "hinge_embedding", "triplet_margin", "contrastive"],
)
def test_half_precision_is_computed_in_float32(name: str) -> None:
    gen = torch.Generator().manual_seed(0)
    sample = INFOS[name].samples(gen, torch.float16)[1]
    out = losskit.get_spec(name).function(*sample.args, **sample.kwargs)
    assert out.dtype == torch.float32 and torch.isfinite(out)


def test_modules_store_options() -> None:
    triplet = module_for("triplet_margin")(margin=0.5, p=1.0, swap=True)
    assert "swap=True" in repr(triplet) and triplet.spec.family == "embedding"


# ----------------------------------------------------------------------------- issue 14
def _triplet_np(a, p, n, margin, eps=1e-6):
    d_ap = np.sqrt(((a - p + eps) ** 2).sum(-1))
    d_an = np.sqrt(((a - n + eps) ** 2).sum(-1))
    return np.maximum(0.0, d_ap - d_an + margin)


@pytest.mark.parametrize("margin", [0, 0.0, np.float32(0.0)])
def test_triplet_margin_zero_works(margin: object) -> None:
    # documented margin >= 0, but torch's kernel raised ValueError at 0
    gen = torch.Generator().manual_seed(0)
    a, p, n = (torch.randn(6, 3, generator=gen, dtype=D64) for _ in range(3))
    out = triplet_margin(a, p, n, margin=margin, reduction="none")  # type: ignore[arg-type]
    want = _triplet_np(a.numpy(), p.numpy(), n.numpy(), 0.0)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-15)


def test_triplet_with_an_infinite_negative_is_never_finite() -> None:
    a, p = torch.zeros(2, 3), torch.ones(2, 3)
    n = torch.ones(2, 3)
    n[0, 0] = math.inf
    with losskit.checks("off"):
        assert not torch.isfinite(triplet_margin(a, p, n))
    with pytest.raises(losskit.LossInputError, match="negatives"):
        triplet_margin(a, p, n)


@pytest.mark.parametrize(
    ("option", "bad"),
    [
        ("margin", "1"),
        ("margin", None),
        ("margin", -0.5),
        ("margin", math.inf),
        ("p", math.nan),
        ("p", 0.5),
        ("p", "2"),
        ("eps", -1e-6),
        ("eps", [1e-6]),
        ("swap", 1),
        ("swap", "yes"),
    ],
)
def test_triplet_options_are_validated_by_name(option: str, bad: object) -> None:
    x = torch.randn(2, 3)
    with pytest.raises(losskit.LossInputError, match=option):
        triplet_margin(x, x, x, **{option: bad})


def test_triplet_p_inf_and_numpy_options_match_torch() -> None:
    gen = torch.Generator().manual_seed(1)
    a, p, n = (torch.randn(5, 4, generator=gen, dtype=D64) for _ in range(3))
    for p_norm in (1.0, np.float64(3.0), math.inf):
        want = F.triplet_margin_loss(a, p, n, margin=0.7, p=float(p_norm), swap=True)
        got = triplet_margin(a, p, n, margin=np.float32(0.7), p=p_norm, swap=np.bool_(True))
        torch.testing.assert_close(got, want.to(D64), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_sign_targets_never_give_a_finite_loss(bad: float) -> None:
    e1, e2 = torch.randn(3, 4), torch.randn(3, 4)
    y = torch.tensor([bad, 1.0, -1.0])
    d = torch.tensor([0.5, 0.2, 2.0])
    with losskit.checks("off"):
        assert not torch.isfinite(cosine_embedding(e1, e2, y))
        assert not torch.isfinite(hinge_embedding(d, y))
    with pytest.raises(losskit.LossInputError, match="targets"):
        cosine_embedding(e1, e2, y)
    with pytest.raises(losskit.LossInputError, match="targets"):
        hinge_embedding(d, y)


def test_cosine_and_hinge_match_torch_under_vmap() -> None:
    gen = torch.Generator().manual_seed(2)
    e1, e2 = (
        torch.randn(3, 5, 4, generator=gen, dtype=D64),
        torch.randn(3, 5, 4, generator=gen, dtype=D64),
    )
    y = (2 * torch.randint(0, 2, (3, 5), generator=gen) - 1).to(D64)
    got = torch.func.vmap(lambda a, b, t: cosine_embedding(a, b, t, margin=0.1, reduction="none"))(
        e1, e2, y
    )
    want = torch.stack(
        [
            F.cosine_embedding_loss(e1[i], e2[i], y[i], margin=0.1, reduction="none")
            for i in range(3)
        ]
    )
    torch.testing.assert_close(got, want)
    d = e1.abs().sum(-1)
    got = torch.func.vmap(lambda x, t: hinge_embedding(x, t, margin=2.0, reduction="none"))(d, y)
    torch.testing.assert_close(got, F.hinge_embedding_loss(d, y, margin=2.0, reduction="none"))


def test_triplet_and_contrastive_under_vmap_match_numpy() -> None:
    gen = torch.Generator().manual_seed(3)
    a, p, n = (torch.randn(3, 4, 2, generator=gen, dtype=D64) for _ in range(3))
    got = torch.func.vmap(lambda x, y, z: triplet_margin(x, y, z, reduction="none"))(a, p, n)
    np.testing.assert_allclose(got.numpy(), _triplet_np(a.numpy(), p.numpy(), n.numpy(), 1.0))
    e = torch.randn(3, 5, 2, generator=gen, dtype=D64)
    e[0, 1] = e[0, 0]  # identical rows: distance 0, subgradient 0
    labels = torch.tensor([[0, 0, 1, 1, 2], [0, 1, 0, 1, 0], [3, 3, 3, 3, 3]])
    got = torch.func.vmap(lambda x, y: contrastive(x, y, neg_margin=2.0, reduction="none"))(
        e, labels
    )
    for b in range(3):
        x, y = e[b].numpy(), labels[b].numpy()
        i, j = np.triu_indices(5, 1)
        dist = np.sqrt(((x[i] - x[j]) ** 2).sum(-1))
        want = np.where(y[i] == y[j], dist, np.maximum(0.0, 2.0 - dist))
        np.testing.assert_allclose(got[b].numpy(), want, rtol=1e-12)
    grads = torch.func.vmap(torch.func.grad(lambda x, y: contrastive(x, y)))(e, labels)
    assert torch.isfinite(grads).all()
    for b in range(3):
        eb = e[b].clone().requires_grad_()
        torch.testing.assert_close(grads[b], _grad(contrastive(eb, labels[b]), eb))


def test_embeddings_of_two_dtypes_promote_and_complex_is_refused() -> None:
    gen = torch.Generator().manual_seed(4)
    a, p, n = (torch.randn(4, 3, generator=gen, dtype=D64) for _ in range(3))
    out = triplet_margin(a.float(), p, n, eps=0.0, reduction="none")
    assert out.dtype == D64
    want = _triplet_np(a.float().double().numpy(), p.numpy(), n.numpy(), 1.0, eps=0.0)
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-12)
    assert cosine_embedding(a.float(), p, torch.ones(4)).dtype == D64
    z = a.to(torch.complex128)
    with pytest.raises(losskit.LossInputError, match="anchors must be real"):
        triplet_margin(z, z, z)
    with pytest.raises(losskit.LossInputError, match="embeddings1 must be real"):
        cosine_embedding(z, z, torch.ones(4))
    with pytest.raises(losskit.LossInputError, match="distances must be real"):
        hinge_embedding(z[:, 0], torch.ones(4))
    with pytest.raises(losskit.LossInputError, match="embeddings must be real"):
        contrastive(z, torch.tensor([0, 0, 1, 1]))


@pytest.mark.parametrize("bad", ["0.5", None, [0.5], math.nan, math.inf, -0.1])
def test_margins_are_validated_by_name(bad: object) -> None:
    e, y = torch.randn(4, 2), torch.tensor([0, 0, 1, 1])
    for option in ("pos_margin", "neg_margin"):
        with pytest.raises(losskit.LossInputError, match=option):
            contrastive(e, y, **{option: bad})
    with pytest.raises(losskit.LossInputError, match="margin"):
        hinge_embedding(torch.ones(2), torch.ones(2), margin=bad)  # type: ignore[arg-type]
    with pytest.raises(losskit.LossInputError, match="margin"):
        # cosine margins lie in [-1, 1]: -0.1 is valid there, 1.5 is not
        cosine_embedding(e, e, torch.ones(4), margin=1.5 if bad == -0.1 else bad)  # type: ignore[arg-type]
