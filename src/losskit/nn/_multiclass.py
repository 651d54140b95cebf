"""Modules of the multiclass losses."""

from __future__ import annotations

from torch import Tensor

from losskit.nn._base import LossModule

__all__ = ["CrossEntropyLoss", "NLLLoss"]


class CrossEntropyLoss(LossModule):
    """Module form of :func:`losskit.cross_entropy` (``weight`` is a buffer)."""

    loss_name = "cross_entropy"

    def __init__(
        self,
        *,
        weight: Tensor | None = None,
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            weight=weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )


class NLLLoss(LossModule):
    """Module form of :func:`losskit.nll` (``weight`` is a buffer)."""

    loss_name = "nll"

    def __init__(
        self, *, weight: Tensor | None = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(weight=weight, ignore_index=ignore_index, reduction=reduction)
