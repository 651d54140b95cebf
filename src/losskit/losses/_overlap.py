"""Overlap (segmentation) losses: dice, jaccard, tversky and compounds. The Lovasz losses,
which follow the same policies, live in :mod:`losskit.losses._lovasz` and use the shared
helpers defined here (public names outside ``__all__``: :func:`region_inputs`,
:func:`reduce_images`, :func:`check_normalize`, :func:`refuse_renamed`).

Every loss here takes ``logits`` of shape ``(N, C, *spatial)`` and says how they become
probabilities with ``normalize``: ``"softmax"`` over dim 1 (exclusive classes), ``"sigmoid"``
per channel (independent masks), or ``None`` when the first argument already holds
probabilities (checked to lie in [0, 1]). The option was called ``activation`` before 0.2; that
word now means only the spec field and the Modules' fastai-style ``activation()`` method, and
the old keyword is refused with a message naming ``normalize``. Targets are either a mask of
the shape of ``logits`` (0/1 or soft in [0, 1]; any real or bool dtype) or integer class labels
of shape ``(N, *spatial)`` (one-hot encoded here, after ``ignore_index`` is replaced). The rank
decides, never the dtype: the two shapes cannot be confused. A floating mask promotes with
``logits`` as torch's type promotion would; class weights follow the compute dtype.

Policies shared by the family (each has a test in ``tests/test_overlap.py``):

* ``ignore_index`` masks the prediction *and* the target before any sum: an ignored pixel (a
  label, or a mask element, equal to ``ignore_index``) changes neither the loss nor any gradient.
  ``ignore_index=None`` ignores nothing.
* The unit is the image (dim 0): ``reduction="none"`` returns ``(N,)``; ``"mean"`` averages the
  images that have at least one non-ignored pixel (an image with none has loss 0 and is left out
  of the count, as an ignored item is in cross-entropy); a mean over nothing is a graph-connected
  ``0.0``. For one score pooled over the whole batch (nnU-Net's ``batch_dice``), pass the batch
  as one image: ``logits.movedim(0, 1).reshape(1, C, -1)`` and ``labels.reshape(1, -1)``.
* Empty prediction and empty target (no mass in either, e.g. probabilities of exactly 0 on an
  empty mask): overlap 1, loss 0. With ``smooth > 0`` that is what the formula gives, with the
  finite gradient ``1 / smooth`` per pixel (it pushes the prediction down); with ``smooth = 0``
  the ratio 0/0 is defined as 1 with a zero gradient. An empty target with a non-empty
  prediction has overlap ``smooth / (|P| + smooth)``, about 0: false positives are penalised.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_binary_targets,
    check_bool,
    check_choice,
    check_class_logits,
    check_floating,
    check_ignore_index,
    check_labels,
    check_option,
    check_reduction,
    check_tensor,
    ensure_float,
    finish,
    masked_mean,
    ratio,
    reads,
    tracing,
)
from losskit._spec import Activation, Decode, Family, MeanOver, Prop, Space, Targets, register
from losskit._validate import check_class_weight
from losskit.losses import _examples as ex

__all__ = [
    "dice",
    "dice_cross_entropy",
    "focal_tversky",
    "generalized_dice",
    "jaccard",
    "tversky",
]

NORMALIZE = ("softmax", "sigmoid", None)
# an overlap score of (intersection, prediction mass, target mass), each (N, C) or (N,)
Score = Callable[[Tensor, Tensor, Tensor], Tensor]


# ----------------------------------------------------------------------------- options
def refuse_renamed(loss: str, removed: dict[str, object]) -> None:
    """The ``**removed`` catch of a loss (or Module) whose ``activation=`` option is now
    ``normalize=``: the old name is refused naming the new one; any other unknown keyword gets
    Python's own TypeError, as it would without the catch."""
    if not removed:
        return
    if "activation" in removed:
        raise LossInputError(
            f"{loss}: activation= is now normalize= (how logits become probabilities; the same "
            f"values 'softmax', 'sigmoid' or None): pass normalize={removed['activation']!r}"
        )
    raise TypeError(f"{loss}() got an unexpected keyword argument {next(iter(removed))!r}")


def check_normalize(normalize: object, choices: tuple[object, ...] = NORMALIZE) -> None:
    """``normalize`` is one of ``choices``; a name for "no normalisation" gets a hint."""
    hint = (
        "; for inputs that already are probabilities pass normalize=None"
        if normalize in ("identity", "none", "probs")
        else ""
    )
    check_choice("normalize", normalize, choices, hint=hint)


def _region_options(smooth: object, average: object, reduction: str) -> float:
    """The options every region loss shares; returns ``smooth`` as a float."""
    check_reduction(reduction)
    check_choice("average", average, ("macro", "micro"))
    return check_option("smooth", smooth, low=0.0)


def _check_unit_interval(x: Tensor) -> None:
    """With ``normalize=None`` the first argument holds probabilities: refuse logits (and NaN)."""
    if not reads(x):
        return
    lo_t, hi_t = torch.aminmax(x.detach())
    lo, hi = float(lo_t), float(hi_t)
    if lo >= 0.0 and hi <= 1.0:  # false for NaN
        return
    got = "NaN" if lo != lo or hi != hi else f"values in [{lo:g}, {hi:g}]"
    raise LossInputError(
        f"with normalize=None, logits must be probabilities in [0, 1], got {got}; for raw "
        "scores pass normalize='softmax' (exclusive classes) or 'sigmoid' (independent masks)"
    )


# ----------------------------------------------------------------------------- inputs
class Region(NamedTuple):
    """The prepared inputs of a region loss, flattened to ``(N, C, P)``."""

    probs: Tensor  # zero where ignored, in the compute dtype (float32 for half inputs)
    targets: Tensor  # zero where ignored, in the compute dtype
    valid: Tensor  # bool (an expanded view where labels or nothing decide)
    dtype: torch.dtype  # of the result: that of logits, promoted with a floating mask


def _all_valid(like: Tensor, shape: torch.Size) -> Tensor:
    """``ignore_index=None``: every element counts (one stored element, expanded)."""
    return torch.ones((), dtype=torch.bool, device=like.device).expand(shape)


def region_inputs(
    logits: Tensor,
    targets: Tensor,
    *,
    normalize: str | None,
    ignore_index: int | None,
    soft: bool = True,
    labels_only: bool = False,
    name: str = "targets",
) -> Region:
    """Shared checks and preparation of every region loss (``ignore_index`` as returned by
    :func:`losskit._checks.check_ignore_index`).

    Returns probabilities and targets flattened to ``(N, C, P)``, both zeroed where ignored,
    the validity mask and the result dtype."""
    r = _inputs(
        logits,
        targets,
        normalize=normalize,
        ignore_index=ignore_index,
        soft=soft,
        labels_only=labels_only,
        name=name,
        fast=False,
    )
    assert isinstance(r, Region)
    return r


class LabelRegion(NamedTuple):
    """The prepared inputs of a region loss with class-label targets, never one-hot encoded."""

    probs: Tensor  # (N, C, P) in the compute dtype: probabilities, or logits when ``softmax``
    labels: Tensor  # (N, P) int64, 0 where ignored (a safe index)
    valid: Tensor | None  # (N, P) in the compute dtype, 1 where counted; None: every pixel
    dtype: torch.dtype
    softmax: bool = False  # ``probs`` holds the logits and ``labels`` the raw labels: for
    # :class:`_SoftmaxLabelSums`, which takes ``ignore_index`` too
    ignore_index: int | None = None


