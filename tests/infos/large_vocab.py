"""LossInfo entries of the large_vocab losses. References are float64 NumPy, written here."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tests.lossinfo import ErrorCase, LossInfo, Sample, add, labels, randn


# ----------------------------------------------------------------------------- linear CE
def lce_reference(
    hidden,
    weight,
    y,
    *,
    reduction,
    bias=None,
    ignore_index=-100,
    label_smoothing=0.0,
    z_loss=0.0,
    softcap=None,
    chunk_size=None,
):
    """The plain formula in float64: the full (N, V) logits, log-sum-exp, the picked logit."""
    del chunk_size  # a memory knob: the value does not depend on it
    d = hidden.shape[-1]
    h = hidden.reshape(-1, d)
    t = y.reshape(-1)
    z = h @ weight.T + (0.0 if bias is None else bias)  # (N, V)
    if softcap is not None:
        z = softcap * np.tanh(z / softcap)
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    valid = t != ignore_index
    picked = z[np.arange(len(t)), np.where(valid, t, 0)]
    e = label_smoothing
    loss = (1 - e) * (lse - picked) + e * (lse - z.mean(axis=1)) + z_loss * lse**2
    loss = np.where(valid, loss, 0.0)
    if reduction == "none":
        return loss.reshape(y.shape)
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / valid.sum() if valid.any() else 0.0


def lce_peer(
    hidden,
    weight,
    y,
    *,
    bias=None,
    ignore_index=-100,
    label_smoothing=0.0,
    z_loss=0.0,
    softcap=None,
    chunk_size=None,
    reduction="mean",
):
    """torch's own ``F.linear_cross_entropy`` (reference path); softcap and z-loss, which it
    lacks, added with torch ops on the materialised logits."""
    del chunk_size
    d = hidden.shape[-1]
    h, t = hidden.reshape(-1, d), y.reshape(-1)
    if softcap is None and not z_loss:
        out = F.linear_cross_entropy(
            h,
            weight,
            t,
            linear_bias=bias,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )
        return out.reshape(y.shape) if reduction == "none" else out
    z = F.linear(h, weight, bias)
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    per = F.cross_entropy(
        z, t, ignore_index=ignore_index, label_smoothing=label_smoothing, reduction="none"
    )
    valid = t != ignore_index
    per = per + z_loss * torch.logsumexp(z, 1).square() * valid
    if reduction == "none":
        return per.reshape(y.shape)
    return per.sum() if reduction == "sum" else per.sum() / valid.sum()


def lce_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    def lab(v, *shape, ignore=False):
        t = labels(gen, v, *shape)
        if ignore:
            t.view(-1)[::3] = -100
        return t

    return [
        Sample(
            (randn(gen, 7, 3, dtype=dtype), randn(gen, 5, 3, dtype=dtype), lab(5, 7)),
            {},
            "plain",
            (0, 1),
        ),
        Sample(
            (randn(gen, 3, dtype=dtype), randn(gen, 4, 3, dtype=dtype), lab(4)),
            {},
            "one token (D,)",
            (0, 1),
        ),
        Sample(
            (
                randn(gen, 2, 3, 4, dtype=dtype),
                randn(gen, 6, 4, dtype=dtype),
                lab(6, 2, 3, ignore=True),
            ),
            {"chunk_size": 4},
            "(B, T, D), ignored, chunk 4 of 6",
            (0, 1),
        ),
        Sample(
            (randn(gen, 9, 3, dtype=dtype), randn(gen, 7, 3, dtype=dtype), lab(7, 9, ignore=True)),
            {"bias": randn(gen, 7, dtype=dtype), "label_smoothing": 0.2, "chunk_size": 2},
            "bias, smoothing, ignored, chunk 2",
            (0, 1),
            ("bias",),
        ),
        Sample(
            (2 * randn(gen, 8, 3, dtype=dtype), randn(gen, 6, 3, dtype=dtype), lab(6, 8)),
            {"z_loss": 0.1, "softcap": 2.5, "chunk_size": 3},
            "z_loss, softcap, chunk 3",
            (0, 1),
        ),
        Sample(
            (randn(gen, 5, 2, dtype=dtype), randn(gen, 4, 2, dtype=dtype), torch.full((5,), -100)),
            {"bias": randn(gen, 4, dtype=dtype), "label_smoothing": 0.1, "z_loss": 0.01},
            "every label ignored",
            (0, 1),
            ("bias",),
        ),
    ]


def lce_errors() -> list[ErrorCase]:
    h, w, y = torch.zeros(4, 3), torch.zeros(5, 3), torch.zeros(4, dtype=torch.long)
    return [
        ErrorCase((h, w.T, y), {}, r"did you pass weight\.T", "transposed weight"),
        ErrorCase(
            (h, w, y[:, None]), {}, r"labels must have shape \(4,\).*reshape", "labels (N, 1)"
        ),
        ErrorCase(
            (torch.zeros(2, 4, 3), w, torch.zeros(2, 5, dtype=torch.long)),
            {},
            "causal LM shifts",
            "unshifted labels",
        ),
        ErrorCase((h, w, y.float()), {}, "integer class indices", "float labels"),
        ErrorCase((h, w, torch.tensor([0, 1, 5, 2])), {}, r"labels must lie in \[0, 5\)", "range"),
        ErrorCase((h, w.cfloat(), y), {}, "weight must be real", "complex weight"),
        ErrorCase((h, w, y), {"bias": torch.zeros(4)}, r"bias must have shape \(5,\)", "bias"),
        ErrorCase((h, w[:1], y), {}, "single row", "V = 1"),
        ErrorCase((h, w, y), {"z_loss": -1.0}, r"z_loss must lie in \[0", "negative z_loss"),
        ErrorCase((h, w, y), {"softcap": 0.0}, r"softcap must lie in \(0", "softcap 0"),
        ErrorCase((h, w, y), {"chunk_size": 0}, r"chunk_size must lie in \[1, inf\)", "chunk 0"),
        ErrorCase(
            (h, w, y), {"label_smoothing": 1.5}, r"label_smoothing must lie in \[0", "smoothing"
        ),
        ErrorCase((h.long(), w, y), {}, "hidden must be a floating tensor", "integer hidden"),
    ]


add(
    LossInfo(
        "linear_cross_entropy",
        lce_samples,
        lce_reference,
        peer=lce_peer,
        errors=lce_errors,
        # (hidden, weight, labels): the generic slicers assume labels at position 1 and a batch
        # dim shared by every argument; tests/test_large_vocab.py covers the empty batch and
        # every label ignored for this signature.
        ignore_index=False,
        empty_ok=False,
    )
)
