"""LossInfo entries of the mixture-of-experts auxiliary losses. References are float64 NumPy,
written here (the router z-loss is z_loss, whose entry is in multiclass.py)."""

from __future__ import annotations

import numpy as np
import torch

from tests.lossinfo import ErrorCase, LossInfo, Sample, add, randn


def load_balancing_ref(logits, mask=None, *, reduction, top_k=2):
    """E * sum_e f_e P_e: f_e the share of tokens whose top-k includes e, P_e the mean
    router probability, both over the real tokens."""
    assert reduction == "mean"
    e = logits.shape[-1]
    z = logits.reshape(-1, e).astype(np.float64)
    real = np.ones(len(z), dtype=bool) if mask is None else mask.reshape(-1).astype(bool)
    z = z[real]
    if len(z) == 0:
        return 0.0
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    top = np.argsort(-z, axis=1, kind="stable")[:, :top_k]
    f = np.zeros(e)
    for row in top:
        f[row] += 1.0
    f /= len(z)
    return e * float((f * p.mean(axis=0)).sum())


def _samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for shape, k, desc in (((6, 4), 1, "Switch, top-1"), ((9, 8), 2, "Mixtral, top-2"),
                           ((2, 5, 6), 3, "(batch, seq, experts), top-3"), ((1, 2), 2, "top-k = E")):  # fmt: skip
        out.append(Sample((3 * randn(gen, *shape, dtype=dtype),), {"top_k": k}, desc))
    x = 3 * randn(gen, 3, 4, 5, dtype=dtype)
    mask = torch.tensor([[True, True, False, False], [True] * 4, [True, False, False, False]])
    out.append(Sample((x, mask), {"top_k": 2}, "padding masked"))
    out.append(Sample((x, torch.zeros(3, 4, dtype=torch.bool)), {"top_k": 1}, "all padding"))
    return out


def _errors() -> list[ErrorCase]:
    x = torch.randn(6, 4)
    return [
        ErrorCase((x[0],), {}, r"router_logits must have shape \(tokens, experts\)", "1-D"),
        ErrorCase((x[:, :1],), {"top_k": 1}, "at least 2 experts", "one expert"),
        ErrorCase((x,), {"top_k": 5}, r"top_k must be at most the number of experts \(4", "k > E"),
        ErrorCase((x,), {"top_k": 0}, "top_k", "k = 0"),
        ErrorCase((x,), {"top_k": 1.5}, "top_k", "fractional k"),
        ErrorCase((x.long(),), {}, "router_logits must be a floating tensor", "integer logits"),
        ErrorCase((x, torch.ones(6)), {}, "mask must be a bool tensor", "float mask"),
        ErrorCase((x, torch.ones(4, dtype=torch.bool)), {}, r"mask must have the shape", "mask"),
        ErrorCase((x,), {"reduction": "sum"}, "reduction", "sum refused"),
    ]


add(
    LossInfo(
        "load_balancing_loss",
        _samples,
        load_balancing_ref,
        errors=_errors,
        empty_ok=True,
        rows_independent=False,  # a product of two means over the tokens
        permutation_invariant=True,
        gradgrad=True,
    )
)
