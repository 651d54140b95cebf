"""Binary losses: one logit (or probability) per item, targets 0 or 1 (soft in [0, 1] where
stated).

The margin losses (``hinge``, ``squared_hinge``, ``soft_margin``, ``perceptron``,
``exponential``) are written in the SVM convention with a sign ``s = 2 * targets - 1`` in
{-1, +1} and the *margin* ``s * logits``; they take the same 0/1 targets as every other binary
loss here and map them themselves (targets of -1 are refused with that hint, never silently
misread as in optax's ``hinge_loss``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    all_finite,
    check_binary_targets,
    check_broadcasts_to,
    check_floating,
    check_option,
    check_probs,
    check_real,
    check_reduction,
    check_same_shape,
    finish,
    native_reduction,
    reads,
    reduce,
    tracing,
    unreadable,
)
from losskit._spec import Activation, Decode, Family, Prop, Space, Targets, register
from losskit._validate import check_weight
from losskit.losses import _examples as ex

__all__ = [
    "bce",
    "bce_with_logits",
    "brier",
    "exponential",
    "hinge",
    "mnist_loss",
    "perceptron",
    "sigmoid_focal",
    "soft_margin",
    "squared_hinge",
]


def binary_inputs(
    name: str, preds: Tensor, targets: Tensor, *, soft: bool
) -> tuple[Tensor, Tensor, torch.dtype]:
    """Shared checks of every binary loss. Returns ``(preds, targets, dtype)``: both tensors in
    the compute dtype and the result's ``dtype``. Floating targets promote with ``preds`` as
    torch's type promotion would (bool and integer targets take ``preds``' dtype); half
    precision is computed in float32 and the result cast back."""
    check_real(name, preds)  # a complex tensor is refused as such, not as "not floating"
    check_floating(name, preds)
    check_same_shape(name, preds, "targets", targets)
    check_binary_targets("targets", targets, soft=soft)
    dtype = preds.dtype
    if targets.dtype != dtype and targets.is_floating_point():
        dtype = torch.promote_types(dtype, targets.dtype)
    compute = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    # .to of a tensor already in the compute dtype is that tensor: skip the call
    p = preds if preds.dtype == compute else preds.to(compute)
    t = targets if targets.dtype == compute else targets.to(compute)
    return p, t, dtype


# torch's reduction enum (torch.nn._reduction.get_enum), for its kernels called directly
_REDUCTION_ENUM = {"none": 0, "mean": 1, "sum": 2}


def cast_result(out: Tensor, dtype: torch.dtype) -> Tensor:
    """``out`` in the result's ``dtype`` (half precision is computed in float32); the tensor
    itself when it is in it already (``Tensor.to`` costs a call even then)."""
    return out if out.dtype == dtype else out.to(dtype)


def _weight(name: str, weight: Tensor | None, of: str, preds: Tensor) -> Tensor | None:
    """A per-element weight: broadcasting to ``preds`` (named ``of``), finite and >= 0 (read
    where values are read), in ``preds``' compute dtype (a float32 weight with bf16 logits is
    not a dtype error)."""
    check_broadcasts_to(name, weight, preds.shape, of)
    check_weight(name, weight)
    return None if weight is None else weight.to(preds.dtype)


def _logaddexp(a: Tensor, b: Tensor) -> Tensor:
    """``log(exp(a) + exp(b))`` as ``max(a, b) + log1p(exp(-|a - b|))``: every factor of its
    first and second derivatives is bounded (``torch.logaddexp``'s second derivative is NaN
    once ``|a - b|`` exceeds about 88 in float32)."""
    return torch.maximum(a, b) + torch.log1p(torch.exp(-(a - b).abs()))


def _bce(x: Tensor, t: Tensor, pos_weight: Tensor | None = None) -> Tensor:
    """``-[pw t logsigmoid(x) + (1 - t) logsigmoid(-x)]`` elementwise, exact at +-inf too.

    Finite logits: torch's kernel, ``(1 - t) x - logsigmoid(x)`` (stable, with its fused
    backward). At an infinite logit that kernel gives ``0 * inf = NaN`` (``x = +inf, t = 1``)
    or ``-inf + inf = NaN`` (``x = -inf``); there ``where`` puts the limit instead, the same
    in every check mode: 0 for a correctly signed logit (``x = +inf, t = 1`` or
    ``x = -inf, pw t = 0``), ``+inf`` for a wrongly signed one. The kernel's branch then gets a
    zero gradient and its derivative there is bounded, so the logits' gradient is 0, not NaN."""
    loss = F.binary_cross_entropy_with_logits(x, t, pos_weight=pos_weight, reduction="none")
    if reads(x) and not bool(x.isinf().any()):
        return loss  # no infinite logit: the kernel's value as it is (the same value, fewer passes)
    pos = t if pos_weight is None else t * pos_weight
    wrong = torch.where(x > 0, t < 1, pos > 0)  # the mass on the side the logit rules out
    limit = torch.where(wrong, torch.inf, 0.0)
    return torch.where(x.isinf(), limit, loss)


def _clamped(x: Tensor) -> tuple[Tensor, Tensor]:
    """``(xc, e)``: the logits clamped to the largest finite value of their dtype (there
    torch's kernel gives the limit of a correctly signed infinite logit, 0, exactly, and no
    NaN), and ``e`` in {-1, 0, +1}: the sign of an infinite logit, 0 for a finite one (NaN for
    NaN). Float passes only, no boolean mask."""
    big = torch.finfo(x.dtype).max
    xc = x.clamp(-big, big)
    return xc, (x - xc).clamp_(-1.0, 1.0)


