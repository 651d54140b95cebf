"""Module forms of the mixture-of-experts auxiliary losses."""

from __future__ import annotations

from losskit.losses._moe import load_balancing_loss
from losskit.nn._base import LossModule

__all__ = ["LoadBalancingLoss"]


class LoadBalancingLoss(LossModule):
    """Module form of :func:`losskit.load_balancing_loss`: ``forward(router_logits, mask=None)``."""

    function = load_balancing_loss

    def __init__(self, *, top_k: int = 2, reduction: str = "mean") -> None:
        super().__init__(top_k=top_k, reduction=reduction)
