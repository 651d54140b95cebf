"""Divergences between distributions, and distillation.

Distributions lie along dim 1 of ``(N, C, *extra)`` tensors (dim 0 of a single ``(C,)``
distribution). Every loss here sums over that axis and returns one value per item
``(N, *extra)``; ``"mean"`` averages those items. That is the divergence averaged over examples:
**not** PyTorch's ``kl_div(reduction="mean")``, which divides by every element (by ``N * C``) and
so is smaller than the KL by the factor C; it equals torch's ``"batchmean"`` for ``(N, C)``
inputs and goes further for ``(N, C, *extra)``, where ``"batchmean"`` divides by N only.
Half-precision inputs are computed in float32 and returned in their dtype.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_bool,
    check_floating,
    check_option,
    check_real,
    check_reduction,
    check_same_shape,
    check_tensor,
    class_dim,
    class_scores,
    ensure_float,
    finish,
    reads,
    reduce,
    tracing,
)
from losskit._spec import Activation, Decode, Family, MeanOver, Prop, Space, Targets, register
from losskit._validate import distribution_inputs
from losskit.losses import _examples as ex

__all__ = ["distillation", "js_div", "kl_div"]

_LOG2 = math.log(2.0)


def _pair_inputs(log_preds: Tensor, targets: Tensor, *, log_targets: bool) -> int:
    """Checks of the divergences: same shape, at least 1-D, real, both distributions over the
    distribution dim (values checked in full mode). Returns that dim."""
    check_tensor("log_preds", log_preds)
    check_real("log_preds", log_preds)
    check_floating("log_preds", log_preds)
    check_same_shape("log_preds", log_preds, "targets", targets)
    check_real("targets", targets)
    if log_preds.dim() == 0:
        raise LossInputError(
            "log_preds must have a distribution dimension (dim 1, or dim 0 for one "
            "distribution), got a scalar"
        )
    _log_distribution("log_preds", log_preds)
    distribution_inputs("targets", targets, log=log_targets, log_hint="pass log_targets=True")
    return class_dim(log_preds)


# a row sum of exp(log_preds) at most this bounds every log-probability below 5e-5 (each exp is
# at most its row's sum), inside the 1e-4 that distribution_inputs allows
_SUM_TOP = 1.0 + 5e-5


def _log_distribution(name: str, x: Tensor) -> None:
    """:func:`losskit._validate.distribution_inputs` for log-probabilities, with one read of the
    values where they are valid: the row sums of ``exp`` alone prove both of its conditions
    (values <= 0 up to rounding, rows summing to 1). Anything else (NaN included) takes the
    full check, which names what is wrong, so the accepted inputs and the errors are its own."""
    if not reads(x):
        return
    values = ensure_float(x.detach())
    lo, hi = (float(v) for v in torch.aminmax(values.exp().sum(class_dim(x))))
    tol = 2e-2 if x.dtype in (torch.float16, torch.bfloat16) else 1e-3
    if lo >= 1 - tol and hi <= _SUM_TOP:
        return
    distribution_inputs(name, x, log=True)


def _items_reduction(x: Tensor, dim: int, reduction: str) -> tuple[str, int]:
    """The reduction a closed-form divergence applies over its items ``(N, *extra)``, and their
    count: a mean over no item is the graph-connected 0 of a sum (:func:`reduce`)."""
    items = x.numel() // x.shape[dim] if x.shape[dim] else 0
    return ("sum" if reduction == "mean" and items == 0 else reduction), items


def _upstream(g: Tensor, dim: int, reduction: str, items: int) -> Tensor:
    """The gradient of a reduced divergence as a factor of its per-element terms."""
    if reduction == "none":
        return g.unsqueeze(dim)
    return g / items if reduction == "mean" else g


class _KLProbs(torch.autograd.Function):
    """``KL(targets || exp(log_preds))`` over ``dim`` for probability targets, reduced, with
    the closed-form gradients ``-targets`` (log_preds) and ``log targets + 1 - log_preds``
    (targets; 0 where a target is 0): autograd through the masked formula of :func:`_kl_terms`
    would record and replay about ten full-size operations. Same values as :func:`_kl_terms`:
    ``0 log 0 = 0``, also at ``log_preds = -inf``; a NaN anywhere stays NaN; ``log_preds = -inf``
    where the target has mass gives ``+inf``. The backward is torch ops on the saved inputs, so
    it differentiates again and vmap derives its batching rule."""

    generate_vmap_rule = True

    @staticmethod
    def forward(lp: Tensor, t: Tensor, dim: int, reduction: str, items: int) -> Tensor:
        big = torch.finfo(lp.dtype).max
        # (in place where it can be: a new full-size tensor costs more than the arithmetic)
        # log 0 = -inf made finite, so that t * log t is exactly 0 where t == 0 (a NaN stays)
        d = torch.log(t).clamp_min_(-big)
        # lp raised to a floor: -inf where t > 0 (lp unchanged), 0 where t == 0 (t * -inf is
        # NaN there): a -inf log-prediction without target mass becomes 0, so no 0 * inf
        # arises; a NaN log-prediction stays NaN (clamp_min propagates it), a NaN target too
        lp_safe = torch.mul(t, -math.inf).nan_to_num_(nan=0.0, posinf=math.inf, neginf=-math.inf)
        d.sub_(lp_safe.clamp_min_(lp))  # log t - lp: +inf where lp = -inf and t > 0
        if reduction == "none":
            return (t * d).sum(dim)
        total = torch.dot(t.reshape(-1), d.reshape(-1))  # one pass: no product tensor
        return total / items if reduction == "mean" else total

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        lp, t, ctx.dim, ctx.reduction, ctx.items = inputs
        ctx.save_for_backward(lp, t)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        lp, t = ctx.saved_tensors
        g = _upstream(grad, ctx.dim, ctx.reduction, ctx.items)
        grad_lp = t * -g if ctx.needs_input_grad[0] else None
        grad_t = None
        if ctx.needs_input_grad[1]:
            zero = t == 0
            # d/dt t (log t - lp) = log t + 1 - lp; 0 where t == 0 (as the masked formula), the
            # log taken of 1 there so no inf * 0 reaches a second derivative
            slope = torch.log(torch.where(zero, 1.0, t)) + 1 - lp
            grad_t = torch.where(zero, 0.0, slope) * g
        return grad_lp, grad_t, None, None, None


class _Distillation(torch.autograd.Function):
    """``KL(softmax(teacher) || softmax(student))`` over ``dim``, reduced, with the closed-form
    gradients ``softmax(student) - softmax(teacher)`` (student) and
    ``q (log q - log p - KL)`` (teacher, ``q`` its softmax): autograd through two
    log-softmaxes and the masked terms would keep and replay several full-size tensors. The
    log-softmax of the student and the teacher's softmax are returned (not differentiable) for
    the backward; a second derivative recomputes them from the inputs with torch ops."""

    generate_vmap_rule = True

    @staticmethod
    def forward(
        s: Tensor, t: Tensor, dim: int, reduction: str, items: int
    ) -> tuple[Tensor, Tensor, Tensor]:
        ls = torch.log_softmax(s, dim)
        lt = torch.log_softmax(t, dim)
        q = lt.exp()
        # d = lt - ls, in place of lt (a new full-size tensor costs more than the arithmetic).
        # It is -inf where the teacher has no mass (a -inf logit), NaN where the student's
        # logit is -inf there too: both made 0, the term being 0 there (q = 0). +inf (student
        # -inf where the teacher has mass) stays: that KL is infinite. A NaN logit makes its
        # whole log-softmax row NaN: the teacher's reaches q; the student's would be zeroed
        # here, so its row maximum (0 * NaN) carries it into the value.
        d = lt.sub_(ls).nan_to_num_(nan=0.0, posinf=math.inf, neginf=0.0)
        if reduction == "none":
            value = (q * d).sum(dim) + ls.amax(dim) * 0
        else:
            value = torch.dot(q.reshape(-1), d.reshape(-1))
            if ls.numel():  # a static shape test: amax of nothing is undefined
                value = value + ls.amax() * 0
            value = value / items if reduction == "mean" else value
        return value, ls, q

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        s, t, ctx.dim, ctx.reduction, ctx.items = inputs
        _, ls, q = output
        ctx.mark_non_differentiable(ls, q)
        ctx.set_materialize_grads(False)  # no zero tensors for the gradients of ls and q
        ctx.save_for_backward(s, t, ls, q)

    @staticmethod
    def backward(ctx: Any, grad: Tensor, *_: Tensor) -> tuple[Tensor | None, ...]:
        s, t, ls, q = ctx.saved_tensors
        if grad is None:  # the value took no part in what is differentiated
            return None, None, None, None, None
        dim = ctx.dim
        if torch.is_grad_enabled():  # a second derivative: rebuild from the inputs
            ls = torch.log_softmax(s, dim)
            q = torch.log_softmax(t, dim).exp()
        g = _upstream(grad, dim, ctx.reduction, ctx.items)
        grad_s = grad_t = None
        if ctx.needs_input_grad[0]:  # d KL / d student = softmax(student) - q
            if torch.is_grad_enabled():
                grad_s = (ls.exp() - q) * g
            else:  # first order only: in place, one new tensor
                grad_s = ls.exp().sub_(q).mul_(g)
        if ctx.needs_input_grad[1]:
            d = torch.where(q == 0, 0.0, torch.log_softmax(t, dim) - ls)
            kl = (q * d).sum(dim, keepdim=True)
            grad_t = q * (d - kl) * g  # d KL / d teacher = q (log q - log p - KL)
        return grad_s, grad_t, None, None, None


def _js_terms(lp: Tensor, t: Tensor, log_targets: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``(p (log 2 - softplus(lq - lp)), q (log 2 - softplus(lp - lq)), lq - lp)``: the two
    halves of the JS per element (``a (log a - log m)``, ``m`` the mixture) and the gap of the
    logs. The logs are raised to ``-finfo.max``, so a zero probability (``log = -inf``) is a
    finite stand-in: its term is ``0 * finite = 0`` and the other term gets ``log 2``, the
    masked formula's values, with no mask; a NaN stays NaN (``clamp_min`` propagates it).
    softplus(z) is -logsigmoid(-z), exactly (F.softplus linearises above 20). In place on fresh
    tensors where no gradient is being recorded."""
    big = torch.finfo(lp.dtype).max
    fresh = not torch.is_grad_enabled()
    p = lp.exp()
    if log_targets:
        q, lq = t.exp(), t.clamp_min(-big)
    else:
        q, lq = t, torch.log(t)
        lq = lq.clamp_min_(-big) if fresh else lq.clamp_min(-big)
    gap = lq - lp.clamp_min(-big)
    half_p = F.logsigmoid(-gap)
    half_q = F.logsigmoid(gap)
    if fresh:
        return half_p.add_(_LOG2).mul_(p), half_q.add_(_LOG2).mul_(q), gap
    return (half_p + _LOG2) * p, (half_q + _LOG2) * q, gap


