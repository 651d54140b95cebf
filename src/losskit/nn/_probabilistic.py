"""Modules of the probabilistic losses: each stores its options and calls the function.

The losses with a predicted distribution parameter take it in ``forward`` after the targets,
as the functions do: ``GaussianNLLLoss()(preds, targets, var)``,
``StudentTNLLLoss(df=4.0)(preds, targets, scale)``, ``CRPSGaussianLoss()(mean, targets, std)``.
"""

from __future__ import annotations

from torch import Tensor

from losskit.losses._probabilistic import (
    crps_gaussian,
    gaussian_nll,
    poisson_nll,
    student_t_nll,
    tweedie_deviance,
)
from losskit.nn._base import LossModule

__all__ = [
    "CRPSGaussianLoss",
    "GaussianNLLLoss",
    "PoissonNLLLoss",
    "StudentTNLLLoss",
    "TweedieDevianceLoss",
]


class PoissonNLLLoss(LossModule):
    """Module form of :func:`losskit.poisson_nll` (``activation`` is ``exp``: log-rates to
    rates)."""

    function = poisson_nll

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

    function = tweedie_deviance

    def __init__(self, *, power: float, reduction: str = "mean") -> None:
        super().__init__(power=power, reduction=reduction)


class GaussianNLLLoss(LossModule):
    """Module form of :func:`losskit.gaussian_nll`: ``forward(preds, targets, var)``."""

    function = gaussian_nll

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(full=full, eps=eps, reduction=reduction)


class StudentTNLLLoss(LossModule):
    """Module form of :func:`losskit.student_t_nll`: ``forward(preds, targets, scale)``
    (a tensor ``df`` is a buffer)."""

    function = student_t_nll

    def __init__(self, *, df: float | Tensor, reduction: str = "mean") -> None:
        super().__init__(df=df, reduction=reduction)


class CRPSGaussianLoss(LossModule):
    """Module form of :func:`losskit.crps_gaussian`: ``forward(mean, targets, std)``."""

    function = crps_gaussian

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
