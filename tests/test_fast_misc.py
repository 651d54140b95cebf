"""The fast paths of the misc losses against their slow twins: CTC's own autograd Function
against the log-space recursion (the traced path), margin_ranking's unguarded formula (labels
the check read) against the guarded one ("shapes" mode); info_nce's and clip_loss's
one-process path, cosine/hinge embedding's read-label path, triplet's pairwise distance and
hinge, and the box losses' own autograd Functions against plain float64 formulas."""

from __future__ import annotations

import math
from typing import Literal

import pytest
import torch

import losskit
from losskit.losses import _sequence
from losskit.losses._boxes import ciou, diou, giou
from losskit.losses._ranking import margin_ranking
from losskit.losses._sequence import ctc


def _ctc_inputs(
    frames: int = 12, batch: int = 4, classes: int = 5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    lp = torch.randn(frames, batch, classes, generator=g, dtype=torch.float64).log_softmax(2)
    targets = torch.randint(1, classes, (batch, 4), generator=g)
    in_len = torch.tensor([frames, frames - 2, 5, frames])[:batch]
    tgt_len = torch.tensor([4, 3, 2, 0])[:batch]
    return lp, targets, in_len, tgt_len


def _recursion(lp: torch.Tensor, *rest: torch.Tensor, zero_infinity: bool) -> torch.Tensor:
    targets, in_len, tgt_len = rest
    return _sequence._ctc_recursion(
        lp, targets, in_len, tgt_len, blank=0, zero_infinity=zero_infinity
    )


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("whole", [True, False])
def test_ctc_function_matches_recursion(
    zero_infinity: bool, whole: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not whole:  # exp(log_probs) taken back in slices of frames
        monkeypatch.setattr(_sequence, "_EXP_WHOLE", 0)
    lp, targets, in_len, tgt_len = _ctc_inputs()
    if zero_infinity:  # an impossible alignment: 4 labels, 3 with a repeat, in 2 frames
        in_len = in_len.clone()
        in_len[0] = 2
    x = lp.clone().requires_grad_()
    y = lp.clone().requires_grad_()
    got = ctc(x, targets, in_len, tgt_len, reduction="none", zero_infinity=zero_infinity)
    want = _recursion(y, targets, in_len, tgt_len, zero_infinity=zero_infinity)
    torch.testing.assert_close(got, want)
    w = torch.rand(got.shape, dtype=torch.float64)
    (gx,) = torch.autograd.grad((got * w).sum(), x)
    (gy,) = torch.autograd.grad((want * w).sum(), y)
    torch.testing.assert_close(gx, gy)
    if zero_infinity:
        assert got[0] == 0 and bool((gx[:, 0] == 0).all())


def test_ctc_function_gradcheck_and_reductions() -> None:
    lp, targets, _, _ = _ctc_inputs(frames=6, batch=2, classes=3)
    in_len, tgt_len = torch.tensor([6, 5]), torch.tensor([2, 1])
    x = lp.clone().requires_grad_()
    for reduction in ("mean", "sum", "none"):
        assert torch.autograd.gradcheck(
            lambda a, r=reduction: ctc(a, targets, in_len, tgt_len, reduction=r), (x,)
        )


def test_ctc_function_half_precision_and_no_grad() -> None:
    lp, targets, in_len, tgt_len = _ctc_inputs()
    half = lp.to(torch.bfloat16).requires_grad_()
    out = ctc(half, targets, in_len, tgt_len)
    assert out.dtype == torch.float32
    (gh,) = torch.autograd.grad(out, half)
    x = lp.float().requires_grad_()
    (gx,) = torch.autograd.grad(ctc(x, targets, in_len, tgt_len), x)
    torch.testing.assert_close(gh.float(), gx, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(
        ctc(lp, targets, in_len, tgt_len),
        _recursion(lp, targets, in_len, tgt_len, zero_infinity=False)
        .div(tgt_len.clamp(min=1))
        .mean(),
    )


def test_ctc_nan_log_probs_give_nan_or_error() -> None:
    lp, targets, in_len, tgt_len = _ctc_inputs()
    lp = lp.clone()
    lp[0, 0, 0] = float("nan")
    with losskit.checks("shapes"):
        out = ctc(lp, targets, in_len, tgt_len, reduction="none")
    assert torch.isnan(out[0])


def _margin_formula(
    s1: torch.Tensor, s2: torch.Tensor, y: torch.Tensor, margin: float
) -> torch.Tensor:
    return torch.clamp(-y.double() * (s1.double() - s2.double()) + margin, min=0)


@pytest.mark.parametrize("mode", ["full", "shapes"])
def test_margin_ranking_both_paths_match_formula(mode: Literal["full", "shapes"]) -> None:
    g = torch.Generator().manual_seed(0)
    s1 = torch.randn(50, generator=g, requires_grad=True)
    s2 = torch.randn(50, generator=g, requires_grad=True)
    y = torch.randint(0, 2, (50,), generator=g) * 2 - 1
    with losskit.checks(mode):
        got = margin_ranking(s1, s2, y, margin=0.3, reduction="none")
    want = _margin_formula(s1, s2, y, 0.3)
    torch.testing.assert_close(got.double(), want)
    ga = torch.autograd.grad(got.sum(), (s1, s2))
    gb = torch.autograd.grad(want.sum(), (s1, s2))
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("bad", [0.0, 2.0, float("nan"), float("inf")])
def test_margin_ranking_unread_labels_that_are_not_signs_give_nan(bad: float) -> None:
    s1, s2 = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.5])
    y = torch.tensor([1.0, bad])
    with losskit.checks("shapes"):
        out = margin_ranking(s1, s2, y, reduction="none")
    assert out[0] == 0 and torch.isnan(out[1])
    with pytest.raises(losskit.LossInputError):
        margin_ranking(s1, s2, y)


def test_margin_ranking_empty_mean_is_zero() -> None:
    e = torch.zeros(0, requires_grad=True)
    for mode in ("full", "shapes"):
        with losskit.checks(mode):
            assert margin_ranking(e, e, torch.zeros(0)).item() == 0.0


# ----------------------------------------------------------------------------- second pass
def _f64(*xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(x.detach().double().requires_grad_() for x in xs)


def _grads_match(
    got: torch.Tensor,
    want: torch.Tensor,
    xs: tuple[torch.Tensor, ...],
    ys: tuple[torch.Tensor, ...],
) -> None:
    """Values and gradients of a float32 (or float64) result against the float64 formula, to
    float32 rounding."""
    assert got.shape == want.shape
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)
    w = torch.rand(got.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ga = torch.autograd.grad((got.double() * w).sum(), xs)
    gb = torch.autograd.grad((want * w).sum(), ys)
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-5)


def _info_nce_formula(q: torch.Tensor, k: torch.Tensor, t: float) -> torch.Tensor:
    """The plain float64 formula: cross-entropy of cos(q_i, k_j) / t against the diagonal."""
    qn = q / q.norm(dim=1, keepdim=True).clamp_min(1e-12)
    kn = k / k.norm(dim=1, keepdim=True).clamp_min(1e-12)
    logits = qn @ kn.T / t
    return logits.logsumexp(1) - logits.diagonal()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("gather", ["local", "global", None])
def test_info_nce_one_process_path_matches_formula(reduction: str, gather: str | None) -> None:
    g = torch.Generator().manual_seed(4)
    q, k = torch.randn(9, 5, generator=g), torch.randn(9, 5, generator=g)
    q[2] = 0.0  # a zero row: similarity 0 to every key
    x, y = q.clone().requires_grad_(), k.clone().requires_grad_()
    t = torch.tensor(0.3, requires_grad=True)
    got = losskit.info_nce(x, y, temperature=t, gather=gather, reduction=reduction)
    xd, yd, td = _f64(q, k, t)
    per = _info_nce_formula(xd, yd, td)  # type: ignore[arg-type]
    want = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    _grads_match(got, want, (x, y, t), (xd, yd, td))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("log_scale", [0.7, 5.0])  # 5 > log(100): the clamp
def test_clip_one_process_path_matches_formula(reduction: str, log_scale: float) -> None:
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(7, 4, generator=g), torch.randn(7, 4, generator=g)
    x, y = a.clone().requires_grad_(), b.clone().requires_grad_()
    s = torch.tensor(log_scale, requires_grad=True)
    got = losskit.clip_loss(x, y, logit_scale=s, reduction=reduction)
    xd, yd, sd = _f64(a, b, s)
    scale = sd.clamp(max=math.log(100)).exp()
    per = (_info_nce_formula(xd, yd, 1 / scale) + _info_nce_formula(yd, xd, 1 / scale)) / 2  # type: ignore[arg-type]
    want = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    _grads_match(got, want, (x, y, s), (xd, yd, sd))


def test_contrastive_fast_paths_empty_batch_and_nan() -> None:
    e = torch.zeros(0, 3, requires_grad=True)
    for fn in (losskit.info_nce, losskit.clip_loss):
        out = fn(e, e)
        assert out.item() == 0.0 and out.requires_grad
        q = torch.randn(4, 3)
        q[1, 0] = float("nan")
        with losskit.checks("shapes"):
            assert torch.isnan(fn(q, torch.randn(4, 3)))


def _by_sign_formula(t: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    return torch.where(t == 1, pos, torch.where(t == -1, neg, float("nan")))


@pytest.mark.parametrize("mode", ["full", "shapes"])
def test_cosine_and_hinge_embedding_both_label_paths(mode: Literal["full", "shapes"]) -> None:
    g = torch.Generator().manual_seed(6)
    a, b = torch.randn(11, 6, generator=g), torch.randn(11, 6, generator=g)
    a[3] = 0.0  # zero embedding: cosine 0
    y = torch.randint(0, 2, (11,), generator=g) * 2 - 1
    x1, x2 = a.clone().requires_grad_(), b.clone().requires_grad_()
    with losskit.checks(mode):
        got = losskit.cosine_embedding(x1, x2, y, margin=0.2, reduction="none")
    d1, d2 = _f64(a, b)
    cos = (d1 * d2).sum(-1) / (((d1 * d1).sum(-1) + 1e-12) * ((d2 * d2).sum(-1) + 1e-12)).sqrt()
    want = _by_sign_formula(y, 1 - cos, torch.clamp(cos - 0.2, min=0))
    _grads_match(got, want, (x1, x2), (d1, d2))

    dist = torch.rand(13, generator=g) * 2
    yh = torch.randint(0, 2, (13,), generator=g) * 2 - 1
    xd = dist.clone().requires_grad_()
    with losskit.checks(mode):
        got = losskit.hinge_embedding(xd, yh, margin=1.0, reduction="none")
    (dd,) = _f64(dist)
    _grads_match(got, _by_sign_formula(yh, dd, torch.clamp(1.0 - dd, min=0)), (xd,), (dd,))


def test_sign_labels_unread_stay_nan() -> None:
    y = torch.tensor([1, 0])
    with losskit.checks("shapes"):
        out = losskit.cosine_embedding(torch.ones(2, 3), torch.ones(2, 3), y, reduction="none")
        assert torch.isnan(out[1]) and not torch.isnan(out[0])
        out = losskit.hinge_embedding(torch.ones(2), y, reduction="none")
        assert torch.isnan(out[1]) and not torch.isnan(out[0])


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("p", [1.0, 2.0, float("inf")])
def test_triplet_pairwise_distance_and_hinge_match_formula(swap: bool, p: float) -> None:
    g = torch.Generator().manual_seed(7)
    a, pos, neg = (torch.randn(10, 5, generator=g) for _ in range(3))
    xs = tuple(v.clone().requires_grad_() for v in (a, pos, neg))
    got = losskit.triplet_margin(*xs, margin=0.5, p=p, swap=swap, reduction="none")
    ds = _f64(a, pos, neg)

    def dist(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.linalg.vector_norm(u - v + 1e-6, ord=p, dim=-1)

    d_neg = dist(ds[0], ds[2])
    if swap:
        d_neg = torch.minimum(d_neg, dist(ds[1], ds[2]))
    want = torch.clamp(dist(ds[0], ds[1]) - d_neg + 0.5, min=0)
    _grads_match(got, want, xs, ds)


def test_triplet_infinite_negative_is_not_finite_and_identical_rows_finite() -> None:
    a = torch.zeros(2, 3)
    neg = torch.ones(2, 3)
    neg[0, 0] = float("inf")
    with losskit.checks("shapes"):
        out = losskit.triplet_margin(a, a, neg, reduction="none")
    assert torch.isnan(out[0]) and out[1] == 0
    x = torch.zeros(2, 3, requires_grad=True)
    (gx,) = torch.autograd.grad(losskit.triplet_margin(x, x.detach(), x.detach() + 5, eps=0.0), x)
    assert bool(torch.isfinite(gx).all())


def _ciou_formula(b: torch.Tensor, t: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Plain autograd CIoU (alpha differentiated), float64, for boxes of positive size."""
    x1, y1, x2, y2 = b.unbind(-1)
    x1g, y1g, x2g, y2g = t.unbind(-1)
    iw = torch.minimum(x2, x2g) - torch.maximum(x1, x1g)
    ih = torch.minimum(y2, y2g) - torch.maximum(y1, y1g)
    inter = torch.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + eps)
    cw = torch.maximum(x2, x2g) - torch.minimum(x1, x1g)
    ch = torch.maximum(y2, y2g) - torch.minimum(y1, y1g)
    rho = ((x1 + x2) / 2 - (x1g + x2g) / 2) ** 2 + ((y1 + y2) / 2 - (y1g + y2g) / 2) ** 2
    diou = 1 - iou + rho / (cw**2 + ch**2 + eps)
    v = (4 / math.pi**2) * (
        torch.atan((x2g - x1g) / (y2g - y1g)) - torch.atan((x2 - x1) / (y2 - y1))
    ) ** 2
    giou = 1 - iou + (cw * ch - union) / (cw * ch + eps)
    return torch.stack([giou, diou, diou + v * v / (1 - iou + v + eps)])


def _boxes(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * 4
    return torch.cat([xy, xy + torch.rand(n, 2, generator=g, dtype=torch.float64) * 3 + 0.2], 1)


def test_box_functions_match_the_autograd_formula() -> None:
    b, t = _boxes(12, 8), _boxes(12, 9)
    t[0] = b[0] + 10  # disjoint: no intersection
    x, y = b.clone().requires_grad_(), t.clone().requires_grad_()
    got = torch.stack([fn(x, y, reduction="none") for fn in (giou, diou, ciou)])
    xd, yd = _f64(b, t)
    _grads_match(got, _ciou_formula(xd, yd), (x, y), (xd, yd))


def test_box_functions_double_backward_and_float32() -> None:
    b, t = _boxes(3, 10), _boxes(3, 11)
    x, y = b.clone().requires_grad_(), t.clone().requires_grad_()
    for fn in (giou, diou, ciou):
        assert torch.autograd.gradgradcheck(lambda p, q, f=fn: f(p, q), (x, y))
    xf = b.float().requires_grad_()
    out = ciou(xf, t.float())
    (gf,) = torch.autograd.grad(out, xf)
    xd = b.clone().requires_grad_()
    (gd,) = torch.autograd.grad(_ciou_formula(xd, t)[2].mean(), xd)
    torch.testing.assert_close(gf.double(), gd, rtol=1e-4, atol=1e-5)
    assert out.dtype == torch.float32


# ----------------------------------------------------------------------------- third pass
@pytest.mark.parametrize("function", [True, False])
@pytest.mark.parametrize("mode", ["full", "shapes"])
def test_cosine_embedding_function_and_formula_paths(
    function: bool, mode: Literal["full", "shapes"], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both sides of the size threshold of _Cosine (moved so that small inputs take each), (*, D)
    inputs and a zero row, against the float64 formula written out."""
    from losskit.losses import _embedding

    monkeypatch.setattr(_embedding, "_COSINE_FUNCTION_MIN", 0 if function else 1 << 62)
    g = torch.Generator().manual_seed(12)
    a, b = torch.randn(3, 5, 7, generator=g), torch.randn(3, 5, 7, generator=g)
    a[1, 2] = 0.0
    b[0, 4] = a[0, 4]  # identical rows: cosine 1
    y = torch.randint(0, 2, (3, 5), generator=g) * 2 - 1
    x1, x2 = a.clone().requires_grad_(), b.clone().requires_grad_()
    with losskit.checks(mode):
        got = losskit.cosine_embedding(x1, x2, y, margin=-0.1, reduction="none")
    d1, d2 = _f64(a, b)
    dot, n1, n2 = (d1 * d2).sum(-1), (d1 * d1).sum(-1) + 1e-12, (d2 * d2).sum(-1) + 1e-12
    cos = dot / (n1 * n2).sqrt()
    want = _by_sign_formula(y, 1 - cos, torch.clamp(cos + 0.1, min=0))
    _grads_match(got, want, (x1, x2), (d1, d2))


def test_cosine_function_double_backward_and_nan(monkeypatch: pytest.MonkeyPatch) -> None:
    from losskit.losses import _embedding

    monkeypatch.setattr(_embedding, "_COSINE_FUNCTION_MIN", 0)
    g = torch.Generator().manual_seed(13)
    a, b = (torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True) for _ in "ab")
    y = torch.tensor([1, -1, 1, -1])
    assert torch.autograd.gradgradcheck(
        lambda p, q: losskit.cosine_embedding(p, q, y, margin=-0.5), (a, b)
    )
    bad = a.detach().clone()
    bad[2, 1] = float("nan")
    with losskit.checks("shapes"):
        out = losskit.cosine_embedding(bad, b.detach(), y, reduction="none")
    assert torch.isnan(out[2]) and bool(torch.isfinite(out[[0, 1, 3]]).all())


def _js_formula(lp: torch.Tensor, t: torch.Tensor, log_targets: bool) -> torch.Tensor:
    """JS written out in float64 with 0 log 0 = 0 (xlogy), per item over dim 1."""
    p = lp.exp()
    q = t.exp() if log_targets else t
    m = (p + q) / 2
    per = torch.xlogy(p, p) - torch.xlogy(p, m) + torch.xlogy(q, q) - torch.xlogy(q, m)
    return 0.5 * per.sum(1)


@pytest.mark.parametrize("log_targets", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_js_function_matches_formula_with_zero_mass(log_targets: bool, reduction: str) -> None:
    g = torch.Generator().manual_seed(14)
    p = torch.rand(6, 5, 3, generator=g, dtype=torch.float64)
    q = torch.rand(6, 5, 3, generator=g, dtype=torch.float64)
    p[0, 1] = 0.0  # P without mass where Q has some (log_preds = -inf)
    q[1, 2] = 0.0  # Q without mass where P has some
    p[2, 0, 0] = q[2, 0, 0] = 0.0  # neither
    p, q = p / p.sum(1, keepdim=True), q / q.sum(1, keepdim=True)
    lp, t = p.log(), (q.log() if log_targets else q)
    x, y = lp.clone().requires_grad_(), t.clone().requires_grad_()
    got = losskit.js_div(x, y, log_targets=log_targets, reduction=reduction)
    per = _js_formula(lp, t, log_targets)
    want = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    torch.testing.assert_close(got, want)
    # the gradients where both have mass, against the formula's autograd there; 0 where the
    # differentiated side has none
    w = torch.rand(got.shape, generator=g, dtype=torch.float64)
    gx, gy = torch.autograd.grad((got * w).sum(), (x, y))
    assert bool(torch.isfinite(gx).all()) and bool(torch.isfinite(gy).all())
    xd, yd = lp.clone().requires_grad_(), t.clone().requires_grad_()
    ref = _js_formula(xd, yd, log_targets)
    ref = {"mean": ref.mean(), "sum": ref.sum(), "none": ref}[reduction]
    rx, ry = torch.autograd.grad((ref * w).sum(), (xd, yd))
    both = (p > 0) & (q > 0)
    torch.testing.assert_close(gx[both], rx[both])
    torch.testing.assert_close(gy[both], ry[both])
    assert bool((gx[p == 0] == 0).all()) and bool((gy[q == 0] == 0).all())


def test_js_function_double_backward_nan_and_float32() -> None:
    g = torch.Generator().manual_seed(15)
    lp = torch.randn(4, 3, generator=g, dtype=torch.float64).log_softmax(1).requires_grad_()
    q = torch.randn(4, 3, generator=g, dtype=torch.float64).softmax(1).requires_grad_()
    assert torch.autograd.gradgradcheck(lambda a, b: losskit.js_div(a, b), (lp, q))
    lq = q.detach().log().requires_grad_()
    assert torch.autograd.gradgradcheck(
        lambda a, b: losskit.js_div(a, b, log_targets=True, reduction="none"), (lp, lq)
    )
    for where in (0, 1):
        a, b = lp.detach().clone(), q.detach().clone()
        (a, b)[where][1, 2] = float("nan")
        with losskit.checks("shapes"):
            out = losskit.js_div(a, b, reduction="none")
        assert torch.isnan(out[1]) and bool(torch.isfinite(out[[0, 2, 3]]).all())
    xf = lp.detach().float().requires_grad_()
    out = losskit.js_div(xf, q.detach().float())
    (gf,) = torch.autograd.grad(out, xf)
    xd = lp.detach().clone().requires_grad_()
    (gd,) = torch.autograd.grad(_js_formula(xd, q.detach(), False).mean(), xd)
    assert out.dtype == torch.float32
    torch.testing.assert_close(gf.double(), gd, rtol=1e-4, atol=1e-6)
