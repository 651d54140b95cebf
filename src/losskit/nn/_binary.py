"""Modules of the binary losses."""

from __future__ import annotations

from torch import Tensor

from losskit.losses._binary import (
    bce,
    bce_with_logits,
    brier,
    exponential,
    hinge,
    mnist_loss,
    perceptron,
    sigmoid_focal,
    soft_margin,
    squared_hinge,
)
from losskit.nn._base import LossModule

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "BrierLoss",
    "ExponentialLoss",
    "HingeLoss",
    "MNISTLoss",
    "PerceptronLoss",
    "SigmoidFocalLoss",
    "SoftMarginLoss",
    "SquaredHingeLoss",
]


class MNISTLoss(LossModule):
    """Module form of :func:`losskit.mnist_loss`."""

    function = mnist_loss

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class BCELoss(LossModule):
    """Module form of :func:`losskit.bce` (``weight`` is a buffer)."""

    function = bce

    def __init__(self, *, weight: Tensor | None = None, reduction: str = "mean") -> None:
        super().__init__(weight=weight, reduction=reduction)


class BCEWithLogitsLoss(LossModule):
    """Module form of :func:`losskit.bce_with_logits` (``pos_weight``, ``weight`` are buffers)."""

    function = bce_with_logits

    def __init__(
        self,
        *,
        pos_weight: Tensor | None = None,
        weight: Tensor | None = None,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            pos_weight=pos_weight,
            weight=weight,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )


class SigmoidFocalLoss(LossModule):
    """Module form of :func:`losskit.sigmoid_focal`."""

    function = sigmoid_focal

    def __init__(
        self, *, alpha: float | None = 0.25, gamma: float = 2.0, reduction: str = "mean"
    ) -> None:
        super().__init__(alpha=alpha, gamma=gamma, reduction=reduction)


class HingeLoss(LossModule):
    """Module form of :func:`losskit.hinge` (targets 0/1, mapped to -1/+1)."""

    function = hinge

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class SquaredHingeLoss(LossModule):
    """Module form of :func:`losskit.squared_hinge` (targets 0/1, mapped to -1/+1)."""

    function = squared_hinge

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class SoftMarginLoss(LossModule):
    """Module form of :func:`losskit.soft_margin` (targets 0/1, mapped to -1/+1)."""

    function = soft_margin

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class PerceptronLoss(LossModule):
    """Module form of :func:`losskit.perceptron` (targets 0/1, mapped to -1/+1)."""

    function = perceptron

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class ExponentialLoss(LossModule):
    """Module form of :func:`losskit.exponential` (targets 0/1, mapped to -1/+1)."""

    function = exponential

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class BrierLoss(LossModule):
    """Module form of :func:`losskit.brier`."""

    function = brier

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
