"""Modules of the sequence losses."""

from __future__ import annotations

from losskit.losses._sequence import ctc
from losskit.nn._base import LossModule

__all__ = ["CTCLoss"]


class CTCLoss(LossModule):
    """Module form of :func:`losskit.ctc`:
    ``forward(log_probs, targets, input_lengths, target_lengths)``."""

    function = ctc

    def __init__(
        self, *, blank: int = 0, zero_infinity: bool = False, reduction: str = "mean"
    ) -> None:
        super().__init__(blank=blank, zero_infinity=zero_infinity, reduction=reduction)
