"""LossInfo entries of the overlap losses. References are float64 NumPy, written here.

The references loop over images and classes and *remove* ignored pixels (the implementation
masks them instead), so the two agree only if masking really is removal. Lovasz follows the
sorted-error formula of Berman et al. 2018 directly.
"""

from __future__ import annotations

import numpy as np
import torch

from tests.lossinfo import ErrorCase, LossInfo, Sample, add, labels, rand, randn


# ----------------------------------------------------------------------------- NumPy helpers
def _activate(x, normalize):
    if normalize == "softmax":
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if normalize == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    return x


def _per_pixel(x, t, normalize, ignore_index):
    """Per image n: (probs (C, P), targets (C, P), valid (C, P)) as flat float arrays."""
    n, c = x.shape[:2]
    p = _activate(x, normalize).reshape(n, c, -1)
    if t.shape == x.shape:
        valid = (t != ignore_index).reshape(n, c, -1)
        g = np.where(valid, t.reshape(n, c, -1), 0.0).astype(np.float64)
    else:
        flat = t.reshape(n, 1, -1)
        valid = np.repeat(flat != ignore_index, c, axis=1)
        g = (flat == np.arange(c).reshape(1, c, 1)).astype(np.float64)
    return p, g, valid


def _reduce(per_image, counted, reduction):
    per_image = np.asarray(per_image, dtype=np.float64)
    if reduction == "none":
        return per_image
    if reduction == "sum":
        return per_image.sum()
    k = int(np.sum(counted))
    return per_image.sum() / k if k else 0.0


def _div(num, den):
    return num / den if den > 0 else 1.0


def _score(kind, i, p, g, *, smooth, alpha, beta):
    if kind == "dice":
        return _div(2 * i + smooth, p + g + smooth)
    if kind == "jaccard":
        return _div(i + smooth, p + g - i + smooth)
    fp, fn = p - i, g - i  # sum p (1 - t), sum (1 - p) t
    return _div(i + smooth, i + alpha * fp + beta * fn + smooth)


def _region_ref(kind):
    def ref(
        x,
        t,
        *,
        reduction,
        normalize="softmax",
        smooth=1e-5,
        squared_denominator=False,
        weight=None,
        average="macro",
        ignore_index=-100,
        alpha=0.3,
        beta=0.7,
        gamma=4.0 / 3.0,
    ):
        exponent = 1.0 / gamma if kind == "focal_tversky" else 1.0
        p_all, g_all, v_all = _per_pixel(x, t, normalize, ignore_index)
        c = x.shape[1]
        w = np.ones(c) if weight is None else weight
        out, counted = [], []
        for p_img, g_img, v_img in zip(p_all, g_all, v_all, strict=True):
            sums = []  # (class, I, P, G) for classes with a non-ignored pixel
            for k in range(c):
                keep = v_img[k]
                if not keep.any():
                    continue
                p, g = p_img[k][keep], g_img[k][keep]
                pp, gg = (p * p, g * g) if squared_denominator else (p, g)
                sums.append((k, (p * g).sum(), pp.sum(), gg.sum()))
            counted.append(bool(sums))
            if not sums:
                out.append(0.0)
            elif average == "macro":
                num = sum(
                    w[k]
                    * max(1 - _score(kind, i, pp, gg, smooth=smooth, alpha=alpha, beta=beta), 0.0)
                    ** exponent
                    for k, i, pp, gg in sums
                )
                den = sum(w[k] for k, *_ in sums)
                out.append(num / den if den > 0 else 0.0)
            else:
                i = sum(w[k] * i for k, i, _, _ in sums)
                pp = sum(w[k] * pp for k, _, pp, _ in sums)
                gg = sum(w[k] * gg for k, _, _, gg in sums)
                s = _score(kind, i, pp, gg, smooth=smooth, alpha=alpha, beta=beta)
                out.append(max(1 - s, 0.0) ** exponent)
        return _reduce(out, counted, reduction)

    return ref


