"""Modules of the box losses: ``forward(boxes, targets)``."""

from __future__ import annotations

from losskit.losses._boxes import ciou, diou, giou
from losskit.nn._base import LossModule

__all__ = ["CIoULoss", "DIoULoss", "GIoULoss"]


class GIoULoss(LossModule):
    """Module form of :func:`losskit.giou`."""

    function = giou

    def __init__(self, *, eps: float = 1e-7, reduction: str = "mean") -> None:
        super().__init__(eps=eps, reduction=reduction)


class DIoULoss(LossModule):
    """Module form of :func:`losskit.diou`."""

    function = diou

    def __init__(self, *, eps: float = 1e-7, reduction: str = "mean") -> None:
        super().__init__(eps=eps, reduction=reduction)


class CIoULoss(LossModule):
    """Module form of :func:`losskit.ciou`."""

    function = ciou

    def __init__(self, *, eps: float = 1e-7, reduction: str = "mean") -> None:
        super().__init__(eps=eps, reduction=reduction)
