"""Modules of the lovasz losses (``LovaszSoftmaxLoss`` stores ``normalize`` and its
``activation()``/``decodes()`` follow it, as the overlap Modules do: see
:mod:`losskit.nn._overlap`)."""

from __future__ import annotations

from losskit.losses._lovasz import lovasz_hinge, lovasz_softmax
from losskit.losses._overlap import refuse_renamed
from losskit.nn._base import LossModule
from losskit.nn._overlap import NormalizedLoss

__all__ = [
    "LovaszHingeLoss",
    "LovaszSoftmaxLoss",
]


class LovaszSoftmaxLoss(NormalizedLoss):
    """Module form of :func:`losskit.lovasz_softmax`."""

    function = lovasz_softmax

    def __init__(
        self,
        *,
        normalize: str | None = "softmax",
        classes: str = "present",
        ignore_index: int | None = -100,
        reduction: str = "mean",
        **removed: object,
    ) -> None:
        refuse_renamed(type(self).__name__, removed)
        super().__init__(
            normalize=normalize, classes=classes, ignore_index=ignore_index, reduction=reduction
        )


class LovaszHingeLoss(LossModule):
    """Module form of :func:`losskit.lovasz_hinge`."""

    function = lovasz_hinge

    def __init__(self, *, ignore_index: int | None = -100, reduction: str = "mean") -> None:
        super().__init__(ignore_index=ignore_index, reduction=reduction)
