"""Metrics: what people care about, and why they are not losses.

A metric such as accuracy counts correct decisions. A small change of the weights almost never
flips a decision, so accuracy is constant almost everywhere and its gradient is zero: SGD cannot
step. These functions are never registered as losses; :func:`accuracy_as_loss` exists only to
show (in ``losskit compare`` and the audit) what happens when one tries.
"""

from __future__ import annotations

import torch
from torch import Tensor

from losskit._checks import LossInputError, check_binary_targets, check_labels

__all__ = ["accuracy", "accuracy_as_loss", "error_rate"]


def accuracy(
    outputs: Tensor,
    targets: Tensor,
    *,
    logits: bool = False,
    threshold: float = 0.5,
    top_k: int = 1,
) -> Tensor:
    """Fraction of correct predictions, as a float tensor without gradient.

    Binary (``outputs`` and ``targets`` of the same shape, targets 0/1): an item is predicted
    positive when ``outputs > threshold``, or, with ``logits=True``, when
    ``sigmoid(outputs) > threshold``. Multiclass (``outputs`` ``(N, C, *extra)``, integer
    ``targets`` ``(N, *extra)``): correct when the label is among the ``top_k`` largest outputs
    (``top_k=1`` is the argmax).

    Example:
        >>> import torch, losskit
        >>> losskit.accuracy(torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1, 0, 0]), logits=True)
        tensor(0.6667)
        >>> losskit.accuracy(torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]),
        ...                  torch.tensor([2, 0]), top_k=2)
        tensor(1.)
    """
    outputs = outputs.detach()
    if outputs.shape == targets.shape:
        if top_k != 1:
            raise LossInputError("top_k applies to multiclass outputs (N, C, ...), not binary ones")
        check_binary_targets("targets", targets, soft=False)
        if logits:
            # sigmoid(x) > t  <=>  x > log(t / (1 - t)); avoids computing the sigmoid.
            cut = torch.logit(torch.tensor(threshold, dtype=torch.float64)).item()
            predicted = outputs > cut
        else:
            predicted = outputs > threshold
        return (predicted == targets.bool()).float().mean()
    if outputs.dim() >= 2 and targets.shape == outputs.shape[:1] + outputs.shape[2:]:
        num_classes = outputs.shape[1]
        if not 1 <= top_k <= num_classes:
            raise LossInputError(f"top_k must lie in [1, {num_classes}], got {top_k}")
        check_labels("targets", targets, num_classes, ignore_index=None)
        if top_k == 1:
            return (outputs.argmax(dim=1) == targets).float().mean()
        top = outputs.topk(top_k, dim=1).indices  # (N, k, *extra)
        return (top == targets.unsqueeze(1)).any(dim=1).float().mean()
    raise LossInputError(
        f"accuracy: outputs {tuple(outputs.shape)} vs targets {tuple(targets.shape)}: give the "
        "same shape (binary) or outputs (N, C, *extra) with labels (N, *extra) (multiclass)"
    )


def error_rate(
    outputs: Tensor,
    targets: Tensor,
    *,
    logits: bool = False,
    threshold: float = 0.5,
    top_k: int = 1,
) -> Tensor:
    """``1 - accuracy``, with the same arguments.

    Example:
        >>> import torch, losskit
        >>> losskit.error_rate(torch.tensor([0.9, 0.2]), torch.tensor([1, 1]))
        tensor(0.5000)
    """
    return 1 - accuracy(outputs, targets, logits=logits, threshold=threshold, top_k=top_k)


def accuracy_as_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Binary accuracy *used as a loss*: ``1 - accuracy``, written so that the graph exists.

    The decision goes through ``round(sigmoid(logits))``, whose derivative is exactly 0 wherever it
    exists, so ``backward()`` runs and every gradient is 0: SGD never moves the weights. This is
    the lesson, not a loss to train with.

    Example:
        >>> import torch, losskit
        >>> x = torch.tensor([2.0, -1.0, 0.5], requires_grad=True)
        >>> loss = losskit.accuracy_as_loss(x, torch.tensor([1.0, 0.0, 0.0]))
        >>> loss.backward()
        >>> round(loss.item(), 4), x.grad
        (0.3333, tensor([0., 0., 0.]))
    """
    decisions = torch.round(torch.sigmoid(logits))  # 0 or 1; d round / dx = 0
    targets = targets.to(decisions.dtype)
    correct = 1 - (decisions - targets).abs()
    return 1 - correct.mean()
