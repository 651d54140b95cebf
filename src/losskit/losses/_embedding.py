"""Embedding and ranking losses: pairs, triplets and batches of embeddings, lists of scores.

The pairwise losses (``margin_ranking``, ``cosine_embedding``, ``hinge_embedding``) and
``triplet_margin`` call PyTorch's kernels and add what they lack: exact shapes (PyTorch broadcasts
``hinge_embedding_loss`` silently), -1/+1 labels checked (PyTorch takes 0/1 labels and returns a
wrong loss without a word) and a mean over nothing that is a graph-connected 0.0, not NaN.
``contrastive`` (every pair of a batch) and ``ranking_softmax`` (listwise) have no PyTorch kernel
and are written here.

float16 and bfloat16 inputs are computed, and returned, in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_floating,
    check_option,
    check_real,
    check_reduction,
    check_same_shape,
    check_tensor,
    ensure_float,
    finish,
    get_check_mode,
    masked_mean,
    reduce,
)
from losskit._spec import Family, MeanOver, Prop, Space, Targets, register
from losskit._validate import check_embeddings, check_integer, check_sign_targets, check_values
from losskit.losses import _examples as ex

__all__ = [
    "contrastive",
    "cosine_embedding",
    "hinge_embedding",
    "margin_ranking",
    "ranking_softmax",
    "triplet_margin",
]


# ----------------------------------------------------------------------------- helpers
def _same_float(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Both floating tensors in their promoted dtype (float32 for half precision)."""
    dtype = torch.promote_types(a.dtype, b.dtype)
    return ensure_float(a.to(dtype)), ensure_float(b.to(dtype))


