"""LossInfo entries of the divergence losses. References are float64 NumPy, written here."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tests.lossinfo import ErrorCase, LossInfo, Sample, add, randn


def _axis(x) -> int:
    return 0 if x.ndim == 1 else 1


def _items(per, reduction):
    """Reduce per-item values: "mean" over the items (N, *extra), 0.0 over nothing."""
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return per.mean() if per.size else 0.0


def _xlogy(x, y):
    return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def _log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _dist_samples(grad_targets: bool):
    def make(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
        def pair(*shape, log_targets=False, zeros=False):
            axis = 0 if len(shape) == 1 else 1
            lp = torch.log_softmax(2 * randn(gen, *shape), axis)
            t = torch.softmax(2 * randn(gen, *shape), axis)
            if zeros:  # a target with exact zeros: 0 log 0 = 0
                t = torch.where(t < t.mean(axis, keepdim=True) / 2, 0.0, t)
                t = t / t.sum(axis, keepdim=True)
            if log_targets:
                t = torch.log(t)
            return lp.to(dtype), t.to(dtype)

        # a single (C,) distribution is tested in tests/test_divergence.py: the empty-batch
        # suite slices dim 0, which for it is the class dim
        grad = (0, 1) if grad_targets else (0,)
        return [
            Sample(pair(7, 5), desc="(N, C)", grad_args=grad),
            Sample(pair(2, 3, 5, 1), desc="(N, C, H, W)", grad_args=grad),
            Sample(pair(6, 4, log_targets=True), {"log_targets": True}, "log targets", grad),
            Sample(pair(6, 8, zeros=True), desc="targets with zeros"),
        ]

    return make


def _dist_errors() -> list[ErrorCase]:
    lp = torch.log_softmax(torch.zeros(4, 3), 1)
    t = torch.softmax(torch.zeros(4, 3), 1)
    return [
        ErrorCase((lp, t[:, :1]), {}, r"log_preds \(4, 3\) vs targets \(4, 1\)", "shape"),
        ErrorCase(
            (torch.zeros(4, 3), t), {}, "log_preds must hold distributions over dim 1", "sums"
        ),
        ErrorCase((torch.ones(4, 3), t), {}, "must be log-probabilities", "logits as log_preds"),
        ErrorCase((lp, torch.full((4, 3), 0.5)), {}, "targets must hold distributions", "targets"),
        ErrorCase(
            (lp, torch.log(t)),
            {},
            r"targets must be probabilities.*log_targets=True",
            "log targets",
        ),
        ErrorCase((lp, t), {"log_targets": True}, "targets must be log-probabilities", "flag"),
        ErrorCase(
            (torch.log_softmax(torch.zeros(2, 3, 4), -1), torch.softmax(torch.zeros(2, 3, 4), 1)),
            {},
            "log_softmax over dim 1",
            "log-softmax over the last dim",
        ),
        ErrorCase((torch.tensor(0.0), torch.tensor(1.0)), {}, "distribution dimension", "scalar"),
    ]


# ----------------------------------------------------------------------------- KL
def _kl_ref(lp, t, *, reduction, log_targets=False):
    if log_targets:
        per = (np.exp(t) * (t - lp)).sum(axis=_axis(lp))
    else:
        per = (_xlogy(t, t) - t * lp).sum(axis=_axis(lp))
    return _items(per, reduction)


def _torch_kl(log_preds, targets, *, log_targets=False, reduction="mean"):
    """torch's kl_div per element, mapped to losskit's reductions: sum over dim 1 for "none",
    and "mean" = sum / (number of items), which is torch's "batchmean" only for (N, C)."""
    kl = F.kl_div(log_preds, targets, reduction="none", log_target=log_targets)
    dim = 0 if log_preds.dim() == 1 else 1
    if reduction == "none":
        return kl.sum(dim)
    if reduction == "sum":
        return F.kl_div(log_preds, targets, reduction="sum", log_target=log_targets)
    items = log_preds.numel() // log_preds.shape[dim]
    return F.kl_div(log_preds, targets, reduction="sum", log_target=log_targets) / items


