"""Multiclass losses: ``logits`` of shape ``(N, C, *extra)`` (or ``(C,)``), integer ``labels`` of
shape ``(N, *extra)`` (or ``()``); the class axis is dim 1 (dim 0 for a single example).

Every loss here that takes integer labels accepts ``ignore_index`` (default -100, as torch;
``None`` ignores no label) except :func:`multi_margin`, which matches
:func:`torch.nn.functional.multi_margin_loss`. Ignored items contribute 0 to ``"none"`` and
``"sum"``, and ``"mean"`` divides by the number of non-ignored items (by the sum of their class
weights where a ``weight`` is given); a mean over nothing is a graph-connected ``0.0``. The
scores of ignored items are never read: an all ``-inf`` padding row gives a finite loss and a
zero gradient. Half-precision logits are computed in float32 and the result is returned in the
dtype of the logits (cross_entropy and nll hand them to torch's kernel as they are); class
weights follow the scores' compute dtype. Class weights are validated by
:func:`losskit._validate.check_class_weight` (shape ``(C,)``, finite, >= 0).
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_class_logits,
    check_ignore_index,
    check_int,
    check_labels,
    check_option,
    check_reduction,
    check_same_shape,
    check_tensor,
    class_dim,
    class_scores,
    ensure_float,
    finish,
    log_probs_below_zero,
    masked_mean,
    reads,
    reduce,
    tracing,
)
from losskit._spec import Activation, Decode, Family, MeanOver, Prop, Space, Targets, register
from losskit._validate import check_class_weight, check_normalizer, distribution_inputs
from losskit.losses import _examples as ex

__all__ = [
    "cross_entropy",
    "generalized_cross_entropy",
    "logit_adjusted_cross_entropy",
    "multi_margin",
    "multiclass_hinge",
    "nll",
    "poly1_cross_entropy",
    "soft_cross_entropy",
    "softmax_focal",
    "sparsemax_loss",
    "z_loss",
]


# PyTorch's kernels always skip some label; with ignore_index=None they are given one that no
# label can hold (the int64 minimum), and the labels' range is then read by losskit itself.
_NO_LABEL = -(2**63)


def real_scores(name: str, x: object) -> None:
    """Complex scores are refused by name (a softmax of complex numbers is not a distribution);
    integer ones by :func:`check_floating` through the callers."""
    if isinstance(x, Tensor) and x.is_complex():
        raise LossInputError(
            f"{name} must be real floating scores, got dtype {x.dtype}; pass {name}.real or "
            f"{name}.abs() if that is what the model means"
        )


def class_inputs(
    name: str,
    scores: Tensor,
    labels: Tensor,
    *,
    weight: Tensor | None,
    ignore_index: int | None,
    kernel_bounds: bool = False,
) -> int:
    """Shared checks of every loss over class scores with integer labels. Returns C.

    ``kernel_bounds``: the loss calls a PyTorch kernel that bounds-checks the labels itself on
    CPU (``nll_loss``, ``cross_entropy``) inside :func:`labels_explained`; there the range is
    not read twice: a failure of the kernel is explained after the fact. On other devices (a
    CUDA device-side assert cannot be caught), and without an ``ignore_index`` (the kernel is
    given :data:`_NO_LABEL`), the range is checked first, as for every loss."""
    real_scores(name, scores)
    check_tensor("labels", labels)
    num_classes = check_class_logits(name, scores, "labels", labels)
    read = not (kernel_bounds and ignore_index is not None and labels.device.type == "cpu")
    check_labels("labels", labels, num_classes, ignore_index=ignore_index, read=read)
    check_class_weight(weight, num_classes, of=name)
    return num_classes


@contextlib.contextmanager
def labels_explained(labels: Tensor, num_classes: int, ignore_index: int | None) -> Iterator[None]:
    """Around a kernel that bounds-checks labels (see ``class_inputs(kernel_bounds=True)``): its
    error becomes losskit's message naming the values, the likely cause and the fix. In
    ``"shapes"`` and ``"off"`` modes the kernel's own error passes unchanged."""
    try:
        yield
    except (IndexError, RuntimeError):
        try:
            check_labels("labels", labels, num_classes, ignore_index=ignore_index)
        except LossInputError as clear:
            raise clear from None  # the kernel's error says less; do not chain it
        raise


def kept(labels: Tensor, ignore_index: int | None) -> Tensor | None:
    """The items that count (``labels != ignore_index``), or ``None`` when every item counts."""
    return None if ignore_index is None else labels != ignore_index


def counted(labels: Tensor, ignore_index: int | None) -> Tensor | None:
    """:func:`kept`, or ``None`` where the labels are read anyway (:func:`reads`) and none is
    ignored: the same values without the masking of ignored items and with a mean over a plain
    count. For the losses that zero padding rows (:func:`padding_zeroed` reads the mask there
    too)."""
    valid = kept(labels, ignore_index)
    if valid is not None and reads(valid) and bool(valid.all()):
        return None
    return valid


def padding_zeroed(x: Tensor, valid: Tensor | None) -> Tensor:
    """``x`` with the scores of ignored items set to 0. An all ``-inf`` padding row gives
    ``-inf - (-inf) = NaN`` inside log-softmax and logsumexp; the zeroed loss hides it in the
    forward pass but not in the backward pass (``0 * NaN``), so the row is replaced first and
    its gradient is exactly 0. Where the labels are read anyway (:func:`reads`) and none is
    ignored, ``x`` is returned as it is: the same value without a pass over the scores."""
    if valid is None or (reads(valid) and bool(valid.all())):
        return x
    return torch.where(valid.unsqueeze(class_dim(x)), x, 0.0)


class _MaskedLogSoftmax(torch.autograd.Function):
    """``log_softmax(x, dim)`` whose gradient is 0 on the rows where ``keep`` is false. An
    ignored all ``-inf`` (or NaN) row gives a NaN row of log-probabilities; the loss never reads
    it, but the log-softmax backward would spread ``0 * NaN`` over it. Zeroing those rows of
    the gradient, instead of the scores before the forward pass, leaves the forward pass
    exactly torch's."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, keep: Tensor, dim: int) -> Tensor:
        return torch.log_softmax(x, dim)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        ctx.dim = inputs[2]
        ctx.save_for_backward(output, inputs[1])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        out, keep = ctx.saved_tensors
        # differentiable: torch has its derivative, and `out` is this function's output
        g = torch._log_softmax_backward_data(grad, out, ctx.dim, out.dtype)
        if torch.is_grad_enabled() or tracing():
            return torch.where(keep, g, 0.0), None, None
        # An ignored row's incoming gradient is 0, so its gradient here is 0 or NaN (0 times
        # exp(NaN)); a counted row's is bounded, or NaN where its log-probabilities are (a NaN
        # score makes the whole row NaN, its first class included). nan_to_num_ in place is a
        # cheaper pass than a `where` with a broadcast row mask; the counted NaN rows are then
        # marked NaN again in their first class.
        first = out.narrow(ctx.dim, 0, 1)
        nan_rows = torch.where(keep & first.isnan(), math.nan, 0.0)
        g.nan_to_num_(0.0, math.inf, -math.inf).narrow(ctx.dim, 0, 1).add_(nan_rows)
        return g, None, None


# Up to this many scores the padding rows are zeroed before the log-softmax (padding_zeroed);
# above it, in the backward pass (_MaskedLogSoftmax): the same values and gradients.
_SMALL = 1 << 14


def _signature_bound(fn: Any) -> None:
    """Functions applied per call: ``Function.apply`` binds the arguments to ``forward``'s
    signature (``inspect.signature``) on each call; a stored ``__signature__`` is read instead
    of being rebuilt each time."""
    fn.__signature__ = inspect.signature(fn)


_signature_bound(_MaskedLogSoftmax.forward)


def log_softmax_kept(x: Tensor, valid: Tensor | None) -> Tensor:
    """``log_softmax`` over the class dim, with a zero gradient on the ignored rows (``valid``
    false; see :class:`_MaskedLogSoftmax`); torch's own where every row counts."""
    dim = class_dim(x)
    if valid is None:
        return torch.log_softmax(x, dim)
    if x.numel() <= _SMALL:  # a Python backward costs more than a `where` over few scores
        return torch.log_softmax(padding_zeroed(x, valid), dim)
    out: Tensor = _MaskedLogSoftmax.apply(x, valid.unsqueeze(dim), dim)  # type: ignore[no-untyped-call]
    return out


