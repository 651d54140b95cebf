"""Modules of the contrastive losses. A tensor ``temperature`` or ``logit_scale`` passed here is
stored as a buffer (a constant); to *learn* it, keep the parameter in your model and call the
function, or assign an ``nn.Parameter`` to the attribute after construction."""

from __future__ import annotations

from torch import Tensor

from losskit.losses._contrastive import (
    CLIP_INIT_LOGIT_SCALE,
    SIGLIP_INIT_LOGIT_BIAS,
    SIGLIP_INIT_LOGIT_SCALE,
    clip_loss,
    info_nce,
    siglip_loss,
    supcon,
)
from losskit.nn._base import LossModule

__all__ = ["CLIPLoss", "InfoNCELoss", "SigLIPLoss", "SupConLoss"]


class InfoNCELoss(LossModule):
    """Module form of :func:`losskit.info_nce`: ``forward(queries, keys)``."""

    function = info_nce

    def __init__(
        self,
        *,
        temperature: float | Tensor = 0.07,
        gather: str | None = "local",
        reduction: str = "mean",
    ) -> None:
        super().__init__(temperature=temperature, gather=gather, reduction=reduction)


class CLIPLoss(LossModule):
    """Module form of :func:`losskit.clip_loss`: ``forward(image_embeddings, text_embeddings)``."""

    function = clip_loss

    def __init__(
        self,
        *,
        logit_scale: float | Tensor = CLIP_INIT_LOGIT_SCALE,
        gather: str | None = "local",
        reduction: str = "mean",
    ) -> None:
        super().__init__(logit_scale=logit_scale, gather=gather, reduction=reduction)


class SigLIPLoss(LossModule):
    """Module form of :func:`losskit.siglip_loss`:
    ``forward(image_embeddings, text_embeddings)``."""

    function = siglip_loss

    def __init__(
        self,
        *,
        logit_scale: float | Tensor = SIGLIP_INIT_LOGIT_SCALE,
        logit_bias: float | Tensor = SIGLIP_INIT_LOGIT_BIAS,
        gather: str | None = "local",
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            logit_scale=logit_scale, logit_bias=logit_bias, gather=gather, reduction=reduction
        )


class SupConLoss(LossModule):
    """Module form of :func:`losskit.supcon`: ``forward(embeddings, labels)``."""

    function = supcon

    def __init__(
        self,
        *,
        temperature: float | Tensor = 0.07,
        gather: str | None = "local",
        reduction: str = "mean",
    ) -> None:
        super().__init__(temperature=temperature, gather=gather, reduction=reduction)