class _JS(torch.autograd.Function):
    """``JS(exp(log_preds), targets)`` over ``dim``, reduced, with the closed-form gradients
    ``dJS/dlog_p = 1/2 p (log p - log m)`` (half the per-element term of P) and, for
    probability targets, ``dJS/dq = 1/2 (log q - log m)`` (0 where ``q = 0``, as the masked
    formula's), ``q`` times that for log-targets: autograd through the masked formula would
    keep and replay about a dozen full-size tensors. The terms of both halves are kept for the
    backward; a second derivative recomputes them from the inputs with torch ops."""

    generate_vmap_rule = True

    @staticmethod
    def forward(
        lp: Tensor, t: Tensor, log_targets: bool, dim: int, reduction: str, items: int
    ) -> tuple[Tensor, Tensor, Tensor]:
        term_p, term_q, _ = _js_terms(lp, t, log_targets)
        if reduction == "none":
            value = torch.add(term_p, term_q).sum(dim).mul_(0.5)
        else:
            value = (term_p.sum() + term_q.sum()) * (0.5 / items if reduction == "mean" else 0.5)
        return value, term_p, term_q

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        lp, t, ctx.log_targets, ctx.dim, ctx.reduction, ctx.items = inputs
        _, term_p, term_q = output
        ctx.mark_non_differentiable(term_p, term_q)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(lp, t, term_p, term_q)

    @staticmethod
    def backward(ctx: Any, grad: Tensor | None, *_: Tensor) -> tuple[Tensor | None, ...]:
        lp, t, term_p, term_q = ctx.saved_tensors
        if grad is None:  # the value took no part in what is differentiated
            return None, None, None, None, None, None
        if torch.is_grad_enabled():  # a second derivative: rebuild from the inputs
            term_p, term_q = _js_terms(lp, t, ctx.log_targets)[:2]
        g = _upstream(grad, ctx.dim, ctx.reduction, ctx.items) * 0.5
        grad_lp = term_p * g if ctx.needs_input_grad[0] else None
        grad_t = None
        if ctx.needs_input_grad[1]:
            if ctx.log_targets:
                grad_t = term_q * g
            else:  # log q - log m = log 2 - softplus(lp - lq) = log 2 + logsigmoid(lq - lp)
                gap = _js_terms(lp, t, False)[2]
                slope = torch.where(t == 0, 0.0, F.logsigmoid(gap) + _LOG2)
                grad_t = slope * g
        return grad_lp, grad_t, None, None, None, None


