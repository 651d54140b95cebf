"""Plain-torch formulas of the misc losses that no installed library has: each is the
docstring's formula written the obvious way, reduced as the loss's default ``"mean"``."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bench.formulas import Formula


def _ranking_softmax(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    scores, relevance = args[0], args[1]
    mask = args[2] if len(args) > 2 else kwargs.get("mask")
    y = relevance.to(scores.dtype)
    s = scores
    if mask is not None:
        y = y * mask
        s = s.masked_fill(~mask, torch.finfo(s.dtype).min)
    loss = -(y * torch.log_softmax(s, dim=-1)).sum(dim=-1)
    if mask is not None:
        out: Tensor = loss.sum() / mask.any(dim=-1).sum().clamp(min=1)
        return out
    out = loss.mean()
    return out


FORMULAS: dict[str, tuple[str, Formula]] = {
    "ranking_softmax": ("-sum(y * log_softmax(s)) per list, mean over lists", _ranking_softmax),
}
