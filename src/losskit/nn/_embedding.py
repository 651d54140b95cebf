"""Modules of the embedding losses."""

from __future__ import annotations

from losskit.losses._embedding import (
    contrastive,
    cosine_embedding,
    hinge_embedding,
    triplet_margin,
)
from losskit.nn._base import LossModule

__all__ = ["ContrastiveLoss", "CosineEmbeddingLoss", "HingeEmbeddingLoss", "TripletMarginLoss"]


class CosineEmbeddingLoss(LossModule):
    """Module form of :func:`losskit.cosine_embedding`:
    ``forward(embeddings1, embeddings2, targets)``."""

    function = cosine_embedding

    def __init__(self, *, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(margin=margin, reduction=reduction)


class HingeEmbeddingLoss(LossModule):
    """Module form of :func:`losskit.hinge_embedding`: ``forward(distances, targets)``."""

    function = hinge_embedding

    def __init__(self, *, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(margin=margin, reduction=reduction)


class TripletMarginLoss(LossModule):
    """Module form of :func:`losskit.triplet_margin`:
    ``forward(anchors, positives, negatives)``."""

    function = triplet_margin

    def __init__(
        self,
        *,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(margin=margin, p=p, eps=eps, swap=swap, reduction=reduction)


class ContrastiveLoss(LossModule):
    """Module form of :func:`losskit.contrastive` (the pair-margin loss, not NT-Xent):
    ``forward(embeddings, labels)``."""

    function = contrastive

    def __init__(
        self, *, pos_margin: float = 0.0, neg_margin: float = 1.0, reduction: str = "mean"
    ) -> None:
        super().__init__(pos_margin=pos_margin, neg_margin=neg_margin, reduction=reduction)
