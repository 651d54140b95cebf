"""Modules of the overlap losses.

The losses take an ``activation`` option (``"softmax"``, ``"sigmoid"`` or ``None``), but
:class:`LossModule` already has a fastai-style ``activation()`` method: an option stored under the
same name would shadow it. So these Modules keep the option as ``activation_name`` and pass it on
in ``forward``; ``activation()`` and ``decodes()`` follow it (sigmoid: threshold at 0.5; softmax:
argmax over dim 1; ``None``: the inputs are probabilities already, decoded by argmax over dim 1,
or by threshold when there is a single channel).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from losskit._spec import Activation, Decode, activate, decode
from losskit.losses._overlap import (
    dice,
    dice_cross_entropy,
    focal_tversky,
    generalized_dice,
    jaccard,
    tversky,
)
from losskit.nn._base import LossModule

__all__ = [
    "DiceCrossEntropyLoss",
    "DiceLoss",
    "FocalTverskyLoss",
    "GeneralizedDiceLoss",
    "JaccardLoss",
    "TverskyLoss",
]


class _WithActivation(LossModule):
    """A LossModule whose loss takes an ``activation`` option (stored as ``activation_name``)."""

    def __init__(self, *, activation: str | None, **options: Any) -> None:
        super().__init__(**options)
        self.activation_name = activation

    def forward(self, *inputs: Tensor) -> Tensor:
        options = {key: getattr(self, key) for key in self._option_names}
        return type(self).function(*inputs, activation=self.activation_name, **options)

    def activation(self, outputs: Tensor) -> Tensor:
        """Model outputs to probabilities: the loss's ``activation`` (identity for ``None``)."""
        return activate(Activation(self.activation_name or "identity"), outputs)

    def decodes(self, activated: Tensor) -> Tensor:
        """Probabilities to predictions: threshold for sigmoid (or one channel), else argmax."""
        single = activated.dim() > 1 and activated.shape[1] == 1
        threshold = self.activation_name == "sigmoid" or single
        return decode(Decode.THRESHOLD if threshold else Decode.ARGMAX, activated)

    def extra_repr(self) -> str:
        return f"activation={self.activation_name!r}, {super().extra_repr()}"


class DiceLoss(_WithActivation):
    """Module form of :func:`losskit.dice` (``weight`` is a buffer)."""

    function = dice

    def __init__(
        self,
        *,
        activation: str | None = "softmax",
        smooth: float = 1e-5,
        squared_denominator: bool = False,
        weight: Tensor | None = None,
        average: str = "macro",
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            activation=activation,
            smooth=smooth,
            squared_denominator=squared_denominator,
            weight=weight,
            average=average,
            ignore_index=ignore_index,
            reduction=reduction,
        )


class JaccardLoss(_WithActivation):
    """Module form of :func:`losskit.jaccard` (``weight`` is a buffer)."""

    function = jaccard

    def __init__(
        self,
        *,
        activation: str | None = "softmax",
        smooth: float = 1e-5,
        weight: Tensor | None = None,
        average: str = "macro",
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            activation=activation,
            smooth=smooth,
            weight=weight,
            average=average,
            ignore_index=ignore_index,
            reduction=reduction,
        )


class TverskyLoss(_WithActivation):
    """Module form of :func:`losskit.tversky` (``weight`` is a buffer)."""

    function = tversky

    def __init__(
        self,
        *,
        alpha: float = 0.3,
        beta: float = 0.7,
        activation: str | None = "softmax",
        smooth: float = 1e-5,
        weight: Tensor | None = None,
        average: str = "macro",
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            activation=activation,
            alpha=alpha,
            beta=beta,
            smooth=smooth,
            weight=weight,
            average=average,
            ignore_index=ignore_index,
            reduction=reduction,
        )


class FocalTverskyLoss(_WithActivation):
    """Module form of :func:`losskit.focal_tversky` (``weight`` is a buffer)."""

    function = focal_tversky

    def __init__(
        self,
        *,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 4.0 / 3.0,
        activation: str | None = "softmax",
        smooth: float = 1e-5,
        weight: Tensor | None = None,
        average: str = "macro",
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            activation=activation,
            alpha=alpha,
            beta=beta,
            gamma=gamma,
            smooth=smooth,
            weight=weight,
            average=average,
            ignore_index=ignore_index,
            reduction=reduction,
        )


class GeneralizedDiceLoss(_WithActivation):
    """Module form of :func:`losskit.generalized_dice`."""

    function = generalized_dice

    def __init__(
        self,
        *,
        activation: str | None = "softmax",
        weight_type: str = "square",
        smooth: float = 1e-5,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            activation=activation,
            weight_type=weight_type,
            smooth=smooth,
            ignore_index=ignore_index,
            reduction=reduction,
        )


class DiceCrossEntropyLoss(LossModule):
    """Module form of :func:`losskit.dice_cross_entropy` (nnU-Net's ``DC_and_CE_loss``)."""

    function = dice_cross_entropy

    def __init__(
        self,
        *,
        dice_weight: float = 1.0,
        ce_weight: float = 1.0,
        include_background: bool = False,
        smooth: float = 1e-5,
        ignore_index: int = -100,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            dice_weight=dice_weight,
            ce_weight=ce_weight,
            include_background=include_background,
            smooth=smooth,
            ignore_index=ignore_index,
            reduction=reduction,
        )
