"""Modules of the divergence losses."""

from __future__ import annotations

from losskit.losses._divergence import distillation, js_div, kl_div
from losskit.nn._base import LossModule

__all__ = ["DistillationLoss", "JSDivLoss", "KLDivLoss"]


class KLDivLoss(LossModule):
    """Module form of :func:`losskit.kl_div` (``"mean"`` is the KL per example, not torch's
    element mean)."""

    function = kl_div

    def __init__(self, *, log_targets: bool = False, reduction: str = "mean") -> None:
        super().__init__(log_targets=log_targets, reduction=reduction)


class JSDivLoss(LossModule):
    """Module form of :func:`losskit.js_div`."""

    function = js_div

    def __init__(self, *, log_targets: bool = False, reduction: str = "mean") -> None:
        super().__init__(log_targets=log_targets, reduction=reduction)


class DistillationLoss(LossModule):
    """Module form of :func:`losskit.distillation`: ``forward(student_logits, teacher_logits)``."""

    function = distillation

    def __init__(self, *, temperature: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(temperature=temperature, reduction=reduction)
