"""Plain-torch formulas of the overlap losses that no installed library has: each is the
docstring's formula written the obvious way (softmax, one-hot targets, per image and class
sums), mean-reduced over images as the loss's default ``"mean"``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.formulas import Formula


def _focal_tversky(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    logits, labels = args
    alpha = kwargs.get("alpha", 0.3)
    beta = kwargs.get("beta", 0.7)
    gamma = kwargs.get("gamma", 4.0 / 3.0)
    smooth = kwargs.get("smooth", 1e-5)
    p = torch.softmax(logits, 1).flatten(2)
    t = F.one_hot(labels, logits.shape[1]).movedim(-1, 1).flatten(2).to(p.dtype)
    tp = (p * t).sum(-1)
    fp = (p * (1 - t)).sum(-1)
    fn = ((1 - p) * t).sum(-1)
    index = (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)
    loss: Tensor = ((1 - index) ** (1 / gamma)).mean(1).mean()
    return loss


FORMULAS: dict[str, tuple[str, Formula]] = {
    "focal_tversky": ("(1 - Tversky) ** (1/gamma) per class, softmax + one-hot", _focal_tversky),
}