def _compute_dtype(a: Tensor, b: Tensor) -> torch.dtype:
    """The dtype two floating inputs promote to (``torch.result_type``); half precision is
    computed in float32."""
    # promote_types: result_type's own rule for tensors of the same shape, and traceable
    dtype = torch.promote_types(a.dtype, b.dtype)
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _as(x: Tensor, dtype: torch.dtype) -> Tensor:
    """``x.to(dtype)``, skipped where it has that dtype (the call alone is most of a no-op)."""
    return x if x.dtype == dtype else x.to(dtype)


def _kl_terms(lp: Tensor, t: Tensor, *, log_targets: bool) -> Tensor:
    """``t (log t - lp)`` per element with ``0 log 0 = 0``: where the target has no mass
    (``t == 0``, or a log-target of ``-inf``) the term is exactly 0, also at ``lp = -inf``, and
    its gradients are finite (0). Written out, not :func:`torch.nn.functional.kl_div` (whose
    ``0 * -inf`` is NaN there, and which has no vmap batching rule). A NaN anywhere stays NaN
    (``t == 0`` is false for NaN, and ``0 * lp`` keeps a NaN ``lp``); ``lp = -inf`` where the
    target has mass gives the true ``+inf``."""
    zero = t == float("-inf") if log_targets else t == 0
    # the masked entries get harmless stand-ins, so no -inf or NaN reaches the unselected branch
    lp_safe = torch.where(zero & (lp == float("-inf")), 0.0, lp)
    if log_targets:
        log_t = torch.where(zero, 0.0, t)
        probs = log_t.exp()
    else:
        log_t = torch.log(torch.where(zero, 1.0, t))
        probs = t
    return torch.where(zero, 0 * lp_safe, probs * (log_t - lp_safe))