def _generalized_dice_ref(
    x, t, *, reduction, normalize="softmax", weight_type="square", smooth=1e-5, ignore_index=-100
):
    p_all, g_all, v_all = _per_pixel(x, t, normalize, ignore_index)
    c = x.shape[1]
    out, counted = [], []
    for p_img, g_img, v_img in zip(p_all, g_all, v_all, strict=True):
        inter, pred, true = np.zeros(c), np.zeros(c), np.zeros(c)
        for k in range(c):
            keep = v_img[k]
            p, g = p_img[k][keep], g_img[k][keep]
            inter[k], pred[k], true[k] = (p * g).sum(), p.sum(), g.sum()
        counted.append(bool(v_img.any()))
        if not v_img.any():
            out.append(0.0)
            continue
        present = true > 0
        safe = np.where(present, true, 1.0)
        raw = {"square": 1 / safe**2, "simple": 1 / safe, "uniform": np.ones(c)}[weight_type]
        fill = raw[present].max() if present.any() else 1.0  # absent classes: the largest
        w = np.where(present, raw, fill)
        w = w / w.sum()
        out.append(1 - _div(2 * (w * inter).sum() + smooth, (w * (pred + true)).sum() + smooth))
    return _reduce(out, counted, reduction)


def _lovasz_grad(gt_sorted):
    """Berman et al. 2018, Alg. 1: gradient of the Lovasz extension of the Jaccard loss."""
    gts = gt_sorted.sum()
    intersection = gts - np.cumsum(gt_sorted)
    union = gts + np.cumsum(1 - gt_sorted)
    jaccard = 1.0 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def _lovasz_flat(errors, gt):
    order = np.argsort(-errors, kind="stable")
    return float(np.dot(errors[order], _lovasz_grad(gt[order])))


def _lovasz_hinge_ref(x, t, *, reduction, ignore_index=-100):
    n = x.shape[0]
    out, counted = [], []
    for xi, ti in zip(x.reshape(n, -1), t.reshape(n, -1), strict=True):
        keep = ti != ignore_index
        counted.append(bool(keep.any()))
        if not keep.any():
            out.append(0.0)
            continue
        gt = ti[keep].astype(np.float64)
        errors = np.maximum(1.0 - xi[keep] * (2 * gt - 1), 0.0)
        out.append(_lovasz_flat(errors, gt))
    return _reduce(out, counted, reduction)


def _lovasz_softmax_ref(
    x, y, *, reduction, normalize="softmax", classes="present", ignore_index=-100
):
    n, c = x.shape[:2]
    probs = _activate(x, normalize).reshape(n, c, -1)
    out, counted = [], []
    for p_img, y_img in zip(probs, y.reshape(n, -1), strict=True):
        keep = y_img != ignore_index
        counted.append(bool(keep.any()))
        losses = []
        for k in range(c):
            fg = (y_img[keep] == k).astype(np.float64)
            if not keep.any() or (classes == "present" and fg.sum() == 0):
                continue
            losses.append(_lovasz_flat(np.abs(fg - p_img[k][keep]), fg))
        out.append(float(np.mean(losses)) if losses else 0.0)
    return _reduce(out, counted, reduction)


def _dice_ce_ref(
    x,
    y,
    *,
    reduction,
    dice_weight=1.0,
    ce_weight=1.0,
    include_background=False,
    smooth=1e-5,
    ignore_index=-100,
):
    n, c = x.shape[:2]
    z = x - x.max(axis=1, keepdims=True)
    logp = (z - np.log(np.exp(z).sum(axis=1, keepdims=True))).reshape(n, c, -1)
    w = np.ones(c)
    if not include_background:
        w[0] = 0.0
    dice = _region_ref("dice")(
        x, y, reduction="none", smooth=smooth, weight=w, ignore_index=ignore_index
    )
    out, counted = [], []
    for lp, yi, d in zip(logp, y.reshape(n, -1), dice, strict=True):
        keep = yi != ignore_index
        counted.append(bool(keep.any()))
        if not keep.any():
            out.append(0.0)
            continue
        ce = -lp[yi[keep], np.flatnonzero(keep)].mean()
        out.append(ce_weight * ce + dice_weight * d)
    return _reduce(out, counted, reduction)


