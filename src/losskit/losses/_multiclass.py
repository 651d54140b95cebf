"""Multiclass losses: ``logits`` of shape ``(N, C, *extra)`` (or ``(C,)``), integer ``labels`` of
shape ``(N, *extra)`` (or ``()``); the class axis is dim 1 (dim 0 for a single example).

Every loss here that takes integer labels accepts ``ignore_index`` (default -100, as torch)
except :func:`multi_margin`, which matches :func:`torch.nn.functional.multi_margin_loss`.
Ignored items contribute 0 to ``"none"`` and ``"sum"``, and ``"mean"`` divides by the number of
non-ignored items (by the sum of their class weights where a ``weight`` is given); a mean over
nothing is a graph-connected ``0.0``. Half-precision logits are computed in float32 and the
result is returned in the dtype of the logits.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_class_logits,
    check_labels,
    check_log_probs,
    check_option,
    check_reduction,
    check_same_shape,
    check_tensor,
    class_dim,
    class_scores,
    ensure_float,
    finish,
    get_check_mode,
    masked_mean,
    reduce,
)
from losskit._spec import Activation, Decode, Family, MeanOver, Prop, Space, Targets, register
from losskit._validate import distribution_inputs
from losskit.losses import _examples as ex

__all__ = [
    "cross_entropy",
    "generalized_cross_entropy",
    "logit_adjusted_cross_entropy",
    "multi_margin",
    "multiclass_hinge",
    "nll",
    "poly1_cross_entropy",
    "soft_cross_entropy",
    "softmax_focal",
    "sparsemax_loss",
    "z_loss",
]


def class_inputs(
    name: str,
    scores: Tensor,
    labels: Tensor,
    *,
    weight: Tensor | None,
    ignore_index: int | None,
    kernel_bounds: bool = False,
) -> int:
    """Shared checks of every loss over class scores with integer labels. Returns C.

    ``kernel_bounds``: the loss calls a PyTorch kernel that bounds-checks the labels itself on
    CPU (``nll_loss``, ``cross_entropy``) inside :func:`labels_explained`; there the range is
    not read twice: a failure of the kernel is explained after the fact. On other devices (a
    CUDA device-side assert cannot be caught) the range is checked first, as for every loss."""
    check_tensor("labels", labels)
    num_classes = check_class_logits(name, scores, "labels", labels)
    read = not (kernel_bounds and labels.device.type == "cpu")
    check_labels("labels", labels, num_classes, ignore_index=ignore_index, read=read)
    if weight is not None and tuple(weight.shape) != (num_classes,):
        raise LossInputError(
            f"weight must have shape ({num_classes},), one value per class, got "
            f"{tuple(weight.shape)}; for per-example weights use reduction='none' and weight "
            "the result yourself"
        )
    return num_classes


@contextlib.contextmanager
def labels_explained(labels: Tensor, num_classes: int, ignore_index: int | None) -> Iterator[None]:
    """Around a kernel that bounds-checks labels (see ``class_inputs(kernel_bounds=True)``): its
    error becomes losskit's message naming the values, the likely cause and the fix. In
    ``"shapes"`` and ``"off"`` modes the kernel's own error passes unchanged."""
    try:
        yield
    except (IndexError, RuntimeError):
        try:
            check_labels("labels", labels, num_classes, ignore_index=ignore_index)
        except LossInputError as clear:
            raise clear from None  # the kernel's error says less; do not chain it
        raise


def kernel_loss(
    kernel: Callable[..., Tensor],
    scores: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    normalizer: float | Tensor | None = None,
    **options: Any,
) -> Tensor:
    """``kernel`` (``F.cross_entropy`` or ``F.nll_loss``) with losskit's ``"mean"`` (the sum
    over :func:`class_weighted_mean`: ``0.0`` over nothing) and its label errors explained
    (:func:`labels_explained`; use with ``class_inputs(kernel_bounds=True)``)."""
    labels = labels.long()
    with labels_explained(labels, num_classes, ignore_index):
        out = kernel(
            scores,
            labels,
            weight=weight,
            ignore_index=ignore_index,
            reduction="sum" if reduction == "mean" else reduction,
            **options,
        )
        if reduction != "mean":
            return out
        return class_weighted_mean(
            out, labels, weight=weight, ignore_index=ignore_index, normalizer=normalizer
        )


