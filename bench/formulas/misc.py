"""Plain-torch formulas of the misc losses that no installed library has: each is the
docstring's formula written the obvious way, reduced as the loss's default ``"mean"``."""

from __future__ import annotations

import math
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


def _siglip(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    img = torch.nn.functional.normalize(args[0], dim=1)
    txt = torch.nn.functional.normalize(args[1], dim=1)
    scale = kwargs.get("logit_scale", math.log(10.0))
    logits = img @ txt.T * math.exp(scale) + kwargs.get("logit_bias", -10.0)
    labels = 2 * torch.eye(len(logits), dtype=logits.dtype, device=logits.device) - 1
    out: Tensor = -torch.nn.functional.logsigmoid(labels * logits).sum(dim=1).mean()
    return out


def _load_balancing(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    logits = args[0]
    experts, k = logits.shape[-1], kwargs.get("top_k", 2)
    probs = torch.softmax(logits, dim=-1)
    chosen = torch.topk(probs, k, dim=-1).indices
    one_hot = torch.nn.functional.one_hot(chosen, experts).to(probs.dtype)  # (T, k, E)
    out: Tensor = experts * (one_hot.mean(0) * probs.mean(0)).sum()
    return out


FORMULAS: dict[str, tuple[str, Formula]] = {
    "ranking_softmax": ("-sum(y * log_softmax(s)) per list, mean over lists", _ranking_softmax),
    "load_balancing_loss": ("E * sum(one_hot(topk).mean(0) * softmax.mean(0))", _load_balancing),
    "siglip_loss": ("-logsigmoid((2 eye - 1) * (t cos + b)), summed per image", _siglip),
}
