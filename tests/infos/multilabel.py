"""LossInfo entries of the multilabel losses. References are float64 NumPy, written here."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tests.lossinfo import ErrorCase, LossInfo, Sample, add, bits, np_reduce, rand, randn


def _log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def _sigmoid(x):
    return np.exp(_log_sigmoid(x))


def _samples(soft: bool, *option_sets: dict):
    def make(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
        def targets(*shape):
            return rand(gen, *shape, dtype=dtype) if soft else bits(gen, *shape, dtype=dtype)

        # a single (C,) example is tested in tests/test_multilabel.py: the empty-batch
        # suite slices dim 0, which for it is the class dim
        out = [
            Sample(((3 * randn(gen, 7, 4)).to(dtype), targets(7, 4)), desc="(N, C)"),
        ]
        hot = torch.zeros(4, 6, dtype=dtype)
        hot[0, :] = 1  # every label positive
        hot[2, 1] = hot[2, 4] = 1  # row 1: no positive label
        out.append(Sample(((3 * randn(gen, 4, 6)).to(dtype), hot), desc="all and none positive"))
        for opts in option_sets:
            out.append(
                Sample(((3 * randn(gen, 6, 5)).to(dtype), targets(6, 5)), dict(opts), str(opts))
            )
        return out

    return make


def _errors(soft: bool) -> list[ErrorCase]:
    cases = [
        ErrorCase(
            (torch.zeros(8, 3), torch.zeros(8, 1)),
            {},
            r"logits \(8, 3\) vs targets \(8, 1\)",
            "would broadcast",
        ),
        ErrorCase(
            (torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)),
            {},
            r"shape \(N, C\) or \(C,\).*movedim",
            "3-D",
        ),
        ErrorCase(
            (torch.zeros(2, 3), torch.full((2, 3), 2.0)),
            {},
            r"targets must lie in \[0, 1\]",
            "range",
        ),
    ]
    if not soft:
        cases.append(
            ErrorCase((torch.zeros(2), torch.tensor([0.5, 1.0])), {}, "must be 0 or 1", "soft")
        )
    return cases


# ----------------------------------------------------------------------------- soft margin
def _msm_ref(x, t, *, reduction, weight=None):
    w = 1.0 if weight is None else weight
    per = -(w * (t * _log_sigmoid(x) + (1 - t) * _log_sigmoid(-x))).mean(axis=-1)
    return np_reduce(per, reduction)


def _msm_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = _samples(True)(gen, dtype)
    out.append(
        Sample(
            ((3 * randn(gen, 6, 5)).to(dtype), rand(gen, 6, 5, dtype=dtype)),
            {"weight": rand(gen, 5, dtype=dtype) + 0.3},
            "weight",
        )
    )
    return out


add(
    LossInfo(
        "multilabel_soft_margin",
        _msm_samples,
        _msm_ref,
        peer=F.multilabel_soft_margin_loss,
        soft_targets=True,
        weights=True,
        errors=lambda: [
            *_errors(soft=True),
            ErrorCase(
                (torch.zeros(2, 3), torch.zeros(2, 3)),
                {"weight": torch.ones(4)},
                r"weight of shape \(4,\) does not broadcast",
                "bad weight",
            ),
            ErrorCase(
                (torch.zeros(2, 3), torch.zeros(2, 3)),
                {"weight": torch.tensor([1.0, -1.0, 1.0])},
                r"weight must be >= 0",
                "negative weight",
            ),
        ],
    )
)


# ----------------------------------------------------------------------------- margin
def _mlm_ref(x, t, *, reduction):
    rows = np.atleast_2d(x)
    hot = np.atleast_2d(t) == 1
    c = rows.shape[1]
    # pairs (j positive, i negative): max(0, 1 - (x_j - x_i))
    gaps = np.maximum(0.0, 1 - (rows[:, :, None] - rows[:, None, :]))
    pairs = hot[:, :, None] & ~hot[:, None, :]
    per = (gaps * pairs).sum(axis=(1, 2)) / c
    return np_reduce(per.reshape(x.shape[:-1]), reduction)


def _torch_multilabel_margin(logits, targets, reduction="mean"):
    """torch's targets: the positive class indices, then -1 padding (built here with a loop)."""
    rows = targets.reshape(-1, targets.shape[-1])
    padded = torch.full(rows.shape, -1, dtype=torch.long)
    for n, row in enumerate(rows):
        idx = [c for c in range(row.numel()) if row[c] == 1]
        padded[n, : len(idx)] = torch.tensor(idx, dtype=torch.long)
    return F.multilabel_margin_loss(logits, padded.reshape(targets.shape), reduction=reduction)


