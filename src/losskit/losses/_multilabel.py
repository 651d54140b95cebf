"""Multilabel losses: ``logits`` and ``targets`` of shape ``(N, C)`` (or ``(C,)`` for one
example), several labels per item; ``targets`` are multi-hot 0/1 (soft in [0, 1] where stated)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
    all_finite,
    check_broadcasts_to,
    check_option,
    check_reduction,
    finish,
    native_reduction,
    reads,
    reduce,
    tracing,
)
from losskit._spec import Activation, Decode, Family, MeanOver, Prop, Space, Targets, register
from losskit._validate import check_weight
from losskit.losses import _examples as ex
from losskit.losses._binary import binary_inputs, cast_result

__all__ = ["asymmetric_loss", "multilabel_margin", "multilabel_soft_margin"]


def multilabel_inputs(
    logits: Tensor, targets: Tensor, *, soft: bool
) -> tuple[Tensor, Tensor, torch.dtype]:
    """Shared checks: ``logits`` ``(N, C)`` or ``(C,)``, ``targets`` of the same shape in
    {0, 1} (``[0, 1]`` when ``soft``). Returns ``(logits, targets, dtype)`` as
    :func:`losskit.losses._binary.binary_inputs` does."""
    out = binary_inputs("logits", logits, targets, soft=soft)
    if logits.dim() not in (1, 2):
        raise LossInputError(
            f"logits must have shape (N, C) or (C,) for a multilabel loss, got "
            f"{tuple(logits.shape)}; flatten the other dims into N (e.g. "
            "`logits.movedim(1, -1).reshape(-1, C)`), or use an elementwise loss such as "
            "bce_with_logits"
        )
    return out


@register(
    family=Family.MULTILABEL,
    inputs=Space.LOGITS,
    targets=Targets.MULTI_HOT,
    activation=Activation.SIGMOID,
    decode=Decode.THRESHOLD,
    mean_over=MeanOver.ROW,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.PROPER},
    metrics=("accuracy", "f1"),
    aliases=("multilabel_soft_margin_loss",),
    example=ex.multihot,
)
def multilabel_soft_margin(
    logits: Tensor, targets: Tensor, *, weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Multilabel soft-margin loss: BCE with logits averaged over the C labels of each item.

    ``l_n = -(1/C) sum_c w_c [t_nc log sigmoid(x_nc) + (1 - t_nc) log sigmoid(-x_nc)]``, the
    maths of :func:`torch.nn.functional.multilabel_soft_margin_loss` (log-sigmoid: stable).
    One value per item: ``"mean"`` averages those over the N items, which equals
    ``bce_with_logits(logits, targets, weight=weight)`` (the mean over N * C elements), and is
    computed so, by torch's fused kernel. Unlike torch, a ``targets`` shape that would
    broadcast is refused.

    Input: ``logits`` ``(N, C)`` or ``(C,)``, floating. Target: ``targets``, the same shape,
    0/1 or soft in [0, 1]. ``weight`` broadcasts to ``logits`` (typically ``(C,)``).

    When to use:
        Multilabel classification; the same as bce_with_logits, reduced per item.

    Args:
        logits: raw scores, one per label; the loss applies the sigmoid.
        targets: multi-hot 0/1 or soft targets in [0, 1].
        weight: per-label (or per-element) rescaling.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` (``()`` for one example) for ``"none"``.

    Raises:
        LossInputError: shapes differ or are not ``(N, C)``/``(C,)``, targets outside [0, 1],
            a ``weight`` that does not broadcast to ``logits`` or is negative or not finite.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.5, -2.0]])
        >>> targets = torch.tensor([[1, 0, 1], [0, 1, 0]])
        >>> losskit.multilabel_soft_margin(logits, targets)
        tensor(0.3226)
    """
    check_reduction(reduction)
    x, t, dtype = multilabel_inputs(logits, targets, soft=True)
    check_broadcasts_to("weight", weight, logits.shape, "logits")
    check_weight("weight", weight)
    w = None if weight is None else weight.to(x.dtype)  # the compute dtype: bf16 logits work
    # The mean over the C labels of each item, then over the items, is the mean over all N * C
    # elements: torch's fused BCE-with-logits kernel computes it (F.multilabel_soft_margin_loss
    # is a chain of Python-level ops with two log-sigmoids); "sum" is that sum over C
    num_labels = max(x.shape[-1], 1)  # no labels: a sum over nothing, 0
    if reduction == "none":
        per = F.binary_cross_entropy_with_logits(x, t, weight=w, reduction="none")
        loss = per.sum(-1) / num_labels
    else:
        red = native_reduction(reduction, x.numel())  # the kernel reduces (a mean over nothing: 0)
        loss = F.binary_cross_entropy_with_logits(x, t, weight=w, reduction=red)
        if red == "sum":
            loss = loss / num_labels
    return finish(cast_result(loss, dtype), logits=logits, targets=targets, weight=weight)


