"""Sequence losses: CTC over PyTorch's kernel, with the checks and the gradient it lacks.

PyTorch's CTC kernel has no meta kernel and an output shape that depends on the data, so it
neither traces under ``torch.compile`` nor runs on meta tensors. Where data cannot be read
(:func:`losskit._checks.tracing`, meta and fake tensors) the loss is computed by the same
log-space forward recursion written in torch ops (:func:`_ctc_recursion`): the same value, and
its autograd gradient is the exact one, at the cost of ``T`` small steps instead of one kernel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_bool,
    check_floating,
    check_int,
    check_log_probs,
    check_reduction,
    ensure_float,
    finish,
    get_check_mode,
    reads,
    unreadable,
)
from losskit._spec import Activation, Family, MeanOver, Prop, Space, Targets, register
from losskit._validate import check_integer
from losskit.losses import _examples as ex

__all__ = ["ctc"]


def _lengths(name: str, lengths: Tensor | Sequence[int] | int) -> Tensor:
    """Lengths as an integer tensor: a tensor as given (its dtype and device are PyTorch's
    business), ints and sequences of ints as int64. The eager path calls aten's own CTC kernel
    (on CUDA too), never cuDNN's, whatever the lengths' dtype."""
    if not isinstance(lengths, Tensor):
        try:
            lengths = torch.as_tensor(lengths, dtype=torch.long)
        except (TypeError, ValueError, RuntimeError) as err:
            raise LossInputError(
                f"{name} must be an integer tensor or a sequence of ints, got {lengths!r}"
            ) from err
    check_integer(name, lengths, "lengths")
    return lengths


def _check_ctc_values(
    targets: Tensor,
    input_lengths: Tensor,
    target_lengths: Tensor,
    *,
    frames: int,
    num_classes: int,
    blank: int,
    zero_infinity: bool,
) -> None:
    """Full-mode checks of lengths, labels and that every target fits its input."""
    batch = input_lengths.shape[0]
    for name, lengths in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
        if batch and int(lengths.min()) < 0:
            raise LossInputError(f"{name} must be >= 0, got {int(lengths.min())}")
    if batch and int(input_lengths.max()) > frames:
        raise LossInputError(
            f"input_lengths must be <= T = {frames} (log_probs.shape[0]), got "
            f"{int(input_lengths.max())}; is log_probs batch-first (N, T, C)? ctc takes "
            "time-major log_probs: pass log_probs.transpose(0, 1)"
        )
    padded = targets.dim() == 2
    if padded:
        width = targets.shape[1]
        if batch and int(target_lengths.max()) > width:
            raise LossInputError(
                f"target_lengths must be <= S = {width} (targets.shape[1]), got "
                f"{int(target_lengths.max())}"
            )
        valid = torch.arange(width, device=targets.device) < target_lengths[:, None]  # (N, S)
        labels = targets[valid]
        # a repeat: the same label at positions s - 1 and s, both inside the target
        repeats = ((targets[:, 1:] == targets[:, :-1]) & valid[:, 1:]).sum(dim=1)
    else:
        total = int(target_lengths.sum())
        if total != targets.shape[0]:
            raise LossInputError(
                f"targets given concatenated (1-D) must hold sum(target_lengths) = {total} labels, "
                f"got {targets.shape[0]}; for padded targets pass shape (N, S)"
            )
        labels = targets
        owner = torch.repeat_interleave(torch.arange(batch, device=targets.device), target_lengths)
        same = (targets[1:] == targets[:-1]) & (owner[1:] == owner[:-1])  # (L - 1,)
        repeats = torch.zeros(batch, dtype=torch.long, device=targets.device)
        repeats.index_add_(0, owner[1:], same.long())
    if labels.numel():
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0 or hi >= num_classes:
            raise LossInputError(
                f"targets must lie in [0, {num_classes}) (C = log_probs.shape[-1]) within "
                f"target_lengths, got values in [{lo}, {hi}]"
            )
        if bool((labels == blank).any()):
            raise LossInputError(
                f"targets contain the blank label ({blank}) within target_lengths; CTC reserves "
                f"blank for 'no label': shift your labels (e.g. + 1 with blank=0) or pass the "
                "blank index your model uses"
            )
    if zero_infinity:
        return
    need = target_lengths + repeats
    short = (need > input_lengths).nonzero()
    if short.numel():
        n = int(short[0, 0])
        raise LossInputError(
            f"target {n} cannot fit its input: {int(target_lengths[n])} labels with "
            f"{int(repeats[n])} repeated neighbours need at least {int(need[n])} frames (CTC puts a "
            f"blank between repeated labels), but input_lengths[{n}] = {int(input_lengths[n])}, so "
            "its loss is infinite; shorten the target, downsample the input less, or pass "
            "zero_infinity=True to give such examples a loss and gradient of 0"
        )


def _logsumexp3(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """``log(e^a + e^b + e^c)`` with ``-inf`` (and a zero gradient) where all three are ``-inf``:
    ``torch.logsumexp`` gives a NaN gradient there, and unreachable CTC states are common. NaN
    propagates."""
    m = torch.maximum(torch.maximum(a, b), c)
    m = torch.where(m == -math.inf, torch.zeros_like(m), m).detach()
    s = (a - m).exp() + (b - m).exp() + (c - m).exp()
    empty = s == 0
    return torch.where(empty, -math.inf, m + torch.where(empty, torch.ones_like(s), s).log())


_EXP_WHOLE = 1 << 16  # up to this many log-probabilities, exp(log_probs) is taken at once
_EXP_CHUNKS = 8  # beyond, in this many slices of frames


class _CTC(torch.autograd.Function):
    """PyTorch's CTC kernel, ``(N,)`` losses, with the exact gradient in ``log_probs``.

    PyTorch's backward gives ``exp(log_probs) - occupancy`` on each example's frames (the
    gradient in the logits of a log-softmax); the derivative in ``log_probs`` is
    ``-occupancy``. The backward takes ``exp(log_probs)`` back in place on those frames (none for
    examples ``zero_infinity`` zeroed), so no tensor of the size of ``log_probs`` is kept or
    added beyond the kernel's own gradient.
    """

    # forward takes ctx (no separate setup_context): its apply skips binding the arguments to
    # the signature of forward, pure Python that is much of a small call. That style has no vmap
    # rule; this Function runs only where the data is readable (never traced or transformed).
    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        lp: Tensor,
        targets: Tensor,
        input_lengths: Tensor,
        target_lengths: Tensor,
        blank: int,
        zero_infinity: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        nll, log_alpha = torch.ops.aten._ctc_loss.Tensor(
            lp, targets, input_lengths, target_lengths, blank, zero_infinity
        )
        # (N,) losses apart from the (N,) raw ones the backward reads
        out = torch.where(nll == math.inf, 0.0, nll) if zero_infinity else nll.clone()
        ctx.save_for_backward(lp, targets, input_lengths, target_lengths, nll, log_alpha)
        ctx.mark_non_differentiable(nll, log_alpha)
        ctx.set_materialize_grads(False)  # no zeros of the size of log_alpha for its grad
        ctx.blank, ctx.zero_infinity = blank, zero_infinity  # type: ignore[attr-defined]
        return out, nll, log_alpha

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor, *_: Tensor
    ) -> tuple[Tensor | None, ...]:
        if grad is None:
            return None, None, None, None, None, None
        lp, targets, input_lengths, target_lengths, nll, log_alpha = ctx.saved_tensors  # type: ignore[attr-defined]
        blank: int = ctx.blank  # type: ignore[attr-defined]
        zero_infinity: bool = ctx.zero_infinity  # type: ignore[attr-defined]
        g = torch.ops.aten._ctc_loss_backward.Tensor(
            grad, lp, targets, input_lengths, target_lengths, nll, log_alpha, blank, zero_infinity
        )
        frame = torch.arange(lp.shape[0], device=lp.device)[:, None]
        used = frame < input_lengths.to(lp.device)[None, :]  # (T, N)
        if zero_infinity:
            used = used & (nll != math.inf)[None, :]
        weight = (used * grad).unsqueeze(-1)  # (T, N, 1)
        # a few frames at a time: exp(log_probs) never whole beside the gradient
        if lp.numel() <= _EXP_WHOLE:  # whole: no slices
            return g.addcmul_(weight, lp.exp(), value=-1), None, None, None, None, None
        step = max(1, -(-lp.shape[0] // _EXP_CHUNKS))
        for t0 in range(0, lp.shape[0], step):
            g[t0 : t0 + step].addcmul_(weight[t0 : t0 + step], lp[t0 : t0 + step].exp(), value=-1)
        return g, None, None, None, None, None


def _ctc_recursion(
    lp: Tensor,
    targets: Tensor,
    input_lengths: Tensor,
    target_lengths: Tensor,
    *,
    blank: int,
    zero_infinity: bool,
) -> Tensor:
    """Per-sequence CTC negative log-likelihood ``(N,)`` by the forward recursion of Graves et
    al. in torch ops only (no data-dependent shape, no read), for tracing and meta tensors.

    ``lp`` (T, N, C); ``targets`` padded (N, S) or concatenated; lengths (N,) int64. The
    extended target is ``blank, y1, blank, y2, ..., blank`` (width ``2S + 1``); state ``s`` at
    frame ``t`` is reached from ``s``, ``s - 1``, or ``s - 2`` when ``s`` is a label unlike the
    one two back. Frames past ``input_lengths[n]`` leave the states unchanged."""
    frames, batch, _ = lp.shape
    if targets.dim() == 1:  # concatenated: padded to the total length (an upper bound of S)
        width = targets.shape[0]
        start = torch.cumsum(target_lengths, 0) - target_lengths  # (N,)
        pos = start[:, None] + torch.arange(width, device=lp.device)  # (N, S)
        padded = targets[pos.clamp(max=max(width - 1, 0))] if width else targets.new_zeros(batch, 0)
    else:
        width, padded = targets.shape[1], targets
    inside = torch.arange(width, device=lp.device) < target_lengths[:, None]  # (N, S)
    labels = torch.where(inside, padded.to(device=lp.device, dtype=torch.long), blank)
    # out of place throughout, so the recursion runs under vmap
    blanks = torch.full_like(labels, blank)
    tail = torch.full((batch, 1), blank, dtype=torch.long, device=lp.device)
    ext = torch.cat([torch.stack([blanks, labels], 2).reshape(batch, 2 * width), tail], 1)
    two_back = torch.cat([torch.full_like(ext[:, :2], blank), ext[:, :-2]], 1)
    skip = (ext != blank) & (ext != two_back)  # at s < 2 the state two back is -inf anyway
    neg = torch.full(ext.shape, -math.inf, dtype=lp.dtype, device=lp.device)
    first = torch.arange(ext.shape[1], device=lp.device) < 2
    # before any frame: probability 1 at the start (an empty input ends here)
    start_state = torch.where(torch.arange(ext.shape[1], device=lp.device) == 0, 0.0, neg)
    alpha = start_state
    for t in range(frames):
        emit = lp[t].gather(1, ext)  # (N, 2S + 1)
        if t == 0:
            new = torch.where(first, emit, neg)
        else:
            one = torch.cat([neg[:, :1], alpha[:, :-1]], 1)
            two = torch.where(skip, torch.cat([neg[:, :2], alpha[:, :-2]], 1), neg)
            new = _logsumexp3(alpha, one, two) + emit
        alpha = torch.where((t < input_lengths)[:, None], new, alpha)
    end = (2 * target_lengths)[:, None]  # (N, 1): the last blank; end - 1 the last label
    last = alpha.gather(1, end).squeeze(1)
    label = alpha.gather(1, (end - 1).clamp(min=0)).squeeze(1)
    label = torch.where(target_lengths > 0, label, -math.inf)
    nll = -_logsumexp3(last, label, torch.full_like(last, -math.inf))
    if zero_infinity:
        nll = torch.where(nll == math.inf, torch.zeros_like(nll), nll)
    return nll


@register(
    family=Family.SEQUENCE,
    inputs=Space.LOG_PROBS,
    targets=Targets.SEQUENCES,
    activation=Activation.EXP,
    mean_over=MeanOver.TARGET_LENGTH,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE},
    metrics=("edit_distance",),
    aliases=("ctc_loss", "connectionist_temporal_classification"),
    example=ex.ctc_inputs,
)
def ctc(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Tensor | Sequence[int] | int,
    target_lengths: Tensor | Sequence[int] | int,
    *,
    blank: int = 0,
    zero_infinity: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """Connectionist temporal classification: the negative log-likelihood of each target sequence,
    summed over every frame-level alignment of it (blanks and repeats collapsed).

    ``l_n = -log sum_{pi in B^-1(y_n)} prod_t p_t(pi_t)`` over the first ``input_lengths[n]``
    frames, computed by PyTorch's kernel (log-space forward-backward). ``"mean"`` is PyTorch's:
    each ``l_n`` divided by its target length (at least 1), then the mean over the batch; an
    empty batch gives a graph-connected ``0.0`` (PyTorch refuses empty log_probs).

    What losskit adds to :func:`torch.nn.functional.ctc_loss`:

    - A target that cannot fit its input (``target_length + repeated neighbours >
      input_length``: CTC needs a blank between two equal labels) is an error naming the example
      (full mode); PyTorch returns ``inf``. With ``zero_infinity=True`` such examples are
      allowed and give a loss and a gradient of 0, as PyTorch.
    - Labels outside ``[0, C)`` or equal to ``blank`` within the target lengths are errors
      (PyTorch accepts a blank in the target silently), as are lengths beyond ``T`` or ``S``
      and batch-first ``log_probs``.
    - The gradient is exact for ``log_probs``. PyTorch's backward returns
      ``exp(log_probs) - occupancy``, the gradient of the *logits* of a ``log_softmax``, where the
      derivative in ``log_probs`` is ``-occupancy``; losskit removes the ``exp(log_probs)`` term.
      After a ``log_softmax`` both give the same logits gradient; for anything else (and for
      ``gradcheck``) only the exact one is right. No double backward (PyTorch has none).
    - Under ``torch.compile``, ``torch.func`` transforms (``vmap``, ``grad``) and meta tensors,
      where PyTorch's kernel cannot trace, the same value comes from the log-space forward
      recursion written in torch ops (``T`` steps, unrolled by the compiler), with its exact
      autograd gradient; the value checks skip themselves there.

    Input: ``log_probs``, time-major ``(T, N, C)`` or ``(T, C)`` unbatched, log-probabilities
    over the last dimension (e.g. ``logits.log_softmax(-1)``; values > 0 are refused in full
    mode). Target: ``targets``, integer, padded ``(N, S)`` or concatenated
    ``(sum(target_lengths),)`` (``(S,)`` unbatched); ``input_lengths`` and ``target_lengths``:
    ``(N,)`` integer tensors or sequences (``()`` or an int unbatched).

    When to use:
        Sequence labelling without frame alignment: speech and handwriting recognition, OCR.

    Args:
        log_probs: per-frame log-probabilities of the C classes (blank included).
        targets: label sequences, without blanks.
        input_lengths: frames used per sequence, ``<= T``.
        target_lengths: labels per sequence.
        blank: the blank class index, in ``[0, C)``.
        zero_infinity: give impossible examples (infinite loss) a loss and gradient of 0 instead
            of refusing them.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` (``()`` unbatched) for ``"none"``. float16/bfloat16 log_probs are
        computed, and returned, in float32.

    Raises:
        LossInputError: shapes or dtypes off, batch-first log_probs, labels out of range or
            blank, lengths out of range, a target that cannot fit its input (unless
            ``zero_infinity``), log_probs > 0.

    Example:
        >>> import torch, losskit
        >>> log_probs = torch.tensor([[0.6, 0.4], [0.5, 0.5]]).log()  # (T=2, C=2), blank 0
        >>> losskit.ctc(log_probs, torch.tensor([1]), 2, 1)  # paths 11, 01, 10
        tensor(0.3567)

    References:
        Graves et al., Connectionist temporal classification (ICML 2006);
        :class:`torch.nn.CTCLoss`.
    """
    check_reduction(reduction)
    blank = check_int("blank", blank)
    zero_infinity = check_bool("zero_infinity", zero_infinity)
    check_floating("log_probs", log_probs)
    check_integer("targets", targets, "labels")
    if log_probs.dim() not in (2, 3):
        raise LossInputError(
            f"log_probs must be time-major (T, N, C), or (T, C) for one sequence, got shape "
            f"{tuple(log_probs.shape)}"
        )
    unbatched = log_probs.dim() == 2
    input_lengths = _lengths("input_lengths", input_lengths)
    target_lengths = _lengths("target_lengths", target_lengths)
    shapes = get_check_mode() != "off"  # shape checks read no data
    if unbatched:
        if shapes and (
            targets.dim() != 1 or input_lengths.numel() != 1 or target_lengths.numel() != 1
        ):
            raise LossInputError(
                "unbatched log_probs (T, C) take targets (S,) and one input and target length, got "
                f"targets {tuple(targets.shape)}, input_lengths {tuple(input_lengths.shape)}, "
                f"target_lengths {tuple(target_lengths.shape)}"
            )
        log_probs, targets = log_probs.unsqueeze(1), targets.unsqueeze(0)
        input_lengths, target_lengths = input_lengths.reshape(1), target_lengths.reshape(1)
    frames, batch, num_classes = log_probs.shape
    if not 0 <= blank < num_classes:
        raise LossInputError(
            f"blank must lie in [0, {num_classes}) (C = log_probs.shape[-1]), got {blank}"
        )
    if shapes:
        for name, lengths in (("input_lengths", input_lengths), ("target_lengths", target_lengths)):
            if lengths.shape != (batch,):
                raise LossInputError(
                    f"{name} must have shape ({batch},), one length per sequence in dim 1 of "
                    f"log_probs {tuple(log_probs.shape)} (T, N, C), got {tuple(lengths.shape)}"
                    + (
                        "; is log_probs batch-first (N, T, C)? pass log_probs.transpose(0, 1)"
                        if lengths.shape == (frames,)
                        else ""
                    )
                )
        if not (targets.dim() == 1 or (targets.dim() == 2 and targets.shape[0] == batch)):
            raise LossInputError(
                f"targets must be padded (N, S) = ({batch}, S) or concatenated 1-D, got shape "
                f"{tuple(targets.shape)}"
            )
    check_log_probs("log_probs", log_probs)
    in_long = input_lengths.to(device=targets.device, dtype=torch.long)
    tgt_long = target_lengths.to(device=targets.device, dtype=torch.long)
    if reads(in_long) and reads(tgt_long):
        _check_ctc_values(
            targets,
            in_long,
            tgt_long,
            frames=frames,
            num_classes=num_classes,
            blank=blank,
            zero_infinity=zero_infinity,
        )
    lp = ensure_float(log_probs)
    if batch == 0:  # PyTorch refuses empty log_probs: the sum over nothing, on the graph
        nll = lp.sum(dim=(0, 2))
    elif unreadable(lp) or unreadable(targets) or unreadable(input_lengths):
        nll = _ctc_recursion(
            lp,
            targets,
            in_long.to(lp.device),
            tgt_long.to(lp.device),
            blank=blank,
            zero_infinity=zero_infinity,
        )
    else:
        # PyTorch's CPU kernel reads strided 1-D (concatenated) targets at the wrong offsets
        # for every sequence after the first (offsets in labels, not in strides): copy.
        nll = _CTC.apply(  # type: ignore[no-untyped-call]
            lp, targets.contiguous(), input_lengths, target_lengths, blank, zero_infinity
        )[0]
    if reduction == "none":
        out = nll[0] if unbatched else nll
    elif reduction == "sum":
        out = nll.sum()
    else:
        per_label = nll / target_lengths.to(nll.device).clamp(min=1).to(nll.dtype)
        out = per_label.mean() if batch else nll.sum()
    return finish(out, log_probs=log_probs)
