"""Multiclass losses: ``logits`` of shape ``(N, C, *extra)`` (or ``(C,)``), integer ``labels`` of
shape ``(N, *extra)`` (or ``()``)."""

from __future__ import annotations

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
    finish,
    masked_mean,
)
from losskit._spec import LossSpec, register

__all__ = ["class_inputs", "class_weighted_mean", "cross_entropy", "nll"]


def class_inputs(
    name: str, scores: Tensor, labels: Tensor, *, weight: Tensor | None, ignore_index: int | None
) -> int:
    """Shared checks of every loss over class scores with integer labels. Returns C."""
    if not isinstance(labels, Tensor):
        raise LossInputError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    num_classes = check_class_logits(name, scores, "labels", labels)
    check_labels("labels", labels, num_classes, ignore_index=ignore_index)
    if weight is not None and tuple(weight.shape) != (num_classes,):
        raise LossInputError(
            f"weight must have shape ({num_classes},), one value per class, got "
            f"{tuple(weight.shape)}; for per-example weights use reduction='none' and weight "
            "the result yourself"
        )
    return num_classes


def class_weighted_mean(
    total: Tensor, labels: Tensor, *, weight: Tensor | None, ignore_index: int | None
) -> Tensor:
    """``total`` divided by the number of non-ignored labels, or by the sum of their class
    weights when ``weight`` is given (PyTorch's denominator); ``0.0`` when that is zero."""
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


def cross_entropy(
    logits: Tensor,
    labels: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
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

    Args:
        logits: raw class scores; the loss applies log-softmax over dim 1.
        labels: class indices.
        weight: ``(C,)`` class weights.
        ignore_index: label value that is skipped.
        label_smoothing: in [0, 1]; mass moved uniformly over the C classes.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

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
    check_option("label_smoothing", label_smoothing, low=0.0, high=1.0)
    class_inputs("logits", logits, labels, weight=weight, ignore_index=ignore_index)
    labels = labels.long()
    if reduction != "mean":
        out = F.cross_entropy(
            logits,
            labels,
            weight=weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )
    else:
        total = F.cross_entropy(
            logits,
            labels,
            weight=weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            reduction="sum",
        )
        out = class_weighted_mean(total, labels, weight=weight, ignore_index=ignore_index)
    return finish(out, logits=logits, weight=weight)


def nll(
    log_probs: Tensor,
    labels: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of integer labels under given log-probabilities.

    ``l_n = -w_{y_n} log_probs_n[y_n]``; ``"mean"`` as :func:`cross_entropy` (sum of the weights
    of non-ignored items; ``0.0`` over nothing). ``nll(log_softmax(x), y) == cross_entropy(x, y)``.

    Input: ``log_probs`` ``(N, C, *extra)`` or ``(C,)``, values <= 0 (checked in full mode: logits
    given by mistake are refused). Target: ``labels`` as for :func:`cross_entropy`.

    Args:
        log_probs: log-probabilities over dim 1, e.g. ``torch.log_softmax(x, 1)``.
        labels: class indices.
        weight: ``(C,)`` class weights.
        ignore_index: label value that is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

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
    class_inputs("log_probs", log_probs, labels, weight=weight, ignore_index=ignore_index)
    check_log_probs("log_probs", log_probs)
    labels = labels.long()
    if reduction != "mean":
        out = F.nll_loss(
            log_probs, labels, weight=weight, ignore_index=ignore_index, reduction=reduction
        )
    else:
        total = F.nll_loss(
            log_probs, labels, weight=weight, ignore_index=ignore_index, reduction="sum"
        )
        out = class_weighted_mean(total, labels, weight=weight, ignore_index=ignore_index)
    return finish(out, log_probs=log_probs, weight=weight)


_CE_FORMULA = "l_n = -w_{y_n} log softmax(x_n)[y_n] = w_{y_n} (logsumexp_c x_nc - x_{n,y_n})"
register(
    LossSpec(
        name="cross_entropy",
        function=cross_entropy,
        family="multiclass",
        input_space="logits",
        target_space="integer class labels in [0, C) or ignore_index",
        summary="Softmax cross-entropy with integer labels (log-sum-exp; weights, ignore, smoothing).",
        formula=_CE_FORMULA,
        when_to_use="The default for single-label classification with C >= 2 classes.",
        activation="softmax",
        decode="argmax",
        metrics=("accuracy", "top_k_accuracy"),
        properties=frozenset(
            {"convex", "smooth", "nonnegative", "proper_scoring_rule", "classification_calibrated"}
        ),
        aliases=("ce", "softmax_cross_entropy", "categorical_cross_entropy"),
        mean_over="non-ignored items, weighted: sum_n w_{y_n} l_n / sum_n w_{y_n}",
    )
)
register(
    LossSpec(
        name="nll",
        function=nll,
        family="multiclass",
        input_space="log_probs",
        target_space="integer class labels in [0, C) or ignore_index",
        summary="Negative log-likelihood of the labels under given log-probabilities.",
        formula="l_n = -w_{y_n} log_probs_n[y_n]",
        when_to_use="When the model ends in log_softmax; otherwise use cross_entropy on logits.",
        activation="exp",
        decode="argmax",
        metrics=("accuracy",),
        properties=frozenset({"convex", "smooth", "nonnegative", "proper_scoring_rule"}),
        aliases=("nll_loss", "negative_log_likelihood"),
        mean_over="non-ignored items, weighted: sum_n w_{y_n} l_n / sum_n w_{y_n}",
    )
)