def _inputs(
    logits: Tensor,
    targets: Tensor,
    *,
    normalize: str | None,
    ignore_index: int | None,
    soft: bool,
    labels_only: bool,
    name: str,
    fast: bool,
) -> Region | LabelRegion:
    """:func:`region_inputs`; with ``fast``, labels are returned as a :class:`LabelRegion`."""
    check_normalize(normalize)
    # with normalize=None the first argument holds probabilities: the debug mode's "logits
    # that look like probabilities" heuristic must not fire on them
    check_floating("logits" if normalize else "probs", logits)
    check_tensor(name, targets)
    if logits.dim() < 2:
        raise LossInputError(
            f"logits must have shape (N, C, *spatial), got {tuple(logits.shape)}; for one image "
            "add the batch dimension with logits.unsqueeze(0)"
        )
    n, c = logits.shape[:2]
    label_shape = logits.shape[:1] + logits.shape[2:]
    is_mask = targets.shape == logits.shape
    if is_mask and labels_only:
        raise LossInputError(
            f"{name} must be integer class labels of shape {tuple(label_shape)}, got a mask of "
            f"the shape of logits {tuple(logits.shape)}; for one-hot masks pass "
            f"{name}.argmax(1)"
        )
    if not is_mask and targets.shape != label_shape:
        hint = ""
        if targets.dim() == logits.dim() and targets.shape[1] == 1:
            hint = f"; labels with a channel dim? use {name}.squeeze(1)"
        mask = "" if labels_only else f"a mask of the shape of logits {tuple(logits.shape)} or "
        raise LossInputError(
            f"{name} must be {mask}class labels of shape {tuple(label_shape)} (logits without "
            f"dim 1), got {tuple(targets.shape)}" + hint
        )
    if is_mask:
        if normalize == "softmax" and c < 2:
            raise LossInputError(
                "logits has a single channel (C = 1 in dim 1): a softmax over one channel is "
                "always 1; for binary segmentation use normalize='sigmoid'"
            )
        dtype = logits.dtype
        if targets.is_floating_point():  # a float mask promotes as torch would
            dtype = torch.promote_types(dtype, targets.dtype)
        x = ensure_float(logits.to(dtype))
        t = targets.to(x.dtype)
        if ignore_index is None:
            valid = _all_valid(x, x.shape)
        else:
            valid = targets != ignore_index
            t = torch.where(valid, t, 0.0)
        check_binary_targets(name, t, soft=soft)
    else:
        if normalize == "sigmoid":
            how = (
                f"for a binary mask, {name}.unsqueeze(1)"
                if c == 1
                else "for exclusive classes, F.one_hot(labels, C).movedim(-1, 1)"
            )
            raise LossInputError(
                f"with normalize='sigmoid' every channel is its own mask: give {name} the "
                f"shape of logits {tuple(logits.shape)} ({how}), or use normalize='softmax'"
            )
        if targets.is_floating_point():
            raise LossInputError(
                f"{name} of shape {tuple(label_shape)} are class labels and must be integer, "
                f"got dtype {targets.dtype}; a float mask must have the shape of logits "
                f"{tuple(logits.shape)}"
            )
        check_class_logits("logits" if normalize else "probs", logits, name, targets)
        check_labels(name, targets, c, ignore_index=ignore_index)
        dtype = logits.dtype
        x = ensure_float(logits)
        if fast:
            return _label_region(x, targets, normalize, ignore_index, dtype)
        labels = targets.unsqueeze(1)  # (N, 1, *spatial)
        # one-hot by comparison with the class indices (F.one_hot reads the labels' maximum,
        # which vmap cannot do): (N, C, *spatial)
        classes = torch.arange(c, device=targets.device).view(c, *([1] * (targets.dim() - 1)))
        hot = labels == classes
        if ignore_index is None:
            valid = _all_valid(x, labels.shape)
        else:
            valid = labels != ignore_index
            if 0 <= ignore_index < c:  # an ignored label that is also a class index
                hot = hot & valid
        t = hot.to(x.dtype)
    if normalize is None:
        _check_unit_interval(x)
        probs = x
    elif normalize == "softmax":
        probs = torch.softmax(x, dim=1)
    else:
        probs = torch.sigmoid(x)
    pixels = torch.Size(logits.shape[2:]).numel()
    valid = valid.expand(logits.shape).reshape(n, c, pixels)
    probs = probs.reshape(n, c, pixels)
    if ignore_index is not None:
        probs = torch.where(valid, probs, 0.0)
    return Region(probs, t.reshape(n, c, pixels), valid, dtype)


def _label_region(
    x: Tensor, labels: Tensor, normalize: str | None, ignore_index: int | None, dtype: torch.dtype
) -> LabelRegion:
    """Checked logits (compute dtype) and labels as a :class:`LabelRegion`. With the softmax,
    the logits and the raw labels are returned: :class:`_SoftmaxLabelSums` does the rest."""
    n, c = x.shape[:2]
    flat = labels.reshape(n, math.prod(x.shape[2:]))
    probs = x.reshape(n, c, flat.shape[-1])
    if normalize == "softmax":
        return LabelRegion(probs, flat, None, dtype, softmax=True, ignore_index=ignore_index)
    _check_unit_interval(x)
    flat = flat.long()
    valid: Tensor | None = None
    if ignore_index is not None:
        keep = flat != ignore_index
        flat = torch.where(keep, flat, 0)
        valid = keep.to(x.dtype)
    return LabelRegion(probs, flat, valid, dtype)


class Fused(NamedTuple):
    """The per-image loss :class:`_SoftmaxLabelSums` also computes, with its gradient, for the
    common case (macro average, no class weights): ``l_n = [G_n > 0] (ce_weight CE_n / G_n +
    weight mean_{c >= first} (1 - S_nc) ** exponent)`` with the linear-fractional overlap
    ``S = (a I + smooth) / (b I + e P + f G + smooth)`` (Dice: a = 2, b = 0, e = f = 1;
    Jaccard: a = 1, b = -1, e = f = 1; Tversky: a = 1, b = 1 - alpha - beta, e = alpha,
    f = beta) and ``G_n`` the image's counted pixels. Folding it into the one Function spares
    autograd a graph of a dozen small ``(N, C)`` operations, which cost more than the
    arithmetic at medium sizes."""

    a: float
    b: float
    e: float
    f: float
    smooth: float
    exponent: float = 1.0
    first: int = 0  # the first class of the mean (1: the background is left out)
    ce_weight: float = 0.0
    weight: float = 1.0


def _fused_score(k: Fused, inter: Tensor, pred: Tensor, true: Tensor) -> tuple[Tensor, Tensor]:
    """The score ``S`` ``(N, C - first)`` and its safe denominator (1 where it is 0, which only
    ``smooth = 0`` allows: ``S = 1`` there, with a zero gradient, as :func:`ratio`)."""
    i, p, g = inter[:, k.first :], pred[:, k.first :], true[:, k.first :]
    num = k.a * i + k.smooth
    den = k.e * p + k.f * g + k.smooth if k.e != 1.0 or k.f != 1.0 else p + g + k.smooth
    if k.b != 0.0:
        den = den + k.b * i
    if k.smooth > 0:  # the masses are >= 0, so the denominator is >= smooth > 0
        return num / den, den
    empty = den <= 0
    safe = torch.where(empty, 1.0, den)
    return torch.where(empty, 1.0, num / safe), torch.where(empty, math.inf, safe)


