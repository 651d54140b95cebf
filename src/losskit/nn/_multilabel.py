"""Modules of the multilabel losses."""

from __future__ import annotations

from torch import Tensor

from losskit.losses._multilabel import asymmetric_loss, multilabel_margin, multilabel_soft_margin
from losskit.nn._base import LossModule

__all__ = ["AsymmetricLoss", "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss"]


class MultiLabelSoftMarginLoss(LossModule):
    """Module form of :func:`losskit.multilabel_soft_margin` (``weight`` is a buffer)."""

    function = multilabel_soft_margin

    def __init__(self, *, weight: Tensor | None = None, reduction: str = "mean") -> None:
        super().__init__(weight=weight, reduction=reduction)


class MultiLabelMarginLoss(LossModule):
    """Module form of :func:`losskit.multilabel_margin` (multi-hot 0/1 targets, not torch's
    padded indices)."""

    function = multilabel_margin

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class AsymmetricLoss(LossModule):
    """Module form of :func:`losskit.asymmetric_loss` (ASL)."""

    function = asymmetric_loss

    def __init__(
        self,
        *,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        reduction: str = "mean",
    ) -> None:
        super().__init__(gamma_pos=gamma_pos, gamma_neg=gamma_neg, clip=clip, reduction=reduction)