# ----------------------------------------------------------------------------- samples
def _scores(gen, *shape, dtype):
    return (2 * randn(gen, *shape)).to(dtype)


def _region_samples(tweaks: dict[int, dict] | None = None, *, sigmoid: bool = True):
    """Shared samples: labels from (N, C) to 3-D, hard and soft masks, ignored pixels, a fully
    ignored image, a class absent from an image, class weights. ``tweaks`` adds loss-specific
    options to sample i."""
    tweaks = tweaks or {}

    def make(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
        out = []
        out.append(
            Sample((_scores(gen, 5, 3, dtype=dtype), labels(gen, 3, 5)), {}, "(N, C) labels")
        )
        y = labels(gen, 4, 2, 5, 3)
        y[:, ::3] = -100
        w = (rand(gen, 4) + 0.2).to(dtype)
        out.append(
            Sample(
                (_scores(gen, 2, 4, 5, 3, dtype=dtype), y),
                {"weight": w},
                "(N, C, H, W) labels, ignored rows, class weights",
            )
        )
        y = labels(gen, 2, 3, 4, 4)  # classes 0 and 1 only: class 2 absent everywhere
        y[1] = 255  # image 1 fully ignored
        y[0, 0, :2] = 255
        out.append(
            Sample(
                (_scores(gen, 3, 3, 4, 4, dtype=dtype), y),
                {"ignore_index": 255, "average": "micro", "smooth": 1.0},
                "labels, absent class, a fully ignored image, micro",
            )
        )
        if sigmoid:
            m = (rand(gen, 3, 1, 4, 5) > 0.5).to(dtype)
            m[2] = 0.0  # an empty target
            out.append(
                Sample(
                    (_scores(gen, 3, 1, 4, 5, dtype=dtype), m),
                    {"normalize": "sigmoid"},
                    "binary sigmoid, hard masks, an empty target",
                )
            )
            m = rand(gen, 2, 3, 3, 2, 2).to(dtype)
            m[0, 1, 0] = -1.0  # ignored mask elements
            out.append(
                Sample(
                    (_scores(gen, 2, 3, 3, 2, 2, dtype=dtype), m),
                    {"normalize": "sigmoid", "ignore_index": -1, "average": "micro"},
                    "3-D sigmoid, soft masks, ignored elements, micro",
                )
            )
        for i, extra in tweaks.items():
            s = out[i]
            out[i] = Sample(s.args, {**s.kwargs, **extra}, f"{s.desc}, {extra}")
        return out

    return make


def _gd_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for s in _region_samples()(gen, dtype):
        kwargs = {k: v for k, v in s.kwargs.items() if k not in ("weight", "average")}
        out.append(Sample(s.args, kwargs, s.desc))
    out[1] = Sample(out[1].args, {"weight_type": "simple"}, out[1].desc + ", simple")
    out[4] = Sample(out[4].args, {**out[4].kwargs, "weight_type": "uniform"}, out[4].desc)
    return out


def _label_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    return _region_samples(sigmoid=False)(gen, dtype)


def _lovasz_softmax_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for i, s in enumerate(_label_samples(gen, dtype)):
        kwargs = {"ignore_index": s.kwargs["ignore_index"]} if "ignore_index" in s.kwargs else {}
        if i == 1:
            kwargs["classes"] = "all"
        out.append(Sample(s.args, kwargs, s.desc))
    return out  # (normalize=None is tested in test_overlap.py: the generic extreme-logits
    # test replaces the first argument by +-1e4)


def _dice_ce_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for i, s in enumerate(_label_samples(gen, dtype)):
        kwargs = {"ignore_index": s.kwargs["ignore_index"]} if "ignore_index" in s.kwargs else {}
        if i == 1:
            kwargs |= {"include_background": True, "dice_weight": 0.7, "ce_weight": 1.5}
        out.append(Sample(s.args, kwargs, s.desc))
    return out


def _lovasz_hinge_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    m = (rand(gen, 3, 4, 5) > 0.5).to(torch.int64)
    m[1] = 0  # an empty target
    m[2, 0] = 255  # ignored pixels
    full_ignored = (rand(gen, 3, 6) > 0.5).to(dtype)
    full_ignored[0] = -1.0
    return [
        Sample(((3 * randn(gen, 7)).to(dtype), (rand(gen, 7) > 0.5).to(dtype)), {}, "(N,)"),
        Sample((_scores(gen, 4, 9, dtype=dtype), (rand(gen, 4, 9) > 0.5).to(dtype)), {}, "(N, P)"),
        Sample(
            (_scores(gen, 3, 4, 5, dtype=dtype), m),
            {"ignore_index": 255},
            "(N, H, W) int masks, an empty target, ignored pixels",
        ),
        Sample(
            (_scores(gen, 3, 6, dtype=dtype), full_ignored),
            {"ignore_index": -1},
            "a fully ignored image",
        ),
    ]


# ----------------------------------------------------------------------------- errors
def _region_errors(labels_only: bool = False, normalize: bool = True) -> list[ErrorCase]:
    x = torch.zeros(2, 3, 4)
    y = torch.zeros(2, 4, dtype=torch.long)
    cases = [
        ErrorCase(
            (x, torch.zeros(2, 4, 3, dtype=torch.long)),
            {},
            r"(targets|labels) must be .*class labels of shape \(2, 4\)",
            "bad shape",
        ),
        ErrorCase((x, torch.zeros(2, 1, 4, dtype=torch.long)), {}, r"squeeze\(1\)", "(N, 1, P)"),
        ErrorCase((x, torch.full((2, 4), 3)), {}, r"(targets|labels) must lie in \[0, 3\)", "3"),
        ErrorCase((x, torch.full((2, 4), 255)), {}, "ignore_index=255", "void label"),
        ErrorCase((x[:, 0, 0], y[:, 0]), {}, r"\(N, C, \*spatial\)", "no class dim"),
        ErrorCase((x, y), {"reduction": "elementwise_mean"}, "reduction", "reduction"),
        ErrorCase((x, y), {"ignore_index": 1.5}, "ignore_index must be an integer", "float"),
    ]
    if normalize:
        cases += [
            ErrorCase((x, y), {"normalize": "relu"}, "normalize must be one of", "normalize"),
            ErrorCase((x + 2.0, y), {"normalize": None}, r"probabilities in \[0, 1\]", "logits"),
            ErrorCase(
                (x, y), {"activation": "softmax"}, "activation= is now normalize=", "old name"
            ),
        ]
    if labels_only:
        cases.append(ErrorCase((x, torch.zeros(2, 3, 4)), {}, "argmax", "one-hot masks"))
        cases.append(ErrorCase((x[:, :1], y), {}, "single class", "C = 1"))
    else:
        cases += [
            ErrorCase((x, y.float()), {}, "must be integer", "float labels"),
            ErrorCase((x, torch.full((2, 3, 4), 2.0)), {}, r"\[0, 1\]", "mask out of range"),
            ErrorCase((x, y), {"normalize": "sigmoid"}, "own mask", "labels with sigmoid"),
            ErrorCase((x[:, :1], torch.zeros(2, 1, 4)), {}, "normalize='sigmoid'", "C = 1"),
            ErrorCase((x, y), {"smooth": -1.0}, r"smooth must lie in \[0", "smooth"),
            ErrorCase((x, y), {"smooth": "1e-5"}, "smooth must be a number", "str smooth"),
            ErrorCase((x, y), {"smooth": float("inf")}, r"smooth must lie in \[0, inf\)", "inf"),
        ]
    return cases


def _weighted_errors() -> list[ErrorCase]:
    x, y = torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)
    return [
        *_region_errors(),
        ErrorCase((x, y), {"weight": torch.ones(4)}, r"weight must have shape \(3,\)", "weight"),
        ErrorCase((x, y), {"weight": -torch.ones(3)}, "weight must be >= 0", "negative"),
        ErrorCase(
            (x, y), {"weight": torch.tensor([1.0, float("nan"), 1.0])}, "non-finite", "NaN weight"
        ),
        ErrorCase((x, y), {"average": "samples"}, "average must be one of", "average"),
    ]