def _fused_loss(
    k: Fused, inter: Tensor, pred: Tensor, true: Tensor, ce: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``l_n`` of :class:`Fused` ``(N,)`` and its derivatives with respect to ``I``, ``P``
    ``(N, C)`` and the summed cross-entropy ``(N,)``, computed once in the forward pass: the
    backward pass then scales them by the incoming gradient."""
    score, den = _fused_score(k, inter, pred, true)
    count = true.sum(-1)
    per_image = _focal(1 - score, k.exponent).mean(-1) * (count > 0)
    if k.weight != 1.0:
        per_image = k.weight * per_image
    safe_count = torch.where(count == 0, 1.0, count)
    if k.ce_weight:
        per_image = per_image + k.ce_weight * (ce / safe_count)
    g_i, g_p = _fused_grads(k, None, inter, pred, true, score, den)
    return per_image, g_i, g_p, k.ce_weight / safe_count


def _fused_grads(
    k: Fused,
    g_loss: Tensor | None,
    inter: Tensor,
    pred: Tensor,
    true: Tensor,
    score: Tensor | None = None,
    den: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The gradients of ``sum_n g_loss_n l_n`` (``g_loss = 1`` when None) with respect to
    ``I`` and ``P`` ``(N, C)``: ``dS/dI = (a - b S) / den``, ``dS/dP = -e S / den``."""
    if score is None or den is None:
        score, den = _fused_score(k, inter, pred, true)
    scale = (true.sum(-1) > 0) * (k.weight / score.shape[-1])  # (N,)
    if g_loss is not None:
        scale = g_loss * scale
    g_u = scale.unsqueeze(-1) / den  # d/du of the per-class term, over den
    if k.exponent != 1.0:  # d u^e / du = e u^(e - 1), defined as 0 at u = 0 (see _focal)
        u = (1 - score).clamp_min(0.0)
        positive = u > 0
        slope = torch.where(positive, torch.where(positive, u, 1.0) ** (k.exponent - 1), 0.0)
        g_u = g_u * (k.exponent * slope)
    g_i = g_u * (k.b * score - k.a) if k.b != 0.0 else g_u * -k.a
    g_p = g_u * (k.e * score)
    if k.first:
        pad = g_i.new_zeros(g_i.shape[0], k.first)
        g_i, g_p = torch.cat([pad, g_i], -1), torch.cat([pad, g_p], -1)
    return g_i, g_p


class _SoftmaxLabelSums(torch.autograd.Function):
    """The softmax over dim 1 of logits ``(N, C, P)`` and, for labels ``y`` ``(N, P)`` with
    ``v_i = [y_i != ignore_index]``, the sums of a region loss, with their gradient in closed
    form. Outputs: the per-image loss of :class:`Fused` (zeros without one), the intersection
    ``I_nc = sum_i v_i p_ic [y_i = c]``, the prediction mass ``P_nc = sum_i v_i p_ic``, the
    target mass ``G_nc = sum_i v_i [y_i = c]`` (a count, no gradient), the cross-entropy
    ``sum_i v_i (lse_i - x_{i y_i})`` per image (zeros unless ``with_ce``), then ``v p``, the
    labels made safe (0 where ignored), ``v`` (empty when nothing is ignored or without the
    cross-entropy) and ``v p`` at the label: the tensors the backward pass keeps, returned so
    that ``setup_context`` can save them and a double backward differentiates through ``v p``,
    ``I`` and ``P``. Autograd on the chain of ops would keep several ``(N, C, P)`` tensors and
    run a scatter and a batched product backward."""

    generate_vmap_rule = True

    @staticmethod
    def forward(
        x: Tensor, labels: Tensor, ignore_index: int | None, with_ce: bool, fused: Fused | None
    ) -> tuple[Tensor, ...]:
        n, c = x.shape[:2]
        keep: Tensor | None = None
        if ignore_index is not None:
            keep = labels != ignore_index
            labels = torch.where(keep, labels, 0)
        # a view: an input returned as an output cannot be saved for backward
        labels = labels.long().view_as(labels)
        index = labels.unsqueeze(1)  # (N, 1, P)
        p = torch.softmax(x, 1)
        if with_ce:
            # log-sum-exp from the largest probability, which is >= 1 / C, so its log loses
            # nothing: lse = max_c x - log max_c p (the same class maximises both)
            ce = (x.amax(1) - x.gather(1, index).squeeze(1)) - p.amax(1).log()
            if keep is not None:  # an ignored pixel adds 0, whatever its logits
                ce = torch.where(keep, ce, 0.0)
            ce = ce.sum(-1)
        else:
            ce = x.new_zeros(n)
        zeros = x.new_zeros(n, c)
        valid = x.new_zeros(0)
        if keep is None:
            ones = torch.ones((), dtype=x.dtype, device=x.device).expand(labels.shape)
            true = zeros.scatter_add(1, labels, ones)
        else:
            v = keep.to(x.dtype)
            # p is this call's own tensor: masked in place, except where a transform traces
            p = p * v.unsqueeze(1) if tracing() else p.mul_(v.unsqueeze(1))
            true = zeros.scatter_add(1, labels, v)
            if with_ce:  # the backward pass masks the cross-entropy's label term with it
                valid = v
        at_label = p.gather(1, index).squeeze(1)  # (N, P)
        inter = zeros.scatter_add(1, labels, at_label)
        pred = p.sum(-1)
        if fused is None:
            loss, g_i, g_p, g_ce = x.new_zeros(n), x.new_zeros(0), x.new_zeros(0), x.new_zeros(0)
        else:
            loss, g_i, g_p, g_ce = _fused_loss(fused, inter, pred, true, ce)
        return loss, inter, pred, true, ce, p, labels, valid, at_label, g_i, g_p, g_ce

    @staticmethod
    def setup_context(
        ctx: torch.autograd.function.FunctionCtx,
        inputs: tuple[Tensor, Tensor, int | None, bool, Fused | None],
        output: tuple[Tensor, ...],
    ) -> None:
        _, inter, pred, true, _, p, labels, valid, at_label, g_i, g_p, g_ce = output
        ctx.save_for_backward(p, labels, valid, at_label, inter, pred, true, g_i, g_p, g_ce)
        ctx.mark_non_differentiable(true, labels, valid, at_label, g_i, g_p, g_ce)
        ctx.set_materialize_grads(False)
        ctx.masked = inputs[2] is not None  # type: ignore[attr-defined]
        ctx.fused = inputs[4]  # type: ignore[attr-defined]

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx,
        g_loss: Tensor | None,
        g_inter: Tensor | None,
        g_pred: Tensor | None,
        g_true: Tensor | None,
        g_ce: Tensor | None,
        g_p: Tensor | None,
        *_: Tensor | None,
    ) -> tuple[Tensor | None, None, None, None, None]:
        saved = ctx.saved_tensors  # type: ignore[attr-defined]
        p, labels, valid, at_label, inter, pred, true, unit_i, unit_p, unit_ce = saved
        fused: Fused | None = ctx.fused  # type: ignore[attr-defined]
        if g_loss is not None and fused is not None:
            if torch.is_grad_enabled():  # a double backward: as a function of I and P
                gi, gp = _fused_grads(fused, g_loss, inter, pred, true)
            else:  # the forward pass's derivatives, scaled
                col = g_loss.unsqueeze(-1)
                gi, gp = col * unit_i, col * unit_p
            g_inter = gi if g_inter is None else g_inter + gi
            g_pred = gp if g_pred is None else g_pred + gp
            if fused.ce_weight:
                gc = g_loss * unit_ce
                g_ce = gc if g_ce is None else g_ce + gc
        if g_inter is None and g_pred is None and g_ce is None and g_p is None:
            return None, None, None, None, None
        index = labels.unsqueeze(1)
        inplace = not torch.is_grad_enabled()  # no double backward: the temporaries are ours
        if not inplace:  # p at the label as a function of p, for the second derivative
            at_label = p.gather(1, index).squeeze(1)
        # dL/dp = G = g_p + g_pred + g_inter at the label; the softmax's backward gives
        # dx = p (G - sum_c p_c G_c) (v is 0 or 1, so v p in place of p changes nothing), and
        # the cross-entropy adds g_ce v (p - [c = y])
        n, c = p.shape[:2]
        s = p.new_zeros(n, p.shape[-1])  # sum_c p_c G_c - g_ce, (N, P)
        g = p.new_zeros(()).expand(n, c).unsqueeze(-1)  # G without the label term
        if g_pred is not None:
            s = torch.bmm(g_pred.unsqueeze(1), p).squeeze(1)
            g = g_pred.unsqueeze(-1)
        if g_p is not None:
            s = s + (p * g_p).sum(1)
            g = g + g_p
        at = None
        if g_inter is not None:
            at = g_inter.gather(1, labels)  # (N, P)
            s = s.addcmul_(at_label, at) if inplace else s + at_label * at
        if g_ce is not None:
            s = s - g_ce.unsqueeze(-1)
        t = g - s.unsqueeze(1)  # (N, C, P)
        del s
        if at is not None:
            t = _scatter_add(t, index, at.unsqueeze(1), inplace)
        dx = t.mul_(p) if inplace else t * p
        if g_ce is not None:
            hit = -g_ce.unsqueeze(-1).expand(labels.shape)
            if ctx.masked:  # type: ignore[attr-defined]
                hit = hit * valid
            dx = _scatter_add(dx, index, hit.unsqueeze(1), inplace)
        return dx, None, None, None, None


