"""Modules of the regression losses."""

from __future__ import annotations

from losskit.nn._base import LossModule

__all__ = ["MAELoss", "MSELoss", "RMSELoss"]


class MSELoss(LossModule):
    """Module form of :func:`losskit.mse`."""

    loss_name = "mse"

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class RMSELoss(LossModule):
    """Module form of :func:`losskit.rmse` (the root of the MSE; only ``reduction="mean"``)."""

    loss_name = "rmse"

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class MAELoss(LossModule):
    """Module form of :func:`losskit.mae`."""

    loss_name = "mae"

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
