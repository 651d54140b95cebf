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

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_floating,
    check_option,
    check_reduction,
    check_same_shape,
    class_scores,
    ensure_float,
    finish,
    reduce,
)
from losskit._spec import Activation, Decode, Family, MeanOver, Prop, Space, Targets, register
from losskit._validate import distribution_inputs
from losskit.losses import _examples as ex

__all__ = ["distillation", "js_div", "kl_div"]

_LOG2 = math.log(2.0)


def _pair_inputs(log_preds: Tensor, targets: Tensor, *, log_targets: bool) -> int:
    """Checks of the divergences: same shape, at least 1-D, both distributions over the
    distribution dim (values checked in full mode). Returns that dim."""
    check_floating("log_preds", log_preds)
    check_same_shape("log_preds", log_preds, "targets", targets)
    if log_preds.dim() == 0:
        raise LossInputError(
            "log_preds must have a distribution dimension (dim 1, or dim 0 for one "
            "distribution), got a scalar"
        )
    distribution_inputs("log_preds", log_preds, log=True)
    distribution_inputs("targets", targets, log=log_targets, log_hint="pass log_targets=True")
    return 0 if log_preds.dim() == 1 else 1


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

    ``l_n = sum_c t_nc (log t_nc - log_preds_nc)`` over dim 1 (``0 log 0 = 0``), computed by
    :func:`torch.nn.functional.kl_div` per element and summed. ``"mean"`` is the mean over the
    items ``(N, *extra)`` of that sum, i.e. the average KL per example: PyTorch's
    ``reduction="mean"`` divides by every element instead (C times smaller for ``(N, C)``) and
    its ``"batchmean"`` divides by N only (wrong for ``(N, C, *extra)``). ``"sum"`` is the same
    as torch's. The argument order is torch's and optax's: predictions (as log-probabilities)
    first, then the target distribution, which the KL is taken *from*.

    Input: ``log_preds`` ``(N, C, *extra)`` or ``(C,)``, log-probabilities over dim 1 (e.g.
    ``torch.log_softmax(x, 1)``). Target: ``targets``, the same shape, probabilities over dim 1,
    or log-probabilities with ``log_targets=True`` (exact where targets underflow). Both are
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
        LossInputError: shapes differ; ``log_preds`` positive (logits or probabilities given)
            or not normalised over dim 1; ``targets`` outside [0, 1] or not normalised; in full
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
    dim = _pair_inputs(log_preds, targets, log_targets=log_targets)
    lp = ensure_float(log_preds)
    t = targets.to(lp.dtype)
    loss = F.kl_div(lp, t, reduction="none", log_target=log_targets).sum(dim)
    return finish(reduce(loss, reduction).to(log_preds.dtype), log_preds=log_preds, targets=targets)


def _log_and_probs(x: Tensor, *, is_log: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``(log q, q, q > 0)`` from probabilities or log-probabilities, with ``log q`` set to 0
    where ``q == 0`` so that no -inf (and no NaN gradient) enters the arithmetic."""
    if is_log:
        probs = x.exp()
        positive = probs > 0
        return torch.where(positive, x, torch.zeros_like(x)), probs, positive
    positive = x > 0
    return torch.log(torch.where(positive, x, torch.ones_like(x))), x, positive


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
    Both arguments may carry gradients. ``"mean"`` averages the items ``(N, *extra)``, as
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
    dim = _pair_inputs(log_preds, targets, log_targets=log_targets)
    x = ensure_float(log_preds)
    lp, p, p_pos = _log_and_probs(x, is_log=True)
    lq, q, q_pos = _log_and_probs(targets.to(x.dtype), is_log=log_targets)
    zero = x.new_zeros(())

    def half_kl(a: Tensor, a_pos: Tensor, la: Tensor, lb: Tensor, b_pos: Tensor) -> Tensor:
        # a (log a - log m) = a (log 2 - softplus(log b - log a)); softplus(z) = -logsigmoid(-z)
        # exactly (F.softplus linearises above 20); where b = 0 the softplus term is 0.
        softplus = torch.where(b_pos, -F.logsigmoid(la - lb), zero)
        return torch.where(a_pos, a * (_LOG2 - softplus), zero)

    per = half_kl(p, p_pos, lp, lq, q_pos) + half_kl(q, q_pos, lq, lp, p_pos)
    loss = 0.5 * per.sum(dim)
    return finish(reduce(loss, reduction).to(log_preds.dtype), log_preds=log_preds, targets=targets)


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
    ``T = 1`` is ``kl_div(log_softmax(s), softmax(t))``. ``"mean"`` averages over the items
    ``(N, *extra)``: the KL per example, as :func:`kl_div` (the common
    ``F.kl_div(..., reduction="batchmean") * T**2`` for ``(N, C)``). ``teacher_logits`` are not
    detached: compute them under ``torch.no_grad()`` (or pass ``.detach()``) unless the teacher
    trains too.

    Input: ``student_logits`` ``(N, C, *extra)`` or ``(C,)``, C >= 2. Target:
    ``teacher_logits``, the same shape.

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
        LossInputError: shapes differ, a single class, ``temperature <= 0``.

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
    check_option("temperature", temperature, low=0.0, low_open=True)
    class_scores("student_logits", student_logits)
    check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
    check_floating("teacher_logits", teacher_logits)
    dim = 0 if student_logits.dim() == 1 else 1
    s = ensure_float(student_logits)
    log_p_student = torch.log_softmax(s / temperature, dim)
    log_p_teacher = torch.log_softmax(teacher_logits.to(s.dtype) / temperature, dim)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="none", log_target=True).sum(dim)
    loss = kl * temperature**2
    return finish(
        reduce(loss, reduction).to(student_logits.dtype),
        student_logits=student_logits,
        teacher_logits=teacher_logits,
    )


_PER_DISTRIBUTION = (
    "items (N, *extra): the divergence summed over dim 1, averaged over the rest (torch's "
    "'batchmean' for (N, C); not its element 'mean')"
)
