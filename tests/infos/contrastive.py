"""LossInfo entries of the contrastive losses. References are float64 NumPy, written here.

The references loop over anchors where that is clearer (supcon) and never call losskit or a
torch loss. Every sample runs in one process, where the three ``gather`` modes are the same
loss; the distributed behaviour is tested in ``tests/test_distributed.py``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tests.lossinfo import ErrorCase, LossInfo, Sample, add, np_reduce, randn


# ----------------------------------------------------------------------------- references
def _normalize(x):
    """Rows to unit length; a zero row stays zero (F.normalize's eps)."""
    return x / np.maximum(np.sqrt((x * x).sum(axis=1, keepdims=True)), 1e-12)


def _lse_rows(a):
    m = a.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=1, keepdims=True)))[:, 0]


def info_nce_ref(q, k, *, reduction, temperature=0.07, gather=None):
    s = _normalize(q) @ _normalize(k).T / float(temperature)
    return np_reduce(_lse_rows(s) - np.diag(s), reduction)


CLIP_INIT = math.log(1 / 0.07)


def clip_ref(img, txt, *, reduction, logit_scale=CLIP_INIT, gather=None):
    scale = min(math.exp(float(logit_scale)), 100.0)
    s = scale * _normalize(img) @ _normalize(txt).T
    per_image = _lse_rows(s) - np.diag(s)  # image i against every text
    per_text = _lse_rows(s.T) - np.diag(s)  # text i against every image
    return np_reduce((per_image + per_text) / 2, reduction)


SIGLIP_SCALE, SIGLIP_BIAS = math.log(10.0), -10.0


def siglip_ref(
    img, txt, *, reduction, logit_scale=SIGLIP_SCALE, logit_bias=SIGLIP_BIAS, gather=None
):
    """Every pair (i, j) a logistic term: label +1 on the diagonal, -1 elsewhere."""
    x = math.exp(float(logit_scale)) * _normalize(img) @ _normalize(txt).T + float(logit_bias)
    z = 2.0 * np.eye(len(x)) - 1.0
    # -log sigmoid(z x) = log(1 + exp(-z x)), written stably
    per_pair = np.logaddexp(0.0, -z * x)
    per_image = per_pair.sum(axis=1)
    if reduction == "none":
        return per_image
    return per_image.sum() if reduction == "sum" else per_image.sum() / len(x)


def supcon_ref(z, labels, *, reduction, temperature=0.07, gather=None):
    s = _normalize(z) @ _normalize(z).T / float(temperature)
    n = len(labels)
    per = np.zeros(n)
    has_positive = np.zeros(n, dtype=bool)
    for i in range(n):
        others = [a for a in range(n) if a != i]
        positives = [p for p in others if labels[p] == labels[i]]
        if not positives:
            continue  # no positive: 0, and left out of the mean
        has_positive[i] = True
        log_denominator = _lse_rows(s[i, others][None, :])[0]
        per[i] = -np.mean([s[i, p] - log_denominator for p in positives])
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return per[has_positive].mean() if has_positive.any() else 0.0