class _MaskedLogSumExp(torch.autograd.Function):
    """``logsumexp(x, dim)`` whose gradient is 0 on the rows where ``keep`` is false (see
    :class:`_MaskedLogSoftmax`): an ignored all ``-inf`` (or NaN) row gives ``-inf - (-inf)``
    inside the backward ``exp(x - lse)``, and its gradient is made exactly 0 after the fact
    rather than its scores replaced before the forward pass, which stays torch's."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, keep: Tensor, dim: int) -> Tensor:
        return torch.logsumexp(x, dim)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        ctx.dim = inputs[2]
        ctx.save_for_backward(inputs[0], output, inputs[1])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        x, lse, keep = ctx.saved_tensors
        dim = ctx.dim
        if torch.is_grad_enabled() or tracing():  # differentiable, out of place
            g = torch.exp(x - lse.unsqueeze(dim)) * grad.unsqueeze(dim)
            return torch.where(keep, g, 0.0), None, None
        # softmax times the incoming gradient, in one buffer; then, as in _MaskedLogSoftmax,
        # the ignored rows' 0 or NaN made 0 by nan_to_num_ and the counted rows whose
        # log-sum-exp is NaN marked NaN again in their first class
        g = (x - lse.unsqueeze(dim)).exp_().mul_(grad.unsqueeze(dim))
        nan_rows = torch.where(keep & lse.unsqueeze(dim).isnan(), math.nan, 0.0)
        g.nan_to_num_(0.0, math.inf, -math.inf).narrow(dim, 0, 1).add_(nan_rows)
        return g, None, None


_signature_bound(_MaskedLogSumExp.forward)


def logsumexp_kept(x: Tensor, valid: Tensor | None) -> Tensor:
    """``logsumexp`` over the class dim with a zero gradient on the ignored rows (``valid``
    false), as :func:`log_softmax_kept`; torch's own where every row counts."""
    dim = class_dim(x)
    if valid is None:
        return torch.logsumexp(x, dim)
    if x.numel() <= _SMALL:
        return torch.logsumexp(padding_zeroed(x, valid), dim)
    out: Tensor = _MaskedLogSumExp.apply(x, valid.unsqueeze(dim), dim)  # type: ignore[no-untyped-call]
    return out


def _label_pieces(x: Tensor, index: Tensor, dim: int) -> tuple[Tensor, Tensor, Tensor]:
    """``(log_softmax(x), log p_y, log(1 - p_y))``, the last two keeping the class dim.
    ``log(1 - p_y)`` is the log-sum-exp of the *other* classes' log-probabilities: exact and
    finite where ``p_y`` rounds to 1 (``log1p(-p_y)`` is ``log(0)`` there)."""
    out = torch.log_softmax(x, dim)
    log_p = out.gather(dim, index)
    log_rest = torch.logsumexp(out.scatter(dim, index, float("-inf")), dim, keepdim=True)
    return out, log_p, log_rest


def _p_log_p_over_rest(log_p: Tensor, log_rest: Tensor) -> Tensor:
    """``p log p / (1 - p)`` for ``p = p_y``, in ``[-1, 0]``: ``1 - p`` from ``log(1 - p)``
    (exact where p is near 1, where ``log p = log1p(-(1 - p))``), ``log p`` as given where
    ``1 - p > 1/2``. Each branch reads clamped inputs, so neither makes a NaN (nor a NaN
    gradient) where it is not chosen; ``log p = -inf`` gives 0."""
    rest = torch.exp(log_rest)
    p = torch.exp(log_p)
    tiny = torch.finfo(rest.dtype).tiny
    near_one = rest.clamp(tiny, 0.5)  # log1p(-u) / u -> -1 as u -> 0
    far = rest.clamp_min(0.5)
    return torch.where(
        rest > 0.5,
        p * log_p.clamp_min(-1e4) / far,
        p * torch.log1p(-near_one) / near_one,
    )


def _coefficient(kind: str, param: float, log_p: Tensor, log_rest: Tensor) -> Tensor:
    """``a`` of :class:`_LabelSoftmaxLoss`: the item's gradient is ``a (softmax - onehot)``."""
    if kind == "focal":
        return torch.exp(param * log_rest) * (1 - param * _p_log_p_over_rest(log_p, log_rest))
    return 1 + param * torch.exp(log_p)