def _eager_twin(fn: type[torch.autograd.Function]) -> type[torch.autograd.Function]:
    """The same Function in the style whose ``forward`` takes ``ctx``: its ``apply`` skips
    binding the arguments to the signature of ``forward`` (pure Python, several microseconds
    a call, which is most of a small call). That style has no vmap rule, so :func:`_apply`
    uses it only outside tracing and functorch transforms; both run the same code."""

    def forward(ctx: Any, *args: Any) -> Any:
        out = fn.forward(*args)
        fn.setup_context(ctx, args, out)
        return out

    return type(
        f"{fn.__name__}Eager",
        (torch.autograd.Function,),
        {"forward": staticmethod(forward), "backward": staticmethod(fn.backward)},
    )


def _apply(
    fn: type[torch.autograd.Function], eager: type[torch.autograd.Function], *args: Any
) -> Any:
    """``fn.apply(*args)``, through its eager twin where no transform or tracing is active."""
    return (fn if tracing() else eager).apply(*args)  # type: ignore[no-untyped-call]


_KL_PROBS_EAGER = _eager_twin(_KLProbs)
_DISTILLATION_EAGER = _eager_twin(_Distillation)
_JS_EAGER = _eager_twin(_JS)


@register(
    family=Family.DIVERGENCE,
    inputs=Space.LOG_PROBS,
    targets=Targets.CLASS_PROBS,
    activation=Activation.EXP,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ROW,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE},
    aliases=("kl_divergence", "kld"),
    example=ex.two_distributions,
)
def kl_div(
    log_preds: Tensor, targets: Tensor, *, log_targets: bool = False, reduction: str = "mean"
) -> Tensor:
    """Kullback-Leibler divergence ``KL(targets || preds)``, summed over the distribution dim.

    ``l_n = sum_c t_nc (log t_nc - log_preds_nc)`` over dim 1, with ``0 log 0 = 0``: a class
    without target mass adds exactly 0, also where ``log_preds`` is ``-inf`` there, with finite
    gradients (torch's ``kl_div`` gives NaN there). ``"mean"`` is the mean over the
    items ``(N, *extra)`` of that sum, i.e. the average KL per example: PyTorch's
    ``reduction="mean"`` divides by every element instead (C times smaller for ``(N, C)``) and
    its ``"batchmean"`` divides by N only (wrong for ``(N, C, *extra)``). ``"sum"`` is the same
    as torch's. The argument order is torch's and optax's: predictions (as log-probabilities)
    first, then the target distribution, which the KL is taken *from*.

    Input: ``log_preds`` ``(N, C, *extra)`` or ``(C,)``, log-probabilities over dim 1 (e.g.
    ``torch.log_softmax(x, 1)``). Target: ``targets``, the same shape, probabilities over dim 1,
    or log-probabilities with ``log_targets=True`` (exact where targets underflow; ``-inf`` is
    an exact zero probability). Inputs of different floating dtypes promote as
    ``torch.result_type``; half precision is computed in float32. Both are
    checked in full mode to be distributions over dim 1 (a log-softmax over another dim is
    refused).

    When to use:
        Matching a target distribution (soft labels, distillation, VAEs' categorical terms);
        predictions as log-probabilities.

    Args:
        log_preds: log-probabilities of the predicted distribution.
        targets: the target distribution (probabilities, or log-probabilities).
        log_targets: ``targets`` are log-probabilities.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` (``()`` for one distribution) for ``"none"``.

    Raises:
        LossInputError: shapes differ; ``log_preds`` not floating (integer or complex),
            positive (logits or probabilities given) or not normalised over dim 1; complex
            ``targets``, outside [0, 1] or not normalised; ``log_targets`` not a bool; in full
            mode, an infinite KL (``log_preds = -inf`` where the target has mass) names
            ``log_preds`` (:func:`js_div` stays finite there).

    Example:
        >>> import torch, losskit
        >>> log_preds = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]]))
        >>> targets = torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
        >>> losskit.kl_div(log_preds, targets)
        tensor(0.1820)

    References:
        Kullback & Leibler, On Information and Sufficiency (1951).
    """
    check_reduction(reduction)
    log_targets = check_bool("log_targets", log_targets)
    dim = _pair_inputs(log_preds, targets, log_targets=log_targets)
    dtype = _compute_dtype(log_preds, targets)
    lp, t = _as(log_preds, dtype), _as(targets, dtype)
    if log_targets:
        out = reduce(_kl_terms(lp, t, log_targets=True).sum(dim), reduction)
    else:
        how, items = _items_reduction(lp, dim, reduction)
        out = _apply(_KLProbs, _KL_PROBS_EAGER, lp, t, dim, how, items)
    out = _as(out, torch.promote_types(log_preds.dtype, targets.dtype))
    return finish(out, log_preds=log_preds, targets=targets)


