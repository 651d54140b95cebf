"""LossInfo entries of the regression losses. References are float64 NumPy, written here."""

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
    np_reduce,
    randn,
)


# ----------------------------------------------------------------------------- regression
def _regression_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    return [
        Sample((randn(gen, *s, dtype=dtype), randn(gen, *s, dtype=dtype)), desc=str(s))
        for s in ELEMENTWISE_SHAPES
    ]


def _regression_errors() -> list[ErrorCase]:
    return [
        ErrorCase(
            (torch.zeros(64, 1), torch.zeros(64)),
            {},
            r"\(64, 1\) vs targets \(64,\).*"
            r"broadcast to \(64, 64\).*squeeze",
            "rank off by one",
        ),
        ErrorCase((torch.zeros(3, 5), torch.zeros(5, 3)), {}, "transpose", "transposed"),
        ErrorCase(
            (torch.zeros(3, dtype=torch.long), torch.zeros(3)), {}, "floating", "integer preds"
        ),
        ErrorCase(
            (torch.zeros(3), torch.zeros(3)),
            {"reduction": "elementwise_mean"},
            "reduction must be one of",
            "bad reduction",
        ),
    ]


def _mse_ref(p, t, *, reduction):
    return np_reduce((p - t) ** 2, reduction)


def _mae_ref(p, t, *, reduction):
    return np_reduce(np.abs(p - t), reduction)


def _rmse_ref(p, t, *, reduction):
    assert reduction == "mean"
    return np.sqrt(((p - t) ** 2).mean()) if p.size else 0.0


add(LossInfo("mse", _regression_samples, _mse_ref, peer=F.mse_loss, errors=_regression_errors))
add(LossInfo("mae", _regression_samples, _mae_ref, peer=F.l1_loss, errors=_regression_errors))
add(
    LossInfo(
        "rmse",
        _regression_samples,
        _rmse_ref,
        errors=lambda: [
            *_regression_errors()[:3],
            ErrorCase(
                (torch.zeros(3), torch.zeros(3)),
                {"reduction": "sum"},
                "reduction must be one of "
                r"\('mean',\)",
                "rmse has no sum",
            ),
        ],
    )
)
