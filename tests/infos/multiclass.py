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
        ErrorCase(
            (x, torch.zeros(4, dtype=torch.long)),
            {"weight": torch.tensor([1.0, -1.0, 1.0])},
            "weight must be >= 0",
            "negative weight",
        ),
        ErrorCase((x, torch.full((4,), 255)), {}, "ignore_index=255", "void label"),
        ErrorCase(
            (x.to(torch.complex64), torch.zeros(4, dtype=torch.long)),
            {},
            rf"{name} must be real floating scores",
            "complex scores",
        ),
        ErrorCase(
            (x, torch.zeros(4, dtype=torch.long)),
            {"ignore_index": "pad"},
            "ignore_index must be an integer",
            "bad ignore_index",
        ),
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


# ----------------------------------------------------------------------------- shared helpers
def _rows(x):
    """(N, C, *extra) or (C,) -> (rows (M, C), item shape)."""
    if x.ndim == 1:
        return x[None, :], ()
    c = x.shape[1]
    return np.moveaxis(x, 1, -1).reshape(-1, c), x.shape[:1] + x.shape[2:]


def _items_ref(per_row, x, y, *, reduction, ignore_index=-100, weight=None, mean="valid"):
    """Apply ``per_row(rows (M, C), labels (M,)) -> (M,)`` to the valid items and reduce:
    ``mean`` over valid items ("valid"), their class weights ("weight") or every item ("all")."""
    rows, shape = _rows(x)
    ys = np.asarray(y).reshape(-1)
    valid = np.ones(ys.shape, bool) if ignore_index is None else ys != ignore_index
    safe = np.where(valid, ys, 0)
    per = np.where(valid, per_row(rows, safe), 0.0)
    w = np.ones(rows.shape[1]) if weight is None else weight
    if mean == "weight":
        per = per * w[safe]
    per = per.reshape(shape)
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    denom = {"valid": valid.sum(), "weight": (w[safe] * valid).sum(), "all": valid.size}[mean]
    return per.sum() / denom if denom != 0 else 0.0


def _row_log_softmax(rows):
    return _log_softmax(rows, 1)


def _picked(a, ys):
    return a[np.arange(len(ys)), ys]


def _others_prob(rows, ys):
    """1 - p_y as the sum of the other classes' probabilities (no cancellation)."""
    p = np.exp(_row_log_softmax(rows))
    p[np.arange(len(ys)), ys] = 0.0
    return p.sum(1)


def _label_samples(*option_sets: dict, ignore: bool = True, weight: bool = False):
    """Samples over unbatched, (N, C), (N, C, H, W) logits, then one (9, 5) sample with ignored
    labels (and class weights) per option set."""

    def make(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
        def scores(*shape):
            return (2 * randn(gen, *shape)).to(dtype)

        out = [
            Sample((scores(4), labels(gen, 4)), desc="unbatched (C,)"),
            Sample((scores(7, 5), labels(gen, 5, 7)), desc="(N, C)"),
            Sample((scores(2, 3, 5, 1), labels(gen, 3, 2, 5, 1)), desc="(N, C, H, W)"),
        ]
        for opts in option_sets:
            y = labels(gen, 5, 9)
            kwargs = dict(opts)
            if ignore:
                y[::3] = -100
            if weight:
                kwargs["weight"] = rand(gen, 5, dtype=dtype) + 0.2
            out.append(Sample((scores(9, 5), y), kwargs, f"{sorted(kwargs)} ignored={ignore}"))
        return out

    return make


def _option_error(opt: str, value, match: str) -> ErrorCase:
    return ErrorCase(
        (torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)), {opt: value}, match, f"bad {opt}"
    )


def _label_errors() -> list[ErrorCase]:
    return [c for c in _class_errors("logits") if c.desc not in ("bad weight", "negative weight")]


