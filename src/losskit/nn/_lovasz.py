"""Modules of the lovasz losses (``LovaszSoftmaxLoss`` keeps its ``activation`` option as
``activation_name``, as the overlap Modules do: see :mod:`losskit.nn._overlap`)."""

from __future__ import annotations

from losskit.losses._lovasz import lovasz_hinge, lovasz_softmax
from losskit.nn._base import LossModule
from losskit.nn._overlap import _WithActivation

__all__ = [
    "LovaszHingeLoss",
    "LovaszSoftmaxLoss",
]


class LovaszSoftmaxLoss(_WithActivation):
    """Module form of :func:`losskit.lovasz_softmax`."""

    function = lovasz_softmax

    def __init__(
        self,
        *,
        activation: str | None = "softmax",
        classes: str = "present",
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            activation=activation, classes=classes, ignore_index=ignore_index, reduction=reduction
        )


class LovaszHingeLoss(LossModule):
    """Module form of :func:`losskit.lovasz_hinge`."""

    function = lovasz_hinge

    def __init__(self, *, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(ignore_index=ignore_index, reduction=reduction)