class _LabelSoftmaxLoss(torch.autograd.Function):
    """Per-item ``(1 - p_y)^gamma (-log p_y)`` (``kind="focal"``, ``param=gamma``) or
    ``-log p_y + epsilon (1 - p_y)`` (``kind="poly1"``, ``param=epsilon``), with
    ``p = softmax(x)`` over ``dim`` and the label's class picked by ``index`` (keepdim).

    Both are functions of ``log p_y`` and ``log(1 - p_y)`` only, so their gradient is
    ``a_n (softmax(x_n) - onehot(y_n))`` with one coefficient ``a_n`` per item (``(1 - p)^gamma
    (1 - gamma p log p / (1 - p))``; ``1 + epsilon p``). The forward pass keeps only ``x`` and
    four numbers per item (the row maximum, the log of the shifted exponentials' sum, ``log p_y``
    and ``log(1 - p_y)``, the last as the log of the *other* classes' sum: exact where ``p_y``
    rounds to 1); the backward pass writes the gradient into one buffer. Rows where ``keep`` is
    false get a zero gradient (their scores may be ``-inf`` or NaN padding). Under
    ``create_graph`` the pieces are recomputed from ``x`` by differentiable ops, so the
    gradient has its own gradient."""

    generate_vmap_rule = True

    @staticmethod
    def forward(
        x: Tensor, index: Tensor, keep: Tensor | None, kind: str, param: float, dim: int
    ) -> tuple[Tensor, ...]:
        top = x.amax(dim, keepdim=True)
        top = torch.where(top.isinf(), 0.0, top)  # as logsumexp: an all -inf row sums to 0
        if tracing():  # compile or a transform: out of place (in-place is for plain tensors)
            shifted = (x - top).exp()
            total = shifted.sum(dim, keepdim=True)
            rest = shifted.scatter(dim, index, 0.0).sum(dim, keepdim=True)
        else:  # one temporary, written in place
            shifted = (x - top).exp_()
            total = shifted.sum(dim, keepdim=True)
            rest = shifted.scatter_(dim, index, 0.0).sum(dim, keepdim=True)
        del shifted
        log_total = total.log()
        log_p = (x.gather(dim, index) - top) - log_total  # torch's log_softmax, at the label
        log_rest = rest.log() - log_total
        if kind == "focal":
            item = -torch.exp(param * log_rest) * log_p
        else:
            item = param * torch.exp(log_rest) - log_p
        coef = _coefficient(kind, param, log_p, log_rest)
        return item.squeeze(dim), top + log_total, coef

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        x, index, keep, ctx.kind, ctx.param, ctx.dim = inputs
        _, lse, coef = output
        ctx.mark_non_differentiable(lse, coef)
        ctx.set_materialize_grads(False)
        ctx.has_keep = keep is not None
        ctx.save_for_backward(x, index, keep, lse, coef)

    @staticmethod
    def backward(ctx: Any, grad: Tensor | None, *_: Any) -> tuple[Tensor | None, ...]:
        x, index, keep, lse, coef = ctx.saved_tensors
        if grad is None:
            return (None,) * 6
        dim = ctx.dim
        if torch.is_grad_enabled():  # create_graph: a backward that is itself differentiable
            out, log_p, log_rest = _label_pieces(x, index, dim)
            coef = _coefficient(ctx.kind, ctx.param, log_p, log_rest) * grad.unsqueeze(dim)
            at_label = torch.zeros_like(out).scatter(dim, index, -coef)
            g = torch._log_softmax_backward_data(at_label, out, dim, out.dtype)
            return (torch.where(keep, g, 0.0) if ctx.has_keep else g), None, None, None, None, None
        coef = coef * grad.unsqueeze(dim)
        if tracing() or x.dtype != coef.dtype:
            g = (x - lse).exp() * coef
            g = g.scatter_add(dim, index, -coef)
            return (torch.where(keep, g, 0.0) if ctx.has_keep else g), None, None, None, None, None
        # coef (softmax - onehot), written into one buffer
        g = (x - lse).exp_()
        if ctx.has_keep:
            # An ignored row's softmax may be NaN (padding); its coefficient is made exactly 0
            # and its NaN 0 (nan_to_num_ in place is a cheaper pass than a `where` with a
            # broadcast row mask), while a counted row of NaN scores keeps its NaN coefficient
            # and so its NaN gradient.
            torch.where(keep, coef, torch.zeros((), dtype=coef.dtype, device=coef.device), out=coef)
            g.nan_to_num_(0.0, math.inf, -math.inf)
        g.mul_(coef).scatter_add_(dim, index, coef.neg_())
        return g, None, None, None, None, None


_signature_bound(_LabelSoftmaxLoss.forward)


def label_softmax_loss(
    x: Tensor, labels: Tensor, valid: Tensor | None, kind: str, param: float
) -> Tensor:
    """The per-item loss of :class:`_LabelSoftmaxLoss` (ignored items not yet zeroed)."""
    dim = class_dim(x)
    keep = None if valid is None else valid.unsqueeze(dim)
    item: Tensor = _LabelSoftmaxLoss.apply(  # type: ignore[no-untyped-call]
        x, label_index(x, labels, valid), keep, kind, param, dim
    )[0]
    return item


def safe_labels(labels: Tensor, valid: Tensor | None) -> Tensor:
    """The labels with ignored items read as class 0 (the caller zeroes them), as int64."""
    return (labels if valid is None else torch.where(valid, labels, 0)).long()


def label_index(x: Tensor, labels: Tensor, valid: Tensor | None) -> Tensor:
    """The labels as a gather index along the class dim of ``x`` (see :func:`safe_labels`)."""
    return safe_labels(labels, valid).unsqueeze(class_dim(x))


def class_weighted_mean(
    total: Tensor,
    valid: Tensor | None,
    *,
    weight_y: Tensor | None = None,
    count: int,
    normalizer: float | Tensor | None = None,
) -> Tensor:
    """``total`` divided by the number of counted items (``count`` of them when ``valid`` is
    ``None``), or by the sum of their class weights ``weight_y = weight[labels]`` when given
    (PyTorch's denominator); ``0.0`` when that is zero. A given ``normalizer`` (a global count
    under DDP or gradient accumulation, checked by :func:`check_normalizer`) replaces the local
    one."""
    if normalizer is not None:
        if isinstance(normalizer, Tensor):
            denom = normalizer.to(total.dtype).reshape(())  # a (1,) tensor gives a scalar
        else:
            denom = torch.full((), float(normalizer), dtype=total.dtype, device=total.device)
        return masked_mean(total, denom)
    if weight_y is not None:
        counted = weight_y if valid is None else torch.where(valid, weight_y, 0.0)
        return masked_mean(total, counted.sum().to(total.dtype))
    if valid is None:
        return total / count if count else total  # a sum over nothing is already 0.0
    # A count of 0 comes only with a total that is a sum over nothing (0.0): raising the count
    # to 1 gives masked_mean's 0 / 0 = 0 in fewer operations (the integer count promotes to the
    # total's dtype in the division).
    return total / valid.sum().clamp_min(1)


def reduce_items(
    loss: Tensor,
    valid: Tensor | None,
    reduction: str,
    *,
    weight_y: Tensor | None = None,
    normalizer: float | Tensor | None = None,
) -> Tensor:
    """Zero the ignored items, then reduce: ``"mean"`` over counted items (weighted by
    ``weight_y`` when given, which ``loss`` must already include)."""
    if valid is not None:
        loss = torch.where(valid, loss, 0.0)
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return class_weighted_mean(
        total, valid, weight_y=weight_y, count=loss.numel(), normalizer=normalizer
    )


