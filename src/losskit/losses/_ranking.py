"""Ranking losses: preference pairs and lists of scores.

``margin_ranking`` is PyTorch's pairwise hinge with -1/+1 labels checked (PyTorch takes 0/1
labels and returns a wrong loss without a word) and a mean over nothing that is a
graph-connected 0.0, not NaN; ``ranking_softmax`` (listwise, optax's) has no PyTorch kernel.

Scores of different floating dtypes promote as ``torch.result_type``; float16 and bfloat16 are
computed, and returned, in float32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
    _shapes_on,
    check_floating,
    check_option,
    check_real,
    check_reduction,
    check_same_shape,
    check_tensor,
    ensure_float,
    finish,
    masked_mean,
    native_reduction,
    reads,
    reduce,
)
from losskit._spec import Family, MeanOver, Prop, Space, Targets, register
from losskit._validate import check_sign_targets, check_values
from losskit.losses import _examples as ex

__all__ = ["margin_ranking", "ranking_softmax"]


def _real_floating(name: str, x: Tensor) -> None:
    """Scores: a real floating tensor (complex refused by name, then integers)."""
    check_tensor(name, x)
    check_real(name, x)
    check_floating(name, x)


# ----------------------------------------------------------------------------- pairs
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
    :func:`torch.nn.functional.margin_ranking_loss` (written out: PyTorch's kernel has no vmap
    batching rule). ``"mean"`` averages over every element (``0.0`` over nothing, where PyTorch
    gives NaN).

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
        LossInputError: shapes differ, targets not in {-1, +1}, scores not real floating,
            ``margin`` not a finite number.

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
    margin = check_option("margin", margin)
    _real_floating("scores1", scores1)
    _real_floating("scores2", scores2)
    check_same_shape("scores1", scores1, "scores2", scores2)
    check_same_shape("scores1", scores1, "targets", targets)
    check_sign_targets("targets", targets)
    dtype = torch.promote_types(scores1.dtype, scores2.dtype)
    diff = ensure_float(scores1.to(dtype)) - ensure_float(scores2.to(dtype))
    # torch's max(0, -y (s1 - s2) + margin) with y read as a sign. Labels the check read are -1
    # or +1; unread, a label that is neither (NaN, inf, 0, 2) becomes NaN, never a finite loss.
    y = targets.to(dtype)
    if not reads(targets):
        y = torch.where(y * y == 1, y, float("nan"))
    loss = F.relu(margin - y * diff)
    return finish(reduce(loss, reduction), scores1=scores1, scores2=scores2, targets=targets)


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
        LossInputError: shapes differ, scores not real floating, complex or negative relevance,
            a mask that is not bool.

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
    _real_floating("scores", scores)
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
        if _shapes_on() and mask.dtype != torch.bool:
            raise LossInputError(
                f"mask must be a bool tensor (True for a real item, False for padding), got "
                f"dtype {mask.dtype}; use mask.bool()"
            )
    s = ensure_float(scores)
    y = relevance.to(s.dtype)
    if mask is None and s.dim() <= 2 and s.shape[-1] > 0:
        # no padding: torch's cross-entropy with class-probability targets is this sum,
        # -sum_i y_i log_softmax(s)_i per list, and reduces itself ("mean" over the lists)
        out = F.cross_entropy(s, y, reduction=native_reduction(reduction, s.numel()))
        return finish(
            out, scores=scores, relevance=relevance if relevance.is_floating_point() else None
        )
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
