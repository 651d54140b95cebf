"""Embedding losses: pairs, triplets and batches of embeddings.

``cosine_embedding``, ``hinge_embedding`` and ``triplet_margin`` compute PyTorch's formulas
(:class:`torch.nn.CosineEmbeddingLoss`, ``HingeEmbeddingLoss``, ``TripletMarginLoss``) in a few
elementwise operations, and add what PyTorch lacks: exact shapes (PyTorch broadcasts
``hinge_embedding_loss`` silently), -1/+1 labels checked (PyTorch takes 0/1 labels and returns a
wrong loss without a word; unchecked, a label that is neither gives NaN here), ``margin=0`` for
triplets, NaN and infinity never turned into a finite loss, a vmap batching rule (the
elementwise operations have one, PyTorch's fused kernels not), and a mean over nothing that is a
graph-connected 0.0, not NaN. ``contrastive`` (every pair of a batch) has no PyTorch kernel.
The ranking losses live in :mod:`losskit.losses._ranking`.

Inputs of different floating dtypes promote as ``torch.result_type``; float16 and bfloat16 are
computed, and returned, in float32.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
    _shapes_on,
    check_bool,
    check_floating,
    check_option,
    check_real,
    check_reduction,
    check_same_shape,
    check_tensor,
    ensure_float,
    finish,
    reads,
    reduce,
)
from losskit._spec import Family, MeanOver, Prop, Space, Targets, register
from losskit._validate import check_embeddings, check_integer, check_sign_targets, check_values
from losskit.losses import _examples as ex

__all__ = ["contrastive", "cosine_embedding", "hinge_embedding", "triplet_margin"]

_NAN = float("nan")


# ----------------------------------------------------------------------------- helpers
def _real_floating(name: str, x: Tensor) -> None:
    """Predictions: a real floating tensor (complex refused by name, then integers)."""
    check_tensor(name, x)
    check_real(name, x)
    check_floating(name, x)


def _compute(*xs: Tensor) -> tuple[Tensor, ...]:
    """The tensors in their promoted dtype (``torch.result_type``; float32 for half
    precision)."""
    dtype = xs[0].dtype
    for x in xs[1:]:
        if x.dtype != dtype:
            dtype = torch.promote_types(dtype, x.dtype)
    if dtype in (torch.float16, torch.bfloat16):
        dtype = torch.float32
    return tuple(x if x.dtype == dtype else x.to(dtype) for x in xs)


class _Cosine(torch.autograd.Function):
    """PyTorch's cosine over the last dim, ``s12 / sqrt(s11 s22)`` with ``s12 = a.b``,
    ``s11 = |a|^2 + 1e-12`` and ``s22 = |b|^2 + 1e-12``, with the closed-form gradients
    ``g (b / r - cos a / s11)`` (a) and ``g (a / r - cos b / s22)`` (b), ``r = sqrt(s11 s22)``:
    autograd through the three products and sums would keep and replay three full-size
    products. The per-row sums are returned (not differentiable) for the backward; a second
    derivative rebuilds them from the inputs with torch ops. A NaN or infinity in a row makes
    its cosine NaN, as PyTorch's."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        s12 = torch.linalg.vecdot(a, b)  # no full-size product kept
        s11 = torch.linalg.vector_norm(a, dim=-1).square_().add_(1e-12)
        s22 = torch.linalg.vector_norm(b, dim=-1).square_().add_(1e-12)
        return s12 / (s11 * s22).sqrt_(), s11, s22

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        cos, s11, s22 = output
        ctx.mark_non_differentiable(s11, s22)
        ctx.set_materialize_grads(False)  # no zero tensors for the gradients of s11 and s22
        ctx.save_for_backward(*inputs, cos, s11, s22)

    @staticmethod
    def backward(ctx: Any, grad: Tensor | None, *_: Tensor) -> tuple[Tensor | None, ...]:
        a, b, cos, s11, s22 = ctx.saved_tensors
        if grad is None:  # the cosine took no part in what is differentiated
            return None, None
        if torch.is_grad_enabled():  # a second derivative: rebuild from the inputs
            s11 = (a * a).sum(-1) + 1e-12
            s22 = (b * b).sum(-1) + 1e-12
            cos = (a * b).sum(-1) / (s11 * s22).sqrt()
        g_r = (grad / (s11 * s22).sqrt()).unsqueeze(-1)  # g / r
        g_cos = (grad * cos).unsqueeze(-1)
        grad_a = grad_b = None
        for i, (x, y, s) in enumerate(((a, b, s11), (b, a, s22))):
            if not ctx.needs_input_grad[i]:
                continue
            if torch.is_grad_enabled():
                grad_x = y * g_r - x * (g_cos / s.unsqueeze(-1))
            else:  # first order only: one new full-size tensor, updated in place
                grad_x = torch.mul(y, g_r).addcmul_(x, g_cos / s.unsqueeze(-1), value=-1)
            if i == 0:
                grad_a = grad_x
            else:
                grad_b = grad_x
        return grad_a, grad_b