# ----------------------------------------------------------------------------- soft CE
def _soft_ce_ref(x, q, *, reduction):
    axis = 0 if x.ndim == 1 else 1
    return np_reduce_items(-(q * _log_softmax(x, axis)).sum(axis=axis), reduction)


def np_reduce_items(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean() if loss.size else 0.0


def _soft_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    def dist(*shape):
        axis = 0 if len(shape) == 1 else 1
        return torch.softmax(2 * randn(gen, *shape), axis).to(dtype)

    # a single (C,) distribution is tested in tests/test_multiclass.py: the empty-batch
    # suite slices dim 0, which for it is the class dim
    one_hot = F.one_hot(labels(gen, 4, 6), 4).double().to(dtype)
    return [
        Sample(((2 * randn(gen, 7, 5)).to(dtype), dist(7, 5)), desc="(N, C)"),
        Sample(((2 * randn(gen, 2, 3, 5, 1)).to(dtype), dist(2, 3, 5, 1)), desc="(N, C, H, W)"),
        Sample(((2 * randn(gen, 6, 4)).to(dtype), one_hot), desc="one-hot"),
    ]


def _distribution_errors(name: str) -> list[ErrorCase]:
    x = torch.zeros(4, 3)
    return [
        ErrorCase(
            (x, torch.full((4, 3), 0.5)),
            {},
            f"{name} must hold distributions over dim 1",
            "sum 1.5",
        ),
        ErrorCase((x, torch.full((4, 3), -0.2)), {}, rf"{name} must be probabilities", "negative"),
        ErrorCase((x, torch.zeros(4, 1)), {}, rf"logits \(4, 3\) vs {name} \(4, 1\)", "shape"),
        ErrorCase((x[:, :1], torch.ones(4, 1)), {}, "single class", "C = 1"),
        ErrorCase(
            (torch.zeros(2, 3, 4), torch.softmax(torch.zeros(2, 3, 4), -1)),
            {},
            "softmax over dim 1",
            "normalised over the last dim",
        ),
    ]


add(
    LossInfo(
        "soft_cross_entropy",
        _soft_samples,
        _soft_ce_ref,
        peer=F.cross_entropy,
        soft_targets=True,
        errors=lambda: _distribution_errors("target_probs"),
    )
)


# ----------------------------------------------------------------------------- softmax focal
def _focal_ref(x, y, *, reduction, gamma=2.0, weight=None, ignore_index=-100):
    def per_row(rows, ys):
        return -(_others_prob(rows, ys) ** gamma) * _picked(_row_log_softmax(rows), ys)

    return _items_ref(
        per_row, x, y, reduction=reduction, ignore_index=ignore_index, weight=weight, mean="weight"
    )


add(
    LossInfo(
        "softmax_focal",
        _label_samples({}, {"gamma": 0.5}, {"gamma": 0.0}, weight=True),
        _focal_ref,
        ignore_index=True,
        weights=True,
        errors=lambda: [
            *_class_errors("logits"),
            _option_error("gamma", -0.5, "gamma must lie in"),
        ],
    )
)


# ----------------------------------------------------------------------------- poly-1
def _poly1_ref(x, y, *, reduction, epsilon=1.0, ignore_index=-100):
    def per_row(rows, ys):
        return -_picked(_row_log_softmax(rows), ys) + epsilon * _others_prob(rows, ys)

    return _items_ref(per_row, x, y, reduction=reduction, ignore_index=ignore_index)


add(
    LossInfo(
        "poly1_cross_entropy",
        _label_samples({}, {"epsilon": -0.7}, {"epsilon": 3.0}),
        _poly1_ref,
        ignore_index=True,
        errors=lambda: [
            *_label_errors(),
            _option_error("epsilon", -1.5, r"epsilon must lie in \[-1"),
        ],
    )
)


# ----------------------------------------------------------------------------- hinges
def _cs_ref(x, y, *, reduction, margin=1.0, ignore_index=-100):
    def per_row(rows, ys):
        rival = rows + margin
        rival[np.arange(len(ys)), ys] = -np.inf
        return np.maximum(0.0, rival.max(1) - _picked(rows, ys))

    return _items_ref(per_row, x, y, reduction=reduction, ignore_index=ignore_index)


add(
    LossInfo(
        "multiclass_hinge",
        _label_samples({}, {"margin": 2.5}),
        _cs_ref,
        ignore_index=True,
        errors=lambda: [*_label_errors(), _option_error("margin", -1.0, "margin must lie in")],
    )
)


def _ww_ref(x, y, *, reduction, p=1, margin=1.0, weight=None):
    def per_row(rows, ys):
        c = rows.shape[1]
        gap = np.maximum(0.0, margin - _picked(rows, ys)[:, None] + rows) ** p
        gap[np.arange(len(ys)), ys] = 0.0
        w = 1.0 if weight is None else weight[ys]
        return w * gap.sum(1) / c

    return _items_ref(per_row, x, y, reduction=reduction, ignore_index=None, mean="all")


def _torch_multi_margin(logits, labels, *, reduction="mean", **kw):
    """torch's kernel takes (N, C) or (C,): class dim moved last and flattened for more dims."""
    if logits.dim() <= 2:
        return F.multi_margin_loss(logits, labels, reduction=reduction, **kw)
    c = logits.shape[1]
    flat = logits.movedim(1, -1).reshape(-1, c)
    none = F.multi_margin_loss(flat, labels.reshape(-1), reduction="none", **kw)
    none = none.reshape(labels.shape)
    return {"none": none, "sum": none.sum(), "mean": none.mean()}[reduction]


def _ww_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = _label_samples({}, ignore=False)(gen, dtype)
    out += [
        Sample(
            ((2 * randn(gen, 8, 4)).to(dtype), labels(gen, 4, 8)), {"p": 2, "margin": 0.5}, "p=2"
        ),
        Sample(
            ((2 * randn(gen, 8, 4)).to(dtype), labels(gen, 4, 8)),
            {"weight": rand(gen, 4, dtype=dtype) + 0.2, "margin": 2.0},
            "weight",
        ),
    ]
    return out


add(
    LossInfo(
        "multi_margin",
        _ww_samples,
        _ww_ref,
        peer=_torch_multi_margin,
        weights=True,
        errors=lambda: [
            *[
                c
                for c in _class_errors("logits")
                if c.desc not in ("void label", "bad ignore_index")  # no ignore_index, as torch
            ],
            _option_error("p", 3, "p must be 1 or 2"),
            _option_error("margin", -1.0, "margin must lie in"),
        ],
    )
)


# ----------------------------------------------------------------------------- GCE
def _gce_ref(x, y, *, reduction, q=0.7, ignore_index=-100):
    def per_row(rows, ys):
        log_p = _picked(_row_log_softmax(rows), ys)
        return -log_p if q == 0 else (1 - np.exp(log_p) ** q) / q

    return _items_ref(per_row, x, y, reduction=reduction, ignore_index=ignore_index)


add(
    LossInfo(
        "generalized_cross_entropy",
        _label_samples({}, {"q": 1.0}, {"q": 0.0}, {"q": 0.2}),
        _gce_ref,
        ignore_index=True,
        errors=lambda: [*_label_errors(), _option_error("q", 1.5, r"q must lie in \[0")],
    )
)


# ----------------------------------------------------------------------------- logit adjusted
def _la_ref(x, y, *, reduction, class_priors, tau=1.0, ignore_index=-100):
    def per_row(rows, ys):
        return -_picked(_row_log_softmax(rows + tau * np.log(class_priors)), ys)

    return _items_ref(per_row, x, y, reduction=reduction, ignore_index=ignore_index)


def _la_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for s in _label_samples({}, {"tau": 0.5})(gen, dtype):
        c = s.args[0].shape[0 if s.args[0].dim() == 1 else 1]
        priors = (rand(gen, c) + 0.05).to(dtype)
        out.append(
            Sample(
                s.args, {**s.kwargs, "class_priors": priors}, s.desc, grad_kwargs=("class_priors",)
            )
        )
    counts = torch.tensor([500.0, 20.0, 3.0]).to(dtype)
    out.append(
        Sample(
            ((2 * randn(gen, 6, 3)).to(dtype), labels(gen, 3, 6)),
            {"class_priors": counts},
            "counts",
        )
    )
    return out


add(
    LossInfo(
        "logit_adjusted_cross_entropy",
        _la_samples,
        _la_ref,
        ignore_index=True,
        errors=lambda: [
            *[
                ErrorCase(c.args, {**c.kwargs, "class_priors": torch.ones(3)}, c.match, c.desc)
                for c in _label_errors()
                if c.desc != "C = 1"
            ],
            ErrorCase(
                (torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)),
                {"class_priors": torch.ones(4)},
                r"class_priors must be a tensor of shape \(3,\)",
                "bad priors shape",
            ),
            ErrorCase(
                (torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)),
                {"class_priors": torch.tensor([5.0, 0.0, 1.0])},
                "class_priors must be positive.*add 1",
                "zero prior",
            ),
            ErrorCase(
                (torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)),
                {"class_priors": torch.ones(3), "tau": -1.0},
                "tau must lie in",
                "negative tau",
            ),
        ],
    )
)


