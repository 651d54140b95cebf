"""Modules of the overlap losses.

The losses take a ``normalize`` option (``"softmax"``, ``"sigmoid"`` or ``None``); a Module
stores it like any other option, and its fastai-style ``activation()`` and ``decodes()`` follow
it (:class:`NormalizedLoss`): softmax over dim 1 and argmax; sigmoid and a threshold at 0.5;
``None``: the inputs are probabilities already, decoded by argmax over dim 1, or by threshold
when there is a single channel. The old option name ``activation=`` is refused naming
``normalize=``, as the functions do.
"""

from __future__ import annotations

from torch import Tensor

from losskit._spec import Activation, Decode, activate, decode
from losskit.losses._overlap import (
    dice,
    dice_cross_entropy,
    focal_tversky,
    generalized_dice,
    jaccard,
    refuse_renamed,
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


class NormalizedLoss(LossModule):
    """A LossModule whose loss takes ``normalize``: ``activation()`` and ``decodes()`` follow
    the stored option, not the spec's default (public for :mod:`losskit.nn._lovasz`; not
    exported)."""

    normalize: str | None  # stored by LossModule.__init__

    def activation(self, outputs: Tensor) -> Tensor:
        """Model outputs to probabilities: the loss's ``normalize`` (identity for ``None``)."""
        return activate(Activation(self.normalize or "identity"), outputs)

    def decodes(self, activated: Tensor) -> Tensor:
        """Probabilities to predictions: threshold for sigmoid (or one channel), else argmax."""
        single = activated.dim() > 1 and activated.shape[1] == 1
        threshold = self.normalize == "sigmoid" or single
        return decode(Decode.THRESHOLD if threshold else Decode.ARGMAX, activated)


class DiceLoss(NormalizedLoss):
    """Module form of :func:`losskit.dice` (``weight`` is a buffer)."""

    function = dice

    def __init__(
        self,
        *,
        normalize: str | None = "softmax",
        smooth: float = 1e-5,
        squared_denominator: bool = False,
        weight: Tensor | None = None,
        average: str = "macro",
        ignore_index: int | None = -100,
        reduction: str = "mean",
        **removed: object,
    ) -> None:
        refuse_renamed(type(self).__name__, removed)
        super().__init__(
            normalize=normalize,
            smooth=smooth,
            squared_denominator=squared_denominator,
            weight=weight,
            average=average,
            ignore_index=ignore_index,
            reduction=reduction,
        )


class JaccardLoss(NormalizedLoss):
    """Module form of :func:`losskit.jaccard` (``weight`` is a buffer)."""

    function = jaccard

    def __init__(
        self,
        *,
        normalize: str | None = "softmax",
        smooth: float = 1e-5,
        weight: Tensor | None = None,
        average: str = "macro",
        ignore_index: int | None = -100,
        reduction: str = "mean",
        **removed: object,
    ) -> None:
        refuse_renamed(type(self).__name__, removed)
        super().__init__(
            normalize=normalize,
            smooth=smooth,
            weight=weight,
            average=average,
            ignore_index=ignore_index,
            reduction=reduction,
        )


class TverskyLoss(NormalizedLoss):
    """Module form of :func:`losskit.tversky` (``weight`` is a buffer)."""

    function = tversky

    def __init__(
        self,
        *,
        alpha: float = 0.3,
        beta: float = 0.7,
        normalize: str | None = "softmax",
        smooth: float = 1e-5,
        weight: Tensor | None = None,
        average: str = "macro",
        ignore_index: int | None = -100,
        reduction: str = "mean",
        **removed: object,
    ) -> None:
        refuse_renamed(type(self).__name__, removed)
        super().__init__(
            alpha=alpha,
            beta=beta,
            normalize=normalize,
            smooth=smooth,
            weight=weight,
            average=average,
            ignore_index=ignore_index,
            reduction=reduction,
        )


class FocalTverskyLoss(NormalizedLoss):
    """Module form of :func:`losskit.focal_tversky` (``weight`` is a buffer)."""

    function = focal_tversky

    def __init__(
        self,
        *,
        alpha: float = 0.3,
        beta: float = 0.7,
        gamma: float = 4.0 / 3.0,
        normalize: str | None = "softmax",
        smooth: float = 1e-5,
        weight: Tensor | None = None,
        average: str = "macro",
        ignore_index: int | None = -100,
        reduction: str = "mean",
        **removed: object,
    ) -> None:
        refuse_renamed(type(self).__name__, removed)
        super().__init__(
            alpha=alpha,
            beta=beta,
            gamma=gamma,
            normalize=normalize,
            smooth=smooth,
            weight=weight,
            average=average,
            ignore_index=ignore_index,
            reduction=reduction,
        )


class GeneralizedDiceLoss(NormalizedLoss):
    """Module form of :func:`losskit.generalized_dice`."""

    function = generalized_dice

    def __init__(
        self,
        *,
        normalize: str | None = "softmax",
        weight_type: str = "square",
        smooth: float = 1e-5,
        ignore_index: int | None = -100,
        reduction: str = "mean",
        **removed: object,
    ) -> None:
        refuse_renamed(type(self).__name__, removed)
        super().__init__(
            normalize=normalize,
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
        ignore_index: int | None = -100,
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
