"""LossInfo entries of the binary losses. References are float64 NumPy, written here."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tests.lossinfo import (
    ELEMENTWISE_SHAPES,
    ErrorCase,
    LossInfo,
    Sample,
    add,
    bits,
    np_reduce,
    rand,
    randn,
)


# ----------------------------------------------------------------------------- binary
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def _binary_samples(soft: bool, probs: bool = False):
    def make(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
        out = []
        for s in ELEMENTWISE_SHAPES:
            preds = (
                (rand(gen, *s, dtype=dtype) * 0.98 + 0.01)
                if probs
                else 3 * randn(gen, *s, dtype=dtype)
            )
            targets = rand(gen, *s, dtype=dtype) if soft else bits(gen, *s, dtype=dtype)
            out.append(Sample((preds, targets), desc=str(s)))
        return out

    return make


def _binary_errors(name: str) -> list[ErrorCase]:
    return [
        ErrorCase(
            (torch.zeros(8, 1), torch.zeros(8)),
            {},
            rf"{name} \(8, 1\) vs targets \(8,\)",
            "rank off by one",
        ),
        ErrorCase(
            (torch.full((3,), 0.5), torch.tensor([0.0, 2.0, 1.0])),
            {},
            r"targets must lie in \[0, 1\]",
            "target out of range",
        ),
        ErrorCase(
            (torch.full((2,), 0.5), torch.tensor([-1.0, 1.0])),
            {},
            r"\(targets \+ 1\) / 2",
            "SVM-style targets",
        ),
    ]


def _mnist_ref(x, t, *, reduction):
    p = _sigmoid(x)
    return np_reduce(np.where(t == 1, 1 - p, p), reduction)


def _bce_ref(p, t, *, reduction, weight=None):
    logp = np.maximum(np.log(p), -100)
    log1mp = np.maximum(np.log(1 - p), -100)
    w = 1.0 if weight is None else weight
    return np_reduce(-w * (t * logp + (1 - t) * log1mp), reduction)


def _bcel_ref(x, t, *, reduction, weight=None, pos_weight=None):
    pw = 1.0 if pos_weight is None else pos_weight
    w = 1.0 if weight is None else weight
    return np_reduce(-w * (pw * t * _log_sigmoid(x) + (1 - t) * _log_sigmoid(-x)), reduction)


def _bcel_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = _binary_samples(soft=True)(gen, dtype)
    x, t = 3 * randn(gen, 6, 4, dtype=dtype), bits(gen, 6, 4, dtype=dtype)
    pw, w = rand(gen, 4, dtype=dtype) + 0.5, rand(gen, 6, 1, dtype=dtype)
    out.append(
        Sample(
            (x, t),
            {"pos_weight": pw, "weight": w},
            "pos_weight and weight",
        )
    )
    return out


def _bce_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = _binary_samples(soft=True, probs=True)(gen, dtype)
    p, t, w = (
        rand(gen, 5, 3, dtype=dtype) * 0.9 + 0.05,
        rand(gen, 5, 3, dtype=dtype),
        rand(gen, 3, dtype=dtype),
    )
    out.append(Sample((p, t), {"weight": w}, "weight"))
    return out


add(
    LossInfo(
        "mnist_loss",
        _binary_samples(soft=False),
        _mnist_ref,
        errors=lambda: [
            *_binary_errors("logits"),
            ErrorCase(
                (torch.zeros(2), torch.tensor([0.5, 1.0])), {}, "must be 0 or 1", "soft target"
            ),
        ],
    )
)
add(
    LossInfo(
        "bce",
        _bce_samples,
        _bce_ref,
        peer=F.binary_cross_entropy,
        soft_targets=True,
        weights=True,
        dtypes=(torch.float32, torch.float64, torch.bfloat16),
        errors=lambda: [
            *_binary_errors("probs"),
            ErrorCase(
                (torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0])),
                {},
                "must be probabilities.*with_logits",
                "logits given to bce",
            ),
        ],
    )
)
add(
    LossInfo(
        "bce_with_logits",
        _bcel_samples,
        _bcel_ref,
        peer=F.binary_cross_entropy_with_logits,
        soft_targets=True,
        weights=True,
        errors=lambda: [
            *_binary_errors("logits"),
            ErrorCase(
                (torch.zeros(4, 3), torch.zeros(4, 3)),
                {"pos_weight": torch.ones(4)},
                r"pos_weight of shape \(4,\) does not broadcast",
                "bad pos_weight",
            ),
        ],
    )
)