def _padded_indices(hot: Tensor) -> Tensor:
    """Multi-hot ``(N, C)`` to torch's ``multilabel_margin_loss`` target: the indices of the
    positive labels first, then -1 (which ends the list)."""
    # a stable descending sort of the mask puts the positive labels first, in class order; its
    # sorted values say which places hold one
    first, order = torch.sort(hot, dim=-1, descending=True, stable=True)
    return torch.where(first, order, -1)


@register(
    family=Family.MULTILABEL,
    inputs=Space.LOGITS,
    targets=Targets.MULTI_HOT,
    mean_over=MeanOver.ROW,
    properties={Prop.CONVEX, Prop.NONNEGATIVE},
    metrics=("label_ranking_loss",),
    aliases=("multilabel_margin_loss",),
    example=ex.multihot,
)
def multilabel_margin(logits: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Multilabel hinge: every positive label should beat every negative one by 1.

    ``l_n = sum_{j in Y_n} sum_{i not in Y_n} max(0, 1 - (x_nj - x_ni)) / C`` with
    ``Y_n = {c : targets_nc = 1}``: the maths of :func:`torch.nn.functional.multilabel_margin_loss`
    (whose kernel computes it), but with **multi-hot 0/1 targets** of the shape of ``logits``,
    like every multilabel loss here, instead of torch's list of class indices padded with -1
    (``[[3, 0, -1, 1]]`` means labels {3, 0}; everything after the first -1 is ignored).
    An item with no positive (or no negative) label contributes 0; a NaN logit or a non-finite
    target makes its item's loss NaN (the kernel alone would skip it). ``"mean"`` averages over
    the N items.

    Input: ``logits`` ``(N, C)`` or ``(C,)``. Target: ``targets``, the same shape, 0 or 1.
    From torch's padded format: ``torch.zeros_like(logits).scatter_(1, idx.clamp(min=0), 1)``
    after cutting each row at its first -1.

    When to use:
        Multilabel ranking with an SVM-style margin; scores are not probabilities.

    Args:
        logits: raw scores, one per label.
        targets: multi-hot 0/1.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` (``()`` for one example) for ``"none"``.

    Raises:
        LossInputError: shapes differ or are not ``(N, C)``/``(C,)``, targets not in {0, 1}
            (torch's padded index format is refused with a hint).

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.5, -2.0]])
        >>> targets = torch.tensor([[1, 1, 0], [0, 1, 0]])
        >>> losskit.multilabel_margin(logits, targets)
        tensor(0.4167)

    References:
        Crammer & Singer, A Family of Additive Online Algorithms for Category Ranking (JMLR
        2003); PyTorch ``MultiLabelMarginLoss``.
    """
    check_reduction(reduction)
    try:
        x, t, dtype = multilabel_inputs(logits, targets, soft=False)
    except LossInputError as err:
        if (
            isinstance(targets, Tensor)
            and not targets.is_floating_point()
            and bool((targets == -1).any())
        ):
            raise LossInputError(
                f"{err}; this looks like torch's padded index format (labels, then -1): "
                "losskit takes multi-hot 0/1 targets of the shape of logits"
            ) from None
        raise
    hot = targets if targets.dtype == torch.bool else targets != 0
    traced = tracing()
    if not traced and reads(x) and all_finite(x):
        # values read: the targets were checked in {0, 1}, and finite logits (one sum) leave
        # nothing for the kernel to skip; it reduces itself (a mean over nothing: 0)
        red = native_reduction(reduction, x.shape[0] if x.dim() == 2 else 1)
        out = F.multilabel_margin_loss(x, _padded_indices(hot), reduction=red)
        return finish(cast_result(out, dtype), logits=logits, targets=targets)
    rows = x.detach().abs()
    if targets.is_floating_point():
        rows = rows.add_(t.detach(), alpha=0)
    if not traced and reduction != "none" and x.numel():
        # reduced: any NaN row makes the result NaN; one total of the rows says whether there
        # is one (non-negative terms: an infinite logit gives +inf, not NaN), and the kernel
        # reduces itself (not over nothing: torch 2.13's kernel then returns an uninitialised
        # value, so an empty batch takes the elementwise form below)
        red = native_reduction(reduction, x.shape[0] if x.dim() == 2 else 1)
        out = F.multilabel_margin_loss(x, _padded_indices(hot), reduction=red)
        out = torch.where(rows.sum().isnan(), torch.nan, out)
        return finish(cast_result(out, dtype), logits=logits, targets=targets)
    if traced:
        # torch.compile's decomposition of multilabel_margin_loss ignores the -1 that ends the
        # index list (torch 2.13): traced, the same sum is written out over the (j, i) pairs;
        # relu, like the kernel's `z > 0`, has a zero gradient at the kink
        pairs = hot.unsqueeze(-1) & ~hot.unsqueeze(-2)  # (..., C, C): j positive, i negative
        hinge = F.relu(1 - (x.unsqueeze(-1) - x.unsqueeze(-2)))
        loss = torch.where(pairs, hinge, 0.0).sum((-2, -1)) / x.shape[-1]
    else:
        loss = F.multilabel_margin_loss(x, _padded_indices(hot), reduction="none")
    # The kernel skips a NaN pair (its `z > 0` is false) and targets only select pairs: a NaN
    # logit or a non-finite target makes its row's loss NaN, in both branches (an infinite
    # logit keeps its limit: 0 for a positive +inf, +inf for a negative one). A row of
    # |x| + 0 t (above) sums to NaN exactly there (0 * inf is NaN): one float pass, a row sum.
    loss = torch.where(rows.sum(-1).isnan(), torch.nan, loss)
    return finish(cast_result(reduce(loss, reduction), dtype), logits=logits, targets=targets)


@register(
    family=Family.MULTILABEL,
    inputs=Space.LOGITS,
    targets=Targets.MULTI_HOT,
    activation=Activation.SIGMOID,
    decode=Decode.THRESHOLD,
    properties={Prop.NONNEGATIVE},
    metrics=("mean_average_precision",),
    aliases=("asl", "asymmetric"),
    example=ex.multihot,
)
def asymmetric_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    gamma_pos: float = 0.0,
    gamma_neg: float = 4.0,
    clip: float = 0.05,
    reduction: str = "mean",
) -> Tensor:
    """Asymmetric loss (ASL) for multilabel classification with many negative labels.

    With ``p = sigmoid(x)`` and the shifted probability ``p_m = max(p - clip, 0)``:
    ``l = -t (1 - p)^gamma_pos log p - (1 - t) p_m^gamma_neg log(1 - p_m)``. Negatives are
    focused harder than positives (``gamma_neg > gamma_pos``) and easy negatives
    (``p < clip``) are discarded outright. Computed in log space where it matters:
    ``-log p = softplus(-x)`` and ``(1 - p)^g = exp(g logsigmoid(-x))``; with ``clip = 0`` the
    negative term is ``softplus(x) exp(g logsigmoid(x))``; with ``clip > 0``,
    ``1 - p_m = min(sigmoid(-x) + clip, 1) >= clip``, so its log is finite. Every term is
    finite for logits at +-1e4. Differences from the authors' reference code: no ``eps = 1e-8``
    clamp inside the logs (their loss per element saturates at 18.4; this one is exact), the
    gradient flows through the focusing weights (their ``disable_torch_grad_focal_loss=False``),
    and ``"mean"`` averages over every element where their code returns the sum (pass
    ``reduction="sum"`` for it). With ``clip = 0`` and ``gamma_pos = gamma_neg = g`` it is
    ``sigmoid_focal(alpha=None, gamma=g)``; with all three 0 it is :func:`bce_with_logits`.

    Input: ``logits``, any shape (typically ``(N, C)``), half precision computed in float32.
    Target: ``targets`` 0 or 1, the same shape.

    When to use:
        Multilabel problems with many more negative than positive labels (tagging, multilabel
        detection).

    Args:
        logits: raw scores, one per label.
        targets: multi-hot 0/1.
        gamma_pos: focusing parameter of the positive labels, >= 0.
        gamma_neg: focusing parameter of the negative labels, >= 0.
        clip: probability margin in [0, 1) below which a negative costs nothing.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``logits`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, targets not in {0, 1}, negative gammas, ``clip``
            outside [0, 1).

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.5, -2.0]])
        >>> targets = torch.tensor([[1, 0, 1], [0, 1, 0]])
        >>> losskit.asymmetric_loss(logits, targets)
        tensor(0.1379)

    References:
        Ridnik et al., Asymmetric Loss For Multi-Label Classification (ICCV 2021).
    """
    check_reduction(reduction)
    gamma_pos = check_option("gamma_pos", gamma_pos, low=0.0)
    gamma_neg = check_option("gamma_neg", gamma_neg, low=0.0)
    clip = check_option("clip", clip, low=0.0, high=1.0, high_open=True)
    x, t, dtype = binary_inputs("logits", logits, targets, soft=False)
    minus_x = -x
    # positive labels: -(1 - p)^gamma_pos log p, with -log p = softplus(-x)
    pos = F.softplus(minus_x)
    if gamma_pos:
        pos = pos * torch.exp(gamma_pos * F.logsigmoid(minus_x))
    # negative labels: -p_m^gamma_neg log(1 - p_m)
    if clip == 0:
        neg = F.softplus(x)  # -log(1 - p) = softplus(x)
        if gamma_neg:
            neg = neg * torch.exp(gamma_neg * F.logsigmoid(x))
    else:
        one_minus = torch.clamp(torch.sigmoid(minus_x) + clip, max=1.0)  # 1 - p_m >= clip
        neg = -torch.log(one_minus)
        if gamma_neg >= 2:
            # p_m ** gamma: its first and second derivatives are finite (0) at p_m = 0
            neg = neg * (1 - one_minus).pow(gamma_neg)
        elif gamma_neg:
            p_m = 1 - one_minus
            shifted = p_m > 0
            # p_m ** gamma with a zero (not NaN) gradient where p_m = 0, for any gamma > 0
            safe = torch.where(shifted, p_m, torch.ones_like(p_m))
            neg = neg * torch.where(shifted, safe.pow(gamma_neg), torch.zeros_like(p_m))
    # t pos + (1 - t) neg in one op: torch's lerp is exact at t = 0 and t = 1 (and, like the
    # sum, non-finite for a non-finite target)
    loss = torch.lerp(neg, pos, t)
    return finish(cast_result(reduce(loss, reduction), dtype), logits=logits, targets=targets)