add(
    LossInfo(
        "multilabel_margin",
        _samples(False),
        _mlm_ref,
        peer=_torch_multilabel_margin,
        gradgrad=False,  # torch's multilabel_margin_loss_backward has no derivative
        errors=lambda: [
            *_errors(soft=False),
            ErrorCase(
                (torch.zeros(1, 4), torch.tensor([[3, 0, -1, 1]])),
                {},
                "padded index format.*multi-hot",
                "torch's padded targets",
            ),
        ],
    )
)


# ----------------------------------------------------------------------------- ASL
def _asl_ref(x, t, *, reduction, gamma_pos=0.0, gamma_neg=4.0, clip=0.05):
    p = _sigmoid(x)
    p_m = np.maximum(p - clip, 0.0) if clip > 0 else p
    one_minus = np.minimum(_sigmoid(-x) + clip, 1.0) if clip > 0 else _sigmoid(-x)
    pos = -(_sigmoid(-x) ** gamma_pos) * _log_sigmoid(x)
    neg = -(p_m**gamma_neg) * np.log(one_minus)
    return np_reduce(t * pos + (1 - t) * neg, reduction)


def _official_asl(x, y, gamma_pos=0.0, gamma_neg=4.0, clip=0.05, reduction="mean"):
    """Ridnik et al.'s AsymmetricLoss (Alibaba-MIIL/ASL, src/loss_functions/losses.py), written out,
    with its eps = 1e-8 and the focusing weight differentiated. Its result is the sum: the
    reduction here maps it onto losskit's."""
    eps = 1e-8
    x_sigmoid = torch.sigmoid(x)
    xs_pos = x_sigmoid
    xs_neg = 1 - x_sigmoid
    if clip is not None and clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    los_pos = y * torch.log(xs_pos.clamp(min=eps))
    los_neg = (1 - y) * torch.log(xs_neg.clamp(min=eps))
    loss = los_pos + los_neg
    if gamma_neg > 0 or gamma_pos > 0:
        pt = xs_pos * y + xs_neg * (1 - y)
        one_sided_gamma = gamma_pos * y + gamma_neg * (1 - y)
        loss *= torch.pow(1 - pt, one_sided_gamma)
    return {"none": -loss, "sum": -loss.sum(), "mean": -loss.mean()}[reduction]


add(
    LossInfo(
        "asymmetric_loss",
        _samples(
            False,
            {"gamma_pos": 1.0, "gamma_neg": 2.0, "clip": 0.0},
            {"gamma_pos": 0.0, "gamma_neg": 0.5, "clip": 0.2},
            {"gamma_pos": 2.0, "gamma_neg": 0.0, "clip": 0.1},
        ),
        _asl_ref,
        peer=_official_asl,
        errors=lambda: [
            *_errors(soft=False)[:1],
            *_errors(soft=False)[2:],
            ErrorCase(
                (torch.zeros(2), torch.zeros(2)), {"clip": 1.0}, r"clip must lie in \[0", "clip"
            ),
            ErrorCase(
                (torch.zeros(2), torch.zeros(2)), {"gamma_neg": -1.0}, "gamma_neg must lie", "gamma"
            ),
        ],
    )
)