# ----------------------------------------------------------------------------- pairwise
@register(
    family=Family.RANKING,
    inputs=Space.SCORES,
    targets=Targets.SIGNS,
    properties={Prop.CONVEX, Prop.NONNEGATIVE},
    metrics=("pairwise_accuracy",),
    aliases=("margin_ranking_loss",),
    example=ex.ranking_pairs,
)
def margin_ranking(
    scores1: Tensor,
    scores2: Tensor,
    targets: Tensor,
    *,
    margin: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Pairwise ranking hinge: ``scores1`` should exceed ``scores2`` by ``margin`` where the target
    is +1, and fall below it where the target is -1.

    ``l_n = max(0, -y_n (scores1_n - scores2_n) + margin)``, as
    :func:`torch.nn.functional.margin_ranking_loss` (whose kernel it calls). ``"mean"`` averages
    over every element (``0.0`` over nothing, where PyTorch gives NaN).

    Input: ``scores1`` and ``scores2``, floating, any shape, the same shape. Target: ``targets``,
    the same shape, -1 or +1 (any real dtype). 0/1 labels are refused: PyTorch accepts them and
    reads 0 as a constant ``margin`` loss.

    When to use:
        Learning to rank from preference pairs, Siamese scoring models.

    Args:
        scores1: scores of the first item of each pair.
        scores2: scores of the second item.
        targets: +1 where ``scores1`` should rank higher, -1 where ``scores2`` should.
        margin: the required gap; 0 is the plain pairwise hinge.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``scores1`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, targets not in {-1, +1}, scores not floating.

    Example:
        >>> import torch, losskit
        >>> s1, s2 = torch.tensor([2.0, 0.5, 1.0]), torch.tensor([1.0, 1.0, 3.0])
        >>> losskit.margin_ranking(s1, s2, torch.tensor([1, 1, -1]), margin=0.5)
        tensor(0.3333)

    References:
        Herbrich, Graepel & Obermayer, Large margin rank boundaries for ordinal regression
        (2000); :class:`torch.nn.MarginRankingLoss`.
    """
    check_reduction(reduction)
    check_option("margin", margin)
    check_floating("scores1", scores1)
    check_floating("scores2", scores2)
    check_same_shape("scores1", scores1, "scores2", scores2)
    check_same_shape("scores1", scores1, "targets", targets)
    check_sign_targets("targets", targets)
    s1, s2 = _same_float(scores1, scores2)
    loss = F.margin_ranking_loss(s1, s2, targets.to(s1.dtype), margin=margin, reduction="none")
    return finish(reduce(loss, reduction), scores1=scores1, scores2=scores2)


@register(
    family=Family.EMBEDDING,
    inputs=Space.EMBEDDINGS,
    targets=Targets.SIGNS,
    properties={Prop.NONNEGATIVE, Prop.BOUNDED},
    metrics=("recall_at_k",),
    aliases=("cosine_embedding_loss",),
    example=ex.cosine_pairs,
)
def cosine_embedding(
    embeddings1: Tensor,
    embeddings2: Tensor,
    targets: Tensor,
    *,
    margin: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Pull similar pairs to cosine 1, push dissimilar pairs below cosine ``margin``.

    ``l_n = 1 - cos(e1_n, e2_n)`` if ``y_n == 1``, ``max(0, cos(e1_n, e2_n) - margin)`` if
    ``y_n == -1``, with ``cos(a, b) = a.b / sqrt((|a|^2 + 1e-12)(|b|^2 + 1e-12))`` over the last
    dimension, as :func:`torch.nn.functional.cosine_embedding_loss` (whose kernel it calls).
    ``"mean"`` averages over pairs (``0.0`` over none).

    Zero embeddings: the 1e-12 PyTorch adds to each squared norm makes the cosine of a zero vector
    0 (loss 1 for a similar pair, ``max(0, -margin)`` for a dissimilar one), with a finite
    gradient. Identical embeddings give a loss of (almost exactly) 0 and a finite gradient.

    Input: ``embeddings1`` and ``embeddings2``, floating, ``(*, D)``, the same shape (PyTorch takes
    only ``(N, D)`` or ``(D,)``). Target: ``targets`` of shape ``(*)``, one -1 or +1 per pair.

    When to use:
        Siamese embeddings compared by angle (text, retrieval) with pair labels.

    Args:
        embeddings1: first embedding of each pair.
        embeddings2: second embedding of each pair.
        targets: +1 for a similar pair, -1 for a dissimilar one.
        margin: in [-1, 1]; dissimilar pairs with a cosine below it cost nothing. 0 to 0.5 is
            usual.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(*)`` (the embeddings' shape without its last dimension) for ``"none"``.

    Raises:
        LossInputError: embeddings of different shapes or not floating, targets of the wrong
            shape or not in {-1, +1}, ``margin`` outside [-1, 1].

    Example:
        >>> import torch, losskit
        >>> e1 = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
        >>> e2 = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        >>> losskit.cosine_embedding(e1, e2, torch.tensor([1, -1]), margin=0.5)
        tensor(0.6036)

    References:
        :class:`torch.nn.CosineEmbeddingLoss`.
    """
    check_reduction(reduction)
    check_option("margin", margin, low=-1.0, high=1.0)
    check_floating("embeddings1", embeddings1)
    check_floating("embeddings2", embeddings2)
    check_same_shape("embeddings1", embeddings1, "embeddings2", embeddings2)
    check_tensor("targets", targets)
    if embeddings1.dim() == 0:
        raise LossInputError(
            "embeddings1 must have an embedding dimension (the last), got a scalar"
        )
    pairs = embeddings1.shape[:-1]
    if get_check_mode() != "off" and targets.shape != pairs:
        hint = "; did you forget `targets.squeeze(-1)`?" if targets.shape == (*pairs, 1) else ""
        raise LossInputError(
            f"targets must have shape {tuple(pairs)}, one label per pair (the shape of "
            f"embeddings1 {tuple(embeddings1.shape)} without its last dimension), got "
            f"{tuple(targets.shape)}{hint}"
        )
    check_sign_targets("targets", targets)
    e1, e2 = _same_float(embeddings1, embeddings2)
    dim = e1.shape[-1]
    # PyTorch's kernel takes (N, D) with (N,): flatten the pair dimensions, then restore them.
    loss = F.cosine_embedding_loss(
        e1.reshape(-1, dim),
        e2.reshape(-1, dim),
        targets.reshape(-1).to(e1.dtype),
        margin=margin,
        reduction="none",
    ).reshape(pairs)
    return finish(reduce(loss, reduction), embeddings1=embeddings1, embeddings2=embeddings2)


@register(
    family=Family.EMBEDDING,
    inputs=Space.VALUES,
    targets=Targets.SIGNS,
    properties={Prop.CONVEX, Prop.NONNEGATIVE},
    aliases=("hinge_embedding_loss",),
    example=ex.sign_values,
)
def hinge_embedding(
    distances: Tensor,
    targets: Tensor,
    *,
    margin: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """Distances of similar pairs pulled to 0, of dissimilar pairs pushed beyond ``margin``.

    ``l_n = x_n`` if ``y_n == 1``, ``max(0, margin - x_n)`` if ``y_n == -1``, as
    :func:`torch.nn.functional.hinge_embedding_loss` (whose kernel it calls). This is a distance
    loss, not the SVM hinge. ``"mean"`` averages over every element (``0.0`` over nothing).

    Input: ``distances``, floating, any shape, >= 0 (checked in full mode: a negative "distance"
    with ``y = 1`` makes the loss unbounded below, and PyTorch takes it silently). Target:
    ``targets``, the same shape (PyTorch broadcasts silently), -1 or +1.

    When to use:
        When a distance per pair is already computed (e.g. L1 between embeddings); not the SVM
        hinge.

    Args:
        distances: a distance per pair, e.g. ``torch.pairwise_distance(a, b, p=1)`` or
            ``1 - torch.cosine_similarity(a, b)``.
        targets: +1 for a similar pair, -1 for a dissimilar one.
        margin: >= 0; dissimilar pairs farther apart than it cost nothing.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``distances`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, targets not in {-1, +1}, negative distances, a negative
            ``margin``.

    Example:
        >>> import torch, losskit
        >>> d = torch.tensor([0.2, 0.3, 1.5])
        >>> losskit.hinge_embedding(d, torch.tensor([1, -1, -1]))
        tensor(0.3000)

    References:
        :class:`torch.nn.HingeEmbeddingLoss`; Mobahi, Collobert & Weston, Deep learning from
        temporal coherence in video (2009).
    """
    check_reduction(reduction)
    check_option("margin", margin, low=0.0)
    check_floating("distances", distances)
    check_same_shape("distances", distances, "targets", targets)
    check_sign_targets("targets", targets)
    check_values(
        "distances",
        distances,
        low=0.0,
        strict=False,
        hint="; hinge_embedding takes distances; for scores that can be negative use "
        "margin_ranking or cosine_embedding",
    )
    x = ensure_float(distances)
    loss = F.hinge_embedding_loss(x, targets.to(x.dtype), margin=margin, reduction="none")
    return finish(reduce(loss, reduction), distances=distances)


# ----------------------------------------------------------------------------- triplets
@register(
    family=Family.EMBEDDING,
    inputs=Space.EMBEDDINGS,
    targets=Targets.EMBEDDINGS,
    properties={Prop.NONNEGATIVE},
    metrics=("recall_at_k",),
    aliases=("triplet_margin_loss", "triplet"),
    example=ex.triplets,
)
def triplet_margin(
    anchors: Tensor,
    positives: Tensor,
    negatives: Tensor,
    *,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """Each anchor should be nearer its positive than its negative, by ``margin``.

    ``l_n = max(0, d(a_n, p_n) - d(a_n, n_n) + margin)`` with ``d(x, y) = ||x - y + eps||_p`` over
    the last dimension, as :func:`torch.nn.functional.triplet_margin_loss` (whose kernel it
    calls). With ``swap``, ``d(a_n, n_n)`` becomes ``min(d(a_n, n_n), d(p_n, n_n))`` (the
    harder of the two distances to the negative; Balntas et al.). ``"mean"`` averages over
    triplets, ``0.0`` over none (PyTorch gives NaN).

    Zero distance: ``eps`` (PyTorch's 1e-6, added to the difference) keeps the distance of
    identical embeddings at ``eps * D ** (1 / p)`` and its gradient finite. With ``eps=0`` the
    distance is exact and its gradient at identical embeddings is the subgradient 0; both are
    finite for every ``p >= 1``.

    Input: ``anchors``, ``positives``, ``negatives``, floating, ``(*, D)``, all the same shape
    (PyTorch broadcasts a ``(1, D)`` among ``(N, D)``; losskit refuses).

    When to use:
        Metric learning with mined triplets (faces, retrieval, local descriptors).

    Args:
        anchors: anchor embeddings.
        positives: embeddings that should be near their anchor.
        negatives: embeddings that should be far from their anchor.
        margin: >= 0, the required gap between the two distances.
        p: the norm degree, >= 1 (``float('inf')`` allowed).
        eps: >= 0, added to each difference before the norm, as PyTorch.
        swap: use the distance from the positive to the negative when it is smaller.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(*)`` (the shape without the embedding dimension) for ``"none"``.

    Raises:
        LossInputError: shapes differ, no embedding dimension, ``p < 1``, a negative ``margin``
            or ``eps``.

    Example:
        >>> import torch, losskit
        >>> a = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
        >>> pos = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
        >>> neg = torch.tensor([[3.0, 4.0], [1.0, 1.5]])
        >>> losskit.triplet_margin(a, pos, neg, eps=0.0)
        tensor(0.2500)

    References:
        Schroff, Kalenichenko & Philbin, FaceNet (2015); Balntas et al., Learning local feature
        descriptors with triplets and shallow convolutional neural networks (BMVC 2016).
    """
    check_reduction(reduction)
    check_option("margin", margin, low=0.0)
    check_option("p", p, low=1.0, finite=False)
    check_option("eps", eps, low=0.0)
    for name, x in (("anchors", anchors), ("positives", positives), ("negatives", negatives)):
        check_floating(name, x)
    check_same_shape("anchors", anchors, "positives", positives)
    check_same_shape("anchors", anchors, "negatives", negatives)
    if anchors.dim() == 0:
        raise LossInputError("anchors must have an embedding dimension (the last), got a scalar")
    dtype = torch.promote_types(
        torch.promote_types(anchors.dtype, positives.dtype), negatives.dtype
    )
    a, pos, neg = (ensure_float(x.to(dtype)) for x in (anchors, positives, negatives))
    loss = F.triplet_margin_loss(
        a, pos, neg, margin=margin, p=p, eps=eps, swap=swap, reduction="none"
    )
    return finish(
        reduce(loss, reduction), anchors=anchors, positives=positives, negatives=negatives
    )


# ----------------------------------------------------------------------------- batch pairs
@register(
    family=Family.EMBEDDING,
    inputs=Space.EMBEDDINGS,
    targets=Targets.GROUPS,
    mean_over=MeanOver.PAIR,
    properties={Prop.NONNEGATIVE},
    metrics=("recall_at_k",),
    example=ex.embeddings_labels,
)
def contrastive(
    embeddings: Tensor,
    labels: Tensor,
    *,
    pos_margin: float = 0.0,
    neg_margin: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """The pair-margin contrastive loss over every pair of a batch: same-label pairs are pulled
    within ``pos_margin``, different-label pairs pushed beyond ``neg_margin``.

    For each pair ``i < j`` with Euclidean distance ``d_ij = ||e_i - e_j||_2``:
    ``l_ij = max(0, d_ij - pos_margin)`` if ``labels_i == labels_j``, else
    ``max(0, neg_margin - d_ij)`` (Hadsell, Chopra & LeCun with PML's two margins; the distance is
    not squared). ``"none"`` returns the ``N (N - 1) / 2`` pair losses in the order of
    ``torch.triu_indices(N, N, 1)`` (row-major upper triangle, as :func:`torch.pdist`);
    ``"mean"`` averages over every pair, ``"sum"`` adds.

    Differences from pytorch-metric-learning's ``ContrastiveLoss``: the embeddings are used as
    given (PML normalises them to unit length by default: pass ``F.normalize(embeddings)`` for
    that), and the mean is over all pairs (PML averages the non-zero positive and the non-zero
    negative pair losses separately, then adds the two).

    Edge cases: a batch with no pair (``N < 2``) gives a graph-connected ``0.0`` for ``"mean"``
    and ``"sum"``; a batch with only positive or only negative pairs is a valid batch. Identical
    embeddings have distance 0 and a finite gradient: the subgradient of the norm at 0 is taken
    as 0, so a positive pair of identical embeddings costs 0 and a negative one costs
    ``neg_margin`` but gets no gradient from that pair (the distance has no direction there).

    Input: ``embeddings``, floating, ``(N, D)``. Target: ``labels``, integer, ``(N,)``; any
    values (equal labels make a positive pair).

    When to use:
        Metric learning from class labels without mining triplets; for NT-Xent / InfoNCE see
        info_nce.

    Args:
        embeddings: one embedding per row.
        labels: a class (identity) per row.
        pos_margin: >= 0; positive pairs closer than it cost nothing.
        neg_margin: >= 0; negative pairs farther apart than it cost nothing.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N (N - 1) / 2,)`` for ``"none"``.

    Raises:
        LossInputError: embeddings not ``(N, D)`` floating, labels not ``(N,)`` integer,
            negative margins.

    Example:
        >>> import torch, losskit
        >>> e = torch.tensor([[0.0, 0.0], [0.0, 0.5], [0.3, 0.4]])
        >>> losskit.contrastive(e, torch.tensor([0, 0, 1]), pos_margin=0.1)
        tensor(0.5279)

    References:
        Hadsell, Chopra & LeCun, Dimensionality reduction by learning an invariant mapping
        (CVPR 2006); pytorch-metric-learning ``ContrastiveLoss(pos_margin, neg_margin)``.
    """
    check_reduction(reduction)
    check_option("pos_margin", pos_margin, low=0.0)
    check_option("neg_margin", neg_margin, low=0.0)
    check_embeddings("embeddings", embeddings)
    check_integer("labels", labels, "class indices (equal labels make a positive pair)")
    if get_check_mode() != "off" and labels.shape != embeddings.shape[:1]:
        hint = (
            "; did you forget `labels.squeeze(-1)`?" if labels.shape == (len(embeddings), 1) else ""
        )
        raise LossInputError(
            f"labels must have shape ({embeddings.shape[0]},), one per row of embeddings "
            f"{tuple(embeddings.shape)}, got {tuple(labels.shape)}{hint}"
        )
    x = ensure_float(embeddings)
    n = x.shape[0]
    # pdist: the exact distance of each pair i < j (no matmul shortcut, so identical rows give
    # exactly 0), and its backward takes the norm's subgradient 0 there instead of 0/0. Its
    # backward crashes on an empty batch (PyTorch 2.13), so no rows gives no pairs directly.
    dist = torch.pdist(x) if n else x.sum(dim=1)
    i, j = torch.triu_indices(n, n, 1, device=x.device)
    positive = labels[i] == labels[j]
    loss = torch.where(positive, F.relu(dist - pos_margin), F.relu(neg_margin - dist))
    return finish(reduce(loss, reduction), embeddings=embeddings)


# ----------------------------------------------------------------------------- lists
@register(
    family=Family.RANKING,
    inputs=Space.SCORES,
    targets=Targets.RELEVANCE,
    mean_over=MeanOver.LIST,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE},
    metrics=("ndcg", "mrr"),
    aliases=("ranking_softmax_loss", "listwise_softmax"),
    example=ex.ranking_lists,
)
def ranking_softmax(
    scores: Tensor,
    relevance: Tensor,
    mask: Tensor | None = None,
    *,
    reduction: str = "mean",
) -> Tensor:
    """Listwise softmax cross-entropy: the softmax of the scores of a list should put its mass on
    the relevant items.

    ``l_b = -sum_i y_bi log softmax(s_b)_i`` over the last dimension (a list of items), as optax's
    ``ranking_softmax_loss``: relevance is used as given, not normalised (graded relevance 2
    weighs twice relevance 1). Items where ``mask`` is False are padding: they leave the softmax
    and the sum. ``"mean"`` averages over the lists that have at least one valid item (every
    list when ``mask`` is None), as optax; ``"sum"`` adds.

    Edge cases: a list whose relevance is all 0 has loss 0 (and counts in the mean, as optax);
    a list with no valid item has loss 0 and does not count; when no list counts the mean is a
    graph-connected ``0.0``.

    Input: ``scores``, floating, ``(*, L)``. Target: ``relevance``, the same shape, >= 0 (integer,
    float or bool). ``mask``: optional bool, the same shape, True for a real item.

    When to use:
        Learning to rank lists (search, recommendation) with binary or graded relevance.

    Args:
        scores: a score per item; the loss applies the log-softmax over the last dimension.
        relevance: the relevance label of each item (0 for irrelevant). For optax's ``weights``,
            pass ``relevance * weights``.
        mask: which items exist (padding is False); None means all do.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(*)`` (one loss per list) for ``"none"``.

    Raises:
        LossInputError: shapes differ, negative relevance, a mask that is not bool.

    Example:
        >>> import torch, losskit
        >>> scores = torch.tensor([[2.0, 1.0, 0.0], [1.0, 0.5, 1.5]])
        >>> relevance = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        >>> mask = torch.tensor([[True, True, False], [True, True, True]])
        >>> losskit.ranking_softmax(scores, relevance, mask)
        tensor(0.4968)

    References:
        Cao et al., Learning to rank: from pairwise approach to listwise approach (ICML 2007);
        Bruch et al., An analysis of the softmax cross entropy loss for learning-to-rank with
        binary relevance (ICTIR 2019); optax ``ranking_softmax_loss``.
    """
    check_reduction(reduction)
    check_floating("scores", scores)
    check_same_shape("scores", scores, "relevance", relevance)
    if scores.dim() == 0:
        raise LossInputError("scores must have a list dimension (the last), got a scalar")
    check_real("relevance", relevance)
    check_values(
        "relevance",
        relevance,
        low=0.0,
        strict=False,
        hint="; relevance labels are 0 (irrelevant) or positive grades",
    )
    if mask is not None:
        check_same_shape("scores", scores, "mask", mask)
        if get_check_mode() != "off" and mask.dtype != torch.bool:
            raise LossInputError(
                f"mask must be a bool tensor (True for a real item, False for padding), got "
                f"dtype {mask.dtype}; use mask.bool()"
            )
    s = ensure_float(scores)
    y = relevance.to(s.dtype)
    if mask is not None:
        y = torch.where(mask, y, 0.0)
        # padding leaves the softmax: the most negative finite score has exp(s - lse) == 0
        # exactly, and unlike -inf a list of padding only gives -log(L), never NaN.
        s = torch.where(mask, s, torch.finfo(s.dtype).min)
    loss = -(y * torch.log_softmax(s, dim=-1)).sum(dim=-1)
    if reduction == "mean" and mask is not None:
        counted = mask.any(dim=-1)
        out = masked_mean(loss.sum(), counted.sum().to(loss.dtype))
    else:
        out = reduce(loss, reduction)
    return finish(
        out, scores=scores, relevance=relevance if relevance.is_floating_point() else None
    )


# ----------------------------------------------------------------------------- registry
_SIGNED = "+1 / -1 labels, same shape"