def _apply(fn: type[torch.autograd.Function], *args: object) -> Any:
    """``fn.apply(*args)``. In eager mode the C++ entry is called directly: ``Function.apply``
    first binds the arguments to ``forward``'s signature with :mod:`inspect` (for
    ``setup_context``) and unwraps functorch tensors, which costs more than the small forward
    itself and changes nothing for positional arguments outside a transform. Under
    ``torch.compile``, ``vmap``/``grad`` and ``jit`` tracing the public entry is used."""
    if tracing():
        return fn.apply(*args)  # type: ignore[no-untyped-call]
    return super(torch.autograd.Function, fn).apply(*args)  # type: ignore[misc]


def _scatter_add(t: Tensor, index: Tensor, src: Tensor, inplace: bool) -> Tensor:
    return t.scatter_add_(1, index, src) if inplace else t.scatter_add(1, index, src)


class Sums(NamedTuple):
    """Per image and class (N, C): intersection, prediction mass, target mass, whether the
    class has a non-ignored pixel; and the result dtype."""

    inter: Tensor
    pred: Tensor
    true: Tensor
    counted: Tensor
    dtype: torch.dtype
    ce: Tensor | None = None  # (N,) the cross-entropy summed over each image's counted pixels
    image_valid: Tensor | None = None  # (N,) when ``counted`` is the same for every class
    loss: Tensor | None = None  # (N,) the per-image loss of the :class:`Fused` asked for


def _label_counts(p: Tensor, lab: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor]:
    """Per image and class (N, C): the target mass (a count of the counted labels) and whether
    the image has a counted pixel (expanded over classes)."""
    n, c = p.shape[:2]
    zeros = p.new_zeros(n, c)
    if valid is None:
        ones = torch.ones((), dtype=p.dtype, device=p.device).expand(lab.shape)
        counted = torch.full((), lab.shape[-1] > 0, dtype=torch.bool, device=p.device)
        return zeros.scatter_add(1, lab, ones), counted.expand(n, c)
    counted = (valid > 0).any(-1, keepdim=True).expand(n, c)
    return zeros.scatter_add(1, lab, valid), counted


def _ignored_occurs(labels: Tensor, ignore_index: int, num_classes: int) -> bool:
    """Whether a label equals ``ignore_index``, for labels that full mode has read and found in
    ``[0, C)`` or equal to it (:func:`losskit._checks.check_labels`): then an ignore index
    outside the classes occurs exactly when the range leaves ``[0, C)``."""
    if 0 <= ignore_index < num_classes:
        return bool((labels == ignore_index).any())
    lo, hi = (int(v) for v in torch.aminmax(labels))
    return lo < 0 if ignore_index < 0 else hi >= num_classes


def _region_sums(
    logits: Tensor,
    targets: Tensor,
    *,
    normalize: str | None,
    ignore_index: int | None,
    squared: bool = False,
    labels_only: bool = False,
    name: str = "targets",
    with_ce: bool = False,
    fused: Fused | None = None,
) -> Sums:
    """The checks of :func:`region_inputs` and the per-class sums. Label targets take the
    one-hot-free path: the intersection is the probability at each pixel's label, summed per
    label (gather, then scatter_add), the target mass a count of the labels; with the softmax
    (and plain sums) in one :class:`_SoftmaxLabelSums`, which also gives the per-image
    cross-entropy when ``with_ce`` (label targets only) and the per-image loss of ``fused``
    (``Sums.loss``; None on the other paths, where the caller computes it)."""
    r = _inputs(
        logits,
        targets,
        normalize=normalize,
        ignore_index=ignore_index,
        soft=True,
        labels_only=labels_only,
        name=name,
        fast=True,
    )
    if isinstance(r, Region):
        inter, pred, true = _sums(r, squared=squared)
        return Sums(inter, pred, true, r.valid.any(-1), r.dtype)
    p, lab, valid = r.probs, r.labels, r.valid
    n, c = p.shape[:2]
    if r.softmax and not squared:
        ignore = r.ignore_index
        if ignore is not None and reads(lab) and not _ignored_occurs(lab, ignore, c):
            ignore = None  # full mode has read the labels: no mask to build
        loss, inter, pred, true, ce, *_ = _apply(_SoftmaxLabelSums, p, lab, ignore, with_ce, fused)
        image_valid = true.sum(-1) > 0  # the image's counted pixels: its label count
        return Sums(
            inter,
            pred,
            true,
            image_valid.unsqueeze(-1).expand(n, c),
            r.dtype,
            ce,
            image_valid,
            None if fused is None else loss,
        )
    if r.softmax:  # the squared denominator: the chain of ops
        p = torch.softmax(p, 1)
        lab = lab.long()
        if r.ignore_index is not None:
            keep = lab != r.ignore_index
            lab = torch.where(keep, lab, 0)
            valid = keep.to(p.dtype)
    at_label = p.gather(1, lab.unsqueeze(1)).squeeze(1)  # (N, P)
    mass = p * p if squared else p  # t * t = t for one-hot targets
    if valid is None:
        pred = mass.sum(-1)
    else:
        pred = torch.bmm(mass, valid.unsqueeze(-1)).squeeze(-1)
        at_label = at_label * valid
    inter = p.new_zeros(n, c).scatter_add(1, lab, at_label)
    true, counted = _label_counts(p, lab, valid)
    return Sums(inter, pred, true, counted, r.dtype)