def kernel_loss(
    kernel: Callable[..., Tensor],
    scores: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    weight: Tensor | None,
    ignore_index: int | None,
    reduction: str,
    normalizer: float | Tensor | None = None,
    **options: Any,
) -> Tensor:
    """``kernel`` (``F.cross_entropy`` or ``F.nll_loss``) with losskit's ``"mean"`` (the sum
    over :func:`class_weighted_mean`: ``0.0`` over nothing), ``ignore_index=None`` (nothing
    skipped) and its label errors explained (:func:`labels_explained`; use with
    ``class_inputs(kernel_bounds=True)``). ``weight`` follows the scores' dtype."""
    labels = labels.long()
    valid = kept(labels, ignore_index)
    w = None if weight is None else weight.to(scores.dtype)
    with labels_explained(labels, num_classes, ignore_index):
        out = kernel(
            scores,
            labels,
            weight=w,
            ignore_index=_NO_LABEL if ignore_index is None else ignore_index,
            reduction="sum" if reduction == "mean" else reduction,
            **options,
        )
        if reduction != "mean":
            return out
        weight_y = None if w is None else w[safe_labels(labels, valid)]
        return class_weighted_mean(
            out, valid, weight_y=weight_y, count=labels.numel(), normalizer=normalizer
        )


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.WEIGHTED_ITEM,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.PROPER, Prop.CALIBRATED},
    metrics=("accuracy", "top_k_accuracy"),
    aliases=("ce", "softmax_cross_entropy", "categorical_cross_entropy"),
    example=ex.class_logits,
)
def cross_entropy(
    logits: Tensor,
    labels: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    normalizer: float | Tensor | None = None,
) -> Tensor:
    """Softmax cross-entropy with integer class labels.

    ``l_n = -w_{y_n} log softmax(logits_n)[y_n]`` (via log-sum-exp), and with
    ``label_smoothing = e``: ``(1 - e) l_n + e * (-sum_c w_c log softmax(logits_n)[c]) / C``.
    ``"mean"`` divides the sum by the number of non-ignored items, or, with ``weight``, by
    ``sum_n w_{y_n}`` over non-ignored items (PyTorch's weighted mean: **not**
    ``reduction='none'`` followed by ``.mean()``). Items whose label is ``ignore_index``
    contribute 0. A mean over nothing (an empty batch, every label ignored) is ``0.0``, where
    PyTorch gives NaN.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, floating, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, int64/int32, in ``[0, C)`` or ``ignore_index``. Class
    probabilities are not accepted here (PyTorch infers them from the dtype; losskit asks for
    ``soft_cross_entropy``).

    When to use:
        The default for single-label classification with C >= 2 classes.

    Args:
        logits: raw class scores; the loss applies log-softmax over dim 1.
        labels: class indices.
        weight: ``(C,)`` class weights.
        ignore_index: label value that is skipped; ``None``: no label is skipped.
        label_smoothing: in [0, 1]; mass moved uniformly over the C classes.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.
        normalizer: with ``reduction="mean"``, divide the summed loss by this instead of the
            local count (or weight sum): e.g. ``losskit.distributed.normalizer(count)`` under DDP
            or gradient accumulation (Hugging Face's ``num_items_in_batch``); 0 gives 0.0.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class; a weight
            that is not ``(C,)``, negative or not finite; ``label_smoothing`` outside [0, 1];
            a ``normalizer`` that is not a finite number >= 0, or with another reduction.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.cross_entropy(logits, torch.tensor([0, 2]))
        tensor(0.1755)
    """
    check_reduction(reduction)
    check_normalizer(normalizer, reduction)
    label_smoothing = check_option("label_smoothing", label_smoothing, low=0.0, high=1.0)
    ignore_index = check_ignore_index(ignore_index)
    num_classes = class_inputs(
        "logits", logits, labels, weight=weight, ignore_index=ignore_index, kernel_bounds=True
    )
    if label_smoothing == 0:
        # torch's cross_entropy is exactly this: log_softmax, then the nll kernel, here with
        # its own sum and total weight (no second pass for the mean); ignored rows get their
        # zero gradient in the backward pass (log_softmax_kept)
        log_probs = log_softmax_kept(logits, counted(labels, ignore_index))
        if reduction != "none" and logits.dim() <= 2:
            out = nll_reduced(
                log_probs, labels, num_classes, None, weight=weight, ignore_index=ignore_index,
                reduction=reduction, normalizer=normalizer,
            )  # fmt: skip
        else:
            out = kernel_loss(
                F.nll_loss, log_probs, labels, num_classes, weight=weight,
                ignore_index=ignore_index, reduction=reduction, normalizer=normalizer,
            )  # fmt: skip
        return finish(out, logits=logits, weight=weight)
    out = kernel_loss(
        F.cross_entropy,
        padding_zeroed(logits, kept(labels, ignore_index)),
        labels,
        num_classes,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        normalizer=normalizer,
        label_smoothing=label_smoothing,
    )
    return finish(out, logits=logits, weight=weight)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOG_PROBS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.EXP,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.WEIGHTED_ITEM,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.PROPER},
    metrics=("accuracy",),
    aliases=("nll_loss", "negative_log_likelihood"),
    example=ex.class_log_probs,
)
def nll(
    log_probs: Tensor,
    labels: Tensor,
    *,
    weight: Tensor | None = None,
    ignore_index: int | None = -100,
    reduction: str = "mean",
    normalizer: float | Tensor | None = None,
) -> Tensor:
    """Negative log-likelihood of integer labels under given log-probabilities.

    ``l_n = -w_{y_n} log_probs_n[y_n]``; ``"mean"`` as :func:`cross_entropy` (sum of the weights
    of non-ignored items; ``0.0`` over nothing). ``nll(log_softmax(x), y) == cross_entropy(x, y)``.
    A (non-ignored) row holding NaN gives NaN, though the formula reads only its label's entry
    (so does a row holding both +inf and -inf, which is no row of log-probabilities either).

    Input: ``log_probs`` ``(N, C, *extra)`` or ``(C,)``, values <= 0 (checked in full mode: logits
    given by mistake are refused). Target: ``labels`` as for :func:`cross_entropy`.

    When to use:
        When the model ends in log_softmax; otherwise use cross_entropy on logits.

    Args:
        log_probs: log-probabilities over dim 1, e.g. ``torch.log_softmax(x, 1)``.
        labels: class indices.
        weight: ``(C,)`` class weights.
        ignore_index: label value that is skipped; ``None``: no label is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.
        normalizer: with ``reduction="mean"``, divide the summed loss by this instead of the
            local count (or weight sum): e.g. ``losskit.distributed.normalizer(count)`` under DDP
            or gradient accumulation (Hugging Face's ``num_items_in_batch``); 0 gives 0.0.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: as :func:`cross_entropy`, and positive ``log_probs``.

    Example:
        >>> import torch, losskit
        >>> log_probs = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
        >>> losskit.nll(log_probs, torch.tensor([0, 2]))
        tensor(0.2899)
    """
    check_reduction(reduction)
    check_normalizer(normalizer, reduction)
    ignore_index = check_ignore_index(ignore_index)
    num_classes = class_inputs(
        "log_probs", log_probs, labels, weight=weight, ignore_index=ignore_index, kernel_bounds=True
    )
    # The kernel reads one entry per item, so a NaN elsewhere in the row would give a finite
    # loss: a row holding NaN is not a distribution, and its loss is NaN (ignored rows stay 0).
    # Where full mode reads the maximum ("<= 0"; amax propagates NaN) and finds no NaN, no row
    # needs a second look. Elsewhere a sum finds the NaN rows (a sum is a cheaper pass than a
    # maximum): it is NaN where a row holds NaN, and where +inf meets -inf, which is not a row
    # of log-probabilities either; -inf alone (a class of probability 0) sums to -inf.
    dim = class_dim(log_probs)
    nan_rows: Tensor | None  # per row (ignored rows not yet excluded), or one for all
    if reads(log_probs):
        top = log_probs.detach().amax()
        log_probs_below_zero("log_probs", top)
        nan_rows = log_probs.detach().isnan().any(dim) if math.isnan(float(top)) else None
    elif ignore_index is None and reduction != "none":
        nan_rows = log_probs.detach().sum().isnan()  # every row counts: one NaN is enough
    else:
        nan_rows = log_probs.detach().sum(dim).isnan()
    if reduction != "none" and log_probs.dim() <= 2:
        out = nll_reduced(
            log_probs, labels, num_classes, nan_rows, weight=weight, ignore_index=ignore_index,
            reduction=reduction, normalizer=normalizer,
        )  # fmt: skip
        return finish(out, log_probs=log_probs, weight=weight)
    # one flag for every row broadcasts: a reduced result is NaN whichever row holds it
    valid = kept(labels, ignore_index)
    per_item = kernel_loss(
        F.nll_loss,
        log_probs,
        labels,
        num_classes,
        weight=weight,
        ignore_index=ignore_index,
        reduction="none",
    )
    if nan_rows is not None:
        per_item = torch.where(nan_rows, math.nan, per_item)
    weight_y = None if weight is None else weight.to(log_probs.dtype)[safe_labels(labels, valid)]
    out = reduce_items(per_item, valid, reduction, weight_y=weight_y, normalizer=normalizer)
    return finish(out, log_probs=log_probs, weight=weight)