def class_weighted_mean(
    total: Tensor,
    labels: Tensor,
    *,
    weight: Tensor | None,
    ignore_index: int | None,
    normalizer: float | Tensor | None = None,
) -> Tensor:
    """``total`` divided by the number of non-ignored labels, or by the sum of their class
    weights when ``weight`` is given (PyTorch's denominator); ``0.0`` when that is zero. A given
    ``normalizer`` (a global count under DDP or gradient accumulation) replaces the local one."""
    if normalizer is not None:
        return masked_mean(
            total, torch.as_tensor(normalizer, dtype=total.dtype, device=total.device)
        )
    valid = (
        labels != ignore_index
        if ignore_index is not None
        else torch.ones_like(labels, dtype=torch.bool)
    )
    if weight is None:
        denom = valid.sum().to(total.dtype)
    else:
        # weight[labels] with ignored labels pointed at class 0, then zeroed by the mask.
        denom = (weight[torch.where(valid, labels, 0)] * valid).sum().to(total.dtype)
    return masked_mean(total, denom)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.WEIGHTED_ITEM,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.PROPER, Prop.CALIBRATED},
    metrics=("accuracy", "top_k_accuracy"),
    aliases=("ce", "softmax_cross_entropy", "categorical_cross_entropy"),
    example=ex.class_logits,
)
def cross_entropy(
    logits: Tensor,
    labels: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    normalizer: float | Tensor | None = None,
) -> Tensor:
    """Softmax cross-entropy with integer class labels.

    ``l_n = -w_{y_n} log softmax(logits_n)[y_n]`` (via log-sum-exp), and with
    ``label_smoothing = e``: ``(1 - e) l_n + e * (-sum_c w_c log softmax(logits_n)[c]) / C``.
    ``"mean"`` divides the sum by the number of non-ignored items, or, with ``weight``, by
    ``sum_n w_{y_n}`` over non-ignored items (PyTorch's weighted mean: **not**
    ``reduction='none'`` followed by ``.mean()``). Items whose label is ``ignore_index``
    contribute 0. A mean over nothing (an empty batch, every label ignored) is ``0.0``, where
    PyTorch gives NaN.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, floating, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, int64/int32, in ``[0, C)`` or ``ignore_index``. Class
    probabilities are not accepted here (PyTorch infers them from the dtype; losskit asks for
    ``soft_cross_entropy``).

    When to use:
        The default for single-label classification with C >= 2 classes.

    Args:
        logits: raw class scores; the loss applies log-softmax over dim 1.
        labels: class indices.
        weight: ``(C,)`` class weights.
        ignore_index: label value that is skipped.
        label_smoothing: in [0, 1]; mass moved uniformly over the C classes.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.
        normalizer: with ``reduction="mean"``, divide the summed loss by this instead of the
            local count (or weight sum): e.g. ``losskit.distributed.normalizer(count)`` under DDP
            or gradient accumulation (Hugging Face's ``num_items_in_batch``); 0 gives 0.0.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class; a weight
            that is not ``(C,)``; ``label_smoothing`` outside [0, 1].

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.cross_entropy(logits, torch.tensor([0, 2]))
        tensor(0.1755)
    """
    check_reduction(reduction)
    if normalizer is not None and reduction != "mean":
        raise LossInputError(
            f"normalizer applies to reduction='mean' only, got reduction={reduction!r}"
        )
    check_option("label_smoothing", label_smoothing, low=0.0, high=1.0)
    num_classes = class_inputs(
        "logits", logits, labels, weight=weight, ignore_index=ignore_index, kernel_bounds=True
    )
    out = kernel_loss(
        F.cross_entropy,
        logits,
        labels,
        num_classes,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        normalizer=normalizer,
        label_smoothing=label_smoothing,
    )
    return finish(out, logits=logits, weight=weight)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOG_PROBS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.EXP,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.WEIGHTED_ITEM,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.PROPER},
    metrics=("accuracy",),
    aliases=("nll_loss", "negative_log_likelihood"),
    example=ex.class_log_probs,
)
def nll(
    log_probs: Tensor,
    labels: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    normalizer: float | Tensor | None = None,
) -> Tensor:
    """Negative log-likelihood of integer labels under given log-probabilities.

    ``l_n = -w_{y_n} log_probs_n[y_n]``; ``"mean"`` as :func:`cross_entropy` (sum of the weights
    of non-ignored items; ``0.0`` over nothing). ``nll(log_softmax(x), y) == cross_entropy(x, y)``.

    Input: ``log_probs`` ``(N, C, *extra)`` or ``(C,)``, values <= 0 (checked in full mode: logits
    given by mistake are refused). Target: ``labels`` as for :func:`cross_entropy`.

    When to use:
        When the model ends in log_softmax; otherwise use cross_entropy on logits.

    Args:
        log_probs: log-probabilities over dim 1, e.g. ``torch.log_softmax(x, 1)``.
        labels: class indices.
        weight: ``(C,)`` class weights.
        ignore_index: label value that is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.
        normalizer: with ``reduction="mean"``, divide the summed loss by this instead of the
            local count (or weight sum): e.g. ``losskit.distributed.normalizer(count)`` under DDP
            or gradient accumulation (Hugging Face's ``num_items_in_batch``); 0 gives 0.0.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: as :func:`cross_entropy`, and positive ``log_probs``.

    Example:
        >>> import torch, losskit
        >>> log_probs = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
        >>> losskit.nll(log_probs, torch.tensor([0, 2]))
        tensor(0.2899)
    """
    check_reduction(reduction)
    if normalizer is not None and reduction != "mean":
        raise LossInputError(
            f"normalizer applies to reduction='mean' only, got reduction={reduction!r}"
        )
    num_classes = class_inputs(
        "log_probs", log_probs, labels, weight=weight, ignore_index=ignore_index, kernel_bounds=True
    )
    check_log_probs("log_probs", log_probs)
    out = kernel_loss(
        F.nll_loss,
        log_probs,
        labels,
        num_classes,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        normalizer=normalizer,
    )
    return finish(out, log_probs=log_probs, weight=weight)


