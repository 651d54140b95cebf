"""LossInfo entries of the embedding losses. References are float64 NumPy, written here from
the formulas (PyTorch's docs, PML's ContrastiveLoss), never by calling losskit or a torch
loss."""

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
    labels,
    np_reduce,
    rand,
    randn,
)


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


# ----------------------------------------------------------------------------- cosine_embedding
def _cosine_ref(e1, e2, y, *, reduction, margin=0.0):
    # PyTorch's definition: 1e-12 added to each squared norm before the product of the norms
    cos = (e1 * e2).sum(-1) / np.sqrt(((e1 * e1).sum(-1) + 1e-12) * ((e2 * e2).sum(-1) + 1e-12))
    loss = np.where(y == 1, 1.0 - cos, np.maximum(0.0, cos - margin))
    return np_reduce(loss, reduction)


def _cosine_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for k, (pairs, dim) in enumerate((((), 5), ((7,), 3), ((4,), 1), ((2, 3), 4))):
        e1, e2 = randn(gen, *pairs, dim, dtype=dtype), randn(gen, *pairs, dim, dtype=dtype)
        kwargs = {"margin": 0.2 * k - 0.3} if k else {}
        out.append(
            Sample((e1, e2, _signs(gen, *pairs, dtype=dtype)), kwargs, f"{pairs}x{dim}", (0, 1))
        )
    return out


add(
    LossInfo(
        "cosine_embedding",
        _cosine_samples,
        _cosine_ref,
        # PyTorch's kernel takes only (N, D) with (N,) or (D,) with (); losskit flattens (*, D)
        peer=lambda e1, e2, y, **kw: F.cosine_embedding_loss(
            e1.reshape(-1, e1.shape[-1]), e2.reshape(-1, e2.shape[-1]), y.reshape(-1), **kw
        ).reshape(y.shape if kw.get("reduction") == "none" else ()),
        errors=lambda: [
            *_sign_errors(torch.ones(4, 3), torch.ones(4, 3), torch.ones(4), at=2),
            ErrorCase(
                (torch.ones(4, 3), torch.ones(4, 3), torch.ones(4, 1)),
                {},
                r"targets must have shape \(4,\).*squeeze\(-1\)",
                "targets (N, 1)",
            ),
            ErrorCase(
                (torch.ones(4, 3), torch.ones(3, 4), torch.ones(4)),
                {},
                r"embeddings1 \(4, 3\) vs embeddings2 \(3, 4\).*transpose",
                "transposed",
            ),
            ErrorCase(
                (torch.ones(2, 3), torch.ones(2, 3), torch.ones(2)),
                {"margin": 1.5},
                r"margin must lie in \[-1, 1\]",
                "margin > 1",
            ),
        ],
    )
)


# ----------------------------------------------------------------------------- hinge_embedding
def _hinge_embedding_ref(x, y, *, reduction, margin=1.0):
    return np_reduce(np.where(y == 1, x, np.maximum(0.0, margin - x)), reduction)


def _hinge_embedding_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for k, s in enumerate(ELEMENTWISE_SHAPES):
        kwargs = {"margin": 1.5} if k % 2 else {}
        args = (2 * rand(gen, *s, dtype=dtype), _signs(gen, *s, dtype=dtype))
        out.append(Sample(args, kwargs, desc=f"{s} {kwargs}"))
    return out


add(
    LossInfo(
        "hinge_embedding",
        _hinge_embedding_samples,
        _hinge_embedding_ref,
        peer=F.hinge_embedding_loss,
        errors=lambda: [
            *_sign_errors(torch.ones(4), torch.ones(4), at=1),
            ErrorCase(
                (torch.ones(4, 1), torch.ones(4)),
                {},
                r"distances \(4, 1\) vs targets \(4,\).*broadcast to \(4, 4\)",
                "silent broadcast in torch",
            ),
            ErrorCase(
                (torch.tensor([0.5, -0.1]), torch.tensor([1.0, -1.0])),
                {},
                "distances must be >= 0, got a minimum of -0.1",
                "negative distance",
            ),
            ErrorCase(
                (torch.ones(2), torch.ones(2)),
                {"margin": -1.0},
                r"margin must lie in \[0, inf\)",
                "margin",
            ),
        ],
    )
)


