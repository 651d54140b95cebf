"""LossInfo entries of the multiclass losses. References are float64 NumPy, written here."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tests.lossinfo import (
    ErrorCase,
    LossInfo,
    Sample,
    add,
    labels,
    rand,
    randn,
)


# ----------------------------------------------------------------------------- multiclass
def _log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _class_ref(logp, y, *, reduction, weight=None, ignore_index=-100, label_smoothing=0.0):
    """NLL / CE from log-probabilities logp (N, C, *extra) or (C,), labels y."""
    axis = 0 if logp.ndim == 1 else 1
    c = logp.shape[axis]
    w = np.ones(c) if weight is None else weight
    valid = y != ignore_index
    ys = np.where(valid, y, 0)
    picked = np.take_along_axis(logp, np.expand_dims(ys, axis), axis=axis).squeeze(axis)
    wy = w[ys] * valid
    shape = [1] * logp.ndim
    shape[axis] = c
    smooth = -(logp * w.reshape(shape)).sum(axis=axis) / c * valid
    per = (1 - label_smoothing) * (-wy * picked) + label_smoothing * smooth
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    denom = wy.sum()
    return per.sum() / denom if denom != 0 else 0.0


def _ce_ref(x, y, **kw):
    return _class_ref(_log_softmax(x, 0 if x.ndim == 1 else 1), y, **kw)


def _class_samples(log: bool):
    def make(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
        def scores(*shape):
            x = 2 * randn(gen, *shape, dtype=torch.float64)
            return (torch.log_softmax(x, 0 if len(shape) == 1 else 1) if log else x).to(dtype)

        out = [
            Sample((scores(4), labels(gen, 4)), desc="unbatched (C,)"),
            Sample((scores(7, 5), labels(gen, 5, 7)), desc="(N, C)"),
            Sample((scores(2, 3, 5, 1), labels(gen, 3, 2, 5, 1)), desc="(N, C, H, W)"),
        ]
        y = labels(gen, 5, 9)
        y[::3] = -100
        w = rand(gen, 5, dtype=dtype) + 0.2
        out.append(Sample((scores(9, 5), y), {"weight": w}, "weight and ignored"))
        if not log:
            out.append(
                Sample(
                    (scores(9, 5), y),
                    {"weight": w, "label_smoothing": 0.2},
                    "weight, ignored, smoothing",
                )
            )
        return out

    return make


def _class_errors(name: str) -> list[ErrorCase]:
    x = torch.zeros(4, 3) if name == "logits" else torch.full((4, 3), -1.0)
    return [
        ErrorCase(
            (x, torch.tensor([1, 2, 3, 3])),
            {},
            r"labels must lie in \[0, 3\).*1-based",
            "label out of range",
        ),
        ErrorCase(
            (x, torch.tensor([0.0, 1.0, 2.0, 1.0])), {}, "integer class indices", "float labels"
        ),
        ErrorCase((x, torch.zeros(4, 1, dtype=torch.long)), {}, r"squeeze\(1\)", "labels (N, 1)"),
        ErrorCase(
            (x, torch.zeros(4, 3, dtype=torch.long)), {}, "soft_cross_entropy", "one-hot labels"
        ),
        ErrorCase((x[:, :1], torch.zeros(4, dtype=torch.long)), {}, "single class", "C = 1"),
        ErrorCase(
            (x, torch.zeros(4, dtype=torch.long)),
            {"weight": torch.ones(4)},
            r"weight must have shape \(3,\)",
            "bad weight",
        ),
        ErrorCase((x, torch.full((4,), 255)), {}, "ignore_index=255", "void label"),
    ]


add(
    LossInfo(
        "cross_entropy",
        _class_samples(log=False),
        _ce_ref,
        peer=F.cross_entropy,
        ignore_index=True,
        weights=True,
        errors=lambda: [
            *_class_errors("logits"),
            ErrorCase(
                (torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)),
                {"label_smoothing": 1.5},
                r"label_smoothing must lie in \[0",
                "smoothing",
            ),
        ],
    )
)
add(
    LossInfo(
        "nll",
        _class_samples(log=True),
        _class_ref,
        peer=F.nll_loss,
        ignore_index=True,
        weights=True,
        errors=lambda: [
            *_class_errors("log_probs"),
            ErrorCase(
                (torch.randn(4, 3).abs() + 0.1, torch.zeros(4, dtype=torch.long)),
                {},
                "must be log-probabilities",
                "logits given to nll",
            ),
        ],
    )
)