def _infinite_where_wrong(out: Tensor, e: Tensor, side: Tensor, reduction: str) -> Tensor:
    """``out``, computed on the clamped logits (where a wrongly signed infinite logit costs a
    large finite value), made ``+inf`` where a wrongly signed infinite logit is, without a host
    read. ``side`` is ``p - t`` for any ``p`` that is 1 at ``+inf`` and 0 at ``-inf`` (the
    clamped logits' sigmoid, or the logits clamped to [0, 1]): ``m = e * side`` is 0 at a finite
    or correctly signed logit and the target mass the logit rules out (``1 - t`` at ``+inf``,
    ``t`` at ``-inf``, > 0) at a wrongly signed one: elementwise for ``"none"``, else one dot
    product of those exact non-negative terms (> 0 as soon as one is)."""
    if reduction == "none":
        # m * inf: +inf where m > 0, NaN (made 0) where m = 0
        return out + (e * side).mul_(torch.inf).nan_to_num_(nan=0.0, posinf=torch.inf)
    mass = torch.dot(e.reshape(-1), side.reshape(-1))
    return torch.where(mass > 0, torch.inf, out)


def _exact_bce(x: Tensor, t: Tensor, reduction: str, grad: bool) -> tuple[Tensor, Tensor]:
    """The value of :class:`_ExactBCE` and ``side``: ``sigmoid(x) - t`` (the gradient before
    the upstream factor) when ``grad``, else the cheaper ``clamp(x, 0, 1) - t``; both serve
    :func:`_infinite_where_wrong`."""
    big = torch.finfo(x.dtype).max
    xc = x.clamp(-big, big)
    red = native_reduction(reduction, x.numel())
    out = F.binary_cross_entropy_with_logits(xc, t, reduction=red)
    side = torch.sigmoid(xc).sub_(t) if grad else x.clamp(0.0, 1.0).sub_(t)
    # e of _clamped, written into xc's buffer (the kernel is done with it): x - xc = -(xc - x)
    e = xc.sub_(x).clamp_(-1.0, 1.0).neg_()
    return _infinite_where_wrong(out, e, side, reduction), side


def _exact_bce_grad(x: Tensor, t: Tensor, side: Tensor, grad: Tensor, reduction: str) -> Tensor:
    """The logits' gradient of :class:`_ExactBCE`: ``(sigmoid(x) - t) * grad`` (over ``n`` for
    ``"mean"``), from the saved ``side``, or recomputed by differentiable ops under
    ``create_graph``. Out of place: a retained graph may run the backward pass again."""
    if reduction == "mean" and x.numel():
        grad = grad / x.numel()
    if torch.is_grad_enabled():
        return (torch.sigmoid(x) - t) * grad
    return side * grad


class _ExactBCE(torch.autograd.Function):
    """Unweighted BCE with logits, exact at +-inf, in a few float passes: torch's kernel on the
    clamped logits (:func:`_clamped`) gives the value at every finite and correctly signed
    infinite logit, :func:`_infinite_where_wrong` puts ``+inf`` at a wrongly signed one. The
    gradient is the kernel's ``sigmoid(x) - t`` at the logits themselves: 0 at a correctly
    signed infinite one, the finite limit ``1 - t`` (``-t`` at ``-inf``) at a wrongly signed
    one; it is computed in the forward pass, where it also finds the wrongly signed logits, and
    kept (the backward pass is one product). This is the form for tracing and transforms
    (a vmap rule); :class:`_ExactBCEEager` runs the same code with a cheaper ``apply``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, t: Tensor, reduction: str) -> tuple[Tensor, Tensor]:
        return _exact_bce(x, t, reduction, grad=True)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
        x, t, ctx.reduction = inputs
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, t, output[1])

    @staticmethod
    def backward(ctx: Any, grad: Tensor | None, _: Any) -> tuple[Tensor | None, None, None]:
        x, t, side = ctx.saved_tensors
        if grad is None:
            return None, None, None
        return _exact_bce_grad(x, t, side, grad, ctx.reduction), None, None


class _ExactBCEEager(torch.autograd.Function):
    """:class:`_ExactBCE` where nothing traces: ``forward`` takes ``ctx`` (its ``apply`` does
    not bind the arguments to a signature on each call) and ``sigmoid(x) - t`` is computed only
    when the logits need a gradient."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, t: Tensor, reduction: str) -> Tensor:
        grad = bool(ctx.needs_input_grad[0])
        out, side = _exact_bce(x, t, reduction, grad=grad)
        ctx.reduction = reduction
        if grad:
            ctx.save_for_backward(x, t, side)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        x, t, side = ctx.saved_tensors
        return _exact_bce_grad(x, t, side, grad, ctx.reduction), None, None


def _exact_bce_apply(x: Tensor, t: Tensor, reduction: str) -> Tensor:
    """:class:`_ExactBCE`'s value, through its eager twin where nothing traces."""
    if tracing():
        out: Tensor = _ExactBCE.apply(x, t, reduction)[0]  # type: ignore[no-untyped-call]
        return out
    eager: Tensor = _ExactBCEEager.apply(x, t, reduction)  # type: ignore[no-untyped-call]
    return eager


def _sign(t: Tensor) -> Tensor:
    """``s = 2 t - 1``: the SVM label in {-1, +1} of a 0/1 target."""
    return 2 * t - 1


def _hinge(x: Tensor, s: Tensor) -> Tensor:
    """``max(0, 1 - s x)``, written ``relu(s (s - x))``: for ``s = +-1`` the same rounding
    (``s (s - x)`` is ``1 - x`` or ``-(-1 - x) = 1 + x``) and the same gradient, infinite logits
    keep their limits, and an infinite target gives ``+inf`` (``relu(1 - inf * x)`` would be a
    finite 0)."""
    return F.relu(s * (s - x))


def _reduce_signed(loss: Tensor, sign: Tensor, reduction: str) -> Tensor:
    """``reduce(loss * |s|, reduction)`` for a margin loss that an infinite target could hide
    (``relu(-inf * x) = 0``, ``exp(-inf * x) = 0``): ``|s|`` is exactly 1 for 0/1 targets, and
    a non-finite one makes the result non-finite. Reduced, the elementwise product is not
    needed: where the targets were read (and so checked in {0, 1}) nothing is added, and
    otherwise ``0 * sum(s)``, which is 0 unless some ``s`` is not finite."""
    if reduction == "none" or sign.requires_grad:  # elementwise: the targets' gradient too
        return reduce(loss * sign.abs(), reduction)
    out = reduce(loss, reduction)
    return out if reads(sign) else out + 0 * sign.sum()


