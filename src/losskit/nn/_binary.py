"""Modules of the binary losses."""

from __future__ import annotations

from torch import Tensor

from losskit.nn._base import LossModule

__all__ = ["BCELoss", "BCEWithLogitsLoss", "MNISTLoss"]


class MNISTLoss(LossModule):
    """Module form of :func:`losskit.mnist_loss`."""

    loss_name = "mnist_loss"

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class BCELoss(LossModule):
    """Module form of :func:`losskit.bce` (``weight`` is a buffer)."""

    loss_name = "bce"

    def __init__(self, *, weight: Tensor | None = None, reduction: str = "mean") -> None:
        super().__init__(weight=weight, reduction=reduction)


class BCEWithLogitsLoss(LossModule):
    """Module form of :func:`losskit.bce_with_logits` (``pos_weight``, ``weight`` are buffers)."""

    loss_name = "bce_with_logits"

    def __init__(
        self,
        *,
        pos_weight: Tensor | None = None,
        weight: Tensor | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(pos_weight=pos_weight, weight=weight, reduction=reduction)