def _tversky_errors(focal: bool) -> list[ErrorCase]:
    x, y = torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)
    cases = [
        *_weighted_errors(),
        ErrorCase((x, y), {"alpha": -0.1}, r"alpha must lie in \[0", "alpha"),
        ErrorCase((x, y), {"alpha": 0.0, "beta": 0.0}, r"alpha \+ beta must be > 0", "0, 0"),
    ]
    if focal:
        cases.append(ErrorCase((x, y), {"gamma": 0.0}, r"gamma must lie in \(0", "gamma"))
    return cases


# ----------------------------------------------------------------------------- entries
add(
    LossInfo(
        "dice",
        _region_samples({0: {"squared_denominator": True}, 3: {"smooth": 0.0}}),
        _region_ref("dice"),
        errors=_weighted_errors,
        ignore_index=True,
        weights=True,
    )
)
add(
    LossInfo(
        "jaccard",
        _region_samples({4: {"smooth": 0.5}}),
        _region_ref("jaccard"),
        errors=_weighted_errors,
        ignore_index=True,
        weights=True,
    )
)
add(
    LossInfo(
        "tversky",
        _region_samples({1: {"alpha": 0.8, "beta": 0.2}, 3: {"alpha": 1.0, "beta": 0.0}}),
        _region_ref("tversky"),
        errors=lambda: _tversky_errors(focal=False),
        ignore_index=True,
        weights=True,
    )
)
add(
    LossInfo(
        "focal_tversky",
        _region_samples({0: {"gamma": 1.0}, 1: {"gamma": 0.5}, 4: {"gamma": 3.0}}),
        _region_ref("focal_tversky"),
        errors=lambda: _tversky_errors(focal=True),
        ignore_index=True,
        weights=True,
    )
)
add(
    LossInfo(
        "generalized_dice",
        _gd_samples,
        _generalized_dice_ref,
        errors=lambda: [
            *_region_errors(),
            ErrorCase(
                (torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)),
                {"weight_type": "log"},
                "weight_type must be one of",
                "weight_type",
            ),
        ],
        ignore_index=True,
    )
)
add(
    LossInfo(
        "lovasz_hinge",
        _lovasz_hinge_samples,
        _lovasz_hinge_ref,
        errors=lambda: [
            ErrorCase(
                (torch.zeros(4, 1), torch.zeros(4)), {}, r"logits \(4, 1\) vs targets", "shape"
            ),
            ErrorCase((torch.zeros(3), torch.full((3,), 0.5)), {}, "0 or 1", "soft targets"),
            ErrorCase((torch.zeros(3), torch.full((3,), 255)), {}, r"\[0, 1\]", "void not ignored"),
            ErrorCase((torch.tensor(1.0), torch.tensor(1.0)), {}, "dim 0 the images", "scalar"),
            ErrorCase((torch.zeros(3, dtype=torch.long), torch.zeros(3)), {}, "floating", "int"),
        ],
        # the generic ignore tests assume (N, C, *) logits with (N, *) labels: lovasz_hinge's
        # masks have the shape of the logits; its ignore_index is tested in test_overlap.py
        ignore_index=False,
    )
)
add(
    LossInfo(
        "lovasz_softmax",
        _lovasz_softmax_samples,
        _lovasz_softmax_ref,
        errors=lambda: [
            *_region_errors(labels_only=True),
            ErrorCase(
                (torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)),
                {"classes": "some"},
                "classes must be one of",
                "classes",
            ),
            ErrorCase(
                (torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)),
                {"normalize": "sigmoid"},
                "normalize must be one of",
                "sigmoid",
            ),
        ],
        ignore_index=True,
    )
)
add(
    LossInfo(
        "dice_cross_entropy",
        _dice_ce_samples,
        _dice_ce_ref,
        errors=lambda: [
            *_region_errors(labels_only=True, normalize=False),
            ErrorCase(
                (torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)),
                {"ce_weight": -1.0},
                r"ce_weight must lie in \[0",
                "negative weight",
            ),
        ],
        ignore_index=True,
    )
)