def _margin_terms(kind: str, x: Tensor, neg_s: Tensor) -> tuple[Tensor, Tensor]:
    """``(l, g)`` of a margin loss, elementwise, with ``neg_s = 1 - 2 t = -s``: the loss and
    its derivative in the logits, by differentiable torch ops (the value of :func:`_hinge` and
    of ``relu(-s x)``, ``exp(-s x)`` with the same rounding: ``-s x`` is exact for ``s = +-1``).
    The hinge's and the perceptron's derivatives ``-s [l > 0]`` are written ``-s sign(l)``
    (0 at the kink, as relu's)."""
    if kind in ("hinge", "squared_hinge"):
        r = F.relu(neg_s * x + 1)
        if kind == "hinge":
            return r, neg_s * torch.sign(r)
        return r.square(), 2 * neg_s * r
    if kind == "perceptron":
        r = F.relu(neg_s * x)
        return r, neg_s * torch.sign(r)
    e = torch.exp(neg_s * x)
    return e, neg_s * e


class _MarginLoss(torch.autograd.Function):
    """``hinge``, ``squared_hinge``, ``perceptron`` or ``exponential`` (``kind``) on 0/1
    targets, reduced, in a few passes: the forward pass computes ``-s = 1 - 2 t`` once,
    the loss, and its gradient in place in the loss's own buffers (each is a simple function
    of the margin), and keeps only that gradient; the backward pass is one product. An
    infinite or NaN target, which ``relu(-inf x) = 0`` or ``exp(-inf x) = 0`` could hide,
    reaches the value through ``0 * sum(-s)`` (0 for finite targets). A second derivative
    recomputes the gradient from the inputs by differentiable ops (:func:`_margin_terms`).
    Eager only (its ``forward`` takes ``ctx``): traced, and with a targets gradient, the losses
    keep their plain formulas."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, t: Tensor, kind: str, reduction: str) -> Tensor:
        neg_s = torch.rsub(t, 1, alpha=2)  # 1 - 2t: exact at t = 0 and t = 1
        grad = None
        if kind in ("hinge", "squared_hinge"):
            r = torch.mul(neg_s, x).add_(1).relu_()  # 1 - s x, then its positive part
            out = r.sum() if kind == "hinge" else torch.dot(r.reshape(-1), r.reshape(-1))
            if ctx.needs_input_grad[0]:
                grad = torch.sign(r).mul_(neg_s) if kind == "hinge" else r.mul_(neg_s).mul_(2)
        elif kind == "perceptron":
            r = torch.mul(neg_s, x).relu_()
            out = r.sum()
            if ctx.needs_input_grad[0]:
                grad = torch.sign(r).mul_(neg_s)
        else:
            e = torch.mul(neg_s, x).exp_()
            out = e.sum()
            if ctx.needs_input_grad[0]:
                grad = e.mul_(neg_s)
        # + 0 * sum(-s): a non-finite target makes the value non-finite (0 * inf is NaN)
        out = torch.add(out, neg_s.sum(), alpha=0)
        if reduction == "mean" and x.numel():
            out = out / x.numel()
        ctx.kind, ctx.reduction = kind, reduction
        if grad is not None:
            ctx.save_for_backward(x, t, grad)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        x, t, grad = ctx.saved_tensors
        if ctx.reduction == "mean" and x.numel():
            grad_out = grad_out / x.numel()
        if torch.is_grad_enabled():  # create_graph: a gradient that has its own gradient
            grad = _margin_terms(ctx.kind, x, 1 - 2 * t)[1]
        # out of place: a retained graph may run this backward again on the same saved grad
        return grad * grad_out, None, None, None


def _margin_fast(x: Tensor, t: Tensor, reduction: str) -> bool:
    """Whether a margin loss takes :class:`_MarginLoss`: reduced, eager (not traced, not on
    meta tensors), no targets gradient."""
    return reduction != "none" and not t.requires_grad and not unreadable(x)


@register(
    family=Family.BINARY,
    inputs=Space.LOGITS,
    targets=Targets.BINARY,
    activation=Activation.SIGMOID,
    decode=Decode.THRESHOLD,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.BOUNDED, Prop.CALIBRATED},
    metrics=("accuracy",),
    example=ex.logits01,
)
def mnist_loss(logits: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """The first loss that lets SGD learn MNIST 3s vs 7s: distance of ``sigmoid`` from the target.

    ``l_n = 1 - sigmoid(logits_n)`` if ``targets_n == 1`` else ``sigmoid(logits_n)``, i.e.
    ``torch.where(targets == 1, 1 - sigmoid(logits), sigmoid(logits))``. Unlike accuracy, a small
    change of a logit changes it a little, so its gradient is not zero and SGD can step. It is
    bounded (in [0, 1]) and its gradient vanishes for confident mistakes, which is why BCE
    usually trains faster.

    Input: ``logits``, any shape, floating. Target: ``targets``, the same shape, 0 or 1 (bool,
    integer or float).

    When to use:
        Teaching: the smallest smooth stand-in for accuracy. In practice BCE trains faster
        because its gradient does not vanish on confident mistakes.

    Args:
        logits: raw scores; the loss applies the sigmoid.
        targets: 0 or 1.
        reduction: ``"mean"`` (default) | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``logits`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, targets not in {0, 1}, ``logits`` not floating.

    Example:
        >>> import torch, losskit
        >>> losskit.mnist_loss(torch.tensor([2.0, -1.0, 0.0]), torch.tensor([1, 0, 1]))
        tensor(0.2960)

    References:
        Howard & Gugger, Deep Learning for Coders with fastai and PyTorch (2020), chapter 4.
    """
    check_reduction(reduction)
    x, t, dtype = binary_inputs("logits", logits, targets, soft=False)
    probs = torch.sigmoid(x)
    # where(t == 1, 1 - p, p) as a lerp: the same for t in {0, 1} (torch's lerp is exact at
    # both ends), and a NaN or infinite target gives a non-finite loss instead of p
    loss = torch.lerp(probs, 1 - probs, t)
    return finish(cast_result(reduce(loss, reduction), dtype), logits=logits, targets=targets)


@register(
    family=Family.BINARY,
    inputs=Space.PROBS,
    targets=Targets.SOFT_BINARY,
    decode=Decode.THRESHOLD,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.PROPER, Prop.CALIBRATED},
    metrics=("accuracy",),
    aliases=("binary_cross_entropy", "log_loss"),
    example=ex.probs01,
)
def bce(
    probs: Tensor, targets: Tensor, *, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy on probabilities.

    ``l_n = -w_n [targets_n log(probs_n) + (1 - targets_n) log(1 - probs_n)]``, each log clamped
    at -100 as in :func:`torch.nn.functional.binary_cross_entropy` (so ``probs`` of exactly 0 or 1
    give a finite loss of at most 100). ``"mean"`` averages ``w_n l_n`` over every element (as
    torch: not divided by the sum of weights). Prefer :func:`bce_with_logits`: it is stable where
    the sigmoid saturates.

    Input: ``probs`` in [0, 1], any shape. Target: ``targets`` in [0, 1] (soft targets allowed),
    the same shape. ``weight`` broadcasts to the shape of ``probs``.

    When to use:
        When the model already outputs probabilities; otherwise prefer bce_with_logits, which is
        stable.

    Args:
        probs: predicted probabilities of the positive class.
        targets: 0/1 or soft targets in [0, 1].
        weight: optional per-element rescaling.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``probs`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``probs`` or ``targets`` outside [0, 1] (logits given by
            mistake), a ``weight`` that does not broadcast to ``probs`` or is negative or not
            finite.

    Example:
        >>> import torch, losskit
        >>> losskit.bce(torch.tensor([0.9, 0.2]), torch.tensor([1.0, 0.0]))
        tensor(0.1643)
    """
    check_reduction(reduction)
    p, t, dtype = binary_inputs("probs", probs, targets, soft=True)
    check_probs("probs", probs)
    w = None if weight is None else _weight("weight", weight, "probs", p)
    red = native_reduction(reduction, p.numel())  # the kernel reduces (a mean over nothing: 0)
    if w is None:  # torch's kernel without F.binary_cross_entropy's Python wrapper
        out = torch._C._nn.binary_cross_entropy(p, t, None, _REDUCTION_ENUM[red])  # type: ignore[arg-type]
    else:
        out = F.binary_cross_entropy(p, t, weight=w, reduction=red)
    return finish(cast_result(out, dtype), probs=probs, targets=targets, weight=weight)


@register(
    family=Family.BINARY,
    inputs=Space.LOGITS,
    targets=Targets.SOFT_BINARY,
    activation=Activation.SIGMOID,
    decode=Decode.THRESHOLD,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.PROPER, Prop.CALIBRATED},
    metrics=("accuracy",),
    aliases=("sigmoid_binary_cross_entropy", "binary_cross_entropy_with_logits"),
    example=ex.logits01,
)
def bce_with_logits(
    logits: Tensor,
    targets: Tensor,
    *,
    pos_weight: Tensor | None = None,
    weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross-entropy on logits, computed stably.

    ``l_n = -w_n [p_c t_n log sigmoid(logits_n) + (1 - t_n) log sigmoid(-logits_n)]`` with
    ``log sigmoid(x) = -softplus(-x)`` (never ``log(sigmoid(x))``, which is -inf once the
    sigmoid rounds to 0). ``p_c`` is ``pos_weight`` for the class in the last dimension;
    ``"mean"`` averages ``l_n`` over every element, as :class:`torch.nn.BCEWithLogitsLoss`.
    Infinite logits take their limits, in every check mode: 0 (zero gradient) for a correctly
    signed one, ``+inf`` for a wrongly signed one (torch's kernel gives NaN at both).

    ``label_smoothing = e`` uses ``t_n = targets_n (1 - e) + e / 2``: the mass ``e`` spread
    uniformly over the two outcomes, as :func:`cross_entropy` does over C classes and as Keras's
    ``BinaryCrossentropy(label_smoothing=e)``. (smp's ``SoftBCEWithLogitsLoss(smooth_factor=f)``
    moves the targets to ``f`` and ``1 - f`` instead, which is ``e = 2 f`` here.) With
    ``e > 0`` the loss at a perfect prediction is no longer 0: the minimum is at
    ``sigmoid(logits) = t_n``.

    Input: ``logits``, any shape. Target: ``targets`` in [0, 1] (soft targets allowed), the same
    shape. ``weight`` broadcasts to the shape of ``logits``; ``pos_weight`` too (typically
    ``(C,)`` for ``C`` labels in the last dimension).

    When to use:
        The default for binary and multilabel classification.

    Args:
        logits: raw scores; the loss applies the sigmoid.
        targets: 0/1 or soft targets in [0, 1].
        pos_weight: weight of positive examples per class (``n_negative / n_positive`` balances).
        weight: per-element rescaling.
        label_smoothing: in [0, 1]; 0 (default) leaves the targets as they are, 1 makes every
            target 0.5.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``logits`` for ``"none"``.

    Raises:
        LossInputError: shapes differ (torch would broadcast), targets outside [0, 1],
            weights that do not broadcast to ``logits`` or are negative or not finite,
            ``label_smoothing`` outside [0, 1].

    Example:
        >>> import torch, losskit
        >>> logits, targets = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 0.0])
        >>> losskit.bce_with_logits(logits, targets)
        tensor(0.2201)
        >>> losskit.bce_with_logits(logits, targets, label_smoothing=0.2)
        tensor(0.3701)
    """
    check_reduction(reduction)
    smoothing = check_option("label_smoothing", label_smoothing, low=0.0, high=1.0)
    x, t, dtype = binary_inputs("logits", logits, targets, soft=True)
    w = _weight("weight", weight, "logits", x)
    pw = _weight("pos_weight", pos_weight, "logits", x)
    if smoothing:
        t = t * (1 - smoothing) + smoothing / 2
    result = None
    if reads(x):
        # values readable: the kernel's own result (reduced by the kernel when unweighted); only
        # a non-finite one pays for the form exact at +-inf below
        if w is None:
            red = native_reduction(reduction, x.numel())
            result = F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction=red)
        else:
            loss = F.binary_cross_entropy_with_logits(x, t, pos_weight=pw, reduction="none")
            result = reduce(loss * w, reduction)
        if not all_finite(result):
            result = None
    if result is None and w is None and pw is None and not t.requires_grad:
        # the kernel gives NaN at a correctly signed infinite logit: where the values cannot be
        # read, or the result is not finite, the form exact at +-inf (equal to the kernel's
        # where finite); unweighted, in a few float passes
        result = _exact_bce_apply(x, t, reduction)
    if result is None:
        loss = _bce(x, t, pw)
        result = reduce(loss if w is None else loss * w, reduction)
    return finish(
        cast_result(result, dtype),
        logits=logits,
        targets=targets,
        weight=weight,
        pos_weight=pos_weight,
    )


