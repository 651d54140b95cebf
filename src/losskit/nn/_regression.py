"""Modules of the regression losses: each stores its options and calls the function.

The losses with a predicted distribution parameter take it in ``forward`` after the targets,
as the functions do: ``GaussianNLLLoss()(preds, targets, var)``,
``StudentTNLLLoss(df=4.0)(preds, targets, scale)``, ``CRPSGaussianLoss()(mean, targets, std)``.
"""

from __future__ import annotations

from torch import Tensor

from losskit.nn._base import LossModule

__all__ = [
    "BarronLoss",
    "CRPSGaussianLoss",
    "GaussianNLLLoss",
    "HuberLoss",
    "LogCoshLoss",
    "MAELoss",
    "MAPELoss",
    "MSELoss",
    "MSLELoss",
    "PoissonNLLLoss",
    "PseudoHuberLoss",
    "QuantileLoss",
    "RMSELoss",
    "SmoothL1Loss",
    "StudentTNLLLoss",
    "TweedieDevianceLoss",
]


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


class HuberLoss(LossModule):
    """Module form of :func:`losskit.huber`."""

    loss_name = "huber"

    def __init__(self, *, delta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(delta=delta, reduction=reduction)


class SmoothL1Loss(LossModule):
    """Module form of :func:`losskit.smooth_l1`."""

    loss_name = "smooth_l1"

    def __init__(self, *, beta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(beta=beta, reduction=reduction)


class LogCoshLoss(LossModule):
    """Module form of :func:`losskit.log_cosh`."""

    loss_name = "log_cosh"

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class QuantileLoss(LossModule):
    """Module form of :func:`losskit.quantile` (a tensor ``q`` is a buffer)."""

    loss_name = "quantile"

    def __init__(self, *, q: float | Tensor = 0.5, reduction: str = "mean") -> None:
        super().__init__(q=q, reduction=reduction)


class PseudoHuberLoss(LossModule):
    """Module form of :func:`losskit.pseudo_huber`."""

    loss_name = "pseudo_huber"

    def __init__(self, *, delta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(delta=delta, reduction=reduction)


class BarronLoss(LossModule):
    """Module form of :func:`losskit.barron` (a tensor ``scale`` is a buffer)."""

    loss_name = "barron"

    def __init__(
        self, *, alpha: float, scale: float | Tensor = 1.0, reduction: str = "mean"
    ) -> None:
        super().__init__(alpha=alpha, scale=scale, reduction=reduction)


class MSLELoss(LossModule):
    """Module form of :func:`losskit.msle`."""

    loss_name = "msle"

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class MAPELoss(LossModule):
    """Module form of :func:`losskit.mape`."""

    loss_name = "mape"

    def __init__(self, *, eps: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(eps=eps, reduction=reduction)


class PoissonNLLLoss(LossModule):
    """Module form of :func:`losskit.poisson_nll` (``activation`` is ``exp``: log-rates to
    rates)."""

    loss_name = "poisson_nll"

    def __init__(
        self,
        *,
        log_input: bool = True,
        full: bool = False,
        eps: float = 1e-8,
        reduction: str = "mean",
    ) -> None:
        super().__init__(log_input=log_input, full=full, eps=eps, reduction=reduction)


class TweedieDevianceLoss(LossModule):
    """Module form of :func:`losskit.tweedie_deviance`."""

    loss_name = "tweedie_deviance"

    def __init__(self, *, power: float, reduction: str = "mean") -> None:
        super().__init__(power=power, reduction=reduction)


class GaussianNLLLoss(LossModule):
    """Module form of :func:`losskit.gaussian_nll`: ``forward(preds, targets, var)``."""

    loss_name = "gaussian_nll"

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(full=full, eps=eps, reduction=reduction)


class StudentTNLLLoss(LossModule):
    """Module form of :func:`losskit.student_t_nll`: ``forward(preds, targets, scale)``
    (a tensor ``df`` is a buffer)."""

    loss_name = "student_t_nll"

    def __init__(self, *, df: float | Tensor, reduction: str = "mean") -> None:
        super().__init__(df=df, reduction=reduction)


class CRPSGaussianLoss(LossModule):
    """Module form of :func:`losskit.crps_gaussian`: ``forward(mean, targets, std)``."""

    loss_name = "crps_gaussian"

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