@register(
    family=Family.DIVERGENCE,
    inputs=Space.LOG_PROBS,
    targets=Targets.CLASS_PROBS,
    activation=Activation.EXP,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ROW,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.BOUNDED},
    aliases=("js_divergence", "jensen_shannon"),
    example=ex.two_distributions,
)
def js_div(
    log_preds: Tensor, targets: Tensor, *, log_targets: bool = False, reduction: str = "mean"
) -> Tensor:
    """Jensen-Shannon divergence between two distributions, summed over the distribution dim.

    ``l_n = 1/2 KL(P || M) + 1/2 KL(Q || M)`` with ``P = exp(log_preds)``, ``Q = targets`` and
    ``M = (P + Q) / 2``, in nats: symmetric, bounded by ``log 2``, and finite when the supports
    differ (where KL is infinite). Computed in log space:
    ``log p - log m = log 2 - softplus(log q - log p)``, so no ``log m`` of an underflowed sum is
    taken, and terms with ``p = 0`` (or ``q = 0``) are exactly 0 with a zero, not NaN, gradient.
    Both arguments may carry gradients; a NaN in either gives NaN. ``"mean"`` averages the
    items ``(N, *extra)``, as
    :func:`kl_div` (kornia's ``js_div_loss_2d`` averages heat-maps the same way).

    Input: ``log_preds`` ``(N, C, *extra)`` or ``(C,)``, log-probabilities over dim 1. Target:
    ``targets``, the same shape, probabilities over dim 1 (log-probabilities with
    ``log_targets=True``). Both checked in full mode to be distributions over dim 1.

    When to use:
        Comparing two distributions symmetrically (consistency losses, heat-maps); its gradient
        vanishes when the supports are disjoint.

    Args:
        log_preds: log-probabilities of one distribution.
        targets: the other distribution (probabilities, or log-probabilities).
        log_targets: ``targets`` are log-probabilities.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` (``()`` for one distribution) for ``"none"``.

    Raises:
        LossInputError: as :func:`kl_div`.

    Example:
        >>> import torch, losskit
        >>> log_preds = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4]]))
        >>> targets = torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
        >>> losskit.js_div(log_preds, targets)
        tensor(0.0466)

    References:
        Lin, Divergence Measures Based on the Shannon Entropy (IEEE Trans. Inf. Theory 1991).
    """
    check_reduction(reduction)
    log_targets = check_bool("log_targets", log_targets)
    dim = _pair_inputs(log_preds, targets, log_targets=log_targets)
    dtype = _compute_dtype(log_preds, targets)
    lp, t = _as(log_preds, dtype), _as(targets, dtype)
    how, items = _items_reduction(lp, dim, reduction)
    out = _apply(_JS, _JS_EAGER, lp, t, log_targets, dim, how, items)[0]
    out = _as(out, torch.promote_types(log_preds.dtype, targets.dtype))
    return finish(out, log_preds=log_preds, targets=targets)


