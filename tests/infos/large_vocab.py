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


# ----------------------------------------------------------------------------- linear distillation
def _np_log_softmax(z):
    m = z.max(axis=1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True))


def distill_reference(
    hidden,
    weight,
    t_hidden,
    t_weight,
    y=None,
    *,
    reduction,
    student_bias=None,
    teacher_bias=None,
    beta=0.5,
    temperature=1.0,
    ignore_index=-100,
    chunk_size=None,
):
    """float64 on the full logits of both heads: S, T = softmax(logits / temperature),
    M = beta T + (1 - beta) S; beta KL(T||M) + (1 - beta) KL(S||M), the ends KL(T||S) (beta 0)
    and KL(S||T) (beta 1), as TRL's GKD generalized_jsd_loss; ignored tokens give 0."""
    del chunk_size
    lead = hidden.shape[:-1]
    hs, ht = hidden.reshape(-1, hidden.shape[-1]), t_hidden.reshape(-1, t_hidden.shape[-1])
    zs = hs @ weight.T + (0.0 if student_bias is None else student_bias)
    zt = ht @ t_weight.T + (0.0 if teacher_bias is None else teacher_bias)
    ls, lt = _np_log_softmax(zs / temperature), _np_log_softmax(zt / temperature)
    s, t = np.exp(ls), np.exp(lt)
    if beta == 0:
        per = (t * (lt - ls)).sum(1)
    elif beta == 1:
        per = (s * (ls - lt)).sum(1)
    else:
        lm = np.log(beta * t + (1 - beta) * s)
        per = beta * (t * (lt - lm)).sum(1) + (1 - beta) * (s * (ls - lm)).sum(1)
    valid = np.ones(len(per), bool) if y is None else y.reshape(-1) != ignore_index
    per = np.where(valid, per, 0.0)
    if reduction == "none":
        return per.reshape(lead)
    if reduction == "sum":
        return per.sum()
    return per.sum() / valid.sum() if valid.any() else 0.0


def distill_peer(
    hidden,
    weight,
    t_hidden,
    t_weight,
    y=None,
    *,
    student_bias=None,
    teacher_bias=None,
    beta=0.5,
    temperature=1.0,
    ignore_index=-100,
    chunk_size=None,
    reduction="mean",
):
    """The materialised formula with torch ops, written as TRL's GKD trainer writes it
    (F.kl_div with log targets, the mixture by logsumexp of the stacked log-probs)."""
    del chunk_size
    zs = F.linear(hidden.reshape(-1, hidden.shape[-1]), weight, student_bias) / temperature
    zt = F.linear(t_hidden.reshape(-1, t_hidden.shape[-1]), t_weight, teacher_bias) / temperature
    ls, lt = torch.log_softmax(zs, -1), torch.log_softmax(zt.detach(), -1)
    if beta == 0:
        per = F.kl_div(ls, lt, reduction="none", log_target=True)
    elif beta == 1:
        per = F.kl_div(lt, ls, reduction="none", log_target=True)
    else:
        b = torch.tensor(beta, dtype=ls.dtype)
        lm = torch.logsumexp(torch.stack([ls + torch.log1p(-b), lt + torch.log(b)]), 0)
        per = b * F.kl_div(lm, lt, reduction="none", log_target=True) + (1 - b) * F.kl_div(
            lm, ls, reduction="none", log_target=True
        )
    per = per.sum(-1)
    valid = torch.ones_like(per, dtype=torch.bool) if y is None else y.reshape(-1) != ignore_index
    per = per * valid
    if reduction == "none":
        return per.reshape(hidden.shape[:-1])
    return per.sum() if reduction == "sum" else per.sum() / valid.sum().clamp(min=1)