def nll_reduced(
    log_probs: Tensor,
    labels: Tensor,
    num_classes: int,
    nan_rows: Tensor | None,
    *,
    weight: Tensor | None,
    ignore_index: int | None,
    reduction: str,
    normalizer: float | Tensor | None,
) -> Tensor:
    """:func:`nll`'s (and :func:`cross_entropy`'s) ``"sum"`` and ``"mean"`` for ``(N, C)`` or
    ``(C,)`` log-probabilities in one kernel call: ``aten.nll_loss_forward`` with its own sum
    returns the total weight of the counted items beside it (the mean's denominator), so no
    per-item loss is made. ``nan_rows`` (true where a row holds NaN; or one flag when every row
    counts; or ``None`` when no value is NaN) makes the result NaN when a counted row holds NaN:
    for ``"mean"`` through the denominator, which carries no gradient (no extra graph node)."""
    labels = labels.long()
    w = None if weight is None else weight.to(log_probs.dtype)
    with labels_explained(labels, num_classes, ignore_index):
        sums: tuple[Tensor, Tensor] = torch.ops.aten.nll_loss_forward(
            log_probs, labels, w, 2, _NO_LABEL if ignore_index is None else ignore_index
        )  # 2: torch's Reduction::Sum
    total, total_weight = sums
    bad = None
    if nan_rows is not None:
        bad = nan_rows
        if nan_rows.dim() > 0:
            bad = (nan_rows & (labels != ignore_index) if ignore_index is not None else bad).any()
    if reduction == "sum":
        return total if bad is None else total.masked_fill(bad, math.nan)
    if normalizer is not None:
        out = class_weighted_mean(total, None, count=0, normalizer=normalizer)
        return out if bad is None else out.masked_fill(bad, math.nan)
    # A mean over nothing (total weight 0) is the sum over nothing, 0.0. Without class weights
    # the total weight is a count, so raising it to 1 changes nothing else.
    if weight is None:
        denom = total_weight.clamp_min(1)
    else:
        denom = torch.where(total_weight == 0, 1.0, total_weight)
    return total / (denom if bad is None else denom.masked_fill(bad, math.nan))