# the size from which cosine_embedding takes _Cosine: below it the Function's fixed cost per
# call is more than the full-size products it saves
_COSINE_FUNCTION_MIN = 1 << 15


def _by_sign(targets: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
    """``positive`` where the target is +1, ``negative`` where it is -1, NaN elsewhere: a NaN,
    an infinite or (unchecked) any other label never becomes a finite loss."""
    return torch.where(targets == 1, positive, torch.where(targets == -1, negative, _NAN))


# ----------------------------------------------------------------------------- pairs
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
    dimension, as :func:`torch.nn.functional.cosine_embedding_loss`.
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
        LossInputError: embeddings of different shapes or not real floating, targets of the
            wrong shape or not in {-1, +1}, ``margin`` not a number in [-1, 1].

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
    margin = check_option("margin", margin, low=-1.0, high=1.0)
    _real_floating("embeddings1", embeddings1)
    _real_floating("embeddings2", embeddings2)
    check_same_shape("embeddings1", embeddings1, "embeddings2", embeddings2)
    check_tensor("targets", targets)
    if embeddings1.dim() == 0:
        raise LossInputError(
            "embeddings1 must have an embedding dimension (the last), got a scalar"
        )
    pairs = embeddings1.shape[:-1]
    if _shapes_on() and targets.shape != pairs:
        hint = "; did you forget `targets.squeeze(-1)`?" if targets.shape == (*pairs, 1) else ""
        raise LossInputError(
            f"targets must have shape {tuple(pairs)}, one label per pair (the shape of "
            f"embeddings1 {tuple(embeddings1.shape)} without its last dimension), got "
            f"{tuple(targets.shape)}{hint}"
        )
    check_sign_targets("targets", targets)
    e1, e2 = _compute(embeddings1, embeddings2)
    # PyTorch's cosine: 1e-12 added to each squared norm, then the square root of the product
    if e1.numel() >= _COSINE_FUNCTION_MIN:
        cos = _Cosine.apply(e1, e2)[0]  # type: ignore[no-untyped-call]
    else:  # the same formula through autograd (a static shape test)
        eps = 1e-12
        cos = (e1 * e2).sum(-1) / ((e1 * e1).sum(-1).add(eps) * (e2 * e2).sum(-1).add(eps)).sqrt()
    if reads(targets):  # the check has read every label: each is -1 or +1
        loss = torch.where(targets == 1, 1 - cos, F.relu(cos - margin))
    else:
        loss = _by_sign(targets, 1 - cos, F.relu(cos - margin))
    return finish(
        reduce(loss, reduction),
        embeddings1=embeddings1,
        embeddings2=embeddings2,
        targets=targets,
    )


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
    :func:`torch.nn.functional.hinge_embedding_loss`. This is a distance
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
        LossInputError: shapes differ, distances not real floating, targets not in {-1, +1},
            negative distances, ``margin`` not a finite number >= 0.

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
    margin = check_option("margin", margin, low=0.0)
    _real_floating("distances", distances)
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
    (x,) = _compute(distances)
    if reads(targets):  # the check has read every label: each is -1 or +1
        loss = torch.where(targets == 1, x, F.relu(margin - x))
    else:
        loss = _by_sign(targets, x, F.relu(margin - x))
    return finish(reduce(loss, reduction), distances=distances, targets=targets)


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
    the last dimension, as :func:`torch.nn.functional.triplet_margin_loss` (where PyTorch refuses
    ``margin=0``, it is the plain triplet hinge here). With ``swap``, ``d(a_n, n_n)`` becomes ``min(d(a_n, n_n), d(p_n, n_n))`` (the
    harder of the two distances to the negative; Balntas et al.). ``"mean"`` averages over
    triplets, ``0.0`` over none (PyTorch gives NaN).

    Zero distance: ``eps`` (PyTorch's 1e-6, added to the difference) keeps the distance of
    identical embeddings at ``eps * D ** (1 / p)`` and its gradient finite. With ``eps=0`` the
    distance is exact and its gradient at identical embeddings is the subgradient 0; both are
    finite for every ``p >= 1``.

    Input: ``anchors``, ``positives``, ``negatives``, floating, ``(*, D)``, all the same shape
    (PyTorch broadcasts a ``(1, D)`` among ``(N, D)``; losskit refuses). An infinite positive or
    negative gives a non-finite loss (PyTorch gives 0 for an infinitely far negative).

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
        LossInputError: shapes differ, not real floating, no embedding dimension, ``p`` not a
            number >= 1 (``inf`` allowed), ``margin`` or ``eps`` not a finite number >= 0,
            ``swap`` not a bool.

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
    margin = check_option("margin", margin, low=0.0)
    p = check_option("p", p, low=1.0, finite=False)
    eps = check_option("eps", eps, low=0.0)
    swap = check_bool("swap", swap)
    for name, x in (("anchors", anchors), ("positives", positives), ("negatives", negatives)):
        _real_floating(name, x)
    check_same_shape("anchors", anchors, "positives", positives)
    check_same_shape("anchors", anchors, "negatives", negatives)
    if anchors.dim() == 0:
        raise LossInputError("anchors must have an embedding dimension (the last), got a scalar")
    a, pos, neg = _compute(anchors, positives, negatives)

    # ||x - y + eps||_p over the last dimension; the norm's backward takes the subgradient 0 at
    # a zero difference
    d_pos = torch.pairwise_distance(a, pos, p, eps)
    d_neg = torch.pairwise_distance(a, neg, p, eps)
    if swap:
        d_neg = torch.minimum(d_neg, torch.pairwise_distance(pos, neg, p, eps))
    gap = d_pos - d_neg + margin
    # max(0, gap) as gap * (gap > 0), so that a gap of -inf (an infinite negative) stays
    # non-finite (-inf * 0 is NaN): relu would turn it into a finite 0
    loss = gap * (gap > 0)
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
        LossInputError: embeddings not ``(N, D)`` real floating, labels not ``(N,)`` integer,
            margins not finite numbers >= 0.

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
    pos_margin = check_option("pos_margin", pos_margin, low=0.0)
    neg_margin = check_option("neg_margin", neg_margin, low=0.0)
    check_tensor("embeddings", embeddings)
    check_real("embeddings", embeddings)
    check_embeddings("embeddings", embeddings)
    check_integer("labels", labels, "class indices (equal labels make a positive pair)")
    if _shapes_on() and labels.shape != embeddings.shape[:1]:
        hint = (
            "; did you forget `labels.squeeze(-1)`?" if labels.shape == (len(embeddings), 1) else ""
        )
        raise LossInputError(
            f"labels must have shape ({embeddings.shape[0]},), one per row of embeddings "
            f"{tuple(embeddings.shape)}, got {tuple(labels.shape)}{hint}"
        )
    x = ensure_float(embeddings)
    n = x.shape[0]
    i, j = torch.triu_indices(n, n, 1, device=x.device)
    dist = _pair_distances(x, i, j)
    positive = labels[i] == labels[j]
    loss = torch.where(positive, F.relu(dist - pos_margin), F.relu(neg_margin - dist))
    return finish(reduce(loss, reduction), embeddings=embeddings)


def _pair_distances(x: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """The exact Euclidean distance of each pair ``(i, j)`` of rows (no matmul shortcut, so
    identical rows give exactly 0, and the backward takes the norm's subgradient 0 there instead
    of 0/0). Eagerly and compiled :func:`torch.pdist` (a fraction of the work of the full
    matrix); inside a torch.func transform (vmap, grad), where pdist has no batching rule, the
    same distances from ``torch.cdist`` without the matmul form."""
    if torch._C._functorch.peek_interpreter_stack() is not None:
        full = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")
        return full[i, j]
    # pdist's backward crashes on an empty batch (PyTorch 2.13): no rows gives no pairs directly
    return torch.pdist(x) if x.shape[0] else x.sum(dim=1)