# ----------------------------------------------------------------------------- z-loss
def _z_ref(x, y=None, *, reduction, ignore_index=-100):
    def per_row(rows, ys):
        m = rows.max(1)
        return (m + np.log(np.exp(rows - m[:, None]).sum(1))) ** 2

    if y is None:
        rows, shape = _rows(x)
        return np_reduce_items(per_row(rows, None).reshape(shape), reduction)
    return _items_ref(per_row, x, y, reduction=reduction, ignore_index=ignore_index)


def _z_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = _label_samples({})(gen, dtype)
    out.append(Sample(((3 * randn(gen, 6, 4) + 5).to(dtype),), desc="no labels (N, C)"))
    out.append(Sample(((3 * randn(gen, 2, 4, 3)).to(dtype),), desc="no labels (N, C, L)"))
    return out


add(
    LossInfo(
        "z_loss",
        _z_samples,
        _z_ref,
        ignore_index=True,
        errors=lambda: [
            *_label_errors(),
            ErrorCase((torch.zeros(4, 1),), {}, "single class", "C = 1 without labels"),
            ErrorCase((torch.tensor(1.0),), {}, "class dimension", "scalar"),
        ],
    )
)


# ----------------------------------------------------------------------------- sparsemax
def _sparsemax_rows(rows):
    """Sparsemax by bisection on tau (independent of the sort used by losskit), then tau made
    exact from the support it finds."""
    lo, hi = rows.min(1) - 1.0, rows.max(1)
    for _ in range(200):
        tau = (lo + hi) / 2
        over = np.maximum(rows - tau[:, None], 0).sum(1) > 1
        lo, hi = np.where(over, tau, lo), np.where(over, hi, tau)
    support = rows > ((lo + hi) / 2)[:, None]
    tau = ((rows * support).sum(1) - 1) / support.sum(1)
    return support, tau


def _sparsemax_ref(x, y, *, reduction, ignore_index=-100):
    def per_row(rows, ys):
        support, tau = _sparsemax_rows(rows)
        sq = ((rows**2 - tau[:, None] ** 2) * support).sum(1)
        return 0.5 * sq + 0.5 - _picked(rows, ys)

    return _items_ref(per_row, x, y, reduction=reduction, ignore_index=ignore_index)


add(
    LossInfo(
        "sparsemax_loss",
        _label_samples({}),
        _sparsemax_ref,
        ignore_index=True,
        errors=_label_errors,
    )
)