# ----------------------------------------------------------------------------- shared maths
def _sums(r: Region, *, squared: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """Per image and class (N, C): intersection, prediction mass, target mass."""
    p, t = r.probs, r.targets
    inter = (p * t).sum(-1)
    if squared:  # Milletari et al.'s V-Net denominator
        return inter, (p * p).sum(-1), (t * t).sum(-1)
    return inter, p.sum(-1), t.sum(-1)


def reduce_images(per_image: Tensor, image_valid: Tensor, reduction: str) -> Tensor:
    """``none``: (N,); ``sum``: the sum; ``mean``: over images with a non-ignored pixel."""
    if reduction == "none":
        return per_image
    total = per_image.sum()
    if reduction == "sum":
        return total
    # a mean over nothing is the sum over nothing, 0: the count made at least 1
    return total / image_valid.sum().clamp_min(1)


def _focal(loss: Tensor, exponent: float) -> Tensor:
    """``loss ** exponent`` with a zero gradient at ``loss == 0`` (for an exponent below 1 the
    true derivative there is infinite; 0 is the loss's minimum, so 0 is a subgradient). NaN
    stays NaN: ``0 * NaN`` in the branch for non-positive values."""
    if exponent == 1.0:
        return loss
    base = loss.clamp_min(0.0)  # 1 - score >= 0 up to rounding; clamp keeps NaN
    positive = base > 0
    return torch.where(positive, torch.where(positive, base, 1.0) ** exponent, base * 0.0)


def _region_loss(
    s: Sums,
    score: Score,
    *,
    weight: Tensor | None,
    average: str,
    exponent: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """Per-image loss ``(N,)`` and which images count, for a score ``(I, P, G) -> [0, 1]``
    (the one :class:`_SoftmaxLabelSums` computed when the sums carry it)."""
    if s.loss is not None and s.image_valid is not None:
        return s.loss, s.image_valid
    inter, pred, true, counted = s.inter, s.pred, s.true, s.counted
    image_valid = counted.any(-1) if s.image_valid is None else s.image_valid
    if weight is None and s.image_valid is not None:  # every class of a counted image counts
        if average == "macro":
            # the mean over classes; times 0 (not a where) keeps the NaN of an uncounted
            # image, as the weighted mean does
            loss = _focal(1 - score(inter, pred, true), exponent)  # (N, C)
            return loss.mean(-1) * image_valid, image_valid
        pooled = score(inter.sum(-1), pred.sum(-1), true.sum(-1))
        return torch.where(image_valid, _focal(1 - pooled, exponent), 0.0), image_valid
    w = inter.new_ones(inter.shape[-1]) if weight is None else weight.to(inter.dtype)
    if average == "macro":
        loss = _focal(1 - score(inter, pred, true), exponent)  # (N, C)
        wc = w * counted
        per_image = masked_mean((wc * loss).sum(-1), wc.sum(-1))
    else:  # micro: pool the (weighted) sums over classes, then one score per image
        pooled = score((w * inter).sum(-1), (w * pred).sum(-1), (w * true).sum(-1))
        per_image = torch.where(image_valid, _focal(1 - pooled, exponent), 0.0)
    return per_image, image_valid


def _macro(weight: Tensor | None, average: str, fused: Fused) -> Fused | None:
    """``fused`` where :class:`Fused` covers the options: no class weights, the macro mean."""
    return fused if weight is None and average == "macro" else None


def _dice_score(smooth: float, positive: bool = False) -> Score:
    """``positive``: the masses are known to be >= 0 (probabilities from the softmax), so with
    ``smooth > 0`` the denominator is too and the 0/0 guard of :func:`ratio` has nothing to do."""
    if positive and smooth > 0:
        return lambda i, p, g: (2 * i + smooth) / (p + g + smooth)
    return lambda i, p, g: ratio(2 * i + smooth, p + g + smooth)


def _tversky_score(alpha: float, beta: float, smooth: float) -> Score:
    # false positives P - I = sum p (1 - t), false negatives G - I = sum (1 - p) t
    return lambda i, p, g: ratio(i + smooth, i + alpha * (p - i) + beta * (g - i) + smooth)


# ----------------------------------------------------------------------------- dice family
@register(
    family=Family.OVERLAP,
    inputs=Space.LOGITS,
    targets=Targets.MASKS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.IMAGE,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.BOUNDED},
    metrics=("dice_score", "iou"),
    aliases=("dice_loss", "soft_dice"),
    example=ex.segmentation,
)
def dice(
    logits: Tensor,
    targets: Tensor,
    *,
    normalize: str | None = "softmax",
    smooth: float = 1e-5,
    squared_denominator: bool = False,
    weight: Tensor | None = None,
    average: str = "macro",
    ignore_index: int | None = -100,
    reduction: str = "mean",
    **removed: object,
) -> Tensor:
    """Soft Dice loss, one minus the soft Dice coefficient, per image.

    With ``p`` the activated predictions and ``t`` the targets of image ``n``, class ``c``, summed
    over its non-ignored pixels ``i``: ``I_nc = sum_i p t``, ``P_nc = sum_i p`` (``p^2`` when
    ``squared_denominator``), ``G_nc = sum_i t`` (``t^2``), and
    ``D(I, P, G) = (2 I + smooth) / (P + G + smooth)``. ``"macro"``:
    ``l_n = sum_c w_c (1 - D_nc) / sum_c w_c`` over the classes with a non-ignored pixel;
    ``"micro"``: ``l_n = 1 - D(sum_c w_c I_nc, sum_c w_c P_nc, sum_c w_c G_nc)``. Classes absent
    from an image's target are kept (their overlap is ``smooth / (P + smooth)``, about 0 unless
    nothing is predicted either): a weight of 0 leaves a class out, e.g. the background.

    Input: ``logits`` ``(N, C, *spatial)``, floating. Target: ``targets``, a mask of the
    shape of ``logits`` (0/1 or soft in [0, 1], any real or bool dtype) or integer labels
    ``(N, *spatial)`` in ``[0, C)`` or ``ignore_index`` (one-hot encoded; not with ``"sigmoid"``).

    When to use:
        Segmentation with class imbalance (the overlap ignores the true-negative background);
        often combined with cross-entropy (dice_cross_entropy).

    Args:
        logits: raw scores (or probabilities with ``normalize=None``).
        targets: masks or class labels, as above.
        normalize: ``"softmax"`` over dim 1 | ``"sigmoid"`` per channel | ``None``.
        smooth: >= 0, added to numerator and denominator (MONAI's and nnU-Net's 1e-5).
        squared_denominator: sum squares in the denominator (V-Net).
        weight: ``(C,)`` class weights, >= 0.
        average: ``"macro"`` (mean of per-class losses) | ``"micro"`` (pool the classes).
        ignore_index: label (or mask value) whose pixels are left out; ``None``: none.
        reduction: ``"mean"`` over images with a non-ignored pixel | ``"sum"`` | ``"none"``.
        **removed: refuses ``activation=``, renamed ``normalize=``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``, in the dtype of ``logits`` (promoted with a
        floating mask); float32 for half-precision inputs is computed
        internally and cast back.

    Raises:
        LossInputError: targets of neither shape, labels out of range or not integer, masks
            outside [0, 1], labels with ``normalize="sigmoid"``, a softmax over one channel,
            probabilities outside [0, 1] with ``normalize=None``, a ``weight`` of the wrong
            shape, negative or not finite, an option of the wrong type or out of its range,
            the old keyword ``activation=``.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5], [0.0, 1.0, 0.5]]])  # (N=1, C=2, 3 pixels)
        >>> losskit.dice(logits, torch.tensor([[0, 1, 1]]))
        tensor(0.2532)
        >>> losskit.dice(logits, torch.tensor([[0, 1, -100]]))  # the last pixel ignored
        tensor(0.1192)

    References:
        Milletari, Navab & Ahmadi, V-Net (3DV 2016); Sudre et al., Generalised Dice overlap as a
        deep learning loss function (DLMIA 2017), for the smoothed form.

    Stability: no logarithm; a ratio whose denominator is 0 is defined as 1 with zero gradient.
    """
    refuse_renamed("dice", removed)
    smooth = _region_options(smooth, average, reduction)
    squared = check_bool("squared_denominator", squared_denominator)
    r = _region_sums(
        logits,
        targets,
        normalize=normalize,
        ignore_index=check_ignore_index(ignore_index),
        squared=squared,
        fused=_macro(weight, average, Fused(2.0, 0.0, 1.0, 1.0, smooth)),
    )
    check_class_weight(weight, logits.shape[1])
    score = _dice_score(smooth, positive=r.image_valid is not None)
    per_image, valid = _region_loss(r, score, weight=weight, average=average)
    out = reduce_images(per_image, valid, reduction).to(r.dtype)
    return finish(out, logits=logits, targets=targets, weight=weight)


@register(
    family=Family.OVERLAP,
    inputs=Space.LOGITS,
    targets=Targets.MASKS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.IMAGE,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.BOUNDED},
    metrics=("dice_score", "iou"),
    aliases=("iou_loss", "soft_jaccard"),
    example=ex.segmentation,
)
def jaccard(
    logits: Tensor,
    targets: Tensor,
    *,
    normalize: str | None = "softmax",
    smooth: float = 1e-5,
    weight: Tensor | None = None,
    average: str = "macro",
    ignore_index: int | None = -100,
    reduction: str = "mean",
    **removed: object,
) -> Tensor:
    """Soft Jaccard (IoU) loss, one minus the soft intersection over union, per image.

    ``J(I, P, G) = (I + smooth) / (P + G - I + smooth)`` with ``I``, ``P``, ``G`` as in
    :func:`dice` (plain sums); averaged over classes (``"macro"``, weighted) or on pooled sums
    (``"micro"``) exactly as there. ``J = D / (2 - D)`` without smoothing: the same minimiser,
    a steeper loss for poor overlaps.

    Input: ``logits`` ``(N, C, *spatial)``, floating. Target: ``targets``, a mask of the
    shape of ``logits`` (0/1 or soft in [0, 1], any real or bool dtype) or integer labels
    ``(N, *spatial)`` in ``[0, C)`` or ``ignore_index`` (one-hot encoded; not with ``"sigmoid"``).

    When to use:
        When the metric is IoU; steeper than Dice for poor overlaps.

    Args:
        logits: raw scores (or probabilities with ``normalize=None``).
        targets: masks or class labels.
        normalize: ``"softmax"`` | ``"sigmoid"`` | ``None``.
        smooth: >= 0, added to numerator and denominator.
        weight: ``(C,)`` class weights, >= 0.
        average: ``"macro"`` | ``"micro"``.
        ignore_index: label (or mask value) whose pixels are left out; ``None``: none.
        reduction: ``"mean"`` over images with a non-ignored pixel | ``"sum"`` | ``"none"``.
        **removed: refuses ``activation=``, renamed ``normalize=``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``.

    Raises:
        LossInputError: as :func:`dice`.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5], [0.0, 1.0, 0.5]]])
        >>> losskit.jaccard(logits, torch.tensor([[0, 1, 1]]))
        tensor(0.4022)

    References:
        Jaccard (1912); Rahman & Wang, Optimizing Intersection-over-Union in Deep Neural Networks
        for Image Segmentation (ISVC 2016).
    """
    refuse_renamed("jaccard", removed)
    s = _region_options(smooth, average, reduction)
    r = _region_sums(
        logits,
        targets,
        normalize=normalize,
        ignore_index=check_ignore_index(ignore_index),
        fused=_macro(weight, average, Fused(1.0, -1.0, 1.0, 1.0, s)),
    )
    check_class_weight(weight, logits.shape[1])
    per_image, valid = _region_loss(
        r, lambda i, p, g: ratio(i + s, p + g - i + s), weight=weight, average=average
    )
    out = reduce_images(per_image, valid, reduction).to(r.dtype)
    return finish(out, logits=logits, targets=targets, weight=weight)


