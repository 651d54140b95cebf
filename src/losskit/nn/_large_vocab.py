"""Modules of the large_vocab losses."""

from __future__ import annotations

from torch import Tensor

from losskit.losses._large_vocab import linear_cross_entropy
from losskit.nn._base import LossModule

__all__ = ["LinearCrossEntropyLoss"]


class LinearCrossEntropyLoss(LossModule):
    """Module form of :func:`losskit.linear_cross_entropy`.

    ``forward(hidden, weight, labels, bias=None)``: the classifier is an input, not a parameter
    of this Module, so the model keeps owning its LM head (``loss(h, model.lm_head.weight, y,
    model.lm_head.bias)``). A ``bias`` given to ``__init__`` is a fixed buffer, used when
    ``forward`` gets none.
    """

    function = linear_cross_entropy

    def __init__(
        self,
        *,
        bias: Tensor | None = None,
        ignore_index: int | None = -100,
        label_smoothing: float = 0.0,
        z_loss: float = 0.0,
        softcap: float | None = None,
        reduction: str = "mean",
        chunk_size: int | None = None,
    ) -> None:
        super().__init__(
            bias=bias,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            z_loss=z_loss,
            softcap=softcap,
            reduction=reduction,
            chunk_size=chunk_size,
        )

    def forward(  # type: ignore[override]
        self, hidden: Tensor, weight: Tensor, labels: Tensor, bias: Tensor | None = None
    ) -> Tensor:
        options = {key: getattr(self, key) for key in self._option_names}
        if bias is not None:
            options["bias"] = bias
        return type(self).function(hidden, weight, labels, **options)
