"""LossInfo entries of the ranking losses. References are float64 NumPy, written here from the
formulas (PyTorch's docs, optax's ranking_softmax_loss), never by calling losskit or a torch
loss."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tests.lossinfo import ELEMENTWISE_SHAPES, ErrorCase, LossInfo, Sample, add, np_reduce, randn


def _signs(gen: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return (2 * torch.randint(0, 2, shape, generator=gen) - 1).to(dtype)


def _sign_errors(*args: torch.Tensor, at: int) -> list[ErrorCase]:
    """0/1 targets (the silent PyTorch trap) and a rank-off-by-one target at position ``at``."""
    zero_one = list(args)
    zero_one[at] = torch.tensor([0.0, 1.0, 1.0, 0.0])[: args[at].numel()].reshape(args[at].shape)
    out = [ErrorCase(tuple(zero_one), {}, r"-1 or \+1.*2 \* targets - 1", "0/1 targets")]
    twos = list(args)
    twos[at] = torch.full_like(args[at], 2.0)
    out.append(ErrorCase(tuple(twos), {}, r"must be -1 or \+1, got 2", "target 2"))
    return out


# ----------------------------------------------------------------------------- margin_ranking
def _margin_ranking_ref(s1, s2, y, *, reduction, margin=0.0):
    return np_reduce(np.maximum(0.0, -y * (s1 - s2) + margin), reduction)


def _margin_ranking_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for k, s in enumerate(ELEMENTWISE_SHAPES):
        args = (
            randn(gen, *s, dtype=dtype),
            randn(gen, *s, dtype=dtype),
            _signs(gen, *s, dtype=dtype),
        )
        kwargs = {"margin": 0.3} if k % 2 else {}
        out.append(Sample(args, kwargs, desc=f"{s} {kwargs}", grad_args=(0, 1)))
    # integer targets are accepted
    out.append(
        Sample(
            (
                randn(gen, 6, dtype=dtype),
                randn(gen, 6, dtype=dtype),
                _signs(gen, 6, dtype=torch.int64),
            ),
            {"margin": -0.2},
            "int targets, negative margin",
            grad_args=(0, 1),
        )
    )
    return out


add(
    LossInfo(
        "margin_ranking",
        _margin_ranking_samples,
        _margin_ranking_ref,
        peer=F.margin_ranking_loss,
        errors=lambda: [
            *_sign_errors(torch.zeros(4), torch.ones(4), torch.ones(4), at=2),
            ErrorCase(
                (torch.zeros(4, 1), torch.zeros(4), torch.ones(4)),
                {},
                r"scores1 \(4, 1\) vs scores2 \(4,\)",
                "rank off by one",
            ),
            ErrorCase(
                (torch.zeros(4), torch.zeros(4), torch.ones(4, 1)),
                {},
                r"scores1 \(4,\) vs targets \(4, 1\)",
                "targets (N, 1)",
            ),
            ErrorCase(
                (torch.zeros(2, dtype=torch.long), torch.zeros(2), torch.ones(2)),
                {},
                "scores1 must be a floating tensor",
                "integer scores",
            ),
        ],
    )
)


# ----------------------------------------------------------------------------- ranking_softmax
def _log_softmax_last(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def _ranking_softmax_ref(s, y, mask=None, *, reduction):
    valid = np.ones(s.shape, dtype=bool) if mask is None else mask.astype(bool)
    y = y.astype(np.float64)
    loss = np.zeros(s.shape[:-1])
    for idx in np.ndindex(*s.shape[:-1]):
        keep = valid[idx]
        if keep.any():  # the softmax over the real items only
            loss[idx] = -(y[idx][keep] * _log_softmax_last(s[idx][keep])).sum()
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    counted = valid.any(axis=-1)
    return loss[counted].sum() / counted.sum() if counted.any() else 0.0


def _ranking_softmax_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    graded = torch.randint(0, 4, (4, 6), generator=gen)
    out.append(Sample((randn(gen, 4, 6, dtype=dtype), graded.to(dtype)), desc="graded (4, 6)"))
    # one list of int relevance (a 1-D list is tested in test_ranking.py: the generic empty-batch
    # test would slice its items, not its lists)
    out.append(
        Sample(
            (randn(gen, 1, 5, dtype=dtype), torch.tensor([[0, 1, 0, 0, 1]])), desc="one list, int"
        )
    )
    binary = torch.zeros(2, 3, 4)
    binary[..., 0] = 1.0
    binary[1, 2] = 0.0  # a list with no relevant item: loss 0
    out.append(Sample((2 * randn(gen, 2, 3, 4, dtype=dtype), binary.to(dtype)), desc="(2, 3, 4)"))
    mask = torch.rand(5, 7, generator=gen) > 0.3
    mask[:, 0] = True
    mask[3] = False  # a list of padding only: loss 0, not counted in the mean
    rel = (torch.rand(5, 7, generator=gen) > 0.5).to(dtype)
    out.append(Sample((randn(gen, 5, 7, dtype=dtype), rel, mask), desc="masked (5, 7)"))
    return out


add(
    LossInfo(
        "ranking_softmax",
        _ranking_softmax_samples,
        _ranking_softmax_ref,
        errors=lambda: [
            ErrorCase(
                (torch.zeros(2, 3), torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]])),
                {},
                "relevance must be >= 0, got a minimum of -1",
                "negative relevance",
            ),
            ErrorCase(
                (torch.zeros(2, 3), torch.zeros(2, 1)),
                {},
                r"scores \(2, 3\) vs relevance \(2, 1\)",
                "shape",
            ),
            ErrorCase(
                (torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3)),
                {},
                "mask must be a bool tensor",
                "float mask",
            ),
            ErrorCase((torch.tensor(1.0), torch.tensor(1.0)), {}, "list dimension", "scalar"),
        ],
    )
)