def _tversky_options(alpha: object, beta: object) -> tuple[float, float]:
    a, b = check_option("alpha", alpha, low=0.0), check_option("beta", beta, low=0.0)
    if a + b == 0:
        raise LossInputError(
            "alpha + beta must be > 0: with both 0 the Tversky index is always 1 and the loss "
            "constant; alpha = beta = 0.5 is Dice, alpha = beta = 1 is Jaccard"
        )
    return a, b


@register(
    family=Family.OVERLAP,
    inputs=Space.LOGITS,
    targets=Targets.MASKS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.IMAGE,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.BOUNDED},
    metrics=("dice_score", "iou"),
    example=ex.segmentation,
)
def tversky(
    logits: Tensor,
    targets: Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    normalize: str | None = "softmax",
    smooth: float = 1e-5,
    weight: Tensor | None = None,
    average: str = "macro",
    ignore_index: int | None = -100,
    reduction: str = "mean",
    **removed: object,
) -> Tensor:
    """Tversky loss: Dice with separate weights on false positives and false negatives.

    ``T = (I + smooth) / (I + alpha FP + beta FN + smooth)`` with ``FP = sum p (1 - t) = P - I``
    and ``FN = sum (1 - p) t = G - I`` (sums over an image's non-ignored pixels, per class);
    ``l_n = 1 - T`` averaged over classes (``"macro"``) or on pooled sums (``"micro"``) as in
    :func:`dice`. ``alpha = beta = 0.5`` is Dice, ``alpha = beta = 1`` Jaccard. **alpha weighs
    false positives**, as in Salehi et al., MONAI, smp and Keras (Abraham & Khan swap the names).
    The defaults 0.3 / 0.7 are Salehi et al.'s (favour recall); MONAI, smp and Keras default to
    0.5 / 0.5, which is Dice.

    Input: ``logits`` ``(N, C, *spatial)``, floating. Target: ``targets``, a mask of the
    shape of ``logits`` (0/1 or soft in [0, 1], any real or bool dtype) or integer labels
    ``(N, *spatial)`` in ``[0, C)`` or ``ignore_index`` (one-hot encoded; not with ``"sigmoid"``).

    When to use:
        Small structures where missing them (false negatives) costs more: beta > alpha.

    Args:
        logits: raw scores (or probabilities with ``normalize=None``).
        targets: masks or class labels.
        alpha: >= 0, weight of false positives.
        beta: >= 0, weight of false negatives (alpha + beta > 0).
        normalize: ``"softmax"`` | ``"sigmoid"`` | ``None``.
        smooth: >= 0, added to numerator and denominator.
        weight: ``(C,)`` class weights, >= 0.
        average: ``"macro"`` | ``"micro"``.
        ignore_index: label (or mask value) whose pixels are left out; ``None``: none.
        reduction: ``"mean"`` over images with a non-ignored pixel | ``"sum"`` | ``"none"``.
        **removed: refuses ``activation=``, renamed ``normalize=``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``.

    Raises:
        LossInputError: as :func:`dice`, and negative ``alpha`` or ``beta``, or both 0.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5], [0.0, 1.0, 0.5]]])
        >>> losskit.tversky(logits, torch.tensor([[0, 1, 1]]))
        tensor(0.2439)
        >>> losskit.tversky(logits, torch.tensor([[0, 0, 0]]), alpha=0.9, beta=0.1)
        tensor(0.5455)

    References:
        Salehi, Erdogmus & Gholipour, Tversky loss function for image segmentation using 3D fully
        convolutional deep networks (MLMI 2017).
    """
    refuse_renamed("tversky", removed)
    smooth = _region_options(smooth, average, reduction)
    alpha, beta = _tversky_options(alpha, beta)
    r = _region_sums(
        logits,
        targets,
        normalize=normalize,
        ignore_index=check_ignore_index(ignore_index),
        fused=_macro(weight, average, Fused(1.0, 1.0 - alpha - beta, alpha, beta, smooth)),
    )
    check_class_weight(weight, logits.shape[1])
    score = _tversky_score(alpha, beta, smooth)
    per_image, valid = _region_loss(r, score, weight=weight, average=average)
    out = reduce_images(per_image, valid, reduction).to(r.dtype)
    return finish(out, logits=logits, targets=targets, weight=weight)