@register(
    family=Family.BINARY,
    inputs=Space.LOGITS,
    targets=Targets.SOFT_BINARY,
    activation=Activation.SIGMOID,
    decode=Decode.THRESHOLD,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.CALIBRATED},
    metrics=("accuracy", "average_precision"),
    aliases=("sigmoid_focal_loss", "binary_focal"),
    example=ex.logits01,
)
def sigmoid_focal(
    logits: Tensor,
    targets: Tensor,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    reduction: str = "mean",
) -> Tensor:
    """Focal loss on logits (RetinaNet): BCE down-weighted on well-classified items.

    ``l_n = a_n (1 - p_t)^gamma * bce_with_logits(logits_n, targets_n)`` with
    ``p = sigmoid(logits_n)``, ``1 - p_t = t (1 - p) + (1 - t) p`` and
    ``a_n = alpha t + (1 - alpha)(1 - t)`` (``alpha=None``: ``a_n = 1``). This is
    :func:`torchvision.ops.sigmoid_focal_loss` (same defaults; its ``alpha=-1`` is ``None``
    here), computed in log space: ``(1 - p_t)^gamma = exp(gamma * log(1 - p_t))`` with
    ``log(1 - p_t)`` equal to ``logsigmoid(-x)`` for ``t = 1``, ``logsigmoid(x)`` for ``t = 0``
    and ``logaddexp(log t + logsigmoid(-x), log(1 - t) + logsigmoid(x))`` for soft targets
    (at ``t = 1`` and ``t = 0`` with a term that is 0 there but keeps the derivative in
    ``targets`` exact).
    So the loss, its gradient and its second derivative stay finite for logits at +-100 and
    any ``gamma >= 0`` (the naive ``(1 - sigmoid(x)) ** 0.5`` has an infinite derivative where
    the sigmoid rounds to 1, and 0 * inf gives NaN).
    ``gamma = 0`` is exactly ``alpha_t * bce_with_logits`` (and, with ``alpha=None``,
    :func:`bce_with_logits` itself). ``"mean"`` averages over every element.

    Input: ``logits``, any shape, floating (half precision is computed in float32). Target:
    ``targets`` in [0, 1], the same shape (soft targets allowed, as torchvision).

    When to use:
        Dense detection and other problems with many easy negatives; gamma = 0 is
        (alpha-weighted) BCE.

    Args:
        logits: raw scores; the loss applies the sigmoid.
        targets: 0/1 or soft targets in [0, 1].
        alpha: weight of the positive class in [0, 1] (0.25, as in the paper), or ``None`` for
            no class weighting.
        gamma: focusing parameter >= 0; 0 gives (alpha-weighted) BCE.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``logits`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, targets outside [0, 1], ``alpha`` outside [0, 1],
            ``gamma < 0``.

    Example:
        >>> import torch, losskit
        >>> logits, targets = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 0.0])
        >>> losskit.sigmoid_focal(logits, targets)
        tensor(0.1002)
        >>> losskit.sigmoid_focal(logits, targets, alpha=None, gamma=0.0)
        tensor(0.4714)

    References:
        Lin, Goyal, Girshick, He & Dollar, Focal Loss for Dense Object Detection (ICCV 2017).
    """
    check_reduction(reduction)
    gamma = check_option("gamma", gamma, low=0.0)
    alpha = None if alpha is None else check_option("alpha", alpha, low=0.0, high=1.0)
    x, t, dtype = binary_inputs("logits", logits, targets, soft=True)
    if gamma != 0 and not t.requires_grad and not unreadable(x):
        # eager, no targets gradient: one pass computes the value and the closed-form gradient
        out: Tensor = _SigmoidFocal.apply(x, t, alpha, gamma, reduction)  # type: ignore[no-untyped-call]
        return finish(cast_result(out, dtype), logits=logits, targets=targets)
    loss = _focal_terms(x, t, alpha, gamma)
    return finish(cast_result(reduce(loss, reduction), dtype), logits=logits, targets=targets)


