"""LossInfo entries of the policy-gradient losses. References are float64 NumPy, written here
from the formulas of the papers (PPO, DeepSeekMath's GRPO, DAPO, Dr. GRPO) and TRL's
``GRPOTrainer`` loss types.

``loss_type="cispo"`` has no sample here: its importance weight is detached, so its gradient is
not the derivative of its value, which gradcheck and the finite differences of a reference
assume. ``tests/test_policy.py`` checks its value and its gradient against NumPy.
"""

from __future__ import annotations

import numpy as np
import torch

from tests.lossinfo import ErrorCase, LossInfo, Sample, add, rand, randn


def _pg_ref(
    lp,
    old,
    adv,
    mask=None,
    ref=None,
    *,
    reduction,
    loss_type="dapo",
    epsilon=0.2,
    epsilon_high=None,
    delta=None,
    ratio_level="token",
    beta=0.0,
    max_tokens=None,
):
    n, t = lp.shape
    m = np.ones((n, t)) if mask is None else mask.astype(np.float64)
    a = np.broadcast_to(adv[:, None] if adv.ndim == 1 else adv, (n, t))
    r = np.exp(lp - old)
    if ratio_level == "sequence":  # GSPO: the geometric mean of each sequence's counted ratios
        log_r = np.where(m != 0, (lp - old) * m, 0.0).sum(axis=1, keepdims=True)
        r = np.broadcast_to(np.exp(log_r / np.maximum(m.sum(axis=1, keepdims=True), 1.0)), (n, t))
    hi = epsilon if epsilon_high is None else epsilon_high
    clipped = np.clip(r, 1 - epsilon, 1 + hi)
    if loss_type == "cispo":
        per = -clipped * a * lp  # the weight's detachment changes only the gradient
    else:
        unclipped = r if delta is None else np.minimum(r, delta)
        per = -np.minimum(unclipped * a, clipped * a)
    if ref is not None:
        d = ref - lp
        per = per + beta * (np.exp(d) - d - 1)
    per = np.where(m != 0, per * m, 0.0)
    if loss_type == "grpo":  # each sequence's mean over its tokens (at least 1), then over N
        per = per / np.maximum(m.sum(axis=1, keepdims=True), 1.0)
        denom = n
    elif loss_type == "dr_grpo":
        denom = n * (t if max_tokens is None else max_tokens)
    else:  # bnpo, dapo, cispo: over the counted tokens of the batch
        denom = m.sum()
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return per.sum() / denom if denom else 0.0


def _pg_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    def rollouts(n, t, *, per_token=False, float_mask=False, reference=False):
        lp = -(rand(gen, n, t) * 2 + 0.05)
        # the sampling policy a step away: ratios on both sides of the clip range
        old = -(lp + 0.3 * randn(gen, n, t)).abs()
        adv = randn(gen, n, t) if per_token else randn(gen, n)
        lengths = torch.randint(1, t + 1, (n, 1), generator=gen)
        mask = torch.arange(t) < lengths
        args = [lp.to(dtype), old.to(dtype), adv.to(dtype), mask.to(dtype) if float_mask else mask]
        if reference:
            args.append((-(lp + 0.2 * randn(gen, n, t)).abs()).to(dtype))
        return tuple(args)

    return [
        # first: no mask (the non-finite suite puts a NaN in the first token)
        Sample(rollouts(5, 7)[:3], desc="(N, T), advantages (N,), dapo", grad_args=(0, 1, 2)),
        Sample(rollouts(6, 8), {"loss_type": "grpo"}, "grpo, a padding mask"),
        Sample(
            rollouts(4, 6, per_token=True, float_mask=True),
            {"loss_type": "bnpo"},
            "bnpo, advantages (N, T), a 0/1 float mask",
        ),
        Sample(rollouts(5, 7), {"loss_type": "dr_grpo", "max_tokens": 10}, "dr_grpo"),
        Sample(rollouts(5, 7), {"loss_type": "dr_grpo"}, "dr_grpo, max_tokens = T"),
        Sample(rollouts(1, 5), {"loss_type": "grpo"}, "one sequence"),
        Sample(
            rollouts(5, 7),
            {"loss_type": "dapo", "epsilon_high": 0.28, "delta": 1.5},
            "dapo clip-higher, delta",
        ),
        Sample(
            rollouts(5, 7),
            {"loss_type": "bnpo", "epsilon": 0.1, "epsilon_high": 0.05},
            "bnpo, a narrower upper clip",
        ),
        Sample(
            rollouts(6, 8),
            {"loss_type": "grpo", "ratio_level": "sequence", "epsilon": 0.05},
            "gspo: one ratio per sequence",
            grad_args=(0, 1),
        ),
        Sample(
            rollouts(4, 6, per_token=True, float_mask=True),
            {"ratio_level": "sequence", "epsilon": 0.05},
            "sequence ratio, advantages (N, T)",
        ),
        # last: the traced suites use it (every positional tensor given)
        Sample(
            rollouts(5, 7, reference=True),
            {"loss_type": "grpo", "beta": 0.04},
            "grpo with the k3 KL to a reference",
            grad_args=(0, 4),
        ),
    ]


