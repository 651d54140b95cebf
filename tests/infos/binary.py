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


def _bcel_ref(x, t, *, reduction, weight=None, pos_weight=None, label_smoothing=0.0):
    pw = 1.0 if pos_weight is None else pos_weight
    w = 1.0 if weight is None else weight
    t = t * (1 - label_smoothing) + label_smoothing / 2
    return np_reduce(-w * (pw * t * _log_sigmoid(x) + (1 - t) * _log_sigmoid(-x)), reduction)


def _torch_bcel(logits, targets, *, label_smoothing=0.0, **kwargs):
    """torch has no label_smoothing here: the smoothed targets t (1 - e) + e / 2, passed on."""
    targets = targets * (1 - label_smoothing) + label_smoothing / 2
    return F.binary_cross_entropy_with_logits(logits, targets, **kwargs)


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
    out.append(
        Sample(
            (3 * randn(gen, 4, 3, dtype=dtype), rand(gen, 4, 3, dtype=dtype)),
            {"label_smoothing": 0.2, "pos_weight": pw[:3]},
            "label_smoothing and pos_weight",
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
            ErrorCase(
                (torch.full((3,), 0.5), torch.zeros(3)),
                {"weight": torch.tensor([1.0, -1.0, 1.0])},
                r"weight must be >= 0",
                "negative weight",
            ),
        ],
    )
)
add(
    LossInfo(
        "bce_with_logits",
        _bcel_samples,
        _bcel_ref,
        peer=_torch_bcel,
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
            ErrorCase(
                (torch.zeros(3), torch.zeros(3)),
                {"pos_weight": torch.tensor([1.0, -2.0, 1.0])},
                r"pos_weight must be >= 0",
                "negative pos_weight",
            ),
            ErrorCase(
                (torch.zeros(3), torch.zeros(3)),
                {"weight": torch.tensor([1.0, float("nan"), 1.0])},
                r"weight holds non-finite values",
                "NaN weight",
            ),
            ErrorCase(
                (torch.zeros(2), torch.zeros(2)),
                {"label_smoothing": -0.1},
                r"label_smoothing must lie in \[0",
                "smoothing below 0",
            ),
        ],
    )
)


# ----------------------------------------------------------------------------- focal
def _focal_ref(x, t, *, reduction, alpha=0.25, gamma=2.0):
    # 1 - p_t from the two sigmoids directly (no cancellation in 1 - sigmoid(x))
    one_minus_pt = t * _sigmoid(-x) + (1 - t) * _sigmoid(x)
    ce = -(t * _log_sigmoid(x) + (1 - t) * _log_sigmoid(-x))
    a = 1.0 if alpha is None else alpha * t + (1 - alpha) * (1 - t)
    return np_reduce(a * one_minus_pt**gamma * ce, reduction)


def _torchvision_focal(inputs, targets, alpha=0.25, gamma=2.0, reduction="mean"):
    """torchvision.ops.sigmoid_focal_loss (0.28), written out: torchvision is not installed
    here. Its alpha=-1 is losskit's alpha=None."""
    alpha = -1 if alpha is None else alpha
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


def _focal_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = _binary_samples(soft=False)(gen, dtype)
    options = [
        {"gamma": 0.5, "alpha": None},
        {"gamma": 0.0, "alpha": 0.6},
        {"gamma": 3.0, "alpha": 0.9},
    ]
    for opts in options:
        x, t = 3 * randn(gen, 6, 4, dtype=dtype), bits(gen, 6, 4, dtype=dtype)
        out.append(Sample((x, t), opts, f"hard targets {opts}"))
    x, t = 3 * randn(gen, 5, 3, dtype=dtype), rand(gen, 5, 3, dtype=dtype)
    out.append(Sample((x, t), {}, "soft targets"))
    return out


add(
    LossInfo(
        "sigmoid_focal",
        _focal_samples,
        _focal_ref,
        peer=_torchvision_focal,
        soft_targets=True,
        errors=lambda: [
            *_binary_errors("logits"),
            ErrorCase(
                (torch.zeros(2), torch.zeros(2)), {"gamma": -1.0}, r"gamma must lie in", "gamma"
            ),
            ErrorCase(
                (torch.zeros(2), torch.zeros(2)), {"alpha": 1.5}, r"alpha must lie in", "alpha"
            ),
        ],
    )
)


# ----------------------------------------------------------------------------- margin losses
def _sign(t):
    return 2 * t - 1


def _hard_errors() -> list[ErrorCase]:
    return [
        *_binary_errors("logits"),
        ErrorCase((torch.zeros(2), torch.tensor([0.5, 1.0])), {}, "must be 0 or 1", "soft target"),
    ]


def _margin_info(name, per_element, peer=None, **kw):
    def ref(x, t, *, reduction):
        return np_reduce(per_element(_sign(t) * x), reduction)

    return add(
        LossInfo(name, _binary_samples(soft=False), ref, peer=peer, errors=_hard_errors, **kw)
    )


def _torch_soft_margin(x, t, reduction="mean"):
    """torch's soft_margin_loss takes -1/+1 targets."""
    return F.soft_margin_loss(x, 2 * t - 1, reduction=reduction)


_margin_info("hinge", lambda m: np.maximum(0.0, 1 - m))
_margin_info("squared_hinge", lambda m: np.maximum(0.0, 1 - m) ** 2)
_margin_info("soft_margin", lambda m: np.logaddexp(0.0, -m), peer=_torch_soft_margin)
_margin_info("perceptron", lambda m: np.maximum(0.0, -m))
# exp(1e4) is infinite: the true value, documented
_margin_info("exponential", lambda m: np.exp(-m), extreme_ok=False)


# ----------------------------------------------------------------------------- brier
def _brier_ref(p, t, *, reduction):
    return np_reduce((p - t) ** 2, reduction)


add(
    LossInfo(
        "brier",
        _binary_samples(soft=True, probs=True),
        _brier_ref,
        peer=F.mse_loss,
        soft_targets=True,
        errors=lambda: [
            *_binary_errors("probs"),
            ErrorCase(
                (torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0])),
                {},
                "must be probabilities",
                "logits given to brier",
            ),
        ],
    )
)