def distill_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    def lab(v, *shape, ignore=False):
        t = labels(gen, v, *shape)
        if ignore:
            t.view(-1)[::3] = -100
        return t

    def heads(n, v, ds, dt, *lead):
        shape = lead or (n,)
        return (
            randn(gen, *shape, ds, dtype=dtype),
            randn(gen, v, ds, dtype=dtype),
            randn(gen, *shape, dt, dtype=dtype),
            randn(gen, v, dt, dtype=dtype),
        )

    return [
        Sample((*heads(7, 5, 3, 4), lab(5, 7)), {}, "plain, beta 0.5", (0, 1)),
        Sample((*heads(3, 4, 3, 2), lab(4, 3)), {"beta": 0.0}, "forward KL", (0, 1)),
        Sample(
            (*heads(6, 6, 4, 3, 2, 3), lab(6, 2, 3, ignore=True)),
            {"chunk_size": 4, "beta": 1.0},
            "(B, T, D), ignored, reverse KL, chunk 4 of 6",
            (0, 1),
        ),
        Sample(
            (*heads(9, 7, 3, 5), lab(7, 9, ignore=True)),
            {
                "student_bias": randn(gen, 7, dtype=dtype),
                "teacher_bias": randn(gen, 7, dtype=dtype),
                "beta": 0.3,
                "temperature": 2.0,
                "chunk_size": 2,
            },
            "biases, beta 0.3, temperature 2, chunk 2",
            (0, 1),
            ("student_bias",),
        ),
        Sample(
            (*heads(8, 6, 3, 3), torch.full((8,), -100)),
            {"beta": 0.9, "chunk_size": 3},
            "every label ignored",
            (0, 1),
        ),
        Sample(heads(10, 6, 2, 4), {"temperature": 0.5, "chunk_size": 4}, "no labels", (0, 1)),
    ]


def distill_errors() -> list[ErrorCase]:
    h, w = torch.zeros(4, 3), torch.zeros(5, 3)
    ht, wt = torch.zeros(4, 2), torch.zeros(5, 2)
    y = torch.zeros(4, dtype=torch.long)
    return [
        ErrorCase((h, w.T, ht, wt, y), {}, r"did you pass student_weight\.T", "student W.T"),
        ErrorCase((h, w, ht, wt.T, y), {}, r"did you pass teacher_weight\.T", "teacher W.T"),
        ErrorCase((h, w, ht, wt[:4], y), {}, "share the vocabulary", "vocabularies differ"),
        ErrorCase((h, w, ht[:3], wt, y), {}, "must have the same tokens", "tokens differ"),
        ErrorCase((h, w, ht, wt, y[:3]), {}, r"labels must have shape \(4,\)", "labels shape"),
        ErrorCase((h, w, ht, wt, y + 5), {}, r"labels must lie in \[0, 5\)", "labels range"),
        ErrorCase((h, w, ht, wt, y), {"beta": 1.5}, r"beta must lie in \[0, 1\]", "beta > 1"),
        ErrorCase((h, w, ht, wt, y), {"beta": -0.1}, r"beta must lie in \[0, 1\]", "beta < 0"),
        ErrorCase((h, w, ht, wt, y), {"temperature": 0.0}, r"temperature must lie in \(0", "T = 0"),
        ErrorCase(
            (h, w, ht, wt, y),
            {"teacher_bias": torch.zeros(4)},
            r"teacher_bias must have shape \(5,\)",
            "teacher bias",
        ),
        ErrorCase((h, w, ht.long(), wt, y), {}, "teacher_hidden must be a floating", "int"),
        ErrorCase((h, w, ht, wt, y), {"chunk_size": 0}, r"chunk_size must lie in \[1", "chunk"),
    ]


add(
    LossInfo(
        "linear_distillation",
        distill_samples,
        distill_reference,
        peer=distill_peer,
        errors=distill_errors,
        # (student hidden, weight, teacher hidden, weight, labels): as linear_cross_entropy,
        # the generic slicers' layout does not fit; tests/test_large_vocab.py covers these
        ignore_index=False,
        empty_ok=False,
    )
)


# ----------------------------------------------------------------------------- top-k teacher
def topk_reference(
    hidden,
    weight,
    values,
    indices,
    y=None,
    *,
    reduction,
    student_bias=None,
    beta=0.0,
    temperature=1.0,
    ignore_index=-100,
    chunk_size=None,
):
    """float64: the student's logits at the teacher's K ids (from the full logits, then
    indexed), both sides renormalised over the K tokens by a softmax of logits / temperature,
    then the generalized JSD of the two K-point distributions; ignored tokens give 0."""
    del chunk_size
    lead = hidden.shape[:-1]
    k = values.shape[-1]
    hs = hidden.reshape(-1, hidden.shape[-1])
    z = hs @ weight.T + (0.0 if student_bias is None else student_bias)  # (N, V)
    ids = indices.reshape(-1, k)
    s_k = np.take_along_axis(z, ids, axis=1)
    ls = _np_log_softmax(s_k / temperature)
    lt = _np_log_softmax(values.reshape(-1, k) / temperature)
    s, t = np.exp(ls), np.exp(lt)
    if beta == 0:
        per = (t * (lt - ls)).sum(1)
    elif beta == 1:
        per = (s * (ls - lt)).sum(1)
    else:
        lm = np.log(beta * t + (1 - beta) * s)
        per = beta * (t * (lt - lm)).sum(1) + (1 - beta) * (s * (ls - lm)).sum(1)
    valid = np.ones(len(per), bool) if y is None else y.reshape(-1) != ignore_index
    per = np.where(valid, per, 0.0)
    if reduction == "none":
        return per.reshape(lead)
    if reduction == "sum":
        return per.sum()
    return per.sum() / valid.sum() if valid.any() else 0.0


