"""Plain-torch formula of the policy-gradient loss: the docstring's per-token clipped surrogate
(or CISPO's detached weight) and k3 KL, masked, then normalised as ``loss_type`` says, written
the way a training script would (TRL's ``GRPOTrainer`` style), reduced as ``"mean"``."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bench.formulas import Formula


def _policy_gradient(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    log_probs, old, advantages = args[0], args[1], args[2]
    mask = args[3] if len(args) > 3 else kwargs.get("mask")
    ref = args[4] if len(args) > 4 else kwargs.get("reference_log_probs")
    loss_type = kwargs.get("loss_type", "dapo")
    eps_low = kwargs.get("epsilon", 0.2)
    eps_high = kwargs.get("epsilon_high") or eps_low
    beta = kwargs.get("beta", 0.0)
    n, t = log_probs.shape
    m = torch.ones_like(log_probs) if mask is None else mask.to(log_probs.dtype)
    a = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
    ratio = torch.exp(log_probs - old)
    if loss_type == "cispo":
        per = -torch.clamp(ratio, 1 - eps_low, 1 + eps_high).detach() * a * log_probs
    else:
        clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
        per = -torch.min(ratio * a, clipped * a)
    if ref is not None and beta:
        per = per + beta * (torch.exp(ref - log_probs) - (ref - log_probs) - 1)
    if loss_type == "grpo":
        return ((per * m).sum(-1) / m.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "dr_grpo":
        return (per * m).sum() / (n * kwargs.get("max_tokens", t))
    return (per * m).sum() / m.sum().clamp(min=1.0)


FORMULAS: dict[str, tuple[str, Formula]] = {
    "policy_gradient": (
        "-min(r A, clip(r) A) per token, masked, / tokens (TRL-style)",
        _policy_gradient,
    ),
}
