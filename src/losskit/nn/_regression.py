"""Modules of the regression losses: each stores its options and calls the function (those of
the probabilistic ones are in :mod:`losskit.nn._probabilistic`)."""

from __future__ import annotations

from torch import Tensor

from losskit.losses._regression import (
    barron,
    huber,
    log_cosh,
    mae,
    mape,
    mse,
    msle,
    pseudo_huber,
    quantile,
    rmse,
    smooth_l1,
)
from losskit.nn._base import LossModule

__all__ = [
    "BarronLoss",
    "HuberLoss",
    "LogCoshLoss",
    "MAELoss",
    "MAPELoss",
    "MSELoss",
    "MSLELoss",
    "PseudoHuberLoss",
    "QuantileLoss",
    "RMSELoss",
    "SmoothL1Loss",
]


class MSELoss(LossModule):
    """Module form of :func:`losskit.mse`."""

    function = mse

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class RMSELoss(LossModule):
    """Module form of :func:`losskit.rmse` (the root of the MSE; only ``reduction="mean"``)."""

    function = rmse

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class MAELoss(LossModule):
    """Module form of :func:`losskit.mae`."""

    function = mae

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class HuberLoss(LossModule):
    """Module form of :func:`losskit.huber`."""

    function = huber

    def __init__(self, *, delta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(delta=delta, reduction=reduction)


class SmoothL1Loss(LossModule):
    """Module form of :func:`losskit.smooth_l1`."""

    function = smooth_l1

    def __init__(self, *, beta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(beta=beta, reduction=reduction)


class LogCoshLoss(LossModule):
    """Module form of :func:`losskit.log_cosh`."""

    function = log_cosh

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class QuantileLoss(LossModule):
    """Module form of :func:`losskit.quantile` (a tensor ``q`` is a buffer)."""

    function = quantile

    def __init__(self, *, q: float | Tensor = 0.5, reduction: str = "mean") -> None:
        super().__init__(q=q, reduction=reduction)


class PseudoHuberLoss(LossModule):
    """Module form of :func:`losskit.pseudo_huber`."""

    function = pseudo_huber

    def __init__(self, *, delta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(delta=delta, reduction=reduction)


class BarronLoss(LossModule):
    """Module form of :func:`losskit.barron` (a tensor ``scale`` is a buffer)."""

    function = barron

    def __init__(
        self, *, alpha: float, scale: float | Tensor = 1.0, reduction: str = "mean"
    ) -> None:
        super().__init__(alpha=alpha, scale=scale, reduction=reduction)


class MSLELoss(LossModule):
    """Module form of :func:`losskit.msle`."""

    function = msle

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class MAPELoss(LossModule):
    """Module form of :func:`losskit.mape`."""

    function = mape

    def __init__(self, *, eps: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(eps=eps, reduction=reduction)