def _focal_terms(x: Tensor, t: Tensor, alpha: float | None, gamma: float) -> Tensor:
    """The focal loss per element in log space, by differentiable torch ops (exact derivative
    in ``targets``, finite second derivatives): the form traced, and the one behind
    :class:`_SigmoidFocal`'s second derivative."""
    loss = _bce(x, t)
    if gamma != 0:
        loss = loss * torch.exp(gamma * _log_one_minus_pt(x, t))
    if alpha is not None:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss


def _focal_gradient_terms(x: Tensor, t: Tensor, alpha: float | None, gamma: float) -> Tensor:
    """``d l_n / d x_n`` of the focal loss by differentiable ops (a second derivative):
    ``a_t (1 - p_t)^gamma [gamma (d/dx log(1 - p_t)) bce + sigmoid(x) - t]`` with
    ``d/dx log(1 - p_t) = (1 - 2 t) sigmoid(x) sigmoid(-x) / (1 - p_t)``, its quotient taken in
    log space (bounded, so its own derivative is finite at logits of +-100)."""
    log_q = _log_one_minus_pt(x, t)
    d_log_q = (1 - 2 * t) * torch.exp(F.logsigmoid(x) + F.logsigmoid(-x) - log_q)
    g = torch.exp(gamma * log_q) * (gamma * d_log_q * _bce(x, t) + (torch.sigmoid(x) - t))
    return g if alpha is None else (alpha * t + (1 - alpha) * (1 - t)) * g