def _pg_errors() -> list[ErrorCase]:
    lp = torch.full((2, 3), -1.0)
    adv = torch.ones(2)
    mask = torch.ones(2, 3, dtype=torch.bool)
    return [
        ErrorCase((lp, lp, adv, mask[:, :2]), {}, r"log_probs \(2, 3\) vs mask \(2, 2\)", "mask"),
        ErrorCase(
            (lp, torch.full((3, 2), -1.0), adv),
            {},
            r"log_probs \(2, 3\) vs old_log_probs \(3, 2\)",
            "old shape",
        ),
        ErrorCase(
            (lp, lp, adv, mask, lp[:, :1]),
            {"beta": 0.1},
            r"log_probs \(2, 3\) vs reference_log_probs \(2, 1\)",
            "reference shape",
        ),
        ErrorCase((lp, lp, adv[:, None]), {}, r"advantages.squeeze\(1\)", "advantages (N, 1)"),
        ErrorCase((lp, lp, torch.ones(3)), {}, r"advantages must have shape \(2,\)", "(M,)"),
        ErrorCase((-lp, lp, adv), {}, "log_probs must be log-probabilities", "logits"),
        ErrorCase((lp, -lp, adv), {}, "old_log_probs must be log-probabilities", "old"),
        ErrorCase(
            (lp, lp, adv, mask, -lp),
            {"beta": 0.1},
            "reference_log_probs must be log-probabilities",
            "reference",
        ),
        ErrorCase((lp, lp, adv), {"epsilon": 0.0}, r"epsilon must lie in \(0, 1\]", "eps 0"),
        ErrorCase((lp, lp, adv), {"epsilon": 1.5}, r"epsilon must lie in \(0, 1\]", "eps > 1"),
        ErrorCase(
            (lp, lp, adv), {"epsilon_high": -0.1}, r"epsilon_high must lie in \(0", "eps_high"
        ),
        ErrorCase(
            (lp, lp, adv),
            {"loss_type": "dapo", "epsilon_high": 0.1},
            "clip ranges out of order.*clips higher",
            "dapo",
        ),
        ErrorCase(
            (lp, lp, adv), {"delta": 1.1}, r"clip ranges out of order: delta must be > 1", "delta"
        ),
        ErrorCase((lp, lp, adv), {"loss_type": "cispo", "delta": 3.0}, "drop delta", "cispo"),
        ErrorCase((lp, lp, adv), {"beta": -0.1}, r"beta must lie in \[0", "beta < 0"),
        ErrorCase((lp, lp, adv), {"beta": 0.1}, "reference_log_probs is None", "no reference"),
        ErrorCase((lp, lp, adv), {"loss_type": "ppo"}, "loss_type must be one of", "loss_type"),
        ErrorCase((lp, lp, adv), {"ratio_level": "seq"}, "ratio_level must be one of", "level"),
        ErrorCase((lp, lp, adv), {"max_tokens": 8}, "max_tokens is dr_grpo's", "max_tokens"),
        ErrorCase(
            (lp, lp, adv), {"loss_type": "dr_grpo", "max_tokens": 2}, "below the padded", "T"
        ),
        ErrorCase((lp[0], lp[0], adv), {}, r"log_probs.unsqueeze\(0\)", "1-D"),
        ErrorCase((lp, lp, adv, mask * 2), {}, r"mask must lie in \[0, 1\]", "mask values"),
        ErrorCase(
            (lp, lp, adv),
            {"normalizer": 6.0, "reduction": "sum"},
            "normalizer applies to reduction='mean'",
            "normalizer",
        ),
        ErrorCase((lp.long(), lp, adv), {}, "log_probs must be a floating tensor", "integer"),
    ]


add(
    LossInfo(
        "policy_gradient",
        _pg_samples,
        _pg_ref,
        errors=_pg_errors,
        # the clip is a kink: low precision can move a ratio across it (the value stays close)
        tolerances={torch.float16: (3e-2, 3e-2), torch.bfloat16: (8e-2, 8e-2)},
    )
)