@register(
    family=Family.DIVERGENCE,
    inputs=Space.LOGITS,
    targets=Targets.TEACHER_LOGITS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ROW,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.ZERO_AT_TARGET},
    metrics=("accuracy",),
    aliases=("knowledge_distillation", "kd"),
    example=ex.teacher_student,
)
def distillation(
    student_logits: Tensor,
    teacher_logits: Tensor,
    *,
    temperature: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """Knowledge distillation: KL between temperature-softened softmaxes, times ``T^2``.

    ``l_n = T^2 KL(softmax(teacher_n / T) || softmax(student_n / T))`` summed over the class dim
    1, computed from two log-softmaxes by :func:`torch.nn.functional.kl_div` with
    ``log_target=True`` (no log of an underflowed probability). The ``T^2`` keeps the
    gradient's size independent of ``T`` (Hinton et al.), so the term can be mixed with the
    hard-label loss: ``a * cross_entropy(s, y) + (1 - a) * distillation(s, t, temperature=T)``.
    ``T = 1`` is ``kl_div(log_softmax(s), softmax(t))``. A ``-inf`` teacher logit is a class
    without mass: it adds exactly 0, also where the student's logit is ``-inf`` too (a masked
    class), with finite gradients. ``"mean"`` averages over the items
    ``(N, *extra)``: the KL per example, as :func:`kl_div` (the common
    ``F.kl_div(..., reduction="batchmean") * T**2`` for ``(N, C)``). ``teacher_logits`` are not
    detached: compute them under ``torch.no_grad()`` (or pass ``.detach()``) unless the teacher
    trains too.

    Input: ``student_logits`` ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target:
    ``teacher_logits``, the same shape (dtypes promote as ``torch.result_type``).

    When to use:
        Training a student on a teacher's soft predictions, mixed with the hard-label
        cross-entropy.

    Args:
        student_logits: raw class scores of the student.
        teacher_logits: raw class scores of the teacher.
        temperature: softening temperature ``T > 0`` (1 leaves the softmax as it is; 2 to 20 are
            common).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, a single class, logits not floating (integer or
            complex), ``temperature`` not a finite number > 0.

    Example:
        >>> import torch, losskit
        >>> student = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> teacher = torch.tensor([[3.0, 0.0, -2.0], [0.0, 1.0, 2.0]])
        >>> losskit.distillation(student, teacher, temperature=2.0)
        tensor(0.2868)

    References:
        Hinton, Vinyals & Dean, Distilling the Knowledge in a Neural Network (2015).
    """
    check_reduction(reduction)
    t = check_option("temperature", temperature, low=0.0, low_open=True)
    check_tensor("student_logits", student_logits)
    check_real("student_logits", student_logits)
    class_scores("student_logits", student_logits)
    check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
    check_real("teacher_logits", teacher_logits)
    check_floating("teacher_logits", teacher_logits)
    dim = class_dim(student_logits)
    dtype = _compute_dtype(student_logits, teacher_logits)
    student, teacher = _as(student_logits, dtype), _as(teacher_logits, dtype)
    if t != 1:  # t is a float: a static branch (dividing and scaling by 1 are identities)
        student, teacher = student / t, teacher / t
    # a -inf teacher logit is a class without mass: its term is exactly 0 (_Distillation)
    how, items = _items_reduction(student, dim, reduction)
    kl = _apply(_Distillation, _DISTILLATION_EAGER, student, teacher, dim, how, items)[0]
    out = _as(
        kl * t**2 if t != 1 else kl,
        torch.promote_types(student_logits.dtype, teacher_logits.dtype),
    )
    return finish(out, student_logits=student_logits, teacher_logits=teacher_logits)