@register(
    family=Family.OVERLAP,
    inputs=Space.LOGITS,
    targets=Targets.MASKS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.IMAGE,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.BOUNDED},
    metrics=("dice_score", "iou"),
    example=ex.segmentation,
)
def focal_tversky(
    logits: Tensor,
    targets: Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 4.0 / 3.0,
    normalize: str | None = "softmax",
    smooth: float = 1e-5,
    weight: Tensor | None = None,
    average: str = "macro",
    ignore_index: int | None = -100,
    reduction: str = "mean",
    **removed: object,
) -> Tensor:
    """Focal Tversky loss: the Tversky loss raised to the power ``1 / gamma``.

    ``(1 - T_nc) ** (1 / gamma)`` per class, then averaged over classes (``"macro"``), or
    ``(1 - T_n) ** (1 / gamma)`` of the pooled index (``"micro"``); ``T`` as in :func:`tversky`
    (alpha on false positives). This is Abraham & Khan's definition and default (``gamma`` in
    [1, 3], 4/3); smp's ``TverskyLoss(gamma=g)`` raises to ``g`` instead, which is our
    ``gamma = 1 / g``. ``gamma = 1`` is :func:`tversky`. At ``T = 1`` (a perfect or an
    empty-and-empty prediction) the derivative of ``x ** (1 / gamma)`` is infinite for
    ``gamma > 1``; the gradient there is defined as 0 (the minimum).

    Input: ``logits`` ``(N, C, *spatial)``, floating. Target: ``targets``, a mask of the
    shape of ``logits`` (0/1 or soft in [0, 1], any real or bool dtype) or integer labels
    ``(N, *spatial)`` in ``[0, C)`` or ``ignore_index`` (one-hot encoded; not with ``"sigmoid"``).

    When to use:
        Small lesions: gamma > 1 keeps pushing on nearly-right segmentations.

    Args:
        logits: raw scores (or probabilities with ``normalize=None``).
        targets: masks or class labels.
        alpha: >= 0, weight of false positives.
        beta: >= 0, weight of false negatives.
        gamma: > 0; the loss is ``(1 - T) ** (1 / gamma)``.
        normalize: ``"softmax"`` | ``"sigmoid"`` | ``None``.
        smooth: >= 0, added to numerator and denominator.
        weight: ``(C,)`` class weights, >= 0.
        average: ``"macro"`` | ``"micro"``.
        ignore_index: label (or mask value) whose pixels are left out; ``None``: none.
        reduction: ``"mean"`` over images with a non-ignored pixel | ``"sum"`` | ``"none"``.
        **removed: refuses ``activation=``, renamed ``normalize=``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``.

    Raises:
        LossInputError: as :func:`tversky`, and ``gamma <= 0``.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5], [0.0, 1.0, 0.5]]])
        >>> losskit.focal_tversky(logits, torch.tensor([[0, 1, 1]]))
        tensor(0.3470)

    References:
        Abraham & Khan, A Novel Focal Tversky loss function with improved Attention U-Net for
        lesion segmentation (ISBI 2019).
    """
    refuse_renamed("focal_tversky", removed)
    smooth = _region_options(smooth, average, reduction)
    alpha, beta = _tversky_options(alpha, beta)
    exponent = 1.0 / check_option("gamma", gamma, low=0.0, low_open=True)
    if math.isinf(exponent):  # a subnormal gamma: x ** inf has no useful value or gradient
        raise LossInputError(f"gamma must be at least 1e-300, got {gamma!r}")
    fused = Fused(1.0, 1.0 - alpha - beta, alpha, beta, smooth, exponent)
    r = _region_sums(
        logits,
        targets,
        normalize=normalize,
        ignore_index=check_ignore_index(ignore_index),
        fused=_macro(weight, average, fused),
    )
    check_class_weight(weight, logits.shape[1])
    score = _tversky_score(alpha, beta, smooth)
    per_image, valid = _region_loss(r, score, weight=weight, average=average, exponent=exponent)
    out = reduce_images(per_image, valid, reduction).to(r.dtype)
    return finish(out, logits=logits, targets=targets, weight=weight)


