"""Binary losses: one logit (or probability) per item, targets 0 or 1 (soft in [0, 1] where
stated)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    check_binary_targets,
    check_broadcasts_to,
    check_floating,
    check_probs,
    check_reduction,
    check_same_shape,
    finish,
    native_reduction,
    reduce,
)
from losskit._spec import LossSpec, register

__all__ = ["bce", "bce_with_logits", "binary_inputs", "mnist_loss"]


def binary_inputs(name: str, preds: Tensor, targets: Tensor, *, soft: bool) -> Tensor:
    """Shared checks of every binary loss; returns ``targets`` as a tensor of ``preds``' dtype
    (bool and integer targets are accepted)."""
    check_floating(name, preds)
    check_same_shape(name, preds, "targets", targets)
    check_binary_targets("targets", targets, soft=soft)
    return targets if targets.dtype == preds.dtype else targets.to(preds.dtype)


def mnist_loss(logits: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """The first loss that lets SGD learn MNIST 3s vs 7s: distance of ``sigmoid`` from the target.

    ``l_n = 1 - sigmoid(logits_n)`` if ``targets_n == 1`` else ``sigmoid(logits_n)``, i.e.
    ``torch.where(targets == 1, 1 - sigmoid(logits), sigmoid(logits))``. Unlike accuracy, a small
    change of a logit changes it a little, so its gradient is not zero and SGD can step. It is
    bounded (in [0, 1]) and its gradient vanishes for confident mistakes, which is why BCE
    usually trains faster.

    Input: ``logits``, any shape, floating. Target: ``targets``, the same shape, 0 or 1 (bool,
    integer or float).

    Args:
        logits: raw scores; the loss applies the sigmoid.
        targets: 0 or 1.
        reduction: ``"mean"`` (default) | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``logits`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, targets not in {0, 1}, ``logits`` not floating.

    Example:
        >>> import torch, losskit
        >>> losskit.mnist_loss(torch.tensor([2.0, -1.0, 0.0]), torch.tensor([1, 0, 1]))
        tensor(0.2960)

    References:
        Howard & Gugger, Deep Learning for Coders with fastai and PyTorch (2020), chapter 4.
    """
    check_reduction(reduction)
    targets = binary_inputs("logits", logits, targets, soft=False)
    probs = torch.sigmoid(logits)
    loss = torch.where(targets == 1, 1 - probs, probs)
    return finish(reduce(loss, reduction), logits=logits)


def bce(
    probs: Tensor, targets: Tensor, *, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy on probabilities.

    ``l_n = -w_n [targets_n log(probs_n) + (1 - targets_n) log(1 - probs_n)]``, each log clamped
    at -100 as in :func:`torch.nn.functional.binary_cross_entropy` (so ``probs`` of exactly 0 or 1
    give a finite loss of at most 100). ``"mean"`` averages ``w_n l_n`` over every element (as
    torch: not divided by the sum of weights). Prefer :func:`bce_with_logits`: it is stable where
    the sigmoid saturates.

    Input: ``probs`` in [0, 1], any shape. Target: ``targets`` in [0, 1] (soft targets allowed),
    the same shape. ``weight`` broadcasts to the shape of ``probs``.

    Args:
        probs: predicted probabilities of the positive class.
        targets: 0/1 or soft targets in [0, 1].
        weight: optional per-element rescaling.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``probs`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``probs`` or ``targets`` outside [0, 1] (logits given by
            mistake), a ``weight`` that does not broadcast to ``probs``.

    Example:
        >>> import torch, losskit
        >>> losskit.bce(torch.tensor([0.9, 0.2]), torch.tensor([1.0, 0.0]))
        tensor(0.1643)
    """
    check_reduction(reduction)
    targets = binary_inputs("probs", probs, targets, soft=True)
    check_probs("probs", probs)
    check_broadcasts_to("weight", weight, probs.shape, "probs")
    out = F.binary_cross_entropy(
        probs, targets, weight=weight, reduction=native_reduction(reduction, probs.numel())
    )
    return finish(out, probs=probs, weight=weight)


def bce_with_logits(
    logits: Tensor,
    targets: Tensor,
    *,
    pos_weight: Tensor | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross-entropy on logits, computed stably.

    ``l_n = -w_n [p_c targets_n log sigmoid(logits_n) + (1 - targets_n) log sigmoid(-logits_n)]``
    with ``log sigmoid(x) = -softplus(-x)`` (never ``log(sigmoid(x))``, which is -inf once the
    sigmoid rounds to 0). ``p_c`` is ``pos_weight`` for the class in the last dimension;
    ``"mean"`` averages ``l_n`` over every element, as :class:`torch.nn.BCEWithLogitsLoss`.

    Input: ``logits``, any shape. Target: ``targets`` in [0, 1] (soft targets allowed), the same
    shape. ``weight`` broadcasts to the shape of ``logits``; ``pos_weight`` too (typically
    ``(C,)`` for ``C`` labels in the last dimension).

    Args:
        logits: raw scores; the loss applies the sigmoid.
        targets: 0/1 or soft targets in [0, 1].
        pos_weight: weight of positive examples per class (``n_negative / n_positive`` balances).
        weight: per-element rescaling.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``logits`` for ``"none"``.

    Raises:
        LossInputError: shapes differ (torch would broadcast), targets outside [0, 1],
            weights that do not broadcast to ``logits``.

    Example:
        >>> import torch, losskit
        >>> losskit.bce_with_logits(torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0]))
        tensor(0.2201)
    """
    check_reduction(reduction)
    targets = binary_inputs("logits", logits, targets, soft=True)
    check_broadcasts_to("weight", weight, logits.shape, "logits")
    check_broadcasts_to("pos_weight", pos_weight, logits.shape, "logits")
    out = F.binary_cross_entropy_with_logits(
        logits,
        targets,
        weight=weight,
        pos_weight=pos_weight,
        reduction=native_reduction(reduction, logits.numel()),
    )
    return finish(out, logits=logits, weight=weight, pos_weight=pos_weight)


