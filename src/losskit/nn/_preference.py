"""Modules of the preference losses."""

from __future__ import annotations

from torch import Tensor

from losskit.losses._preference import cpo, dpo, kto, orpo, simpo
from losskit.nn._base import LossModule

__all__ = ["CPOLoss", "DPOLoss", "KTOLoss", "ORPOLoss", "SimPOLoss"]


class DPOLoss(LossModule):
    """Module form of :func:`losskit.dpo`: ``forward(policy_chosen_logps, policy_rejected_logps,
    reference_chosen_logps, reference_rejected_logps)``."""

    function = dpo

    def __init__(
        self,
        *,
        beta: float = 0.1,
        loss_type: str = "sigmoid",
        label_smoothing: float = 0.0,
        bco_delta: float | Tensor = 0.0,
        discopop_tau: float = 0.05,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            beta=beta,
            loss_type=loss_type,
            label_smoothing=label_smoothing,
            bco_delta=bco_delta,
            discopop_tau=discopop_tau,
            reduction=reduction,
        )


class SimPOLoss(LossModule):
    """Module form of :func:`losskit.simpo`: ``forward(policy_chosen_logps,
    policy_rejected_logps)``."""

    function = simpo

    def __init__(
        self,
        *,
        beta: float = 2.0,
        gamma: float = 0.5,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            beta=beta, gamma=gamma, label_smoothing=label_smoothing, reduction=reduction
        )


class CPOLoss(LossModule):
    """Module form of :func:`losskit.cpo`: ``forward(policy_chosen_logps,
    policy_rejected_logps)``."""

    function = cpo

    def __init__(
        self,
        *,
        beta: float = 0.1,
        label_smoothing: float = 0.0,
        alpha: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            beta=beta, label_smoothing=label_smoothing, alpha=alpha, reduction=reduction
        )


class ORPOLoss(LossModule):
    """Module form of :func:`losskit.orpo`: ``forward(policy_chosen_logps,
    policy_rejected_logps)``."""

    function = orpo

    def __init__(self, *, beta: float = 0.1, reduction: str = "mean") -> None:
        super().__init__(beta=beta, reduction=reduction)


class KTOLoss(LossModule):
    """Module form of :func:`losskit.kto`: ``forward(policy_logps, reference_logps,
    desirable)``. A ``kl`` tensor is stored as a buffer; update it in place per batch
    (``module.kl.copy_(estimate)``) or pass a new Module."""

    function = kto

    def __init__(
        self,
        *,
        kl: float | Tensor = 0.0,
        beta: float = 0.1,
        desirable_weight: float = 1.0,
        undesirable_weight: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            kl=kl,
            beta=beta,
            desirable_weight=desirable_weight,
            undesirable_weight=undesirable_weight,
            reduction=reduction,
        )