# ----------------------------------------------------------------------------- triplet_margin
def _lp_distance(x, y, p, eps):
    diff = np.abs(x - y + eps)
    if np.isinf(p):
        return diff.max(-1)
    return (diff**p).sum(-1) ** (1.0 / p)


def _triplet_ref(a, pos, neg, *, reduction, margin=1.0, p=2.0, eps=1e-6, swap=False):
    d_pos = _lp_distance(a, pos, p, eps)
    d_neg = _lp_distance(a, neg, p, eps)
    if swap:
        d_neg = np.minimum(d_neg, _lp_distance(pos, neg, p, eps))
    return np_reduce(np.maximum(0.0, margin + d_pos - d_neg), reduction)


def _triplet_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    cases = [
        ((6, 4), {}),
        ((3, 3), {"margin": 0.5, "p": 1.0}),
        ((2, 3, 5), {"swap": True, "p": 3.0}),
        ((7, 2), {"margin": 2.0, "eps": 0.0, "swap": True}),
        ((4, 3), {"p": float("inf"), "margin": 0.7}),
    ]
    out = []
    for shape, kwargs in cases:
        a = randn(gen, *shape, dtype=dtype)
        pos = (a.double() + 0.5 * randn(gen, *shape)).to(dtype)
        neg = randn(gen, *shape, dtype=dtype)
        out.append(Sample((a, pos, neg), kwargs, f"{shape} {kwargs}", grad_args=(0, 1, 2)))
    return out


def _triplet_errors() -> list[ErrorCase]:
    x = torch.zeros(4, 3)
    return [
        ErrorCase(
            (x, x, torch.zeros(1, 3)), {}, r"anchors \(4, 3\) vs negatives \(1, 3\)", "bcast"
        ),
        ErrorCase((x, x, x), {"p": 0.5}, r"p must lie in \[1, inf\]", "p < 1"),
        ErrorCase((x, x, x), {"margin": -1.0}, r"margin must lie in \[0, inf\)", "negative margin"),
        ErrorCase((x, x, x), {"eps": -1e-6}, r"eps must lie in \[0, inf\)", "negative eps"),
        ErrorCase((torch.tensor(1.0),) * 3, {}, "embedding dimension", "scalar"),
    ]


add(
    LossInfo(
        "triplet_margin",
        _triplet_samples,
        _triplet_ref,
        peer=F.triplet_margin_loss,
        errors=_triplet_errors,
    )
)


# ----------------------------------------------------------------------------- contrastive
def _contrastive_ref(e, y, *, reduction, pos_margin=0.0, neg_margin=1.0):
    n = e.shape[0]
    losses = []
    for i in range(n):
        for j in range(i + 1, n):
            d = np.sqrt(((e[i] - e[j]) ** 2).sum())
            hinge = d - pos_margin if y[i] == y[j] else neg_margin - d
            losses.append(max(0.0, hinge))
    return np_reduce(np.asarray(losses, dtype=np.float64), reduction)


def _contrastive_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for n, d, classes, kwargs in (
        (6, 3, 2, {}),
        (9, 4, 3, {"pos_margin": 0.5, "neg_margin": 2.5}),
        (5, 2, 5, {"neg_margin": 1.5}),  # all labels distinct: negative pairs only
        (4, 3, 1, {"pos_margin": 0.2}),  # one class: positive pairs only
    ):
        out.append(
            Sample(
                (randn(gen, n, d, dtype=dtype), labels(gen, classes, n)),
                kwargs,
                f"{n}x{d} {kwargs}",
            )
        )
    return out


add(
    LossInfo(
        "contrastive",
        _contrastive_samples,
        _contrastive_ref,
        gradgrad=False,  # torch.pdist has no double backward
        errors=lambda: [
            ErrorCase(
                (torch.zeros(4, 2), torch.zeros(4, 1, dtype=torch.long)),
                {},
                r"labels must have shape \(4,\).*squeeze",
                "labels (N, 1)",
            ),
            ErrorCase(
                (torch.zeros(4, 2), torch.zeros(4)), {}, "labels must be an integer tensor", "float"
            ),
            ErrorCase((torch.zeros(3), torch.zeros(3, dtype=torch.long)), {}, r"\(N, D\)", "1-D"),
            ErrorCase(
                (torch.zeros(3, 2), torch.zeros(3, dtype=torch.long)),
                {"neg_margin": -1.0},
                r"neg_margin must lie in \[0, inf\)",
                "negative margin",
            ),
        ],
    )
)