def label_log_prob(x: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
    """``(log p_y, logsumexp_c x_c)`` per item, ``p = softmax(x)`` over the class dim, for a
    gather ``index`` from :func:`label_index`."""
    dim = class_dim(x)
    lse = torch.logsumexp(x, dim)
    return x.gather(dim, index).squeeze(dim) - lse, lse


def log_one_minus_p(x: Tensor, index: Tensor, lse: Tensor) -> Tensor:
    """``log(1 - p_y)`` = logsumexp over the *other* classes - logsumexp over all: exact and
    finite where ``p_y`` rounds to 1 (``log1p(-exp(log p_y))`` is ``log(0) = -inf`` there, and
    its gradient NaN)."""
    dim = class_dim(x)
    return torch.logsumexp(x.scatter(dim, index, float("-inf")), dim) - lse


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_PROBS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ROW,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.PROPER},
    metrics=("accuracy",),
    aliases=("soft_target_cross_entropy", "categorical_cross_entropy_soft"),
    example=ex.class_probs,
)
def soft_cross_entropy(logits: Tensor, target_probs: Tensor, *, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy against class probabilities (soft or one-hot targets).

    ``l_n = -sum_c q_nc log softmax(logits_n)[c]`` over the class dim (via log-sum-exp), where
    ``q = target_probs``. With one-hot targets it equals :func:`cross_entropy` on their argmax;
    label-smoothed or distilled targets go here. This is
    :func:`torch.nn.functional.cross_entropy` with probability targets (which torch picks by
    the dtype and shape of the target; losskit asks for this function by name, and checks that
    the targets are distributions). ``"mean"`` averages over the items ``(N, *extra)``. It
    differs from :func:`kl_div` of the same distributions by the entropy of ``q``, a constant.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, floating, C >= 2. Target:
    ``target_probs``, the same shape, each slice over dim 1 in [0, 1] and summing to 1
    (checked in full mode).

    When to use:
        Targets that are distributions: label smoothing done by hand, mixup, distillation
        targets; one-hot targets give cross_entropy.

    Args:
        logits: raw class scores; the loss applies log-softmax over dim 1.
        target_probs: class probabilities over dim 1.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, a single class, targets that are not distributions over
            dim 1 (negative, above 1, or not summing to 1).

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> target_probs = torch.tensor([[0.8, 0.1, 0.1], [0.0, 0.0, 1.0]])
        >>> losskit.soft_cross_entropy(logits, target_probs)
        tensor(0.4005)
    """
    check_reduction(reduction)
    real_scores("logits", logits)
    class_scores("logits", logits)
    check_same_shape("logits", logits, "target_probs", target_probs)
    if not target_probs.is_floating_point():
        raise LossInputError(
            f"target_probs must be floating class probabilities, got dtype {target_probs.dtype}; "
            "for integer labels use cross_entropy"
        )
    distribution_inputs("target_probs", target_probs, log=False)
    dtype = torch.promote_types(logits.dtype, target_probs.dtype)
    x = ensure_float(logits.to(dtype))
    q = target_probs.to(x.dtype)
    log_p = torch.log_softmax(x, class_dim(x))
    # 0 * log p is 0 where the target has no mass, also where log p = -inf (a masked class):
    # torch's 0 * -inf is NaN. log p is replaced there, so the gradient is finite as well.
    log_p = torch.where(q == 0, 0.0, log_p)
    loss = -(q * log_p).sum(class_dim(x))
    return finish(reduce(loss, reduction).to(dtype), logits=logits, target_probs=target_probs)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.WEIGHTED_ITEM,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.CALIBRATED},
    metrics=("accuracy",),
    aliases=("softmax_focal_loss", "multiclass_focal"),
    example=ex.class_logits,
)
def softmax_focal(
    logits: Tensor,
    labels: Tensor,
    *,
    gamma: float = 2.0,
    weight: Tensor | None = None,
    ignore_index: int | None = -100,
    reduction: str = "mean",
) -> Tensor:
    """Multiclass focal loss: cross-entropy down-weighted on well-classified items.

    ``l_n = -w_{y_n} (1 - p_{n,y_n})^gamma log p_{n,y_n}`` with ``p = softmax(logits_n)``,
    computed in log space: ``(1 - p_y)^gamma = exp(gamma * log(1 - p_y))`` where
    ``log(1 - p_y) = logsumexp_{c != y} x_c - logsumexp_c x_c``, exact and finite even where
    ``p_y`` rounds to 1, so the gradient stays finite for any ``gamma >= 0`` (fastai and
    kornia use ``exp(-ce)`` for ``p_t``, which loses ``1 - p_t`` to rounding for confident
    items; fastai also puts the class weight inside that ``exp``). ``weight`` plays the role of
    the paper's per-class ``alpha``. ``"mean"`` divides by the sum of ``w_{y_n}`` over
    non-ignored items, as :func:`cross_entropy`, so ``gamma = 0`` equals :func:`cross_entropy`
    for every reduction.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, floating, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        Class imbalance with many easy examples (dense prediction); gamma = 0 is cross_entropy.

    Args:
        logits: raw class scores.
        labels: class indices.
        gamma: focusing parameter >= 0 (2, as in the paper).
        weight: ``(C,)`` class weights.
        ignore_index: label value that is skipped; ``None``: no label is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class; a weight
            that is not ``(C,)``, negative or not finite; ``gamma`` not finite or < 0.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.softmax_focal(logits, torch.tensor([0, 1]))
        tensor(1.3061)

    References:
        Lin, Goyal, Girshick, He & Dollar, Focal Loss for Dense Object Detection (ICCV 2017).
    """
    check_reduction(reduction)
    gamma = check_option("gamma", gamma, low=0.0)
    ignore_index = check_ignore_index(ignore_index)
    class_inputs("logits", logits, labels, weight=weight, ignore_index=ignore_index)
    valid = counted(labels, ignore_index)
    x = ensure_float(logits)
    if gamma == 0:
        dim = class_dim(x)
        log_p = log_softmax_kept(x, valid).gather(dim, label_index(x, labels, valid))
        loss = -log_p.squeeze(dim)
    else:
        loss = label_softmax_loss(x, labels, valid, "focal", gamma)
    weight_y = None
    if weight is not None:
        weight_y = weight.to(x.dtype)[safe_labels(labels, valid)]
        loss = loss * weight_y
    out = reduce_items(loss, valid, reduction, weight_y=weight_y)
    return finish(out.to(logits.dtype), logits=logits, weight=weight)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE},
    metrics=("accuracy",),
    aliases=("poly1", "poly_loss"),
    example=ex.class_logits,
)
def poly1_cross_entropy(
    logits: Tensor,
    labels: Tensor,
    *,
    epsilon: float = 1.0,
    ignore_index: int | None = -100,
    reduction: str = "mean",
) -> Tensor:
    """Poly-1 loss: cross-entropy plus ``epsilon`` times ``1 - p_y``.

    ``l_n = -log p_{n,y_n} + epsilon (1 - p_{n,y_n})`` with ``p = softmax(logits_n)``: the
    first term of CE's Taylor expansion in ``1 - p_y`` re-weighted (optax's
    ``poly_loss_cross_entropy`` with one-hot labels). ``1 - p_y`` is computed as
    ``exp(logsumexp_{c != y} x_c - logsumexp_c x_c)``, exact where ``p_y`` is close to 1.
    ``epsilon = 0`` is :func:`cross_entropy`; ``epsilon >= -1`` keeps the loss non-negative
    (``-log p >= 1 - p``), so smaller values are refused. ``"mean"`` averages over non-ignored
    items.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        A drop-in replacement for cross-entropy; epsilon > 0 pushes confident items further
        (often helps on ImageNet-scale classification).

    Args:
        logits: raw class scores.
        labels: class indices.
        epsilon: weight of the ``1 - p_y`` term, >= -1 (1, as in the paper's Poly-1).
        ignore_index: label value that is skipped; ``None``: no label is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class;
            ``epsilon < -1``.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.poly1_cross_entropy(logits, torch.tensor([0, 1]))
        tensor(2.1554)

    References:
        Leng et al., PolyLoss: A Polynomial Expansion Perspective of Classification Loss
        Functions (ICLR 2022).
    """
    check_reduction(reduction)
    epsilon = check_option("epsilon", epsilon, low=-1.0)
    ignore_index = check_ignore_index(ignore_index)
    class_inputs("logits", logits, labels, weight=None, ignore_index=ignore_index)
    valid = counted(labels, ignore_index)
    loss = label_softmax_loss(ensure_float(logits), labels, valid, "poly1", epsilon)
    out = reduce_items(loss, valid, reduction)
    return finish(out.to(logits.dtype), logits=logits)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.CONVEX, Prop.NONNEGATIVE},
    metrics=("accuracy",),
    aliases=("crammer_singer", "categorical_hinge"),
    example=ex.class_logits,
)
def multiclass_hinge(
    logits: Tensor,
    labels: Tensor,
    *,
    margin: float = 1.0,
    ignore_index: int | None = -100,
    reduction: str = "mean",
) -> Tensor:
    """Crammer-Singer multiclass hinge: the margin of the label over the *strongest* rival.

    ``l_n = max(0, margin + max_{c != y_n} x_nc - x_{n,y_n})``: zero once the label's score
    beats every other class by ``margin``. This is optax's ``multiclass_hinge_loss``, Keras's
    ``CategoricalHinge`` and sklearn's multiclass ``hinge_loss``. PyTorch's
    ``MultiMarginLoss`` is a *different* loss under a similar name (Weston-Watkins: the sum over
    every rival, divided by C): that one is :func:`multi_margin`. ``"mean"`` averages over
    non-ignored items. At ties (the kink) the gradient is shared equally among the tied
    classes.

    Input: ``logits`` (scores) ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        Multiclass SVMs; scores are not probabilities. Not torch's MultiMarginLoss (that is
        multi_margin).

    Args:
        logits: raw class scores.
        labels: class indices.
        margin: required gap between the label's score and every other, >= 0.
        ignore_index: label value that is skipped; ``None``: no label is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class;
            ``margin < 0``.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.multiclass_hinge(logits, torch.tensor([0, 1]))
        tensor(1.9000)

    References:
        Crammer & Singer, On the Algorithmic Implementation of Multiclass Kernel-based Vector
        Machines (JMLR 2001).
    """
    check_reduction(reduction)
    margin = check_option("margin", margin, low=0.0)
    ignore_index = check_ignore_index(ignore_index)
    class_inputs("logits", logits, labels, weight=None, ignore_index=ignore_index)
    valid = counted(labels, ignore_index)
    x = ensure_float(logits)
    dim = class_dim(x)
    index = label_index(x, labels, valid)
    x_y = x.gather(dim, index)
    # max over c of (x_c + margin [c != y]) - x_y, written as margin + max(x_y - margin, the
    # rivals) - x_y (one pass over the scores fewer): the c = y term gives 0, so this is >= 0
    rivals = x.scatter(dim, index, x_y - margin)
    loss = (rivals.amax(dim, keepdim=True) + (margin - x_y)).squeeze(dim)
    out = reduce_items(loss, valid, reduction)
    return finish(out.to(logits.dtype), logits=logits)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ROW,
    properties={Prop.CONVEX, Prop.NONNEGATIVE},
    metrics=("accuracy",),
    aliases=("multi_margin_loss", "weston_watkins"),
    example=ex.class_logits,
)
def multi_margin(
    logits: Tensor,
    labels: Tensor,
    *,
    p: int = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Weston-Watkins multiclass hinge, as :func:`torch.nn.functional.multi_margin_loss`.

    ``l_n = sum_{c != y_n} w_{y_n} max(0, margin - x_{n,y_n} + x_nc)^p / C``: every rival
    within ``margin`` of the label's score adds to the loss, and the sum is divided by the
    number of classes C (torch's convention). Compare :func:`multiclass_hinge`
    (Crammer-Singer), which looks only at the strongest rival. Written in tensor ops with the
    kernel's values and gradients (the kernel has no ``vmap`` rule and turns a NaN score into a
    finite loss); losskit adds class dims beyond 1 (``(N, C, *extra)``), half precision
    (computed in float32), and a sum over an empty batch that is exactly 0 (torch 2.13's
    ``reduction="sum"`` returns uninitialised memory there). ``"mean"`` divides by the
    number of items, **not** by the sum of the weights (unlike :func:`cross_entropy`; as torch).
    No ``ignore_index``, as torch.

    Input: ``logits`` (scores) ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)``.

    When to use:
        Multiclass SVMs; compatibility with torch.nn.MultiMarginLoss.

    Args:
        logits: raw class scores.
        labels: class indices.
        p: 1 (hinge) or 2 (squared hinge).
        margin: required gap, >= 0.
        weight: ``(C,)`` class weights, applied by the label's class.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class; a weight
            that is not ``(C,)``, negative or not finite; ``p`` not 1 or 2; ``margin`` not
            finite or < 0.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.multi_margin(logits, torch.tensor([0, 1]))
        tensor(0.7833)

    References:
        Weston & Watkins, Support Vector Machines for Multi-Class Pattern Recognition (ESANN
        1999).
    """
    check_reduction(reduction)
    p = check_int("p", p)
    if p not in (1, 2):
        raise LossInputError(f"p must be 1 or 2 (as torch's multi_margin_loss), got {p!r}")
    margin = check_option("margin", margin, low=0.0)
    num_classes = class_inputs("logits", logits, labels, weight=weight, ignore_index=None)
    x = ensure_float(logits)
    dim = class_dim(x)
    index = labels.long().unsqueeze(dim)
    # torch's kernel, written out: it has no vmap rule, and its `if z > 0` drops a NaN. relu
    # keeps NaN, and its zero gradient at the kink is the kernel's; the label's own term is
    # replaced by 0; the class weight multiplies after the power, as in the kernel.
    gaps = F.relu(margin - x.gather(dim, index) + x)
    gaps = (gaps if p == 1 else gaps.square()).scatter(dim, index, 0.0)
    loss = gaps.sum(dim) / num_classes
    if weight is not None:
        loss = loss * weight.to(x.dtype)[labels.long()]
    return finish(reduce(loss, reduction).to(logits.dtype), logits=logits, weight=weight)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.BOUNDED},
    metrics=("accuracy",),
    aliases=("gce", "lq_loss"),
    example=ex.class_logits,
)
def generalized_cross_entropy(
    logits: Tensor,
    labels: Tensor,
    *,
    q: float = 0.7,
    ignore_index: int | None = -100,
    reduction: str = "mean",
) -> Tensor:
    """Generalized cross-entropy (the Lq loss), robust to noisy labels.

    ``l_n = (1 - p_{n,y_n}^q) / q`` with ``p = softmax(logits_n)``, computed as
    ``-expm1(q log p_y) / q``. ``q -> 0`` is cross-entropy (``q = 0`` is accepted and gives
    :func:`cross_entropy` exactly); ``q = 1`` is the mean absolute error ``1 - p_y``, bounded and
    robust but slow to train; the paper's default ``q = 0.7`` sits between. Bounded by ``1/q``,
    so a mislabelled item pulls with bounded force. Keras's
    ``CategoricalGeneralizedCrossEntropy`` takes probabilities; this one takes logits.
    ``"mean"`` averages over non-ignored items.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        Noisy labels: bounded by 1/q, so mislabelled items pull with bounded force.

    Args:
        logits: raw class scores.
        labels: class indices.
        q: in [0, 1].
        ignore_index: label value that is skipped; ``None``: no label is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class; ``q``
            outside [0, 1].

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.generalized_cross_entropy(logits, torch.tensor([0, 1]))
        tensor(0.7321)

    References:
        Zhang & Sabuncu, Generalized Cross Entropy Loss for Training Deep Neural Networks with
        Noisy Labels (NeurIPS 2018).
    """
    check_reduction(reduction)
    q = check_option("q", q, low=0.0, high=1.0)
    ignore_index = check_ignore_index(ignore_index)
    class_inputs("logits", logits, labels, weight=None, ignore_index=ignore_index)
    valid = counted(labels, ignore_index)
    x = ensure_float(logits)
    dim = class_dim(x)
    # log p_y from torch's fused log_softmax (no log-sum-exp needed beside it)
    log_p = log_softmax_kept(x, valid).gather(dim, label_index(x, labels, valid)).squeeze(dim)
    loss = -log_p if q == 0 else -torch.expm1(q * log_p) / q
    out = reduce_items(loss, valid, reduction)
    return finish(out.to(logits.dtype), logits=logits)