# ----------------------------------------------------------------------------- samples
def _pair_samples(scale_name: str, variant: str = ""):
    """Two (N, D) views, positives close to their query; a scalar hyper-parameter as a float
    and as a tensor with gradient; every gather mode (all the same in one process)."""
    hyper = {"temperature": (0.5, 0.2, 0.07), "logit_scale": (0.0, 1.5, 5.0)}[scale_name]
    extra = {"bias": {"logit_bias": -2.0}}.get(variant, {})

    def make(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
        out = []
        for (n, d), value, gather in zip(
            ((1, 3), (5, 3), (7, 4)), hyper, ("local", "global", None), strict=True
        ):
            a = randn(gen, n, d, dtype=dtype)
            b = (a + 0.7 * randn(gen, n, d, dtype=dtype)).to(dtype)
            out.append(
                Sample(
                    (a, b),
                    {scale_name: value, "gather": gather, **extra},
                    f"({n}, {d}) {gather}",
                    (0, 1),
                )
            )
        a = randn(gen, 4, 3, dtype=dtype)
        b = (a + randn(gen, 4, 3, dtype=dtype)).to(dtype)
        t = torch.tensor(hyper[1], dtype=dtype)
        out.append(Sample((a, b), {scale_name: t}, f"tensor {scale_name}", (0, 1), (scale_name,)))
        if variant == "bias":
            bias = torch.tensor(0.5, dtype=dtype)
            out.append(
                Sample(
                    (a, b),
                    {scale_name: t, "logit_bias": bias},
                    "tensor scale and bias",
                    (0, 1),
                    (scale_name, "logit_bias"),
                )
            )
            out.append(Sample((a, b), {}, "the paper's initial scale and bias", (0, 1)))
        same = randn(gen, 1, 3, dtype=dtype).expand(3, 3).contiguous()
        out.append(Sample((same, same.clone()), {scale_name: hyper[0]}, "identical rows", (0, 1)))
        return out

    return make


def _supcon_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for labels, t, desc in (
        (torch.tensor([0, 0, 1, 1, 1, 2, 2, 0]), 0.5, "three classes"),
        (torch.tensor([3, 1, 3, 7, 1]), 0.2, "one anchor without positive"),
        (torch.tensor([0, 1, 2]), 0.5, "no anchor has a positive"),
        (torch.tensor([4]), 0.5, "a single row"),
    ):
        z = randn(gen, len(labels), 5, dtype=dtype)
        out.append(Sample((z, labels), {"temperature": t}, desc))
    z = randn(gen, 6, 3, dtype=dtype)
    y = torch.tensor([1, 0, 1, 0, 1, 1], dtype=torch.int32)
    for gather in ("local", "global", None):
        out.append(Sample((z, y), {"temperature": 0.3, "gather": gather}, f"int32, {gather}"))
    t = torch.tensor(0.4, dtype=dtype)
    out.append(Sample((z, y), {"temperature": t}, "tensor temperature", (0,), ("temperature",)))
    same = randn(gen, 1, 3, dtype=dtype).expand(4, 3).contiguous()
    out.append(Sample((same, torch.tensor([0, 0, 1, 1])), {"temperature": 0.5}, "identical rows"))
    return out


# ----------------------------------------------------------------------------- errors
def _pair_errors(a: str, b: str, scale_name: str) -> list[ErrorCase]:
    x = torch.randn(4, 3)
    out = [
        ErrorCase((x, torch.randn(4, 2)), {}, rf"{a} \(4, 3\) vs {b} \(4, 2\)", "D differs"),
        ErrorCase((x, torch.randn(3, 4)), {}, f"did you transpose {b}", "transposed"),
        ErrorCase((x[0], x[0]), {}, rf"{a} must have shape \(N, D\).*unsqueeze\(0\)", "1-D"),
        ErrorCase((x.reshape(4, 3, 1),) * 2, {}, r"flatten\(1\)", "3-D"),
        ErrorCase(
            (x, x), {"gather": "no_grad"}, r"gather must be one of \('local', 'global', None\)", ""
        ),
        ErrorCase((x.long(), x.long()), {}, f"{a} must be a floating tensor", "integer"),
        ErrorCase((x, x), {scale_name: torch.ones(2)}, "one-element floating tensor", "vector"),
        ErrorCase((x, x), {scale_name: float("nan")}, scale_name, "NaN"),
    ]
    if scale_name == "temperature":
        out += [
            ErrorCase((x, x), {"temperature": 0.0}, r"temperature must lie in \(0", "zero"),
            ErrorCase((x, x), {"temperature": torch.tensor(-0.1)}, "temperature must be > 0", ""),
        ]
    else:
        out.append(
            ErrorCase((x, x), {"logit_scale": float("inf")}, "logit_scale must lie in", "inf")
        )
    return out


def _siglip_errors() -> list[ErrorCase]:
    x = torch.randn(4, 3)
    nan_bias = ErrorCase((x, x), {"logit_bias": float("nan")}, "logit_bias", "NaN bias")
    return [*_pair_errors("image_embeddings", "text_embeddings", "logit_scale"), nan_bias]


def _supcon_errors() -> list[ErrorCase]:
    z = torch.randn(4, 3)
    y = torch.tensor([0, 1, 0, 1])
    return [
        ErrorCase((z, y.float()), {}, "labels must hold integer class ids", "float labels"),
        ErrorCase((z, y[:, None]), {}, r"labels\.squeeze\(1\)", "labels (N, 1)"),
        ErrorCase((z, y[:3]), {}, r"labels must have shape \(4,\)", "too few labels"),
        ErrorCase((z[0], y[:1]), {}, r"embeddings must have shape \(N, D\)", "1-D"),
        ErrorCase((z, y), {"temperature": -1.0}, r"temperature must lie in \(0", "negative"),
        ErrorCase((z, y), {"gather": "all"}, "gather must be", "unknown gather"),
    ]


add(
    LossInfo(
        "info_nce",
        _pair_samples("temperature"),
        info_nce_ref,
        errors=lambda: _pair_errors("queries", "keys", "temperature"),
        rows_independent=False,  # in-batch negatives
    )
)
add(
    LossInfo(
        "clip_loss",
        _pair_samples("logit_scale"),
        clip_ref,
        errors=lambda: _pair_errors("image_embeddings", "text_embeddings", "logit_scale"),
        rows_independent=False,  # in-batch negatives
    )
)
add(
    LossInfo(
        "siglip_loss",
        _pair_samples("logit_scale", "bias"),
        siglip_ref,
        errors=_siglip_errors,
        rows_independent=False,  # every pair of the batch
    )
)
add(LossInfo("supcon", _supcon_samples, supcon_ref, errors=_supcon_errors, rows_independent=False))