class _SigmoidFocal(torch.autograd.Function):
    """The focal loss in a few fused passes, with its gradient computed in the forward pass
    (the backward pass is one product) and nothing else kept.

    With ``s = sigmoid(x)``, ``1 - p_t = q = lerp(s, sigmoid(-x), t)`` (torch's ``lerp`` is
    exact at ``t = 0`` and ``t = 1``: ``q`` is then ``s`` or ``sigmoid(-x)`` themselves, never
    ``1 - s``), the weight ``w = a_t q^gamma`` and ``l = w * bce``:
    ``dl/dx = w [gamma (1 - 2 t) r bce + s - t]`` with ``r = s sigmoid(-x) / q``, which is
    ``s`` at ``t = 1``, ``sigmoid(-x)`` at ``t = 0`` and bounded between (0 where ``q``
    underflows to 0, where ``q^gamma`` is 0 too). The BCE is torch's kernel on the logits
    clamped to the dtype's finite range, which gives the limit 0 at a correctly signed infinite
    logit; a wrongly signed one is found as ``e (s - t) > 0`` (``e`` the sign of an infinite
    logit, 0 for a finite one) and made ``+inf``. A second derivative recomputes the gradient
    from the inputs by differentiable ops (:func:`_focal_gradient_terms`)."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, t: Tensor, alpha: float | None, gamma: float, reduction: str
    ) -> Tensor:
        xc, e = _clamped(x)
        s = torch.sigmoid(xc)
        s_neg = torch.sigmoid(xc.neg())
        q = torch.lerp(s, s_neg, t)
        bce = F.binary_cross_entropy_with_logits(xc, t, reduction="none")
        w = q.pow(gamma)
        if alpha is not None:
            w.mul_(torch.lerp(x.new_tensor(1 - alpha), x.new_tensor(alpha), t))
        if reduction == "none":
            out = w * bce
        else:
            out = torch.dot(w.reshape(-1), bce.reshape(-1))
            out = out / x.numel() if reduction == "mean" and x.numel() else out
        if ctx.needs_input_grad[0]:
            r = s_neg.mul_(s).div_(q.clamp_min_(torch.finfo(q.dtype).tiny))
            k = torch.lerp(x.new_tensor(gamma), x.new_tensor(-gamma), t)  # gamma (1 - 2t)
            side = s.sub_(t)
            grad = r.mul_(k).mul_(bce).add_(side).mul_(w)
        else:
            side = s.sub_(t)
        out = _infinite_where_wrong(out, e, side, reduction)
        ctx.reduction, ctx.alpha, ctx.gamma = reduction, alpha, gamma
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x, t, grad)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        x, t, grad = ctx.saved_tensors
        if ctx.reduction == "mean" and x.numel():
            grad_out = grad_out / x.numel()
        if torch.is_grad_enabled():  # create_graph: a gradient that has its own gradient
            grad = _focal_gradient_terms(x, t, ctx.alpha, ctx.gamma)
            return grad * grad_out, None, None, None, None
        # out of place: a retained graph may run this backward again on the same saved grad
        return grad * grad_out, None, None, None, None


# expm1 below is taken at min(x, 80): finite in float32 (exp(88.7) overflows), and only the
# targets-derivative at |x| > 80 depends on it, where the true one overflows anyway
_EXPM1_CAP = 80.0


def _log_one_minus_pt(x: Tensor, t: Tensor) -> Tensor:
    """``log(1 - p_t) = log(t sigmoid(-x) + (1 - t) sigmoid(x))``, never ``log(1 - sigmoid)``.

    Three exact forms, chosen by ``where`` on the target (no log(0) = -inf in any of them, so
    first and second derivatives stay finite at logits of +-100):

    - ``t = 1``: ``logsigmoid(-x) + log1p((1 - t) expm1(x))``,
    - ``t = 0``: ``logsigmoid(x) + log1p(t expm1(-x))``,
    - otherwise ``logaddexp(log t + logsigmoid(-x), log(1 - t) + logsigmoid(x))``.

    The log1p term is 0 at its own target but keeps the t-dependence, so the derivative in
    ``targets`` is the true ``(sigmoid(-x) - sigmoid(x)) / (1 - p_t)`` at 0 and 1 too (a plain
    ``logsigmoid(-x)`` there has derivative 0 in ``t``)."""
    log_p, log_1mp = F.logsigmoid(x), F.logsigmoid(-x)
    one, zero = t == 1, t == 0
    # the coefficients (1 - t at t = 1, t at t = 0) are 0 outside their own branch, so an
    # unselected branch is finite too and sends no NaN into the gradient through where
    zero_t = torch.zeros_like(t)
    at_one = log_1mp + torch.log1p(
        torch.where(one, 1 - t, zero_t) * torch.expm1(x.clamp(max=_EXPM1_CAP))
    )
    at_zero = log_p + torch.log1p(
        torch.where(zero, t, zero_t) * torch.expm1((-x).clamp(max=_EXPM1_CAP))
    )
    soft = torch.where(one | zero, torch.full_like(t, 0.5), t)
    mixed = _logaddexp(torch.log(soft) + log_1mp, torch.log1p(-soft) + log_p)
    return torch.where(one, at_one, torch.where(zero, at_zero, mixed))


@register(
    family=Family.BINARY,
    inputs=Space.LOGITS,
    targets=Targets.BINARY,
    decode=Decode.THRESHOLD,
    properties={Prop.CONVEX, Prop.NONNEGATIVE, Prop.CALIBRATED},
    metrics=("accuracy",),
    aliases=("binary_hinge", "hinge_loss"),
    example=ex.logits01,
)
def hinge(logits: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Binary hinge loss (the SVM loss) with 0/1 targets.

    ``l_n = max(0, 1 - s_n logits_n)`` with ``s_n = 2 targets_n - 1``: **targets 0 and 1 are
    mapped to -1 and +1** (sklearn's ``hinge_loss`` and Keras's ``Hinge`` do the same; optax's
    ``hinge_loss`` expects -1/+1 and silently misreads 0/1). Zero once the margin
    ``s_n logits_n`` reaches 1; the gradient is ``-s_n`` below that and 0 above (0 at the kink).
    ``"mean"`` averages over every element.

    Input: ``logits`` (raw scores, the decision is ``logits > 0``), any shape. Target:
    ``targets`` 0 or 1 (bool, integer or float), the same shape.

    When to use:
        Maximum-margin linear classifiers; scores are not probabilities.

    Args:
        logits: raw scores.
        targets: 0 or 1.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``logits`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, targets not in {0, 1} (-1/+1 targets: use
            ``(targets + 1) / 2``).

    Example:
        >>> import torch, losskit
        >>> logits, targets = torch.tensor([2.0, -0.5, 0.3]), torch.tensor([1, 0, 0])
        >>> losskit.hinge(logits, targets)
        tensor(0.6000)

    References:
        Cortes & Vapnik, Support-Vector Networks (Machine Learning 1995).
    """
    check_reduction(reduction)
    x, t, dtype = binary_inputs("logits", logits, targets, soft=False)
    if _margin_fast(x, t, reduction):
        out: Tensor = _MarginLoss.apply(x, t, "hinge", reduction)  # type: ignore[no-untyped-call]
        return finish(cast_result(out, dtype), logits=logits, targets=targets)
    loss = _hinge(x, _sign(t))
    return finish(cast_result(reduce(loss, reduction), dtype), logits=logits, targets=targets)