def check_priors(class_priors: object, num_classes: int) -> None:
    """``class_priors``: a real ``(C,)`` tensor of positive, finite frequencies or counts, its
    values read where :func:`reads` (NaN fails both comparisons)."""
    if (
        not isinstance(class_priors, Tensor)
        or tuple(class_priors.shape) != (num_classes,)
        or class_priors.is_complex()
        or class_priors.dtype == torch.bool
    ):
        got = (
            f"a {class_priors.dtype} tensor of shape {tuple(class_priors.shape)}"
            if isinstance(class_priors, Tensor)
            else repr(class_priors)
        )
        raise LossInputError(
            f"class_priors must be a tensor of shape ({num_classes},), one real frequency or "
            f"count per class, got {got}"
        )
    if reads(class_priors):
        lo, hi = (float(v) for v in torch.aminmax(class_priors.detach().double()))
        if not (lo > 0 and math.isfinite(hi)):
            raise LossInputError(
                f"class_priors must be positive and finite, got values in [{lo:g}, {hi:g}]; a "
                "class with no examples? add 1 to every count"
            )


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE},
    metrics=("accuracy", "balanced_accuracy"),
    aliases=("logit_adjusted_ce", "logit_adjustment"),
    example=ex.class_priors,
)
def logit_adjusted_cross_entropy(
    logits: Tensor,
    labels: Tensor,
    *,
    class_priors: Tensor,
    tau: float = 1.0,
    ignore_index: int | None = -100,
    reduction: str = "mean",
) -> Tensor:
    """Logit-adjusted cross-entropy for long-tailed labels: CE on ``logits + tau log(priors)``.

    ``l_n = -log softmax(logits_n + tau log pi)[y_n]``, with ``pi = class_priors`` along the
    class dim. During training rare classes get a handicap, so the model learns larger margins
    for them; at test time use the raw ``logits`` (argmax), which then estimate the balanced
    error's Bayes classifier. Adding a constant to every logit does not change a softmax, so
    ``class_priors`` may be class counts as well as frequencies. ``tau = 0`` is
    :func:`cross_entropy`. Computed by torch's cross-entropy kernel; ``"mean"`` averages over
    non-ignored items.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        Long-tailed (imbalanced) classification when the balanced error matters; predict with
        the raw logits.

    Args:
        logits: raw class scores.
        labels: class indices.
        class_priors: ``(C,)`` positive class frequencies or counts (a buffer in the Module).
        tau: scale of the adjustment, >= 0 (1, as in the paper).
        ignore_index: label value that is skipped; ``None``: no label is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class;
            ``class_priors`` not ``(C,)``, or not positive and finite; ``tau < 0``.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> priors = torch.tensor([0.7, 0.2, 0.1])
        >>> losskit.logit_adjusted_cross_entropy(logits, torch.tensor([0, 1]), class_priors=priors)
        tensor(1.2926)

    References:
        Menon et al., Long-tail Learning via Logit Adjustment (ICLR 2021).
    """
    check_reduction(reduction)
    tau = check_option("tau", tau, low=0.0)
    ignore_index = check_ignore_index(ignore_index)
    num_classes = class_inputs(
        "logits", logits, labels, weight=None, ignore_index=ignore_index, kernel_bounds=True
    )
    check_priors(class_priors, num_classes)
    x = ensure_float(logits)
    shape = (num_classes,) + (1,) * (x.dim() - 2) if x.dim() > 1 else (num_classes,)
    adjusted = x + tau * torch.log(class_priors.to(x.dtype)).reshape(shape)  # (N, C, *extra)
    # cross_entropy's own path: log-softmax with ignored rows' gradient zeroed, the nll kernel
    log_probs = log_softmax_kept(adjusted, counted(labels, ignore_index))
    if reduction != "none" and x.dim() <= 2:
        out = nll_reduced(
            log_probs, labels, num_classes, None, weight=None, ignore_index=ignore_index,
            reduction=reduction, normalizer=None,
        )  # fmt: skip
    else:
        out = kernel_loss(
            F.nll_loss, log_probs, labels, num_classes, weight=None, ignore_index=ignore_index,
            reduction=reduction,
        )  # fmt: skip
    return finish(out.to(logits.dtype), logits=logits, class_priors=class_priors)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.NONE,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE},
    aliases=("softmax_z_loss", "router_z_loss"),
    example=ex.class_logits,
)
def z_loss(
    logits: Tensor,
    labels: Tensor | None = None,
    *,
    ignore_index: int | None = -100,
    reduction: str = "mean",
) -> Tensor:
    """The z-loss: the squared log-normaliser ``logsumexp(logits)^2`` of a softmax.

    ``l_n = (logsumexp_c x_nc)^2``. An auxiliary term that keeps the softmax normaliser
    ``log Z`` near 0, so large softmax layers (language-model heads) do not drift into
    float32/bfloat16 ranges where they lose precision; add it with a small coefficient:
    ``cross_entropy(x, y) + 1e-4 * z_loss(x, y)`` (PaLM's 1e-4). The softmax itself is unchanged
    by it. ``labels`` are optional and used only to skip ``ignore_index`` positions (padding),
    so the two terms average over the same items. ``"mean"`` averages over the (non-ignored)
    items.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: none; ``labels``
    ``(N, *extra)`` or ``()`` only mark ignored items (integer, in ``[0, C)`` or
    ``ignore_index``).

    When to use:
        Add 1e-4 * z_loss to the cross-entropy of large softmax layers (language models, MoE
        routers) to keep logits from drifting.

    Args:
        logits: raw class scores.
        labels: optional class indices; only ``labels == ignore_index`` is used.
        ignore_index: label value whose items are skipped; ``None``: none is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: a single class; labels of the wrong shape, dtype or range.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.z_loss(logits)
        tensor(7.3465)

    References:
        Chowdhery et al., PaLM: Scaling Language Modeling with Pathways (2022), section 5;
        Zoph et al., ST-MoE (2022) for the router z-loss.
    """
    check_reduction(reduction)
    ignore_index = check_ignore_index(ignore_index)
    if labels is None:
        real_scores("logits", logits)
        class_scores("logits", logits)
        valid = None
    else:
        class_inputs("logits", logits, labels, weight=None, ignore_index=ignore_index)
        valid = counted(labels, ignore_index)
    # ignored rows' log-sum-exp may be -inf or NaN (padding): zeroed in the value by
    # reduce_items, and in the gradient by logsumexp_kept
    lse = logsumexp_kept(ensure_float(logits), valid)
    out = reduce_items(lse.square(), valid, reduction)
    return finish(out.to(logits.dtype), logits=logits)


