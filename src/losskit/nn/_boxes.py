"""Modules of the box losses: ``forward(boxes, targets)``."""

from __future__ import annotations

from losskit.nn._base import LossModule

__all__ = ["CIoULoss", "DIoULoss", "GIoULoss"]


class GIoULoss(LossModule):
    """Module form of :func:`losskit.giou`."""

    loss_name = "giou"

    def __init__(self, *, eps: float = 1e-7, reduction: str = "mean") -> None:
        super().__init__(eps=eps, reduction=reduction)


class DIoULoss(LossModule):
    """Module form of :func:`losskit.diou`."""

    loss_name = "diou"

    def __init__(self, *, eps: float = 1e-7, reduction: str = "mean") -> None:
        super().__init__(eps=eps, reduction=reduction)


class CIoULoss(LossModule):
    """Module form of :func:`losskit.ciou`."""

    loss_name = "ciou"

    def __init__(self, *, eps: float = 1e-7, reduction: str = "mean") -> None:
        super().__init__(eps=eps, reduction=reduction)