@register(
    family=Family.BINARY,
    inputs=Space.LOGITS,
    targets=Targets.BINARY,
    decode=Decode.THRESHOLD,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.CALIBRATED},
    metrics=("accuracy",),
    aliases=("squared_hinge_loss",),
    example=ex.logits01,
)
def squared_hinge(logits: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Squared hinge loss (the L2-SVM loss) with 0/1 targets.

    ``l_n = max(0, 1 - s_n logits_n) ** 2`` with ``s_n = 2 targets_n - 1``: **targets 0 and 1
    are mapped to -1 and +1**, as :func:`hinge` and Keras's ``SquaredHinge``. Differentiable
    everywhere (unlike the hinge), but a confident mistake costs quadratically. ``"mean"``
    averages over every element.

    Input: ``logits``, any shape. Target: ``targets`` 0 or 1, the same shape.

    When to use:
        A smooth maximum-margin loss (L2-SVM); punishes confident mistakes more.

    Args:
        logits: raw scores.
        targets: 0 or 1.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``logits`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, targets not in {0, 1}.

    Example:
        >>> import torch, losskit
        >>> logits, targets = torch.tensor([2.0, -0.5, 0.3]), torch.tensor([1, 0, 0])
        >>> losskit.squared_hinge(logits, targets)
        tensor(0.6467)

    References:
        Lee & Mangasarian, SSVM: A Smooth Support Vector Machine (2001); Keras ``SquaredHinge``.
    """
    check_reduction(reduction)
    x, t, dtype = binary_inputs("logits", logits, targets, soft=False)
    if _margin_fast(x, t, reduction):
        out: Tensor = _MarginLoss.apply(x, t, "squared_hinge", reduction)  # type: ignore[no-untyped-call]
        return finish(cast_result(out, dtype), logits=logits, targets=targets)
    loss = _hinge(x, _sign(t)).square()
    return finish(cast_result(reduce(loss, reduction), dtype), logits=logits, targets=targets)


@register(
    family=Family.BINARY,
    inputs=Space.LOGITS,
    targets=Targets.BINARY,
    activation=Activation.SIGMOID,
    decode=Decode.THRESHOLD,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.PROPER, Prop.CALIBRATED},
    metrics=("accuracy",),
    aliases=("soft_margin_loss", "logistic"),
    example=ex.logits01,
)
def soft_margin(logits: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Soft-margin (logistic) loss with 0/1 targets: ``log(1 + exp(-s_n logits_n))``.

    ``l_n = softplus(-s_n logits_n)`` with ``s_n = 2 targets_n - 1``: **targets 0 and 1 are
    mapped to -1 and +1**. This is :func:`torch.nn.functional.soft_margin_loss` on
    ``2 * targets - 1`` and equals :func:`bce_with_logits` on hard targets, which computes it:
    torch's ``soft_margin_loss`` evaluates ``log1p(exp(-s x))`` and overflows to ``inf`` once
    ``-s x > 88`` in float32, while the value here is exact (``100.0`` at a margin of -100).
    ``"mean"`` averages over every element.

    Input: ``logits``, any shape. Target: ``targets`` 0 or 1, the same shape.

    When to use:
        Logistic regression written in the SVM convention; equals bce_with_logits on 0/1
        targets.

    Args:
        logits: raw scores.
        targets: 0 or 1.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``logits`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, targets not in {0, 1}.

    Example:
        >>> import torch, losskit
        >>> logits, targets = torch.tensor([2.0, -0.5, 0.3]), torch.tensor([1, 0, 0])
        >>> losskit.soft_margin(logits, targets)
        tensor(0.4851)
    """
    check_reduction(reduction)
    x, t, dtype = binary_inputs("logits", logits, targets, soft=False)
    # softplus(-s x) == t softplus(-x) + (1 - t) softplus(x) for t in {0, 1}: torch's stable
    # BCE-with-logits kernel computes exactly this.
    red = native_reduction(reduction, x.numel())
    loss = F.binary_cross_entropy_with_logits(x, t, reduction=red)
    return finish(cast_result(loss, dtype), logits=logits, targets=targets)


@register(
    family=Family.BINARY,
    inputs=Space.LOGITS,
    targets=Targets.BINARY,
    decode=Decode.THRESHOLD,
    properties={Prop.CONVEX, Prop.NONNEGATIVE},
    metrics=("accuracy",),
    aliases=("perceptron_loss",),
    example=ex.logits01,
)
def perceptron(logits: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Perceptron loss with 0/1 targets: ``max(0, -s_n logits_n)``.

    ``s_n = 2 targets_n - 1``: **targets 0 and 1 are mapped to -1 and +1** (optax's
    ``perceptron_loss`` takes -1/+1). A hinge with margin 0: zero for every correctly
    classified item, however close to the boundary, so it has no preference among separating
    boundaries. ``"mean"`` averages over every element.

    Input: ``logits``, any shape. Target: ``targets`` 0 or 1, the same shape.

    When to use:
        Teaching and history; zero for every correct decision, so it cannot prefer one
        separating boundary over another.

    Args:
        logits: raw scores.
        targets: 0 or 1.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``logits`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, targets not in {0, 1}.

    Example:
        >>> import torch, losskit
        >>> logits, targets = torch.tensor([2.0, -0.5, 0.3]), torch.tensor([1, 0, 0])
        >>> losskit.perceptron(logits, targets)
        tensor(0.1000)

    References:
        Rosenblatt, The Perceptron (Psychological Review 1958).
    """
    check_reduction(reduction)
    x, t, dtype = binary_inputs("logits", logits, targets, soft=False)
    if _margin_fast(x, t, reduction):
        out: Tensor = _MarginLoss.apply(x, t, "perceptron", reduction)  # type: ignore[no-untyped-call]
        return finish(cast_result(out, dtype), logits=logits, targets=targets)
    sign = _sign(t)
    # |s| is exactly 1 for t in {0, 1}; for an infinite target it keeps relu(-inf * x) = 0
    # from hiding it
    loss = _reduce_signed(F.relu(-sign * x), sign, reduction)
    return finish(cast_result(loss, dtype), logits=logits, targets=targets)


@register(
    family=Family.BINARY,
    inputs=Space.LOGITS,
    targets=Targets.BINARY,
    decode=Decode.THRESHOLD,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.CALIBRATED},
    metrics=("accuracy",),
    aliases=("exponential_loss", "adaboost"),
    example=ex.logits01,
)
def exponential(logits: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Exponential loss (AdaBoost) with 0/1 targets: ``exp(-s_n logits_n)``.

    ``s_n = 2 targets_n - 1``: **targets 0 and 1 are mapped to -1 and +1** (sklearn's private
    ``ExponentialLoss`` takes 0/1 as here). Half of the minimiser is the log-odds, as for BCE,
    but a confident mistake costs exponentially, so it is very sensitive to label noise.
    The value overflows to ``inf`` for a margin below about -88 (float32) or -709 (float64):
    that is the true value, not representable, and not clamped. ``"mean"`` averages over every
    element.

    Input: ``logits``, any shape (half precision is computed in float32). Target: ``targets`` 0
    or 1, the same shape.

    When to use:
        Boosting; very sensitive to label noise and outliers.

    Args:
        logits: raw scores.
        targets: 0 or 1.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``logits`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, targets not in {0, 1}.

    Example:
        >>> import torch, losskit
        >>> logits, targets = torch.tensor([2.0, -0.5, 0.3]), torch.tensor([1, 0, 0])
        >>> losskit.exponential(logits, targets)
        tensor(0.6972)

    References:
        Freund & Schapire (1997); Friedman, Hastie & Tibshirani, Additive Logistic Regression
        (Annals of Statistics 2000).
    """
    check_reduction(reduction)
    x, t, dtype = binary_inputs("logits", logits, targets, soft=False)
    if _margin_fast(x, t, reduction):
        out: Tensor = _MarginLoss.apply(x, t, "exponential", reduction)  # type: ignore[no-untyped-call]
        return finish(cast_result(out, dtype), logits=logits, targets=targets)
    sign = _sign(t)
    # |s| is exactly 1 for t in {0, 1}; for an infinite target it keeps exp(-inf * x) = 0
    # from hiding it
    loss = _reduce_signed(torch.exp(-sign * x), sign, reduction)
    return finish(cast_result(loss, dtype), logits=logits, targets=targets)


@register(
    family=Family.BINARY,
    inputs=Space.PROBS,
    targets=Targets.SOFT_BINARY,
    decode=Decode.THRESHOLD,
    properties={
        Prop.CONVEX,
        Prop.SMOOTH,
        Prop.NONNEGATIVE,
        Prop.ZERO_AT_TARGET,
        Prop.PROPER,
        Prop.BOUNDED,
        Prop.CALIBRATED,
    },
    metrics=("accuracy", "brier"),
    aliases=("brier_score", "brier_score_loss"),
    example=ex.probs01,
)
def brier(probs: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Brier score of binary probabilities: ``(probs_n - targets_n) ** 2``.

    The squared error of a probability: a proper scoring rule, bounded in [0, 1], that punishes
    confident mistakes far less than BCE (1 instead of infinity). ``"mean"`` averages over every
    element, which is sklearn's binary ``brier_score_loss`` (its multiclass form sums over the C
    classes, twice this for two classes).

    Input: ``probs`` in [0, 1], any shape. Target: ``targets`` in [0, 1] (soft targets allowed),
    the same shape.

    When to use:
        Calibration-aware training or evaluation; bounded, so mistakes cost at most 1.

    Args:
        probs: predicted probabilities of the positive class.
        targets: 0/1 or soft targets in [0, 1].
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``probs`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``probs`` or ``targets`` outside [0, 1] (logits given by
            mistake: apply ``torch.sigmoid`` first).

    Example:
        >>> import torch, losskit
        >>> losskit.brier(torch.tensor([0.9, 0.2, 0.6]), torch.tensor([1, 0, 0]))
        tensor(0.1367)

    References:
        Brier, Verification of Forecasts Expressed in Terms of Probability (1950).
    """
    check_reduction(reduction)
    p, t, dtype = binary_inputs("probs", probs, targets, soft=True)
    check_probs("probs", probs)
    # torch's kernel without F.mse_loss's Python wrapper (a broadcast test the shape check
    # above has made); it reduces itself
    red = native_reduction(reduction, p.numel())
    # (torch's stub types the reduction as a str; the binding takes the enum's int)
    loss = torch._C._nn.mse_loss(p, t, _REDUCTION_ENUM[red])  # type: ignore[arg-type]
    return finish(cast_result(loss, dtype), probs=probs, targets=targets)