def topk_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    def lab(v, *shape, ignore=False):
        t = labels(gen, v, *shape)
        if ignore:
            t.view(-1)[::3] = -100
        return t

    def call(n, v, d, k, *lead):
        shape = lead or (n,)
        h, w = randn(gen, *shape, d, dtype=dtype), randn(gen, v, d, dtype=dtype)
        teacher = randn(gen, *shape, v) * 2  # float64, then the top k of it
        values, ids = teacher.topk(k, dim=-1)
        return h, w, values.to(dtype), ids

    return [
        Sample((*call(7, 6, 3, 3), lab(6, 7)), {}, "plain, forward KL, K 3 of 6", (0, 1)),
        Sample((*call(5, 5, 2, 2), lab(5, 5)), {"beta": 1.0}, "reverse KL, K 2", (0, 1)),
        Sample(
            (*call(6, 8, 4, 4, 2, 3), lab(8, 2, 3, ignore=True)),
            {"chunk_size": 2, "beta": 0.5},
            "(B, T, D), ignored, JSD, chunk 2 of 6",
            (0, 1),
        ),
        Sample(
            (*call(9, 7, 3, 5), lab(7, 9, ignore=True)),
            {"student_bias": randn(gen, 7, dtype=dtype), "temperature": 2.0, "chunk_size": 4},
            "bias, temperature 2, chunk 4",
            (0, 1),
            ("student_bias",),
        ),
        Sample(
            (*call(8, 6, 3, 3), torch.full((8,), -100)),
            {"beta": 0.3, "chunk_size": 3},
            "every label ignored",
            (0, 1),
        ),
        Sample(call(10, 6, 2, 4), {"temperature": 0.5, "chunk_size": 4}, "no labels", (0, 1)),
    ]


def topk_errors() -> list[ErrorCase]:
    h, w = torch.zeros(4, 3), torch.zeros(6, 3)
    v, i = torch.zeros(4, 2), torch.tensor([[0, 1], [2, 3], [4, 5], [0, 5]])
    y = torch.zeros(4, dtype=torch.long)
    return [
        ErrorCase((h, w.T, v, i, y), {}, r"did you pass student_weight\.T", "W.T"),
        ErrorCase((h, w, v[:3], i[:3], y), {}, r"teacher_logits must have shape \(4, 'K'\)", "N"),
        ErrorCase((h, w, v, i[:, :1], y), {}, "must have the shape of teacher_logits", "K differ"),
        ErrorCase((h, w, v[:, :1], i[:, :1], y), {}, "keep K >= 2", "K = 1"),
        ErrorCase((h, w, v, i + 1, y), {}, r"teacher_indices must lie in \[0, 6\)", "ids range"),
        ErrorCase((h, w, v, i.float(), y), {}, "teacher_indices must hold integer", "float ids"),
        ErrorCase((h, w, v, i.clamp(max=0), y), {}, "repeat a token id", "repeated ids"),
        ErrorCase((h, w, v.long(), i, y), {}, "teacher_logits must be a floating", "int values"),
        ErrorCase((h, w, v, i, y[:3]), {}, r"labels must have shape \(4,\)", "labels shape"),
        ErrorCase((h, w, v, i, y), {"beta": 2.0}, r"beta must lie in \[0, 1\]", "beta"),
        ErrorCase((h, w, v, i, y), {"temperature": -1.0}, r"temperature must lie in \(0", "T"),
    ]


add(
    LossInfo(
        "linear_topk_distillation",
        topk_samples,
        topk_reference,
        errors=topk_errors,
        # (student hidden, weight, teacher values, ids, labels): the generic slicers' layout
        # does not fit; tests/test_large_vocab.py covers these
        ignore_index=False,
        empty_ok=False,
        # permuting dim 0 of every argument permutes the weight's rows (the vocabulary) too,
        # which the teacher's token ids do not follow
        permutation_invariant=False,
    )
)