def _sparsemax_threshold(z: Tensor, dim: int) -> Tensor:
    """``tau`` with ``sum_c max(z_c - tau, 0) = 1`` over ``dim`` (keepdim), by sorting:
    the support is the ``k`` largest scores with ``1 + k z_(k) > sum_{j <= k} z_(j)``."""
    z_sorted, _ = torch.sort(z, dim=dim, descending=True)
    cumsum = z_sorted.cumsum(dim)
    shape = [1] * z.dim()
    shape[dim] = z.shape[dim]
    k = torch.arange(1, z.shape[dim] + 1, dtype=z.dtype, device=z.device).reshape(shape)
    # >= 1 for finite z; NaN compares false everywhere, and the clamp keeps the gather in range
    # (the NaN then reaches tau and the loss)
    support = (1 + k * z_sorted > cumsum).sum(dim, keepdim=True).clamp_min(1)
    return (cumsum.gather(dim, support - 1) - 1) / support.to(z.dtype)


@register(
    family=Family.MULTICLASS,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.CALIBRATED},
    metrics=("accuracy",),
    aliases=("multiclass_sparsemax", "multiclass_sparsemax_loss"),
    example=ex.class_logits,
)
def sparsemax_loss(
    logits: Tensor, labels: Tensor, *, ignore_index: int | None = -100, reduction: str = "mean"
) -> Tensor:
    """Sparsemax loss: the Fenchel-Young loss of sparsemax, whose probabilities can be exactly 0.

    ``l_n = 1/2 sum_{c in S} (z_c^2 - tau^2) + 1/2 - z_y``, where ``sparsemax(z) =
    max(z - tau, 0)`` is the Euclidean projection of the scores onto the simplex and ``S`` its
    support. Its gradient is ``sparsemax(z) - onehot(y)``, as softmax cross-entropy's is
    ``softmax(z) - onehot(y)``; it is zero once the label's score beats every other by 1.
    Computed on ``z = logits - max(logits)`` (the loss is unchanged by a shift; this keeps the
    squares small). This is optax's ``multiclass_sparsemax_loss``. The Module's ``activation``
    is the identity: apply sparsemax yourself for probabilities (the argmax decode is the same).
    ``"mean"`` averages over non-ignored items.

    Input: ``logits`` ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target: ``labels``
    ``(N, *extra)`` or ``()``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        When sparse output distributions are wanted (attention, interpretable multiclass);
        gradient sparsemax(z) - onehot(y).

    Args:
        logits: raw class scores.
        labels: class indices.
        ignore_index: label value that is skipped; ``None``: no label is skipped.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, *extra)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range; a single class.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
        >>> losskit.sparsemax_loss(logits, torch.tensor([0, 1]))
        tensor(1.4000)

    References:
        Martins & Astudillo, From Softmax to Sparsemax (ICML 2016); Blondel, Martins & Niculae,
        Learning with Fenchel-Young Losses (JMLR 2020).
    """
    check_reduction(reduction)
    ignore_index = check_ignore_index(ignore_index)
    class_inputs("logits", logits, labels, weight=None, ignore_index=ignore_index)
    valid = counted(labels, ignore_index)
    x = padding_zeroed(ensure_float(logits), valid)
    dim = class_dim(x)
    z = x - x.detach().amax(dim, keepdim=True)  # the loss is shift-invariant: exact
    tau = _sparsemax_threshold(z, dim)
    z_y = z.gather(dim, label_index(z, labels, valid)).squeeze(dim)
    # (z_c - tau)(z_c + tau) = z_c^2 - tau^2 on the support, 0 off it. Off the support z is
    # replaced by tau first: a -inf score (a class with no mass) would give 0 * -inf = NaN in
    # the value or its gradient.
    on = torch.where(z > tau, z, tau)
    loss = 0.5 * ((on - tau) * (on + tau)).sum(dim) + 0.5 - z_y
    out = reduce_items(loss, valid, reduction)
    return finish(out.to(logits.dtype), logits=logits)
