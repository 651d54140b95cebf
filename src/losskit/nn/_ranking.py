"""Modules of the ranking losses."""

from __future__ import annotations

from losskit.losses._ranking import margin_ranking, ranking_softmax
from losskit.nn._base import LossModule

__all__ = ["MarginRankingLoss", "RankingSoftmaxLoss"]


class MarginRankingLoss(LossModule):
    """Module form of :func:`losskit.margin_ranking`: ``forward(scores1, scores2, targets)``."""

    function = margin_ranking

    def __init__(self, *, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(margin=margin, reduction=reduction)


class RankingSoftmaxLoss(LossModule):
    """Module form of :func:`losskit.ranking_softmax`: ``forward(scores, relevance, mask=None)``."""

    function = ranking_softmax

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
