"""Modules of the multiclass losses."""

from __future__ import annotations

from torch import Tensor

from losskit.losses._multiclass import (
    cross_entropy,
    generalized_cross_entropy,
    logit_adjusted_cross_entropy,
    multi_margin,
    multiclass_hinge,
    nll,
    poly1_cross_entropy,
    soft_cross_entropy,
    softmax_focal,
    sparsemax_loss,
    z_loss,
)
from losskit.nn._base import LossModule

__all__ = [
    "CrossEntropyLoss",
    "GeneralizedCrossEntropyLoss",
    "LogitAdjustedCrossEntropyLoss",
    "MultiMarginLoss",
    "MulticlassHingeLoss",
    "NLLLoss",
    "Poly1CrossEntropyLoss",
    "SoftCrossEntropyLoss",
    "SoftmaxFocalLoss",
    "SparsemaxLoss",
    "ZLoss",
]


class CrossEntropyLoss(LossModule):
    """Module form of :func:`losskit.cross_entropy` (``weight`` is a buffer; a fixed
    ``normalizer`` may be stored too, or passed per call to the function)."""

    function = cross_entropy

    def __init__(
        self,
        *,
        weight: Tensor | None = None,
        ignore_index: int | None = -100,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
        normalizer: float | Tensor | None = None,
    ) -> None:
        super().__init__(
            weight=weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            reduction=reduction,
            normalizer=normalizer,
        )


class NLLLoss(LossModule):
    """Module form of :func:`losskit.nll` (``weight`` is a buffer)."""

    function = nll

    def __init__(
        self,
        *,
        weight: Tensor | None = None,
        ignore_index: int | None = -100,
        reduction: str = "mean",
        normalizer: float | Tensor | None = None,
    ) -> None:
        super().__init__(
            weight=weight, ignore_index=ignore_index, reduction=reduction, normalizer=normalizer
        )


class SoftCrossEntropyLoss(LossModule):
    """Module form of :func:`losskit.soft_cross_entropy`."""

    function = soft_cross_entropy

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class SoftmaxFocalLoss(LossModule):
    """Module form of :func:`losskit.softmax_focal` (``weight`` is a buffer)."""

    function = softmax_focal

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        weight: Tensor | None = None,
        ignore_index: int | None = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(gamma=gamma, weight=weight, ignore_index=ignore_index, reduction=reduction)


class Poly1CrossEntropyLoss(LossModule):
    """Module form of :func:`losskit.poly1_cross_entropy`."""

    function = poly1_cross_entropy

    def __init__(
        self, *, epsilon: float = 1.0, ignore_index: int | None = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(epsilon=epsilon, ignore_index=ignore_index, reduction=reduction)


class MulticlassHingeLoss(LossModule):
    """Module form of :func:`losskit.multiclass_hinge` (Crammer-Singer)."""

    function = multiclass_hinge

    def __init__(
        self, *, margin: float = 1.0, ignore_index: int | None = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(margin=margin, ignore_index=ignore_index, reduction=reduction)


class MultiMarginLoss(LossModule):
    """Module form of :func:`losskit.multi_margin` (Weston-Watkins, as torch's; ``weight`` is a
    buffer)."""

    function = multi_margin

    def __init__(
        self,
        *,
        p: int = 1,
        margin: float = 1.0,
        weight: Tensor | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(p=p, margin=margin, weight=weight, reduction=reduction)


class GeneralizedCrossEntropyLoss(LossModule):
    """Module form of :func:`losskit.generalized_cross_entropy`."""

    function = generalized_cross_entropy

    def __init__(
        self, *, q: float = 0.7, ignore_index: int | None = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(q=q, ignore_index=ignore_index, reduction=reduction)


class LogitAdjustedCrossEntropyLoss(LossModule):
    """Module form of :func:`losskit.logit_adjusted_cross_entropy` (``class_priors`` is a
    buffer)."""

    function = logit_adjusted_cross_entropy

    def __init__(
        self,
        *,
        class_priors: Tensor,
        tau: float = 1.0,
        ignore_index: int | None = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            class_priors=class_priors, tau=tau, ignore_index=ignore_index, reduction=reduction
        )


class ZLoss(LossModule):
    """Module form of :func:`losskit.z_loss`: ``forward(logits)`` or ``forward(logits, labels)``."""

    function = z_loss

    def __init__(self, *, ignore_index: int | None = -100, reduction: str = "mean") -> None:
        super().__init__(ignore_index=ignore_index, reduction=reduction)


class SparsemaxLoss(LossModule):
    """Module form of :func:`losskit.sparsemax_loss`."""

    function = sparsemax_loss

    def __init__(self, *, ignore_index: int | None = -100, reduction: str = "mean") -> None:
        super().__init__(ignore_index=ignore_index, reduction=reduction)