add(
    LossInfo(
        "kl_div",
        _dist_samples(grad_targets=False),
        _kl_ref,
        peer=_torch_kl,
        soft_targets=True,
        errors=_dist_errors,
    )
)


# ----------------------------------------------------------------------------- JS
def _js_ref(lp, t, *, reduction, log_targets=False):
    p = np.exp(lp)
    q = np.exp(t) if log_targets else t
    m = (p + q) / 2
    per = 0.5 * (_xlogy(p, p / np.where(m == 0, 1, m)) + _xlogy(q, q / np.where(m == 0, 1, m)))
    return _items(per.sum(axis=_axis(lp)), reduction)


add(
    LossInfo(
        "js_div",
        _dist_samples(grad_targets=True),
        _js_ref,
        soft_targets=True,
        errors=_dist_errors,
    )
)


# ----------------------------------------------------------------------------- distillation
def _kd_ref(s, t, *, reduction, temperature=1.0):
    axis = _axis(s)
    log_ps = _log_softmax(s / temperature, axis)
    log_pt = _log_softmax(t / temperature, axis)
    per = (np.exp(log_pt) * (log_pt - log_ps)).sum(axis=axis) * temperature**2
    return _items(per, reduction)


def _torch_kd(student, teacher, *, temperature=1.0, reduction="mean"):
    """The usual distillation code: F.kl_div(log_softmax(s/T), softmax(t/T)) * T^2, with
    "batchmean" for (N, C) (losskit's "mean"); the sum over dim 1 for "none"."""
    dim = 0 if student.dim() == 1 else 1
    log_ps = F.log_softmax(student / temperature, dim)
    pt = F.softmax(teacher / temperature, dim)
    kl = F.kl_div(log_ps, pt, reduction="none").sum(dim) * temperature**2
    if reduction == "none":
        return kl
    if reduction == "sum":
        return F.kl_div(log_ps, pt, reduction="sum") * temperature**2
    if student.dim() == 2:
        return F.kl_div(log_ps, pt, reduction="batchmean") * temperature**2
    return kl.mean()


def _kd_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    def logits(*shape):
        return (2 * randn(gen, *shape)).to(dtype)

    both = (0, 1)
    # a single (C,) example is tested in tests/test_divergence.py (see _dist_samples)
    return [
        Sample((logits(7, 5), logits(7, 5)), desc="(N, C)", grad_args=both),
        Sample((logits(2, 3, 5, 1), logits(2, 3, 5, 1)), desc="(N, C, H, W)", grad_args=both),
        Sample((logits(6, 4), logits(6, 4)), {"temperature": 4.0}, "T = 4", grad_args=both),
        Sample((logits(6, 4), logits(6, 4)), {"temperature": 0.5}, "T = 0.5"),
    ]


add(
    LossInfo(
        "distillation",
        _kd_samples,
        _kd_ref,
        peer=_torch_kd,
        errors=lambda: [
            ErrorCase(
                (torch.zeros(4, 3), torch.zeros(4, 1)),
                {},
                r"student_logits \(4, 3\) vs teacher_logits \(4, 1\)",
                "shape",
            ),
            ErrorCase((torch.zeros(4, 1), torch.zeros(4, 1)), {}, "single class", "C = 1"),
            ErrorCase(
                (torch.zeros(4, 3), torch.zeros(4, 3)),
                {"temperature": 0.0},
                r"temperature must lie in \(0",
                "T = 0",
            ),
            ErrorCase(
                (torch.zeros(4, 3), torch.zeros(4, 3, dtype=torch.long)),
                {},
                "teacher_logits must be a floating tensor",
                "integer teacher",
            ),
        ],
    )
)