def _label_terms(
    logits: Tensor, labels: Tensor, ignore_index: int
) -> tuple[Tensor, Tensor, Tensor]:
    """``(log p_y, log(1 - p_y), valid)`` per item, where ``p = softmax(logits)`` over the class
    dim and ``valid`` marks labels that are not ``ignore_index`` (ignored items read class 0;
    the caller zeroes them)."""
    dim = class_dim(logits)
    valid = labels != ignore_index
    index = torch.where(valid, labels, 0).long().unsqueeze(dim)
    lse = torch.logsumexp(logits, dim)
    log_p = logits.gather(dim, index).squeeze(dim) - lse
    # log(1 - p_y) = logsumexp over the *other* classes - logsumexp over all: exact and finite
    # where p_y rounds to 1 (log1p(-exp(log p_y)) is log(0) = -inf there, and its gradient NaN).
    others = logits.scatter(dim, index, float("-inf"))
    log_1mp = torch.logsumexp(others, dim) - lse
    return log_p, log_1mp, valid


def _reduce_items(
    loss: Tensor,
    labels: Tensor,
    valid: Tensor,
    reduction: str,
    *,
    ignore_index: int,
    weight: Tensor | None = None,
) -> Tensor:
    """Zero the ignored items, then reduce: ``"mean"`` over non-ignored items (weighted by
    ``weight[labels]`` when given, which ``loss`` must already include)."""
    loss = torch.where(valid, loss, loss.new_zeros(()))
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return class_weighted_mean(total, labels, weight=weight, ignore_index=ignore_index)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_PROBS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ROW,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.PROPER},
    metrics=("accuracy",),
    aliases=("soft_target_cross_entropy", "categorical_cross_entropy_soft"),
    example=ex.class_probs,
)
def soft_cross_entropy(logits: Tensor, target_probs: Tensor, *, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy against class probabilities (soft or one-hot targets).

    ``l_n = -sum_c q_nc log softmax(logits_n)[c]`` over the class dim (via log-sum-exp), where
    ``q = target_probs``. With one-hot targets it equals :func:`cross_entropy` on their argmax;
    label-smoothed or distilled targets go here. This is
    :func:`torch.nn.functional.cross_entropy` with probability targets (which torch picks by
    the dtype and shape of the target; losskit asks for this function by name, and checks that
    the targets are distributions). ``"mean"`` averages over the items ``(N, *extra)``. It
    differs from :func:`kl_div` of the same distributions by the entropy of ``q``, a constant.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, floating, C >= 2. Target:
    ``target_probs``, the same shape, each slice over dim 1 in [0, 1] and summing to 1
    (checked in full mode).

    When to use:
        Targets that are distributions: label smoothing done by hand, mixup, distillation
        targets; one-hot targets give cross_entropy.

    Args:
        logits: raw class scores; the loss applies log-softmax over dim 1.
        target_probs: class probabilities over dim 1.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, a single class, targets that are not distributions over
            dim 1 (negative, above 1, or not summing to 1).

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> target_probs = torch.tensor([[0.8, 0.1, 0.1], [0.0, 0.0, 1.0]])
        >>> losskit.soft_cross_entropy(logits, target_probs)
        tensor(0.4005)
    """
    check_reduction(reduction)
    class_scores("logits", logits)
    check_same_shape("logits", logits, "target_probs", target_probs)
    distribution_inputs("target_probs", target_probs, log=False)
    x = ensure_float(logits)
    loss = F.cross_entropy(x, target_probs.to(x.dtype), reduction="none")
    return finish(
        reduce(loss, reduction).to(logits.dtype), logits=logits, target_probs=target_probs
    )


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.WEIGHTED_ITEM,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.CALIBRATED},
    metrics=("accuracy",),
    aliases=("softmax_focal_loss", "multiclass_focal"),
    example=ex.class_logits,
)
def softmax_focal(
    logits: Tensor,
    labels: Tensor,
    *,
    gamma: float = 2.0,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Multiclass focal loss: cross-entropy down-weighted on well-classified items.

    ``l_n = -w_{y_n} (1 - p_{n,y_n})^gamma log p_{n,y_n}`` with ``p = softmax(logits_n)``,
    computed in log space: ``(1 - p_y)^gamma = exp(gamma * log(1 - p_y))`` where
    ``log(1 - p_y) = logsumexp_{c != y} x_c - logsumexp_c x_c``, exact and finite even where
    ``p_y`` rounds to 1, so the gradient stays finite for any ``gamma >= 0`` (fastai and
    kornia use ``exp(-ce)`` for ``p_t``, which loses ``1 - p_t`` to rounding for confident
    items; fastai also puts the class weight inside that ``exp``). ``weight`` plays the role of
    the paper's per-class ``alpha``. ``"mean"`` divides by the sum of ``w_{y_n}`` over
    non-ignored items, as :func:`cross_entropy`, so ``gamma = 0`` equals :func:`cross_entropy`
    for every reduction.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, floating, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        Class imbalance with many easy examples (dense prediction); gamma = 0 is cross_entropy.

    Args:
        logits: raw class scores.
        labels: class indices.
        gamma: focusing parameter >= 0 (2, as in the paper).
        weight: ``(C,)`` class weights.
        ignore_index: label value that is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class; a weight
            that is not ``(C,)``; ``gamma < 0``.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.softmax_focal(logits, torch.tensor([0, 1]))
        tensor(1.3061)

    References:
        Lin, Goyal, Girshick, He & Dollar, Focal Loss for Dense Object Detection (ICCV 2017).
    """
    check_reduction(reduction)
    check_option("gamma", gamma, low=0.0)
    class_inputs("logits", logits, labels, weight=weight, ignore_index=ignore_index)
    x = ensure_float(logits)
    log_p, log_1mp, valid = _label_terms(x, labels, ignore_index)
    loss = -log_p if gamma == 0 else -torch.exp(gamma * log_1mp) * log_p
    w = None if weight is None else weight.to(x.dtype)
    if w is not None:
        loss = loss * w[torch.where(valid, labels, 0).long()]
    out = _reduce_items(loss, labels, valid, reduction, ignore_index=ignore_index, weight=w)
    return finish(out.to(logits.dtype), logits=logits, weight=weight)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE},
    metrics=("accuracy",),
    aliases=("poly1", "poly_loss"),
    example=ex.class_logits,
)
def poly1_cross_entropy(
    logits: Tensor,
    labels: Tensor,
    *,
    epsilon: float = 1.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Poly-1 loss: cross-entropy plus ``epsilon`` times ``1 - p_y``.

    ``l_n = -log p_{n,y_n} + epsilon (1 - p_{n,y_n})`` with ``p = softmax(logits_n)``: the
    first term of CE's Taylor expansion in ``1 - p_y`` re-weighted (optax's
    ``poly_loss_cross_entropy`` with one-hot labels). ``1 - p_y`` is computed as
    ``exp(logsumexp_{c != y} x_c - logsumexp_c x_c)``, exact where ``p_y`` is close to 1.
    ``epsilon = 0`` is :func:`cross_entropy`; ``epsilon >= -1`` keeps the loss non-negative
    (``-log p >= 1 - p``), so smaller values are refused. ``"mean"`` averages over non-ignored
    items.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        A drop-in replacement for cross-entropy; epsilon > 0 pushes confident items further
        (often helps on ImageNet-scale classification).

    Args:
        logits: raw class scores.
        labels: class indices.
        epsilon: weight of the ``1 - p_y`` term, >= -1 (1, as in the paper's Poly-1).
        ignore_index: label value that is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class;
            ``epsilon < -1``.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.poly1_cross_entropy(logits, torch.tensor([0, 1]))
        tensor(2.1554)

    References:
        Leng et al., PolyLoss: A Polynomial Expansion Perspective of Classification Loss
        Functions (ICLR 2022).
    """
    check_reduction(reduction)
    check_option("epsilon", epsilon, low=-1.0)
    class_inputs("logits", logits, labels, weight=None, ignore_index=ignore_index)
    x = ensure_float(logits)
    log_p, log_1mp, valid = _label_terms(x, labels, ignore_index)
    loss = -log_p + epsilon * torch.exp(log_1mp)
    out = _reduce_items(loss, labels, valid, reduction, ignore_index=ignore_index)
    return finish(out.to(logits.dtype), logits=logits)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.CONVEX, Prop.NONNEGATIVE},
    metrics=("accuracy",),
    aliases=("crammer_singer", "categorical_hinge"),
    example=ex.class_logits,
)
def multiclass_hinge(
    logits: Tensor,
    labels: Tensor,
    *,
    margin: float = 1.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Crammer-Singer multiclass hinge: the margin of the label over the *strongest* rival.

    ``l_n = max(0, margin + max_{c != y_n} x_nc - x_{n,y_n})``: zero once the label's score
    beats every other class by ``margin``. This is optax's ``multiclass_hinge_loss``, Keras's
    ``CategoricalHinge`` and sklearn's multiclass ``hinge_loss``. PyTorch's
    ``MultiMarginLoss`` is a *different* loss under a similar name (Weston-Watkins: the sum over
    every rival, divided by C): that one is :func:`multi_margin`. ``"mean"`` averages over
    non-ignored items. At ties (the kink) the gradient is shared equally among the tied
    classes.

    Input: ``logits`` (scores) ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        Multiclass SVMs; scores are not probabilities. Not torch's MultiMarginLoss (that is
        multi_margin).

    Args:
        logits: raw class scores.
        labels: class indices.
        margin: required gap between the label's score and every other, >= 0.
        ignore_index: label value that is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class;
            ``margin < 0``.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.multiclass_hinge(logits, torch.tensor([0, 1]))
        tensor(1.9000)

    References:
        Crammer & Singer, On the Algorithmic Implementation of Multiclass Kernel-based Vector
        Machines (JMLR 2001).
    """
    check_reduction(reduction)
    check_option("margin", margin, low=0.0)
    class_inputs("logits", logits, labels, weight=None, ignore_index=ignore_index)
    x = ensure_float(logits)
    dim = class_dim(x)
    valid = labels != ignore_index
    index = torch.where(valid, labels, 0).long().unsqueeze(dim)
    x_y = x.gather(dim, index)
    # max over c of (x_c + margin [c != y]) - x_y; the c = y term is 0, so this is >= 0
    rivals = (x + margin).scatter(dim, index, x_y)
    loss = (rivals.amax(dim, keepdim=True) - x_y).squeeze(dim)
    out = _reduce_items(loss, labels, valid, reduction, ignore_index=ignore_index)
    return finish(out.to(logits.dtype), logits=logits)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ROW,
    properties={Prop.CONVEX, Prop.NONNEGATIVE},
    metrics=("accuracy",),
    aliases=("multi_margin_loss", "weston_watkins"),
    example=ex.class_logits,
)
def multi_margin(
    logits: Tensor,
    labels: Tensor,
    *,
    p: int = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Weston-Watkins multiclass hinge, as :func:`torch.nn.functional.multi_margin_loss`.

    ``l_n = sum_{c != y_n} w_{y_n} max(0, margin - x_{n,y_n} + x_nc)^p / C``: every rival
    within ``margin`` of the label's score adds to the loss, and the sum is divided by the
    number of classes C (torch's convention). Compare :func:`multiclass_hinge`
    (Crammer-Singer), which looks only at the strongest rival. torch's kernel computes it;
    losskit adds class dims beyond 1 (``(N, C, *extra)``, moved last and flattened), half
    precision (computed in float32), and a sum over an empty batch that is exactly 0 (torch
    2.13's ``reduction="sum"`` returns uninitialised memory there). ``"mean"`` divides by the
    number of items, **not** by the sum of the weights (unlike :func:`cross_entropy`; as torch).
    No ``ignore_index``, as torch.

    Input: ``logits`` (scores) ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)``.

    When to use:
        Multiclass SVMs; compatibility with torch.nn.MultiMarginLoss.

    Args:
        logits: raw class scores.
        labels: class indices.
        p: 1 (hinge) or 2 (squared hinge).
        margin: required gap, >= 0.
        weight: ``(C,)`` class weights, applied by the label's class.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class; a weight
            that is not ``(C,)``; ``p`` not 1 or 2; ``margin < 0``.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.multi_margin(logits, torch.tensor([0, 1]))
        tensor(0.7833)

    References:
        Weston & Watkins, Support Vector Machines for Multi-Class Pattern Recognition (ESANN
        1999).
    """
    check_reduction(reduction)
    if p not in (1, 2):
        raise LossInputError(f"p must be 1 or 2 (as torch's multi_margin_loss), got {p!r}")
    check_option("margin", margin, low=0.0)
    num_classes = class_inputs("logits", logits, labels, weight=weight, ignore_index=None)
    x = ensure_float(logits)
    flat = x if x.dim() == 1 else x.movedim(1, -1).reshape(-1, num_classes)  # (N * extra, C)
    w = None if weight is None else weight.to(x.dtype)
    loss = F.multi_margin_loss(
        flat, labels.reshape(flat.shape[:-1]).long(), p=p, margin=margin, weight=w, reduction="none"
    ).reshape(labels.shape)
    return finish(reduce(loss, reduction).to(logits.dtype), logits=logits, weight=weight)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.BOUNDED},
    metrics=("accuracy",),
    aliases=("gce", "lq_loss"),
    example=ex.class_logits,
)
def generalized_cross_entropy(
    logits: Tensor,
    labels: Tensor,
    *,
    q: float = 0.7,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Generalized cross-entropy (the Lq loss), robust to noisy labels.

    ``l_n = (1 - p_{n,y_n}^q) / q`` with ``p = softmax(logits_n)``, computed as
    ``-expm1(q log p_y) / q``. ``q -> 0`` is cross-entropy (``q = 0`` is accepted and gives
    :func:`cross_entropy` exactly); ``q = 1`` is the mean absolute error ``1 - p_y``, bounded and
    robust but slow to train; the paper's default ``q = 0.7`` sits between. Bounded by ``1/q``,
    so a mislabelled item pulls with bounded force. Keras's
    ``CategoricalGeneralizedCrossEntropy`` takes probabilities; this one takes logits.
    ``"mean"`` averages over non-ignored items.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        Noisy labels: bounded by 1/q, so mislabelled items pull with bounded force.

    Args:
        logits: raw class scores.
        labels: class indices.
        q: in [0, 1].
        ignore_index: label value that is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class; ``q``
            outside [0, 1].

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.generalized_cross_entropy(logits, torch.tensor([0, 1]))
        tensor(0.7321)

    References:
        Zhang & Sabuncu, Generalized Cross Entropy Loss for Training Deep Neural Networks with
        Noisy Labels (NeurIPS 2018).
    """
    check_reduction(reduction)
    check_option("q", q, low=0.0, high=1.0)
    class_inputs("logits", logits, labels, weight=None, ignore_index=ignore_index)
    x = ensure_float(logits)
    log_p, _, valid = _label_terms(x, labels, ignore_index)
    loss = -log_p if q == 0 else -torch.expm1(q * log_p) / q
    out = _reduce_items(loss, labels, valid, reduction, ignore_index=ignore_index)
    return finish(out.to(logits.dtype), logits=logits)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE},
    metrics=("accuracy", "balanced_accuracy"),
    aliases=("logit_adjusted_ce", "logit_adjustment"),
    example=ex.class_priors,
)
def logit_adjusted_cross_entropy(
    logits: Tensor,
    labels: Tensor,
    *,
    class_priors: Tensor,
    tau: float = 1.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Logit-adjusted cross-entropy for long-tailed labels: CE on ``logits + tau log(priors)``.

    ``l_n = -log softmax(logits_n + tau log pi)[y_n]``, with ``pi = class_priors`` along the
    class dim. During training rare classes get a handicap, so the model learns larger margins
    for them; at test time use the raw ``logits`` (argmax), which then estimate the balanced
    error's Bayes classifier. Adding a constant to every logit does not change a softmax, so
    ``class_priors`` may be class counts as well as frequencies. ``tau = 0`` is
    :func:`cross_entropy`. Computed by torch's cross-entropy kernel; ``"mean"`` averages over
    non-ignored items.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        Long-tailed (imbalanced) classification when the balanced error matters; predict with
        the raw logits.

    Args:
        logits: raw class scores.
        labels: class indices.
        class_priors: ``(C,)`` positive class frequencies or counts (a buffer in the Module).
        tau: scale of the adjustment, >= 0 (1, as in the paper).
        ignore_index: label value that is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class;
            ``class_priors`` not ``(C,)``, or not positive and finite; ``tau < 0``.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> priors = torch.tensor([0.7, 0.2, 0.1])
        >>> losskit.logit_adjusted_cross_entropy(logits, torch.tensor([0, 1]), class_priors=priors)
        tensor(1.2926)

    References:
        Menon et al., Long-tail Learning via Logit Adjustment (ICLR 2021).
    """
    check_reduction(reduction)
    check_option("tau", tau, low=0.0)
    num_classes = class_inputs(
        "logits", logits, labels, weight=None, ignore_index=ignore_index, kernel_bounds=True
    )
    if not isinstance(class_priors, Tensor) or tuple(class_priors.shape) != (num_classes,):
        got = tuple(class_priors.shape) if isinstance(class_priors, Tensor) else class_priors
        raise LossInputError(
            f"class_priors must be a tensor of shape ({num_classes},), one frequency or count "
            f"per class, got {got}"
        )
    if get_check_mode() in ("full", "debug"):
        lo, hi = (float(v) for v in torch.aminmax(class_priors.detach()))
        if not (lo > 0 and math.isfinite(hi)):  # NaN fails both
            raise LossInputError(
                f"class_priors must be positive and finite, got values in [{lo:g}, {hi:g}]; a "
                "class with no examples? add 1 to every count"
            )
    x = ensure_float(logits)
    shape = (num_classes,) + (1,) * (x.dim() - 2) if x.dim() > 1 else (num_classes,)
    adjusted = x + tau * torch.log(class_priors.to(x.dtype)).reshape(shape)  # (N, C, *extra)
    out = kernel_loss(
        F.cross_entropy,
        adjusted,
        labels,
        num_classes,
        weight=None,
        ignore_index=ignore_index,
        reduction=reduction,
    )
    return finish(out.to(logits.dtype), logits=logits, class_priors=class_priors)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.NONE,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE},
    aliases=("softmax_z_loss",),
    example=ex.class_logits,
)
def z_loss(
    logits: Tensor,
    labels: Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """The z-loss: the squared log-normaliser ``logsumexp(logits)^2`` of a softmax.

    ``l_n = (logsumexp_c x_nc)^2``. An auxiliary term that keeps the softmax normaliser
    ``log Z`` near 0, so large softmax layers (language-model heads) do not drift into
    float32/bfloat16 ranges where they lose precision; add it with a small coefficient:
    ``cross_entropy(x, y) + 1e-4 * z_loss(x, y)`` (PaLM's 1e-4). The softmax itself is unchanged
    by it. ``labels`` are optional and used only to skip ``ignore_index`` positions (padding),
    so the two terms average over the same items. ``"mean"`` averages over the (non-ignored)
    items.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: none; ``labels``
    ``(N, *extra)`` or ``()`` only mark ignored items (integer, in ``[0, C)`` or
    ``ignore_index``).

    When to use:
        Add 1e-4 * z_loss to the cross-entropy of large softmax layers (language models, MoE
        routers) to keep logits from drifting.

    Args:
        logits: raw class scores.
        labels: optional class indices; only ``labels == ignore_index`` is used.
        ignore_index: label value whose items are skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: a single class; labels of the wrong shape, dtype or range.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.z_loss(logits)
        tensor(7.3465)

    References:
        Chowdhery et al., PaLM: Scaling Language Modeling with Pathways (2022), section 5;
        Zoph et al., ST-MoE (2022) for the router z-loss.
    """
    check_reduction(reduction)
    x = ensure_float(logits)
    if labels is None:
        class_scores("logits", logits)
        out = reduce(torch.logsumexp(x, class_dim(x)).square(), reduction)
    else:
        class_inputs("logits", logits, labels, weight=None, ignore_index=ignore_index)
        loss = torch.logsumexp(x, class_dim(x)).square()
        valid = labels != ignore_index
        out = _reduce_items(loss, labels, valid, reduction, ignore_index=ignore_index)
    return finish(out.to(logits.dtype), logits=logits)


def _sparsemax_threshold(z: Tensor, dim: int) -> Tensor:
    """``tau`` with ``sum_c max(z_c - tau, 0) = 1`` over ``dim`` (keepdim), by sorting:
    the support is the ``k`` largest scores with ``1 + k z_(k) > sum_{j <= k} z_(j)``."""
    z_sorted, _ = torch.sort(z, dim=dim, descending=True)
    cumsum = z_sorted.cumsum(dim)
    shape = [1] * z.dim()
    shape[dim] = z.shape[dim]
    k = torch.arange(1, z.shape[dim] + 1, dtype=z.dtype, device=z.device).reshape(shape)
    support = (1 + k * z_sorted > cumsum).sum(dim, keepdim=True)  # >= 1
    return (cumsum.gather(dim, support - 1) - 1) / support.to(z.dtype)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.CALIBRATED},
    metrics=("accuracy",),
    aliases=("multiclass_sparsemax", "multiclass_sparsemax_loss"),
    example=ex.class_logits,
)
def sparsemax_loss(
    logits: Tensor, labels: Tensor, *, ignore_index: int = -100, reduction: str = "mean"
) -> Tensor:
    """Sparsemax loss: the Fenchel-Young loss of sparsemax, whose probabilities can be exactly 0.

    ``l_n = 1/2 sum_{c in S} (z_c^2 - tau^2) + 1/2 - z_y``, where ``sparsemax(z) =
    max(z - tau, 0)`` is the Euclidean projection of the scores onto the simplex and ``S`` its
    support. Its gradient is ``sparsemax(z) - onehot(y)``, as softmax cross-entropy's is
    ``softmax(z) - onehot(y)``; it is zero once the label's score beats every other by 1.
    Computed on ``z = logits - max(logits)`` (the loss is unchanged by a shift; this keeps the
    squares small). This is optax's ``multiclass_sparsemax_loss``. The Module's ``activation``
    is the identity: apply sparsemax yourself for probabilities (the argmax decode is the same).
    ``"mean"`` averages over non-ignored items.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        When sparse output distributions are wanted (attention, interpretable multiclass);
        gradient sparsemax(z) - onehot(y).

    Args:
        logits: raw class scores.
        labels: class indices.
        ignore_index: label value that is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.sparsemax_loss(logits, torch.tensor([0, 1]))
        tensor(1.4000)

    References:
        Martins & Astudillo, From Softmax to Sparsemax (ICML 2016); Blondel, Martins & Niculae,
        Learning with Fenchel-Young Losses (JMLR 2020).
    """
    check_reduction(reduction)
    class_inputs("logits", logits, labels, weight=None, ignore_index=ignore_index)
    x = ensure_float(logits)
    dim = class_dim(x)
    z = x - x.detach().amax(dim, keepdim=True)  # the loss is shift-invariant: exact
    tau = _sparsemax_threshold(z, dim)
    probs = F.relu(z - tau)
    valid = labels != ignore_index
    z_y = z.gather(dim, torch.where(valid, labels, 0).long().unsqueeze(dim)).squeeze(dim)
    # (z_c - tau)(z_c + tau) = z_c^2 - tau^2 on the support, 0 off it
    loss = 0.5 * (probs * (z + tau)).sum(dim) + 0.5 - z_y
    out = _reduce_items(loss, labels, valid, reduction, ignore_index=ignore_index)
    return finish(out.to(logits.dtype), logits=logits)