@register(
    family=Family.OVERLAP,
    inputs=Space.LOGITS,
    targets=Targets.MASKS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.IMAGE,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.BOUNDED},
    metrics=("dice_score", "iou"),
    aliases=("gdl",),
    example=ex.segmentation,
)
def generalized_dice(
    logits: Tensor,
    targets: Tensor,
    *,
    normalize: str | None = "softmax",
    weight_type: str = "square",
    smooth: float = 1e-5,
    ignore_index: int | None = -100,
    reduction: str = "mean",
    **removed: object,
) -> Tensor:
    """Generalised Dice loss: Dice pooled over classes with inverse-frequency class weights.

    Per image: ``w_c = 1 / G_c^2`` (``"square"``, Sudre et al.), ``1 / G_c`` (``"simple"``) or 1
    (``"uniform"``) with ``G_c`` the class's target mass over non-ignored pixels; then
    ``l_n = 1 - (2 sum_c w_c I_c + smooth) / (sum_c w_c (P_c + G_c) + smooth)``. Choices, each
    tested: a class absent from the image's target (``G_c = 0``, infinite weight) gets the
    largest weight of the present classes (MONAI does the same); an image with no class present
    gets uniform weights (MONAI gives every weight 0 there, so false positives on an empty target
    cost nothing); the weights are normalised to sum to 1 per image (this changes only the scale
    at which ``smooth`` acts: with raw ``1 / G^2`` weights, which can be ~1e-9, a ``smooth`` of
    1e-5 would dominate); they are constants (no gradient flows through them).
    ``weight_type="uniform"`` with ``smooth=0`` is ``dice(average="micro", smooth=0)``.

    Input: ``logits`` ``(N, C, *spatial)``, floating. Target: ``targets``, a mask of the
    shape of ``logits`` (0/1 or soft in [0, 1], any real or bool dtype) or integer labels
    ``(N, *spatial)`` in ``[0, C)`` or ``ignore_index`` (one-hot encoded; not with ``"sigmoid"``).

    When to use:
        Highly unbalanced multi-class segmentation, so rare classes count as much as large ones.

    Args:
        logits: raw scores (or probabilities with ``normalize=None``).
        targets: masks or class labels.
        normalize: ``"softmax"`` | ``"sigmoid"`` | ``None``.
        weight_type: ``"square"`` | ``"simple"`` | ``"uniform"``.
        smooth: >= 0, added to numerator and denominator.
        ignore_index: label (or mask value) whose pixels are left out; ``None``: none.
        reduction: ``"mean"`` over images with a non-ignored pixel | ``"sum"`` | ``"none"``.
        **removed: refuses ``activation=``, renamed ``normalize=``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``.

    Raises:
        LossInputError: as :func:`dice`, and an unknown ``weight_type``.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5], [0.0, 1.0, 0.5]]])
        >>> losskit.generalized_dice(logits, torch.tensor([[0, 1, 1]]))  # weights 0.8, 0.2
        tensor(0.2735)

    References:
        Sudre, Li, Vercauteren, Ourselin & Cardoso, Generalised Dice overlap as a deep learning
        loss function for highly unbalanced segmentations (DLMIA 2017).
    """
    refuse_renamed("generalized_dice", removed)
    smooth = _region_options(smooth, "macro", reduction)
    check_choice("weight_type", weight_type, ("square", "simple", "uniform"))
    r = _region_sums(
        logits, targets, normalize=normalize, ignore_index=check_ignore_index(ignore_index)
    )
    inter, pred, true = r.inter, r.pred, r.true
    with torch.no_grad():
        absent = true <= 0
        safe = torch.where(absent, 1.0, true)
        raw = {"square": 1 / safe**2, "simple": 1 / safe, "uniform": torch.ones_like(safe)}[
            weight_type
        ]
        raw = torch.where(absent, 0.0, raw)
        fill = raw.amax(-1, keepdim=True) if raw.shape[-1] else raw.sum(-1, keepdim=True)
        fill = torch.where(fill > 0, fill, 1.0)  # no class present: uniform weights
        w = torch.where(absent, fill, raw)
        w = w / w.sum(-1, keepdim=True)
    score = ratio(2 * (w * inter).sum(-1) + smooth, (w * (pred + true)).sum(-1) + smooth)
    image_valid = r.counted.any(-1) if r.image_valid is None else r.image_valid
    per_image = torch.where(image_valid, 1 - score, 0.0)
    out = reduce_images(per_image, image_valid, reduction).to(r.dtype)
    return finish(out, logits=logits, targets=targets)


# ----------------------------------------------------------------------------- compound
@register(
    family=Family.OVERLAP,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.IMAGE,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE},
    metrics=("dice_score", "iou"),
    aliases=("dice_ce", "dc_and_ce"),
    example=ex.segmentation,
)
def dice_cross_entropy(
    logits: Tensor,
    labels: Tensor,
    *,
    dice_weight: float = 1.0,
    ce_weight: float = 1.0,
    include_background: bool = False,
    smooth: float = 1e-5,
    ignore_index: int | None = -100,
    reduction: str = "mean",
) -> Tensor:
    """Dice + cross-entropy, the compound nnU-Net trains with (``DC_and_CE_loss``).

    ``l_n = ce_weight * CE_n + dice_weight * (1 - mean_c D_nc)`` per image, with ``CE_n`` the
    softmax cross-entropy (:func:`torch.nn.functional.cross_entropy`) averaged over the image's
    non-ignored pixels and ``D_nc`` the soft Dice of :func:`dice` on the softmax outputs
    (macro, ``smooth`` in numerator and denominator), over classes ``1..C-1`` unless
    ``include_background``. nnU-Net's defaults: weights 1 and 1, background left out of the
    Dice term, ``smooth = 1e-5``. Two differences: nnU-Net adds ``-D`` (in [-1, 0]); this adds
    ``1 - D``, the same gradient shifted to be >= 0. And its CE is a mean over every pixel of
    the batch, this one a mean over each image's pixels, then over images: the same when no
    pixel is ignored (images of one size); for nnU-Net's exact form pass the batch as one
    image (see the module docstring).

    Input: ``logits`` ``(N, C, *spatial)``, C >= 2, floating.
    Target: ``labels`` ``(N, *spatial)``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        The robust default for semantic and medical segmentation (nnU-Net).

    Args:
        logits: raw class scores; the loss applies the softmax over dim 1.
        labels: class indices.
        dice_weight: >= 0, weight of the Dice term.
        ce_weight: >= 0, weight of the cross-entropy term.
        include_background: average class 0 into the Dice term too.
        smooth: >= 0, Dice smoothing.
        ignore_index: label whose pixels are left out of both terms; ``None``: none.
        reduction: ``"mean"`` over images with a non-ignored pixel | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range, a single class, masks
            instead of labels, negative term weights.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5], [0.0, 1.0, 0.5]]])
        >>> losskit.dice_cross_entropy(logits, torch.tensor([[0, 1, 1]]))  # 0.3157 + 0.2110
        tensor(0.5266)

    References:
        Isensee, Jaeger, Kohl, Petersen & Maier-Hein, nnU-Net: a self-configuring method for
        deep learning-based biomedical image segmentation (Nature Methods 2021).
    """
    smooth = _region_options(smooth, "macro", reduction)
    dice_weight = check_option("dice_weight", dice_weight, low=0.0)
    ce_weight = check_option("ce_weight", ce_weight, low=0.0)
    background = check_bool("include_background", include_background)
    ignore = check_ignore_index(ignore_index)
    r = _region_sums(
        logits,
        labels,
        normalize="softmax",
        ignore_index=ignore,
        labels_only=True,
        name="labels",
        with_ce=ce_weight > 0,
        fused=Fused(
            2.0,
            0.0,
            1.0,
            1.0,
            smooth,
            first=0 if background else 1,
            ce_weight=ce_weight,
            weight=dice_weight,
        ),
    )
    # labels and the softmax: the one-pass sums computed the per-image loss (the mean
    # cross-entropy over the image's counted pixels plus the Dice term over classes 1..C-1,
    # or all), as _SoftmaxLabelSums does for every macro region loss
    assert r.loss is not None and r.image_valid is not None
    out = reduce_images(r.loss, r.image_valid, reduction).to(r.dtype)
    return finish(out, logits=logits)