register(
    LossSpec(
        name="mnist_loss",
        function=mnist_loss,
        family="binary",
        input_space="logits",
        target_space="binary {0, 1}",
        summary="Distance of sigmoid(logits) from the 0/1 target: the first loss that lets SGD learn.",
        formula="l_n = 1 - sigmoid(x_n) if y_n == 1 else sigmoid(x_n)",
        when_to_use="Teaching: the smallest smooth stand-in for accuracy. In practice BCE trains "
        "faster because its gradient does not vanish on confident mistakes.",
        activation="sigmoid",
        decode="threshold",
        metrics=("accuracy",),
        properties=frozenset({"smooth", "nonnegative", "bounded", "classification_calibrated"}),
        references=("Howard & Gugger, Deep Learning for Coders (2020), ch. 4",),
    )
)
register(
    LossSpec(
        name="bce",
        function=bce,
        family="binary",
        input_space="probs",
        target_space="binary {0, 1} or soft [0, 1]",
        summary="Binary cross-entropy on probabilities (log clamped at -100).",
        formula="l_n = -w_n [y_n log p_n + (1 - y_n) log(1 - p_n)]",
        when_to_use="When the model already outputs probabilities; otherwise prefer "
        "bce_with_logits, which is stable.",
        decode="threshold",
        metrics=("accuracy",),
        properties=frozenset(
            {"convex", "smooth", "nonnegative", "proper_scoring_rule", "classification_calibrated"}
        ),
        aliases=("binary_cross_entropy", "log_loss"),
    )
)
register(
    LossSpec(
        name="bce_with_logits",
        function=bce_with_logits,
        family="binary",
        input_space="logits",
        target_space="binary {0, 1} or soft [0, 1]",
        summary="Binary cross-entropy on logits, via log-sigmoid: stable for any logit.",
        formula="l_n = -w_n [p_c y_n log sigmoid(x_n) + (1 - y_n) log sigmoid(-x_n)]",
        when_to_use="The default for binary and multilabel classification.",
        activation="sigmoid",
        decode="threshold",
        metrics=("accuracy",),
        properties=frozenset(
            {"convex", "smooth", "nonnegative", "proper_scoring_rule", "classification_calibrated"}
        ),
        aliases=("sigmoid_binary_cross_entropy", "binary_cross_entropy_with_logits"),
    )
)
