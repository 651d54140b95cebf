"""Large-vocabulary cross-entropy that never materialises the full logits.

``linear_cross_entropy(hidden, weight, labels)`` is ``cross_entropy(hidden @ weight.T, labels)``
computed by walking the tokens in chunks: each chunk's logits, log-sum-exp, loss and the
gradients of ``hidden``, ``weight`` and ``bias`` are computed in one pass and the chunk is
freed, so the ``(N, V)`` logits and their gradient never exist. Extra memory is the gradient
outputs plus one ``(chunk_size, V)`` buffer, where the plain formula holds three ``(N, V)``
tensors.

The chunked loop needs the number of non-ignored tokens on the host and writes into reused
buffers, so it cannot trace. Where data cannot be read (``torch.compile``, ``torch.func``
transforms, meta and fake tensors) and for a second-order gradient (``create_graph=True``), the
plain formula :func:`_plain` computes the same value on the materialised logits: correct, with
the plain formula's memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal, overload

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_bool,
    check_floating,
    check_ignore_index,
    check_int,
    check_labels,
    check_option,
    check_reduction,
    check_tensor,
    finish,
    get_check_mode,
    masked_mean,
    reads,
    unreadable,
)
from losskit._spec import Activation, Decode, Family, MeanOver, Prop, Space, Targets, register
from losskit.losses import _examples as ex

__all__ = [
    "default_chunk_size",
    "linear_cross_entropy",
    "linear_distillation",
    "linear_log_probs",
    "linear_topk_distillation",
]

# Default chunk: about this many bytes of float32 logits per chunk (C * V * 4), and never fewer
# than _MIN_ROWS rows (skinny GEMMs run well below the matrix-product floor; the bench's lce
# section measures the chunk sizes).
_CHUNK_BYTES = 64 * 2**20
_MIN_ROWS = 256
# At most this many logits (4 MiB in float32) go through PyTorch's materialised path.
_SMALL_LOGITS = 2**20
# ignore_index=None (no label ignored) inside: a label no valid call holds
_NO_LABEL = -(2**63)


def default_chunk_size(num_tokens: int, vocab_size: int) -> int:
    """Tokens per chunk when ``chunk_size=None``: a ``(C, V)`` float32 logits buffer of about
    64 MiB, with ``256 <= C`` (rounded down to a multiple of 64), and never more than the tokens.

    >>> default_chunk_size(4096, 32768), default_chunk_size(4096, 131072), default_chunk_size(10, 8)
    (512, 256, 10)
    """
    rows = max(_MIN_ROWS, (_CHUNK_BYTES // (4 * max(vocab_size, 1))) // 64 * 64)
    return max(1, min(num_tokens, rows))


def _true() -> bool:
    return True


def _hand_over(ctx: Any, grad_out: Tensor, name: str) -> list[Tensor | None]:
    """The gradients a reduced call computed in its forward pass, scaled by ``grad_out``.

    retain_graph=True (or gradcheck) may ask again: then they are scaled copies. Otherwise the
    buffers are handed over, scaled in place: no second gradient-sized allocation."""
    grads = ctx.grads
    if grads is None:
        raise RuntimeError(
            f"{name}: backward through the same call twice; its gradients were computed in the "
            "forward pass and handed over to the first backward; pass retain_graph=True to that "
            "one, or call the loss again"
        )
    keep = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", _true)()
    if keep:
        return [None if g is None else g * grad_out for g in grads]
    ctx.grads = None
    if bool(grad_out == 1):
        return list(grads)
    return [None if g is None else g.mul_(grad_out) for g in grads]


def _cast(grads: list[Tensor | None], dtypes: tuple[Any, ...]) -> list[Tensor | None]:
    """Each gradient in its input's dtype."""
    return [g if g is None or g.dtype == d else g.to(d) for g, d in zip(grads, dtypes, strict=True)]


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


class _Rows:
    """The non-ignored tokens, walked in chunks: contiguous slices when no label is ignored,
    index chunks otherwise (ignored tokens cost nothing)."""

    def __init__(self, labels: Tensor, ignore_index: int, chunk_size: int | None, vocab: int):
        self.index: Tensor | None = None
        if ignore_index == _NO_LABEL:  # no label ignored: every token, no sync
            self.count = labels.numel()
        else:
            valid = labels != ignore_index
            self.count = int(valid.sum())  # one sync: the loop needs the number of tokens anyway
            self.index = None if self.count == labels.numel() else valid.nonzero().squeeze(1)
        self.chunk_size = chunk_size or default_chunk_size(self.count, vocab)

    def __iter__(self) -> Iterator[tuple[slice | Tensor, int]]:
        for start in range(0, self.count, self.chunk_size):
            stop = min(start + self.chunk_size, self.count)
            rows = slice(start, stop) if self.index is None else self.index[start:stop]
            yield rows, stop - start


def _take(x: Tensor, rows: slice | Tensor) -> Tensor:
    return x[rows] if isinstance(rows, slice) else x.index_select(0, rows)


def _chunk(
    buf: Tensor,
    extra: Tensor | None,
    h: Tensor,
    y: Tensor,
    w: Tensor,
    b: Tensor | None,
    opts: dict[str, Any],
    row_scale: Tensor | float | None,
) -> Tensor:
    """Loss of one chunk of tokens; when ``row_scale`` is given, ``buf`` is left holding the
    gradient of ``sum_n row_scale_n * loss_n`` with respect to the chunk's logits.

    ``buf`` (C, V) and ``extra`` (C, V, only with softcap) are reused between chunks.
    """
    eps, zl, cap = opts["label_smoothing"], opts["z_loss"], opts["softcap"]
    vocab = buf.shape[1]
    # logits = h @ w.T (+ b), written into the reused buffer: (C, V)
    if b is None:
        torch.mm(h, w.t(), out=buf)
    else:
        torch.addmm(b, h, w.t(), out=buf)
    if cap is not None:
        # z = cap * tanh(logits / cap); keep t = tanh(.) for the chain rule: dz/dlogit = 1 - t^2
        buf.div_(cap).tanh_()
        if extra is not None:
            extra.copy_(buf)
        buf.mul_(cap)
    z_y = buf.gather(1, y.unsqueeze(1)).squeeze(1)  # (C,) target logit
    z_mean = buf.mean(1) if eps else None  # (C,) for the smoothing term
    # log-sum-exp: m + log(sum exp(z - m)); buf becomes exp(z - m), never a second (C, V) tensor
    m = buf.amax(1, keepdim=True)
    buf.sub_(m).exp_()
    s = buf.sum(1)
    lse = m.squeeze(1) + s.log()
    loss = lse - z_y
    if eps:
        # (1 - e) (lse - z_y) + e * mean_c (lse - z_c)
        loss = (1 - eps) * loss + eps * (lse - z_mean)  # type: ignore[operator]
    if zl:
        loss = loss + zl * lse.square()
    if row_scale is None:
        return loss
    # d loss_n / d z_nc = (1 + 2 zl lse_n) softmax_nc - (1 - e) [c == y_n] - e / V,
    # each row scaled by row_scale_n (1/count for a mean, the upstream gradient for "none")
    scale = torch.as_tensor(row_scale, dtype=buf.dtype, device=buf.device).expand(h.shape[0])
    factor = scale / s if not zl else scale * (1 + 2 * zl * lse) / s
    buf.mul_(factor.unsqueeze(1))
    buf.scatter_add_(1, y.unsqueeze(1), (-(1 - eps) * scale).unsqueeze(1))
    if eps:
        buf.sub_((eps / vocab * scale).unsqueeze(1))
    if cap is not None and extra is not None:
        # d z / d logit = 1 - t^2: buf - buf * t^2
        extra.square_()
        buf.addcmul_(buf, extra, value=-1.0)
    return loss


def _walk(
    hidden: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    labels: Tensor,
    rows: _Rows,
    opts: dict[str, Any],
    *,
    row_scale: Tensor | float | None,
    need: tuple[bool, bool, bool],
) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor | None]:
    """One pass over the tokens: per-token losses (N,) in the compute dtype (0 where ignored)
    and, when ``row_scale`` is given, the gradients selected by ``need`` (hidden, weight, bias)
    of ``sum_n row_scale_n * loss_n``."""
    n, vocab = hidden.shape[0], weight.shape[0]
    compute = _compute_dtype(hidden.dtype)
    # half precision: every product and sum in float32 (fp32 accumulators), cast at the end
    w = weight.to(compute)
    b = None if bias is None else bias.to(compute)
    chunk = min(rows.chunk_size, max(rows.count, 1))
    buf = hidden.new_empty((chunk, vocab), dtype=compute)
    extra = (
        buf.new_empty(buf.shape) if opts["softcap"] is not None and row_scale is not None else None
    )
    losses = hidden.new_zeros(n, dtype=compute)
    grad = row_scale is not None
    # every row of gh is written when no token is ignored: no need to zero it first
    gh = None
    if grad and need[0]:
        gh = (
            hidden.new_empty(hidden.shape) if rows.index is None else hidden.new_zeros(hidden.shape)
        )
    gw = w.new_zeros(w.shape) if grad and need[1] else None
    gb = w.new_zeros(vocab) if grad and need[2] else None
    for idx, c in rows:
        h = _take(hidden, idx).to(compute)
        y = _take(labels, idx)
        scale = row_scale[idx] if isinstance(row_scale, Tensor) and row_scale.dim() else row_scale
        loss = _chunk(buf[:c], None if extra is None else extra[:c], h, y, w, b, opts, scale)
        if isinstance(idx, slice):
            losses[idx] = loss
        else:
            losses.index_copy_(0, idx, loss)
        if not grad:
            continue
        g = buf[:c]  # (C, V): d loss / d logits of this chunk
        if gh is not None:
            if isinstance(idx, Tensor):
                gh.index_copy_(0, idx, torch.mm(g, w).to(gh.dtype))
            elif gh.dtype == compute:
                torch.mm(g, w, out=gh[idx])  # straight into the gradient: no (C, D) temporary
            else:
                gh[idx] = torch.mm(g, w)
        if gw is not None:
            gw.addmm_(g.t(), h)  # (V, C) @ (C, D)
        if gb is not None:
            gb += g.sum(0)
    return losses, gh, gw, gb


def _plain(
    hidden: Tensor, weight: Tensor, bias: Tensor | None, labels: Tensor, opts: dict[str, Any]
) -> Tensor:
    """The plain formula on the materialised ``(N, V)`` logits, in the compute dtype: the same
    value as the chunked loop, differentiable to any order and traceable, with the plain
    formula's memory. Used under tracing, transforms and meta tensors, and for double backward."""
    compute = _compute_dtype(hidden.dtype)
    z = F.linear(hidden.to(compute), weight.to(compute), None if bias is None else bias.to(compute))
    cap = opts["softcap"]
    if cap is not None:
        z = cap * torch.tanh(z / cap)
    ignore = opts["ignore_index"]
    per = F.cross_entropy(
        z, labels, ignore_index=ignore, label_smoothing=opts["label_smoothing"], reduction="none"
    )
    valid = labels != ignore
    if opts["z_loss"]:
        per = per + opts["z_loss"] * torch.logsumexp(z, 1).square() * valid
    if opts["reduction"] == "none":
        return per
    if opts["reduction"] == "sum":
        return per.sum()
    # over non-ignored tokens; 0.0 (graph-connected) over none
    return masked_mean(per.sum(), valid.sum().to(per.dtype))


class _LinearCrossEntropy(torch.autograd.Function):
    """Forward computes the loss and, for "mean"/"sum", the gradients too (3 GEMMs per chunk);
    backward only scales them by the upstream gradient. For "none" the upstream gradient is a
    vector known only in backward, so backward walks the chunks again (4 GEMMs in all)."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        labels: Tensor,
        opts: dict[str, Any],
        want_grad: bool,
    ) -> Tensor:
        need = tuple(ctx.needs_input_grad[:3])
        rows = _Rows(labels, opts["ignore_index"], opts["chunk_size"], weight.shape[0])
        ctx.opts, ctx.rows = opts, rows
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        # the inputs themselves (no copy): "none" recomputes from them, double backward too
        ctx.save_for_backward(hidden, weight, bias, labels)
        if opts["reduction"] == "none":
            losses, *_ = _walk(hidden, weight, bias, labels, rows, opts, row_scale=None, need=need)
            return losses.to(hidden.dtype)
        count = max(rows.count, 1) if opts["reduction"] == "mean" else 1
        row_scale = 1.0 / count if want_grad else None
        losses, *grads = _walk(
            hidden, weight, bias, labels, rows, opts, row_scale=row_scale, need=need
        )
        ctx.grads = grads
        # a mean over nothing (every label ignored) is 0 / 1 = 0.0, still connected to the graph
        return (losses.sum() / count).to(hidden.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        if torch.is_grad_enabled():
            # create_graph=True (a gradient penalty, a Hessian-vector product): the gradients
            # above are constants to autograd, so their own derivative would be a silent 0.
            # Differentiate the plain formula of the saved inputs instead: a gradient that is
            # itself differentiable, at the plain formula's memory.
            return _double_backward(ctx, grad_out)
        if ctx.opts["reduction"] == "none":
            hidden, weight, bias, labels = ctx.saved_tensors
            scale = grad_out.to(_compute_dtype(hidden.dtype))
            _, *grads = _walk(
                hidden,
                weight,
                bias,
                labels,
                ctx.rows,
                ctx.opts,
                row_scale=scale,
                need=tuple(ctx.needs_input_grad[:3]),
            )
        else:
            grads = _hand_over(ctx, grad_out, "linear_cross_entropy")
        grads = _cast(grads, ctx.dtypes)
        return (*grads, None, None, None)


def _double_backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
    """Backward of :class:`_LinearCrossEntropy` under ``create_graph=True``: the gradient of the
    plain formula, graph-connected to the inputs, so it can be differentiated again."""
    hidden, weight, bias, labels = ctx.saved_tensors
    wanted = [
        t for t, need in zip((hidden, weight, bias), ctx.needs_input_grad[:3], strict=True) if need
    ]
    value = _plain(hidden, weight, bias, labels, ctx.opts)
    found = iter(torch.autograd.grad(value, wanted, grad_out.to(value.dtype), create_graph=True))
    grads = [next(found) if need else None for need in ctx.needs_input_grad[:3]]
    return (*grads, None, None, None)


def _small(hidden: Tensor, weight: Tensor, opts: dict[str, Any]) -> bool:
    """Whether PyTorch's materialised path serves this call: at most ``_SMALL_LOGITS`` logits,
    no chunk smaller than the batch, options it has, and a dtype it computes in full."""
    n, vocab = hidden.shape[0], weight.shape[0]
    chunk = opts["chunk_size"]
    return (
        n * vocab <= _SMALL_LOGITS
        and (chunk is None or chunk >= n)
        and opts["softcap"] is None
        and not opts["z_loss"]
        and hidden.dtype in (torch.float32, torch.float64)
    )


def _check_inputs(
    hidden: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    labels: Tensor | None,
    ignore_index: int | None,
    *,
    prefix: str = "",
) -> int:
    """Shapes and dtypes of the tensors (and the label values where they are read). Returns V.
    ``prefix`` names a second head's arguments (``teacher_hidden``, ...); ``labels`` None: no
    labels to check."""
    hn, wn, bn = f"{prefix}hidden", f"{prefix}weight", f"{prefix}bias"
    check_floating(hn, hidden)
    check_floating(wn, weight)
    if bias is not None:
        check_floating(bn, bias)
    if labels is not None:
        check_tensor("labels", labels)
    if get_check_mode() == "off":
        return weight.shape[0]
    if weight.dim() != 2:
        raise LossInputError(
            f"{wn} must be the (V, D) classifier matrix (nn.Linear(D, V).weight), got shape "
            f"{tuple(weight.shape)}"
        )
    vocab, dim = weight.shape
    if hidden.dim() == 0 or hidden.shape[-1] != dim:
        hint = (
            f"; did you pass {wn}.T? {wn} is (V, D), as nn.Linear(D, V).weight"
            if hidden.dim() and hidden.shape[-1] == vocab
            else ""
        )
        raise LossInputError(
            f"{hn} {tuple(hidden.shape)} vs {wn} {tuple(weight.shape)}: the last dim of {hn} "
            f"(D) must equal {wn}'s dim 1{hint}"
        )
    if bias is not None and tuple(bias.shape) != (vocab,):
        raise LossInputError(f"{bn} must have shape ({vocab},), got {tuple(bias.shape)}")
    if vocab < 2:
        raise LossInputError(
            f"{wn} has a single row (V = 1): a softmax over one class is always 1 and its loss "
            "always 0"
        )
    if labels is None:
        return vocab
    expected = tuple(hidden.shape[:-1])
    if tuple(labels.shape) != expected:
        hint = ""
        if labels.numel() == hidden.numel() // dim:
            hint = f"; reshape labels to {expected}, or flatten both: {hn}.reshape(-1, {dim})"
        elif labels.dim() == hidden.dim() - 1 and labels.shape[-1] == hidden.shape[-2] + 1:
            hint = f"; a causal LM shifts first: {hn}[:, :-1] against labels[:, 1:]"
        raise LossInputError(
            f"labels must have shape {expected} (that of {hn} {tuple(hidden.shape)} without "
            f"the feature dim), got {tuple(labels.shape)}{hint}"
        )
    check_labels("labels", labels, vocab, ignore_index=ignore_index)
    return vocab


@register(
    family=Family.LARGE_VOCAB,
    inputs=Space.HIDDEN,
    targets=Targets.CLASS_LABELS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.PROPER},
    metrics=("accuracy", "perplexity"),
    aliases=("fused_linear_cross_entropy", "lm_head_cross_entropy"),
    example=ex.lm_head,
)
def linear_cross_entropy(
    hidden: Tensor,
    weight: Tensor,
    labels: Tensor,
    *,
    bias: Tensor | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    z_loss: float = 0.0,
    softcap: float | None = None,
    reduction: str = "mean",
    chunk_size: int | None = None,
) -> Tensor:
    """Cross-entropy of a linear classifier head, ``cross_entropy(hidden @ weight.T + bias,
    labels)``, without ever holding the ``(N, V)`` logits or their gradient.

    With ``z_t = softcap * tanh(logits_t / softcap)`` (or the logits themselves) and
    ``lse_t = logsumexp_c z_tc``, the loss of token ``t`` is
    ``l_t = (1 - e) (lse_t - z_{t,y_t}) + e (lse_t - mean_c z_tc) + z_loss * lse_t^2``
    (``e = label_smoothing``), and 0 for a token whose label is ``ignore_index``. ``"mean"``
    divides the sum by the number of non-ignored tokens (0.0, graph-connected, when there is
    none; PyTorch gives NaN there); ``"sum"`` adds them; ``"none"`` returns ``l_t`` per token.
    The z-loss term (PaLM's ``1e-4 * lse^2``, which keeps the normaliser near 1) is part of the
    returned value when ``z_loss > 0``.

    The tokens are walked in chunks of ``chunk_size``: each chunk's logits, log-sum-exp, loss
    and the gradients of ``hidden``, ``weight`` and ``bias`` are computed in the same pass and
    the chunk's buffer is reused, so the extra memory is the gradients plus one
    ``(chunk_size, V)`` buffer (two with ``softcap``). Ignored tokens are skipped, not computed.
    For ``"mean"``/``"sum"`` the gradients are computed in the forward pass (three matrix
    products per chunk, as the plain formula) and backward only scales them; ``"none"``
    recomputes each chunk's logits in backward (four products), because its per-token upstream
    gradient is known only then. Small calls (at most 2^20 logits, float32/float64, no
    ``softcap`` or ``z_loss``, no ``chunk_size`` below the batch) go through
    :func:`torch.nn.functional.linear_cross_entropy` on the materialised logits instead: the
    same maths with less per-call overhead, and at most 4 MiB of logits. Under ``torch.compile``,
    ``torch.func`` transforms (``vmap``, ``grad``) and meta tensors, where the loop cannot trace,
    the value is the plain formula ``cross_entropy(hidden @ weight.T + bias, labels)`` with the
    same options, on the materialised logits (the plain formula's memory).

    Double backward (``create_graph=True``: a gradient penalty, a Hessian-vector product) is
    exact: the chunked path's backward then differentiates the plain formula of its inputs,
    holding the ``(N, V)`` logits for that call only.

    Input: ``hidden`` ``(*, D)``, floating; ``weight`` ``(V, D)`` (``nn.Linear(D, V).weight``);
    ``bias`` ``(V,)`` or None; floating dtypes that differ promote as torch's type promotion
    would (e.g. bfloat16 hidden states with a float32 head compute in float32). Target: ``labels`` ``(*)`` (``hidden``'s shape
    without the last dim), int64/int32, in ``[0, V)`` or ``ignore_index``.

    When to use:
        Training a language model (or any classifier with a large number of classes V): same
        value and gradients as cross_entropy(hidden @ weight.T, labels) with a fraction of the
        memory.

    Args:
        hidden: the last hidden states, one row per token.
        weight: the classifier (LM head) matrix, one row per class.
        labels: class (token) indices; a causal LM shifts them first.
        bias: optional ``(V,)`` classifier bias.
        ignore_index: label value that is skipped (prompt or padding tokens); None: no label
            is skipped.
        label_smoothing: in [0, 1]; mass moved uniformly over the V classes.
        z_loss: >= 0; adds ``z_loss * lse^2`` per token.
        softcap: > 0 or None; logits pass through ``softcap * tanh(logits / softcap)`` first
            (Gemma 2).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.
        chunk_size: tokens per chunk; None picks about 64 MiB of float32 logits per chunk
            (:func:`default_chunk_size`). Smaller saves memory, larger saves time.

    Returns:
        A scalar, or the shape of ``labels`` for ``"none"``, in the promoted dtype of
        ``hidden``, ``weight`` and ``bias``.

    Raises:
        LossInputError: mismatched shapes (a transposed ``weight`` is named), non-floating
            inputs, labels out of range or not integer, ``V = 1``, options of the wrong type or
            outside their range, a non-finite input (named) when the loss is not finite.

    Example:
        >>> import torch, losskit
        >>> hidden = torch.tensor([[1.0, 0.0], [0.5, -1.0], [0.0, 2.0]])
        >>> weight = torch.tensor([[1.0, 1.0], [-1.0, 0.5], [0.0, -1.0]])
        >>> losskit.linear_cross_entropy(hidden, weight, torch.tensor([0, 2, -100]))
        tensor(0.3570)

    References:
        Wijmans et al., Cut Your Losses in Large-Vocabulary Language Models (ICLR 2025);
        Hsu et al., Liger Kernel: Efficient Triton Kernels for LLM Training (2024), fused linear
        cross entropy; Chowdhery et al., PaLM (2022), z-loss; Gemma Team, Gemma 2 (2024),
        logit soft-capping.

    Stability: log-sum-exp subtracts the row maximum; half-precision inputs are computed in
    float32 (products, softmax and the weight-gradient accumulator) and cast back at the end.
    """
    check_reduction(reduction)
    ignore_index = check_ignore_index(ignore_index)
    label_smoothing = check_option("label_smoothing", label_smoothing, low=0.0, high=1.0)
    z_loss = check_option("z_loss", z_loss, low=0.0)
    if softcap is not None:
        softcap = check_option("softcap", softcap, low=0.0, low_open=True)
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, low=1)
    _check_inputs(hidden, weight, bias, labels, ignore_index)
    # mixed floating dtypes promote as torch would (the cast is a no-op when they agree)
    dtype = torch.promote_types(hidden.dtype, weight.dtype)
    if bias is not None:
        dtype = torch.promote_types(dtype, bias.dtype)
    h, w = hidden.to(dtype), weight.to(dtype)
    b = None if bias is None else bias.to(dtype)
    shape = labels.shape
    flat_hidden = h.reshape(-1, h.shape[-1])  # (N, D)
    flat_labels = labels.reshape(-1).long()  # (N,)
    ignore = _NO_LABEL if ignore_index is None else ignore_index
    opts: dict[str, Any] = {
        "ignore_index": ignore,
        "label_smoothing": label_smoothing,
        "z_loss": z_loss,
        "softcap": softcap,
        "reduction": reduction,
        "chunk_size": chunk_size,
    }
    if any(unreadable(t) for t in (flat_hidden, w, flat_labels)):
        # the chunked loop reads the token count and writes reused buffers: it cannot trace
        out = _plain(flat_hidden, w, b, flat_labels, opts).to(dtype)
    elif _small(flat_hidden, w, opts):
        # Small logits (<= 1 Mi entries, one chunk anyway): PyTorch's own kernel on the
        # materialised logits is the same maths, with less per-call overhead than the loop.
        out = F.linear_cross_entropy(
            flat_hidden,
            w,
            flat_labels,
            linear_bias=b,
            ignore_index=ignore,
            label_smoothing=label_smoothing,
            reduction="none" if reduction == "none" else "sum",
        )
        if reduction == "mean":  # over non-ignored tokens; 0.0 (graph-connected) over none
            out = masked_mean(out, (flat_labels != ignore).sum().to(out.dtype))
    else:
        want_grad = torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (flat_hidden, w, b)
        )
        out = _LinearCrossEntropy.apply(  # type: ignore[no-untyped-call]
            flat_hidden, w, b, flat_labels, opts, want_grad
        )
    if reduction == "none":
        out = out.reshape(shape)
    return finish(out, hidden=hidden, weight=weight, bias=bias)


# ----------------------------------------------------------------------------- per-token log-probs
def _scaled_logits(
    buf: Tensor,
    h: Tensor,
    w: Tensor,
    b: Tensor | None,
    opts: dict[str, Any],
    keep_tanh: Tensor | None = None,
) -> None:
    """``buf`` (C, V) := ``u = softcap(h @ w.T + b) / temperature``; ``keep_tanh`` (C, V), when
    given, keeps ``t = tanh(logits / softcap)`` for the chain rule (``dz/dlogit = 1 - t^2``)."""
    cap, temp = opts["softcap"], opts["temperature"]
    if b is None:
        torch.mm(h, w.t(), out=buf)
    else:
        torch.addmm(b, h, w.t(), out=buf)
    if cap is not None:
        buf.div_(cap).tanh_()
        if keep_tanh is not None:
            keep_tanh.copy_(buf)
        buf.mul_(cap / temp)  # softcap first, then the temperature: one pass for both
    elif temp != 1.0:
        buf.div_(temp)


def _lp_forward_chunk(
    buf: Tensor, extra: Tensor | None, y: Tensor
) -> tuple[Tensor, Tensor, Tensor | None]:
    """From ``buf`` = u (C, V): the log-probability of each target, the log-sum-exp and, when
    ``extra`` (a second (C, V) buffer) is given, the entropy. ``buf`` is overwritten."""
    u_y = buf.gather(1, y.unsqueeze(1)).squeeze(1)  # (C,)
    m = buf.amax(1, keepdim=True)
    buf.sub_(m)  # v = u - max u <= 0
    if extra is None:
        s = buf.exp_().sum(1)
        ent = None
    else:
        # H = -sum p log p = log s - sum_c e^v_c v_c / s, with s = sum_c e^v_c
        torch.exp(buf, out=extra)
        s = extra.sum(1)
        ent = s.log() - extra.mul_(buf).sum(1) / s
    lse = m.squeeze(1) + s.log()
    return u_y - lse, lse, ent


def _lp_backward_chunk(
    buf: Tensor,
    p_buf: Tensor | None,
    y: Tensor,
    lse: Tensor,
    ent: Tensor | None,
    g_lp: Tensor | None,
    g_ent: Tensor | None,
) -> None:
    """``buf`` = u (C, V) becomes ``d(sum g_lp * log p_y + g_ent * H) / du``:
    ``g_lp ([c == y] - p_c) - g_ent p_c (log p_c + H)``. ``p_buf`` (C, V) is needed with
    ``g_ent``."""
    buf.sub_(lse.unsqueeze(1))  # log p
    if g_ent is None:
        buf.exp_()  # p
        if g_lp is None:
            buf.zero_()
        else:
            buf.mul_(-g_lp.unsqueeze(1))
    else:
        assert p_buf is not None and ent is not None
        torch.exp(buf, out=p_buf)
        # -p (g_lp + g_ent (log p + H)) = p * (log p * (-g_ent) - (g_lp + g_ent H))
        shift = g_ent * ent if g_lp is None else g_lp + g_ent * ent
        buf.mul_(-g_ent.unsqueeze(1)).sub_(shift.unsqueeze(1)).mul_(p_buf)
    if g_lp is not None:
        buf.scatter_add_(1, y.unsqueeze(1), g_lp.unsqueeze(1))


def _lp_walk(
    hidden: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    labels: Tensor,
    rows: _Rows,
    opts: dict[str, Any],
    *,
    entropy: bool,
    saved: tuple[Tensor, Tensor | None] | None = None,
    upstream: tuple[Tensor | None, Tensor | None] = (None, None),
    need: tuple[bool, bool, bool] = (False, False, False),
) -> tuple[Tensor, ...]:
    """One pass over the non-ignored tokens. Forward (``saved`` None): returns the per-token
    log-probs, log-sum-exp and entropy (N,) in the compute dtype, 0 where ignored (no entropy:
    an empty tensor). Backward (``saved`` = (lse, entropy)): recomputes each chunk's logits and
    returns the gradients (hidden, weight, bias; None where not needed) of
    ``sum_n g_lp_n log p_n + g_ent_n H_n`` for ``upstream`` = (g_lp, g_ent)."""
    n, vocab = hidden.shape[0], weight.shape[0]
    compute = _compute_dtype(hidden.dtype)
    w = weight.to(compute)
    b = None if bias is None else bias.to(compute)
    chunk = min(rows.chunk_size, max(rows.count, 1))
    backward = saved is not None
    g_lp, g_ent = upstream
    buf = hidden.new_empty((chunk, vocab), dtype=compute)
    # a second buffer for the entropy's probabilities, a third for softcap's tanh (backward)
    p_buf = buf.new_empty(buf.shape) if entropy and (not backward or g_ent is not None) else None
    t_buf = buf.new_empty(buf.shape) if backward and opts["softcap"] is not None else None
    if not backward:
        lps = hidden.new_zeros(n, dtype=compute)
        lses = hidden.new_zeros(n, dtype=compute)
        ents = hidden.new_zeros(n if entropy else 0, dtype=compute)
        for idx, c in rows:
            h = _take(hidden, idx).to(compute)
            _scaled_logits(buf[:c], h, w, b, opts)
            lp, lse, ent = _lp_forward_chunk(
                buf[:c], None if p_buf is None else p_buf[:c], _take(labels, idx)
            )
            outs = [(lps, lp), (lses, lse)] + ([(ents, ent)] if ent is not None else [])
            for out, val in outs:
                if isinstance(idx, slice):
                    out[idx] = val
                else:
                    out.index_copy_(0, idx, val)
        return lps, lses, ents
    assert saved is not None
    lse_all, ent_all = saved
    # every row of gh is written when no token is ignored: no need to zero it first
    gh = None
    if need[0]:
        gh = (
            hidden.new_empty(hidden.shape) if rows.index is None else hidden.new_zeros(hidden.shape)
        )
    gw = w.new_zeros(w.shape) if need[1] else None
    gb = w.new_zeros(vocab) if need[2] else None
    inv_t = 1.0 / opts["temperature"]
    for idx, c in rows:
        h = _take(hidden, idx).to(compute)
        tanh = None if t_buf is None else t_buf[:c]
        _scaled_logits(buf[:c], h, w, b, opts, keep_tanh=tanh)
        # du/dlogit = (1 - t^2) / temperature: the 1/temperature rides on the row factors
        up = [None if g is None else _take(g, idx) * inv_t for g in (g_lp, g_ent)]
        _lp_backward_chunk(
            buf[:c],
            None if p_buf is None else p_buf[:c],
            _take(labels, idx),
            _take(lse_all, idx),
            None if ent_all is None else _take(ent_all, idx),
            up[0],
            up[1],
        )
        g = buf[:c]  # (C, V): d / d logits of this chunk
        if tanh is not None:
            tanh.square_()
            g.addcmul_(g, tanh, value=-1.0)  # g (1 - t^2)
        if gh is not None:
            if isinstance(idx, Tensor):
                gh.index_copy_(0, idx, torch.mm(g, w).to(gh.dtype))
            elif gh.dtype == compute:
                torch.mm(g, w, out=gh[idx])
            else:
                gh[idx] = torch.mm(g, w)
        if gw is not None:
            gw.addmm_(g.t(), h)
        if gb is not None:
            gb += g.sum(0)
    return gh, gw, gb  # type: ignore[return-value]


def _plain_log_probs(
    hidden: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    labels: Tensor,
    opts: dict[str, Any],
    entropy: bool,
) -> tuple[Tensor, Tensor | None]:
    """The formula on the materialised ``(N, V)`` logits, in the compute dtype: differentiable
    to any order and traceable. Used for small calls, under tracing, transforms and meta
    tensors, and for double backward."""
    compute = _compute_dtype(hidden.dtype)
    z = F.linear(hidden.to(compute), weight.to(compute), None if bias is None else bias.to(compute))
    cap = opts["softcap"]
    if cap is not None:
        z = cap * torch.tanh(z / cap)
    log_p = torch.log_softmax(z / opts["temperature"], 1)  # (N, V)
    valid = labels != opts["ignore_index"]
    safe = torch.where(valid, labels, 0)
    zero = log_p.new_zeros(())
    lp = torch.where(valid, log_p.gather(1, safe.unsqueeze(1)).squeeze(1), zero)
    if not entropy:
        return lp, None
    ent = -(log_p.exp() * log_p).sum(1)
    return lp, torch.where(valid, ent, zero)


class _LinearLogProbs(torch.autograd.Function):
    """Forward: one product per chunk (the logits), the log-probs, log-sum-exp and entropy kept
    per token. Backward: each chunk's logits again, then the two gradient products (4 in all),
    because the per-token upstream gradients are known only then."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        labels: Tensor,
        opts: dict[str, Any],
        entropy: bool,
    ) -> tuple[Tensor, Tensor]:
        ctx.set_materialize_grads(False)  # an unused output (often the entropy) sends None
        rows = _Rows(labels, opts["ignore_index"], opts["chunk_size"], weight.shape[0])
        lp, lse, ent = _lp_walk(hidden, weight, bias, labels, rows, opts, entropy=entropy)
        ctx.opts, ctx.rows, ctx.entropy = opts, rows, entropy
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        # the inputs themselves (no copy) and two (N,) vectors: backward recomputes the logits
        ctx.save_for_backward(hidden, weight, bias, labels, lse, ent)
        out = hidden.dtype
        return lp.to(out), ent.to(out)

    @staticmethod
    def backward(ctx: Any, g_lp: Tensor | None, g_ent: Tensor | None) -> tuple[Tensor | None, ...]:
        hidden, weight, bias, labels, lse, ent = ctx.saved_tensors
        need = tuple(ctx.needs_input_grad[:3])
        if torch.is_grad_enabled():
            # create_graph=True: differentiate the plain formula instead, so that the gradient
            # is itself differentiable (the plain formula's memory, for this call only)
            wanted = [t for t, k in zip((hidden, weight, bias), need, strict=True) if k]
            lp, h = _plain_log_probs(hidden, weight, bias, labels, ctx.opts, ctx.entropy)
            pairs = [(o, g) for o, g in ((lp, g_lp), (h, g_ent)) if o is not None and g is not None]
            found = iter(
                torch.autograd.grad(
                    [o for o, _ in pairs],
                    wanted,
                    [g.to(o.dtype) for o, g in pairs],
                    create_graph=True,
                    allow_unused=True,
                )
            )
            grads = [next(found) if k else None for k in need]
            return (*grads, None, None, None)
        compute = lse.dtype
        up = (
            None if g_lp is None else g_lp.to(compute),
            None if g_ent is None or not ctx.entropy else g_ent.to(compute),
        )
        if up == (None, None):
            return (None,) * 6
        walked = _lp_walk(
            hidden,
            weight,
            bias,
            labels,
            ctx.rows,
            ctx.opts,
            entropy=ctx.entropy,
            saved=(lse, ent if ctx.entropy else None),
            upstream=up,
            need=need,
        )
        out = [
            g if g is None or g.dtype == d else g.to(d)
            for g, d in zip(walked, ctx.dtypes, strict=True)
        ]
        return (*out, None, None, None)


@overload
def linear_log_probs(
    hidden: Tensor,
    weight: Tensor,
    labels: Tensor,
    *,
    bias: Tensor | None = ...,
    temperature: float = ...,
    ignore_index: int | None = ...,
    softcap: float | None = ...,
    chunk_size: int | None = ...,
    entropy: Literal[False] = ...,
) -> Tensor: ...
@overload
def linear_log_probs(
    hidden: Tensor,
    weight: Tensor,
    labels: Tensor,
    *,
    bias: Tensor | None = ...,
    temperature: float = ...,
    ignore_index: int | None = ...,
    softcap: float | None = ...,
    chunk_size: int | None = ...,
    entropy: Literal[True],
) -> tuple[Tensor, Tensor]: ...
@overload
def linear_log_probs(
    hidden: Tensor,
    weight: Tensor,
    labels: Tensor,
    *,
    bias: Tensor | None = ...,
    temperature: float = ...,
    ignore_index: int | None = ...,
    softcap: float | None = ...,
    chunk_size: int | None = ...,
    entropy: bool,
) -> Tensor | tuple[Tensor, Tensor]: ...


def linear_log_probs(
    hidden: Tensor,
    weight: Tensor,
    labels: Tensor,
    *,
    bias: Tensor | None = None,
    temperature: float = 1.0,
    ignore_index: int | None = -100,
    softcap: float | None = None,
    chunk_size: int | None = None,
    entropy: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Per-token log-probability of each label (and the entropy) under a linear head,
    ``log_softmax((hidden @ weight.T + bias) / temperature)[label]``, without ever holding the
    ``(N, V)`` logits or their gradient.

    With ``z_t = softcap * tanh(logits_t / softcap)`` (or the logits themselves) and
    ``u_t = z_t / temperature`` (soft-cap first, then the temperature, as a model with a capped
    head sampled at a temperature), ``p_t = softmax(u_t)`` and
    ``log p_t(y_t) = u_{t,y_t} - logsumexp_c u_tc``; with ``entropy=True`` also
    ``H_t = -sum_c p_tc log p_tc``. Both are 0.0 at a token whose label is ``ignore_index``
    (and carry no gradient there). This is not a loss: it is the per-token quantity the
    preference (DPO, ORPO, SimPO, KTO) and policy-gradient (PPO, GRPO) losses are built from,
    e.g. a sequence's log-probability is ``linear_log_probs(...).sum(-1)`` over its completion
    tokens; ``-linear_log_probs(h, w, y).sum()`` equals
    ``linear_cross_entropy(h, w, y, reduction="sum")`` at temperature 1.

    The tokens are walked in chunks of ``chunk_size``; ignored tokens are skipped. Forward
    computes each chunk's logits once (one matrix product) and keeps three numbers per token;
    backward recomputes them and takes the two gradient products (four in all, against three
    for the materialised formula), so the extra memory is the gradients plus one
    ``(chunk_size, V)`` buffer (two with ``entropy`` or ``softcap``, three with both). Small
    calls (at most 2^20 logits, float32/float64, no ``chunk_size`` below the tokens), and calls
    under ``torch.compile``, ``torch.func`` transforms and meta tensors, compute the same
    formula on the materialised logits. Double backward (``create_graph=True``) is exact: it
    differentiates the materialised formula, for that call only.

    Input: ``hidden`` ``(*, D)``, floating; ``weight`` ``(V, D)`` (``nn.Linear(D, V).weight``);
    ``bias`` ``(V,)`` or None; floating dtypes that differ promote as torch would. Target:
    ``labels`` ``(*)`` (``hidden``'s shape without the last dim), int64/int32, in ``[0, V)`` or
    ``ignore_index``; a causal LM shifts them first (``hidden[:, :-1]`` against
    ``labels[:, 1:]``).

    When to use:
        The per-token log-probabilities (and entropy, for an entropy bonus or token
        filtering) of a language model's chosen tokens, when the ``(N, V)`` logits would not
        fit in memory: the input of DPO, KTO, GRPO and friends.

    Args:
        hidden: the last hidden states, one row per token.
        weight: the classifier (LM head) matrix, one row per class.
        labels: the token whose log-probability is wanted, per position.
        bias: optional ``(V,)`` classifier bias.
        temperature: > 0; the logits (after the soft-cap) are divided by it.
        ignore_index: label value that is skipped (0.0 out, no gradient); None: none is.
        softcap: > 0 or None; logits pass through ``softcap * tanh(logits / softcap)`` first
            (Gemma 2).
        chunk_size: tokens per chunk; None picks about 64 MiB of float32 logits per chunk
            (:func:`default_chunk_size`).
        entropy: also return the per-token entropy of the distribution.

    Returns:
        The log-probabilities, of the shape of ``labels``, in the promoted dtype of ``hidden``,
        ``weight`` and ``bias`` (computed in float32 for half precision: sum bfloat16
        log-probabilities over long sequences in float32, ``.float().sum(-1)``); with
        ``entropy=True`` the pair ``(log_probs, entropy)``, both of that shape and dtype.

    Raises:
        LossInputError: mismatched shapes (a transposed ``weight`` is named), non-floating
            inputs, labels out of range or not integer, ``V = 1``, ``temperature <= 0``,
            options of the wrong type or outside their range, a non-finite input (named) when
            the result is not finite.

    Example:
        >>> import torch, losskit
        >>> hidden = torch.tensor([[1.0, 0.0], [0.5, -1.0], [0.0, 2.0]])
        >>> weight = torch.tensor([[1.0, 1.0], [-1.0, 0.5], [0.0, -1.0]])
        >>> losskit.linear_log_probs(hidden, weight, torch.tensor([0, 2, -100]))
        tensor([-0.4076, -0.3064,  0.0000])
        >>> lp, ent = losskit.linear_log_probs(
        ...     hidden, weight, torch.tensor([0, 2, 1]), temperature=2.0, entropy=True
        ... )
        >>> ent
        tensor([1.0202, 1.0023, 0.8845])

    References:
        Rafailov et al., Direct Preference Optimization (NeurIPS 2023), the per-token
        log-probabilities of a sequence; Wijmans et al., Cut Your Losses in Large-Vocabulary
        Language Models (ICLR 2025), chunking over tokens; Gemma Team, Gemma 2 (2024), logit
        soft-capping.

    Stability: log-sum-exp subtracts the row maximum; the entropy is
    ``log s - sum_c e^{v_c} v_c / s`` with ``v = u - max u``; half-precision inputs are computed
    in float32 and cast back at the end.
    """
    ignore_index = check_ignore_index(ignore_index)
    temperature = check_option("temperature", temperature, low=0.0, low_open=True)
    if softcap is not None:
        softcap = check_option("softcap", softcap, low=0.0, low_open=True)
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, low=1)
    entropy = check_bool("entropy", entropy)
    _check_inputs(hidden, weight, bias, labels, ignore_index)
    dtype = torch.promote_types(hidden.dtype, weight.dtype)
    if bias is not None:
        dtype = torch.promote_types(dtype, bias.dtype)
    h, w = hidden.to(dtype), weight.to(dtype)
    b = None if bias is None else bias.to(dtype)
    shape = labels.shape
    flat_hidden = h.reshape(-1, h.shape[-1])  # (N, D)
    flat_labels = labels.reshape(-1).long()  # (N,)
    opts: dict[str, Any] = {
        "ignore_index": _NO_LABEL if ignore_index is None else ignore_index,
        "temperature": temperature,
        "softcap": softcap,
        "chunk_size": chunk_size,
    }
    n, vocab = flat_hidden.shape[0], w.shape[0]
    small = (
        n * vocab <= _SMALL_LOGITS
        and (chunk_size is None or chunk_size >= n)
        and dtype in (torch.float32, torch.float64)
    )
    if small or any(unreadable(t) for t in (flat_hidden, w, flat_labels)):
        lp, ent = _plain_log_probs(flat_hidden, w, b, flat_labels, opts, entropy)
        lp = lp.to(dtype)
        ent = None if ent is None else ent.to(dtype)
    else:
        lp, ent = _LinearLogProbs.apply(  # type: ignore[no-untyped-call]
            flat_hidden, w, b, flat_labels, opts, entropy
        )
    lp = finish(lp.reshape(shape), hidden=hidden, weight=weight, bias=bias)
    if not entropy:
        return lp
    assert ent is not None
    return lp, finish(ent.reshape(shape), hidden=hidden, weight=weight, bias=bias)


# ----------------------------------------------------------------------------- distillation
def _rowdot(a: Tensor, b: Tensor) -> Tensor:
    """``(a * b).sum(1)`` of two (C, V) tensors as C dot products: no (C, V) temporary."""
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).view(-1)


def _distill_chunk(
    hs: Tensor,
    ws: Tensor,
    bs: Tensor | None,
    ht: Tensor,
    wt: Tensor,
    bt: Tensor | None,
    opts: dict[str, Any],
    row_scale: Tensor | float | None,
) -> tuple[Tensor, Tensor | None]:
    """Per-token divergence of one chunk and, when ``row_scale`` is given, its gradient with
    respect to the chunk's student logits (each row scaled by ``row_scale``). At most five
    (C, V) tensors live at once (four at ``beta`` 0 or 1)."""
    beta, tau = opts["beta"], opts["temperature"]
    u = torch.mm(hs, ws.t()) if bs is None else torch.addmm(bs, hs, ws.t())
    ls = torch.log_softmax(u.div_(tau), 1)  # log S, the student (C, V)
    del u
    v = torch.mm(ht, wt.t()) if bt is None else torch.addmm(bt, ht, wt.t())
    lt = torch.log_softmax(v.div_(tau), 1)  # log T, the teacher
    del v
    if beta == 0.0:
        # forward KL(T || S) = sum T (log T - log S); d/du = S - T
        t = lt.exp()
        loss = _rowdot(t, lt.sub_(ls))
        del lt
        g = ls.exp_().sub_(t)  # S - T
    elif beta == 1.0:
        # reverse KL(S || T) = sum S (log S - log T); d/du = S (log S - log T - KL)
        s = ls.exp()
        b = ls.sub_(lt)
        del lt
        loss = _rowdot(s, b)
        g = b.sub_(loss.unsqueeze(1)).mul_(s)
    else:
        # M = beta T + (1 - beta) S, log M by log-add-exp (finite where both underflow);
        # JSD = beta KL(T || M) + (1 - beta) KL(S || M); d/du = (1 - beta) S (r - KL(S || M))
        # with r = log S - log M
        c_t, c_s = math.log(beta), math.log1p(-beta)
        t = lt.exp()
        lt.add_(c_t)  # log(beta T)
        lm = torch.add(ls, c_s)
        torch.logaddexp(lm, lt, out=lm)  # log M, in place
        # KL(T || M) = sum T (log(beta T) - log M) - log(beta) sum T
        kl_t = _rowdot(t, lt.sub_(lm)) - c_t * t.sum(1)
        del t, lt
        s = ls.exp()
        r = ls.sub_(lm)
        del lm
        kl_s = _rowdot(s, r)
        loss = beta * kl_t + (1 - beta) * kl_s
        g = r.sub_(kl_s.unsqueeze(1)).mul_(s)
    if row_scale is None:
        return loss, None
    scale = torch.as_tensor(row_scale, dtype=g.dtype, device=g.device).expand(hs.shape[0])
    factor = scale / tau if beta in (0.0, 1.0) else scale * ((1 - beta) / tau)
    return loss, g.mul_(factor.unsqueeze(1))


def _distill_walk(
    student: tuple[Tensor, Tensor, Tensor | None],
    teacher: tuple[Tensor, Tensor, Tensor | None],
    rows: _Rows,
    opts: dict[str, Any],
    *,
    row_scale: Tensor | float | None,
    need: tuple[bool, bool, bool],
) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor | None]:
    """One pass over the tokens: per-token divergences (N,) in the compute dtype (0 where
    ignored) and, when ``row_scale`` is given, the gradients selected by ``need`` (student
    hidden, weight, bias) of ``sum_n row_scale_n * loss_n``."""
    hidden, weight, bias = student
    compute = _compute_dtype(hidden.dtype)
    ws = weight.to(compute)
    bs = None if bias is None else bias.to(compute)
    wt = teacher[1].to(compute)
    bt = None if teacher[2] is None else teacher[2].to(compute)
    n, vocab = hidden.shape[0], ws.shape[0]
    losses = hidden.new_zeros(n, dtype=compute)
    grad = row_scale is not None
    gh = None
    if grad and need[0]:
        gh = (
            hidden.new_empty(hidden.shape) if rows.index is None else hidden.new_zeros(hidden.shape)
        )
    gw = ws.new_zeros(ws.shape) if grad and need[1] else None
    gb = ws.new_zeros(vocab) if grad and need[2] else None
    for idx, _ in rows:
        h = _take(hidden, idx).to(compute)
        ht = _take(teacher[0], idx).to(compute)
        scale = row_scale[idx] if isinstance(row_scale, Tensor) and row_scale.dim() else row_scale
        loss, g = _distill_chunk(h, ws, bs, ht, wt, bt, opts, scale)
        if isinstance(idx, slice):
            losses[idx] = loss
        else:
            losses.index_copy_(0, idx, loss)
        if g is None:
            continue
        if gh is not None:
            if isinstance(idx, Tensor):
                gh.index_copy_(0, idx, torch.mm(g, ws).to(gh.dtype))
            elif gh.dtype == compute:
                torch.mm(g, ws, out=gh[idx])
            else:
                gh[idx] = torch.mm(g, ws)
        if gw is not None:
            gw.addmm_(g.t(), h)
        if gb is not None:
            gb += g.sum(0)
    return losses, gh, gw, gb


def _plain_distill(
    student: tuple[Tensor, Tensor, Tensor | None],
    teacher: tuple[Tensor, Tensor, Tensor | None],
    labels: Tensor,
    opts: dict[str, Any],
) -> Tensor:
    """The divergence on the materialised ``(N, V)`` logits of both heads (the teacher's
    detached), in the compute dtype, reduced: differentiable to any order and traceable."""
    compute = _compute_dtype(student[0].dtype)

    def head(h: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        z = F.linear(h.to(compute), w.to(compute), None if b is None else b.to(compute))
        return torch.log_softmax(z / opts["temperature"], 1)

    ls = head(*student)
    lt = head(*(None if t is None else t.detach() for t in teacher))  # type: ignore[arg-type]
    beta = opts["beta"]
    if beta == 0.0:
        per = (lt.exp() * (lt - ls)).sum(1)
    elif beta == 1.0:
        per = (ls.exp() * (ls - lt)).sum(1)
    else:
        lm = torch.logaddexp(ls + math.log1p(-beta), lt + math.log(beta))
        per = beta * (lt.exp() * (lt - lm)).sum(1) + (1 - beta) * (ls.exp() * (ls - lm)).sum(1)
    valid = labels != opts["ignore_index"]
    per = torch.where(valid, per, per.new_zeros(()))
    if opts["reduction"] == "none":
        return per
    if opts["reduction"] == "sum":
        return per.sum()
    return masked_mean(per.sum(), valid.sum().to(per.dtype))


class _LinearDistillation(torch.autograd.Function):
    """As :class:`_LinearCrossEntropy`: for "mean"/"sum" the student's gradients are computed
    in the forward pass (four products per chunk: both heads' logits, the two student
    gradients) and backward scales them; "none" walks the chunks again in backward."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        teacher_hidden: Tensor,
        teacher_weight: Tensor,
        teacher_bias: Tensor | None,
        labels: Tensor,
        opts: dict[str, Any],
        want_grad: bool,
    ) -> Tensor:
        need = tuple(ctx.needs_input_grad[:3])
        # up to five (C, V) buffers live at once: size the default chunk for four of them
        rows = _Rows(labels, opts["ignore_index"], opts["chunk_size"], 4 * weight.shape[0])
        ctx.opts, ctx.rows = opts, rows
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        ctx.save_for_backward(
            hidden, weight, bias, teacher_hidden, teacher_weight, teacher_bias, labels
        )
        student, teacher = (hidden, weight, bias), (teacher_hidden, teacher_weight, teacher_bias)
        if opts["reduction"] == "none":
            losses, *_ = _distill_walk(student, teacher, rows, opts, row_scale=None, need=need)
            return losses.to(hidden.dtype)
        count = max(rows.count, 1) if opts["reduction"] == "mean" else 1
        losses, *grads = _distill_walk(
            student, teacher, rows, opts, row_scale=1.0 / count if want_grad else None, need=need
        )
        ctx.grads = grads
        return (losses.sum() / count).to(hidden.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        need = tuple(ctx.needs_input_grad[:3])
        if torch.is_grad_enabled() or ctx.opts["reduction"] == "none":
            hidden, weight, bias, t_hidden, t_weight, t_bias, labels = ctx.saved_tensors
            student, teacher = (hidden, weight, bias), (t_hidden, t_weight, t_bias)
        if torch.is_grad_enabled():
            # create_graph=True: the plain formula's gradient, itself differentiable
            wanted = [t for t, k in zip(student, need, strict=True) if k]
            value = _plain_distill(student, teacher, labels, ctx.opts)
            found = iter(
                torch.autograd.grad(value, wanted, grad_out.to(value.dtype), create_graph=True)
            )
            grads = [next(found) if k else None for k in need]
        elif ctx.opts["reduction"] == "none":
            scale = grad_out.to(_compute_dtype(hidden.dtype))
            _, *grads = _distill_walk(
                student,
                teacher,
                ctx.rows,
                ctx.opts,
                row_scale=scale,
                need=need,
            )
        else:
            grads = _hand_over(ctx, grad_out, "linear_distillation")
        out = _cast(grads, ctx.dtypes)
        return (*out, None, None, None, None, None, None)


def _distill_example(n: int, g: torch.Generator) -> ex.Example:
    """A student head and a teacher head (of another width) over the same vocabulary, and the
    token labels that say which positions count; ``n`` counts the entries of the logits."""
    tokens, vocab, dim = (
        (32, 32, 16) if n <= 1_000 else (256, 512, 64) if n <= 100_000 else (1024, 1024, 128)
    )
    hidden = torch.randn(tokens, dim, generator=g) / math.sqrt(dim)
    weight = torch.randn(vocab, dim, generator=g)
    teacher_hidden = torch.randn(tokens, 2 * dim, generator=g) / math.sqrt(2 * dim)
    teacher_weight = torch.randn(vocab, 2 * dim, generator=g)
    labels = torch.randint(0, vocab, (tokens,), generator=g)
    return ex.Example((hidden, weight, teacher_hidden, teacher_weight, labels), grad=(0, 1))


@register(
    family=Family.LARGE_VOCAB,
    inputs=Space.HIDDEN,
    targets=Targets.TEACHER_LOGITS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE},
    aliases=("fused_linear_jsd", "linear_jsd", "fused_linear_distillation"),
    example=_distill_example,
)
def linear_distillation(
    student_hidden: Tensor,
    student_weight: Tensor,
    teacher_hidden: Tensor,
    teacher_weight: Tensor,
    labels: Tensor | None = None,
    *,
    student_bias: Tensor | None = None,
    teacher_bias: Tensor | None = None,
    beta: float = 0.5,
    temperature: float = 1.0,
    ignore_index: int | None = -100,
    reduction: str = "mean",
    chunk_size: int | None = None,
) -> Tensor:
    """Generalized Jensen-Shannon divergence between a student and a teacher LM head.

    Both heads come as hidden states and weights; neither head's ``(N, V)`` logits is ever held.

    With ``S_t = softmax(student_logits_t / temperature)``, ``T_t = softmax(teacher_logits_t /
    temperature)`` and ``M_t = beta T_t + (1 - beta) S_t``, the loss of token ``t`` is
    ``l_t = beta KL(T_t || M_t) + (1 - beta) KL(S_t || M_t)`` for ``0 < beta < 1``; at the ends
    ``beta = 0`` is the forward KL ``KL(T_t || S_t)`` and ``beta = 1`` the reverse KL
    ``KL(S_t || T_t)`` (TRL's GKD ``generalized_jsd_loss`` and Liger's ``jsd_beta``
    convention: the ends are the two KLs, not the limits of the JSD, which vanish). A token
    whose label is ``ignore_index`` gives 0. ``"mean"`` divides the sum by the number of
    counted tokens (0.0, graph-connected, when there is none), ``"sum"`` adds them, ``"none"``
    returns ``l_t`` per token. The temperature divides both heads' logits; the loss is not
    multiplied by ``temperature**2`` (as TRL; multiply it for Hinton's scaling).

    The teacher is a target: no gradient flows to ``teacher_hidden``, ``teacher_weight`` or
    ``teacher_bias`` (they are detached), as in TRL and Liger. The tokens are walked in
    chunks: each chunk's two logits, the divergence and the student's gradients are computed
    in one pass (four matrix products, as the materialised formula), so the extra memory is the
    student's gradients plus a few ``(chunk_size, V)`` buffers (at most five live at once).
    ``"none"`` recomputes each chunk in backward (six products). Small calls (at most 2^20
    logits, float32/float64, no ``chunk_size`` below the tokens), and calls under
    ``torch.compile``, ``torch.func`` transforms and meta tensors, compute the same formula on
    the materialised logits; so does double backward.

    Input: ``student_hidden`` ``(*, Ds)`` and ``student_weight`` ``(V, Ds)``;
    ``teacher_hidden`` ``(*, Dt)`` (the same leading shape) and ``teacher_weight`` ``(V, Dt)``
    (the same V); optional biases ``(V,)``; floating dtypes promote as torch would. Target: the
    teacher head; ``labels`` ``(*)`` (int64/int32, in ``[0, V)`` or ``ignore_index``) only say
    which tokens count; None counts every token.

    When to use:
        Distilling a large-vocabulary teacher into a student (GKD, on-policy or off-policy)
        when the logits of both would not fit in memory.

    Args:
        student_hidden: the student's last hidden states, one row per token.
        student_weight: the student's LM head, one row per token of the vocabulary.
        teacher_hidden: the teacher's last hidden states at the same tokens.
        teacher_weight: the teacher's LM head (the same vocabulary).
        labels: token labels; positions equal to ``ignore_index`` (prompt, padding) are skipped.
        student_bias: optional ``(V,)`` student head bias.
        teacher_bias: optional ``(V,)`` teacher head bias.
        beta: in [0, 1]; 0: forward KL(T || S), 1: reverse KL(S || T), between: JSD(beta).
        temperature: > 0; divides both heads' logits.
        ignore_index: label value that is skipped; None: none is.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.
        chunk_size: tokens per chunk; None picks ``default_chunk_size(N, 4 * V)`` (a quarter
            of :func:`linear_cross_entropy`'s rows, never fewer than 256), for its buffers.

    Returns:
        A scalar, or the shape of ``labels`` (``student_hidden`` without its last dim) for
        ``"none"``, in the promoted dtype of the inputs.

    Raises:
        LossInputError: mismatched shapes (the argument named: ``teacher_weight`` of another
            vocabulary, ``teacher_hidden`` of other tokens), non-floating inputs, labels out of
            range, ``beta`` outside [0, 1], ``temperature <= 0``, options of the wrong type, a
            non-finite input (named) when the loss is not finite.

    Example:
        >>> import torch, losskit
        >>> h = torch.tensor([[1.0, 0.0], [0.5, -1.0], [0.0, 2.0]])
        >>> w = torch.tensor([[1.0, 1.0], [-1.0, 0.5], [0.0, -1.0]])
        >>> ht, wt = torch.tensor([[2.0], [1.0], [-1.0]]), torch.tensor([[1.0], [0.0], [-1.0]])
        >>> losskit.linear_distillation(h, w, ht, wt, torch.tensor([0, 2, -100]))
        tensor(0.1544)
        >>> losskit.linear_distillation(h, w, ht, wt, beta=0.0, reduction="none")  # KL(T || S)
        tensor([0.2170, 0.9613, 2.3999])

    References:
        Agarwal et al., On-Policy Distillation of Language Models: Learning from Self-Generated
        Mistakes (ICLR 2024), generalized JSD; Hinton et al., Distilling the Knowledge in a
        Neural Network (2015); Hsu et al., Liger Kernel (2024), fused linear JSD.

    Stability: log-softmax subtracts the row maximum; ``log M`` is a log-add-exp of
    ``log(beta T)`` and ``log((1 - beta) S)``, finite where both probabilities underflow;
    half-precision inputs are computed in float32 and cast back at the end.
    """
    check_reduction(reduction)
    ignore_index = check_ignore_index(ignore_index)
    beta = check_option("beta", beta, low=0.0, high=1.0)
    temperature = check_option("temperature", temperature, low=0.0, low_open=True)
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, low=1)
    vocab = _check_inputs(
        student_hidden, student_weight, student_bias, labels, ignore_index, prefix="student_"
    )
    t_vocab = _check_inputs(
        teacher_hidden, teacher_weight, teacher_bias, None, None, prefix="teacher_"
    )
    if get_check_mode() != "off":
        if t_vocab != vocab:
            raise LossInputError(
                f"teacher_weight has {t_vocab} rows and student_weight {vocab}: the two heads "
                "must share the vocabulary (pad or slice the larger head to the same tokens)"
            )
        if teacher_hidden.shape[:-1] != student_hidden.shape[:-1]:
            raise LossInputError(
                f"teacher_hidden {tuple(teacher_hidden.shape)} and student_hidden "
                f"{tuple(student_hidden.shape)} must have the same tokens (the same shape but "
                "for the last, feature dim)"
            )
    tensors = [student_hidden, student_weight, teacher_hidden, teacher_weight]
    tensors += [t for t in (student_bias, teacher_bias) if t is not None]
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)

    flat_s = student_hidden.to(dtype).reshape(-1, student_hidden.shape[-1])  # (N, Ds)
    flat_t = teacher_hidden.to(dtype).detach().reshape(-1, teacher_hidden.shape[-1])  # (N, Dt)
    ws, wt = student_weight.to(dtype), teacher_weight.to(dtype).detach()
    bs = None if student_bias is None else student_bias.to(dtype)
    bt = None if teacher_bias is None else teacher_bias.to(dtype).detach()
    if labels is None:
        flat_labels = torch.zeros(flat_s.shape[0], dtype=torch.long, device=flat_s.device)
        ignore = _NO_LABEL
    else:
        flat_labels = labels.reshape(-1).long()
        ignore = _NO_LABEL if ignore_index is None else ignore_index
    opts: dict[str, Any] = {
        "ignore_index": ignore,
        "beta": beta,
        "temperature": temperature,
        "reduction": reduction,
        "chunk_size": chunk_size,
    }
    student, teacher = (flat_s, ws, bs), (flat_t, wt, bt)
    n = flat_s.shape[0]
    small = (
        n * vocab <= _SMALL_LOGITS
        and (chunk_size is None or chunk_size >= n)
        and dtype in (torch.float32, torch.float64)
    )
    if small or any(unreadable(t) for t in (flat_s, ws, flat_t, flat_labels)):
        out = _plain_distill(student, teacher, flat_labels, opts).to(dtype)
    else:
        want_grad = torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in student
        )
        out = _LinearDistillation.apply(  # type: ignore[no-untyped-call]
            *student, *teacher, flat_labels, opts, want_grad
        )
    if reduction == "none":
        out = out.reshape(student_hidden.shape[:-1])
    return finish(
        out,
        student_hidden=student_hidden,
        student_weight=student_weight,
        teacher_hidden=teacher_hidden,
        teacher_weight=teacher_weight,
        student_bias=student_bias,
        teacher_bias=teacher_bias,
    )


# ----------------------------------------------------------------------------- top-k teacher
def _topk_example(n: int, g: torch.Generator) -> ex.Example:
    """A student head, a teacher's top-k logits and their token ids (distinct per row, as
    ``torch.topk`` gives them), and the labels that say which positions count."""
    tokens, vocab, dim, k = (
        (32, 32, 16, 8)
        if n <= 1_000
        else (256, 512, 64, 32)
        if n <= 100_000
        else (1024, 1024, 128, 64)
    )
    hidden = torch.randn(tokens, dim, generator=g) / math.sqrt(dim)
    weight = torch.randn(vocab, dim, generator=g)
    teacher = torch.randn(tokens, vocab, generator=g) * 2
    values, indices = teacher.topk(k, dim=1)
    labels = torch.randint(0, vocab, (tokens,), generator=g)
    return ex.Example((hidden, weight, values, indices, labels), grad=(0, 1))


def _topk_divergence(ls: Tensor, lt: Tensor, beta: float) -> tuple[Tensor, Tensor]:
    """Per-row generalized JSD between two (C, K) log-distributions (student ``ls``, teacher
    ``lt``) and its gradient with respect to the student's logits (before the temperature)."""
    if beta == 0.0:  # forward KL(T || S); d/ds = S - T
        t = lt.exp()
        return (t * (lt - ls)).sum(1), ls.exp() - t
    s = ls.exp()
    if beta == 1.0:  # reverse KL(S || T); d/ds = S (log S - log T - KL)
        kl = (s * (ls - lt)).sum(1)
        return kl, s * (ls - lt - kl.unsqueeze(1))
    lm = torch.logaddexp(ls + math.log1p(-beta), lt + math.log(beta))
    t = lt.exp()
    kl_t, kl_s = (t * (lt - lm)).sum(1), (s * (ls - lm)).sum(1)
    r = ls - lm
    return beta * kl_t + (1 - beta) * kl_s, (1 - beta) * s * (r - kl_s.unsqueeze(1))


def _topk_student(h: Tensor, w: Tensor, b: Tensor | None, idx: Tensor) -> Tensor:
    """The student's logits at the teacher's top-k ids, ``(C, K)``, from the gathered
    ``(C, K, D)`` weight rows (never the ``(C, V)`` logits)."""
    s = torch.bmm(F.embedding(idx, w), h.unsqueeze(2)).squeeze(2)
    return s if b is None else s + b[idx]


def _plain_topk(
    student: tuple[Tensor, Tensor, Tensor | None],
    values: Tensor,
    indices: Tensor,
    labels: Tensor,
    opts: dict[str, Any],
) -> Tensor:
    """The divergence by autograd on the gathered ``(N, K)`` logits: differentiable to any
    order and traceable (it holds the ``(N, K, D)`` gathered rows)."""
    h, w, b = student
    compute = _compute_dtype(h.dtype)
    hc, wc = h.to(compute), w.to(compute)
    bc = None if b is None else b.to(compute)
    if _topk_dense(wc.shape[0], indices.shape[1]):
        s = F.linear(hc, wc, bc).gather(1, indices)
    else:
        s = torch.einsum("nd,nkd->nk", hc, F.embedding(indices, wc))
        if bc is not None:
            s = s + bc[indices]
    tau = opts["temperature"]
    ls = torch.log_softmax(s / tau, 1)
    lt = torch.log_softmax(values.detach().to(compute) / tau, 1)
    per, _ = _topk_divergence(ls, lt, opts["beta"])
    valid = labels != opts["ignore_index"]
    per = torch.where(valid, per, per.new_zeros(()))
    if opts["reduction"] == "none":
        return per
    if opts["reduction"] == "sum":
        return per.sum()
    return masked_mean(per.sum(), valid.sum().to(per.dtype))


# Below this many vocabulary entries per teacher id, the chunk's full (C, V) logits by matrix
# products cost less than gathering (C, K, D) weight rows (memory-bound, not a GEMM).
_TOPK_DENSE_RATIO = 32


def _topk_dense(vocab: int, k: int) -> bool:
    return vocab <= _TOPK_DENSE_RATIO * k


def _topk_walk(
    student: tuple[Tensor, Tensor, Tensor | None],
    values: Tensor,
    indices: Tensor,
    rows: _Rows,
    opts: dict[str, Any],
    *,
    row_scale: Tensor | float | None,
    need: tuple[bool, bool, bool],
) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor | None]:
    """One pass over the counted tokens: per-token divergences (N,) and, when ``row_scale`` is
    given, the gradients selected by ``need`` of ``sum_n row_scale_n * loss_n``.

    A chunk reads the student's logits at the K ids either from its full ``(C, V)`` logits (a
    matrix product, when the vocabulary is at most ``_TOPK_DENSE_RATIO`` times K) or from its
    gathered ``(C, K, D)`` weight rows; the gradients follow the same way back."""
    hidden, weight, bias = student
    compute = _compute_dtype(hidden.dtype)
    w = weight.to(compute)
    b = None if bias is None else bias.to(compute)
    n, (vocab, dim) = hidden.shape[0], w.shape
    dense = _topk_dense(vocab, indices.shape[1])
    tau, beta = opts["temperature"], opts["beta"]
    losses = hidden.new_zeros(n, dtype=compute)
    grad = row_scale is not None
    gh = hidden.new_zeros(hidden.shape, dtype=compute) if grad and need[0] else None
    gw = w.new_zeros(w.shape) if grad and need[1] else None
    gb = w.new_zeros(vocab) if grad and need[2] else None
    for idx, _ in rows:
        h = _take(hidden, idx).to(compute)
        ids = _take(indices, idx)
        if dense:
            z = torch.mm(h, w.t()) if b is None else torch.addmm(b, h, w.t())  # (C, V)
            s = z.gather(1, ids)
        else:
            s = _topk_student(h, w, b, ids)
        ls = torch.log_softmax(s / tau, 1)
        lt = torch.log_softmax(_take(values, idx).to(compute) / tau, 1)
        loss, g = _topk_divergence(ls, lt, beta)
        if isinstance(idx, slice):
            losses[idx] = loss
        else:
            losses.index_copy_(0, idx, loss)
        if not grad:
            continue
        scale = row_scale[idx] if isinstance(row_scale, Tensor) and row_scale.dim() else row_scale
        factor = torch.as_tensor(scale, dtype=compute, device=h.device).expand(h.shape[0]) / tau
        g = g * factor.unsqueeze(1)  # d(scaled loss) / d(student logits at ids), (C, K)
        flat = ids.reshape(-1)
        if dense:
            full = z.zero_().scatter_(1, ids, g)  # the (C, V) gradient, zero off the ids
            part = torch.mm(full, w) if gh is not None else None
            if gw is not None:
                gw.addmm_(full.t(), h)
        else:
            # sum_k g_k W[id_k] per token, without a (C, K, D) product
            part = (
                F.embedding_bag(ids, w, per_sample_weights=g, mode="sum")
                if gh is not None
                else None
            )
            if gw is not None:
                gw.index_add_(0, flat, (g.unsqueeze(2) * h.unsqueeze(1)).reshape(-1, dim))
        if gh is not None and part is not None:
            if isinstance(idx, slice):
                gh[idx] = part
            else:
                gh.index_copy_(0, idx, part)
        if gb is not None:
            gb.index_add_(0, flat, g.reshape(-1))
    return losses, gh, gw, gb


class _TopkDistillation(torch.autograd.Function):
    """As :class:`_LinearDistillation`: "mean"/"sum" compute the student's gradients in the
    forward pass and backward scales them; "none" walks the chunks again in backward;
    ``create_graph=True`` differentiates the plain formula."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        values: Tensor,
        indices: Tensor,
        labels: Tensor,
        opts: dict[str, Any],
        want_grad: bool,
    ) -> Tensor:
        need = tuple(ctx.needs_input_grad[:3])
        (vocab, dim), k = weight.shape, indices.shape[1]
        # a chunk holds (C, V) logits or (C, K, D) gathered rows: size it for two of them
        width = vocab if _topk_dense(vocab, k) else k * dim
        rows = _Rows(labels, opts["ignore_index"], opts["chunk_size"], 2 * width)
        ctx.opts, ctx.rows = opts, rows
        ctx.dtypes = (hidden.dtype, weight.dtype, None if bias is None else bias.dtype)
        ctx.save_for_backward(hidden, weight, bias, values, indices, labels)
        student = (hidden, weight, bias)
        if opts["reduction"] == "none":
            losses, *_ = _topk_walk(student, values, indices, rows, opts, row_scale=None, need=need)
            return losses.to(hidden.dtype)
        count = max(rows.count, 1) if opts["reduction"] == "mean" else 1
        losses, *grads = _topk_walk(
            student,
            values,
            indices,
            rows,
            opts,
            row_scale=1.0 / count if want_grad else None,
            need=need,
        )
        ctx.grads = grads
        return (losses.sum() / count).to(hidden.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        need = tuple(ctx.needs_input_grad[:3])
        hidden, weight, bias, values, indices, labels = ctx.saved_tensors
        student = (hidden, weight, bias)
        if torch.is_grad_enabled():
            wanted = [t for t, k in zip(student, need, strict=True) if k]
            value = _plain_topk(student, values, indices, labels, ctx.opts)
            found = iter(
                torch.autograd.grad(value, wanted, grad_out.to(value.dtype), create_graph=True)
            )
            grads = [next(found) if k else None for k in need]
        elif ctx.opts["reduction"] == "none":
            scale = grad_out.to(_compute_dtype(hidden.dtype))
            _, *grads = _topk_walk(
                student, values, indices, ctx.rows, ctx.opts, row_scale=scale, need=need
            )
        else:
            grads = _hand_over(ctx, grad_out, "linear_topk_distillation")
        out = _cast(grads, ctx.dtypes)
        return (*out, None, None, None, None, None)


def _check_topk(values: Tensor, indices: Tensor, hidden: Tensor, vocab: int) -> None:
    check_floating("teacher_logits", values)
    check_tensor("teacher_indices", indices)
    if get_check_mode() == "off":
        return
    expected = tuple(hidden.shape[:-1])
    if values.dim() != len(expected) + 1 or tuple(values.shape[:-1]) != expected:
        raise LossInputError(
            f"teacher_logits must have shape {(*expected, 'K')} (student_hidden "
            f"{tuple(hidden.shape)} with the feature dim replaced by the teacher's top K), got "
            f"{tuple(values.shape)}"
        )
    if tuple(indices.shape) != tuple(values.shape):
        raise LossInputError(
            f"teacher_indices {tuple(indices.shape)} must have the shape of teacher_logits "
            f"{tuple(values.shape)}: one token id per top-k value (values, indices = "
            "teacher_logits.topk(k))"
        )
    if values.shape[-1] < 2:
        raise LossInputError(
            f"teacher_logits has K = {values.shape[-1]} token per position: a distribution "
            "renormalised over one token is always 1 and its divergence always 0; keep K >= 2"
        )
    check_labels("teacher_indices", indices, vocab, ignore_index=None)
    if reads(indices):
        ordered = indices.reshape(-1, indices.shape[-1]).sort(1).values
        if bool((ordered[:, 1:] == ordered[:, :-1]).any()):
            raise LossInputError(
                "teacher_indices repeat a token id within a position: the top-k ids of one "
                "position must be distinct (as torch.topk gives them)"
            )


@register(
    family=Family.LARGE_VOCAB,
    inputs=Space.HIDDEN,
    targets=Targets.TEACHER_TOPK,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.ITEM,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE},
    aliases=("topk_distillation", "sparse_distillation", "fused_linear_topk_kl"),
    example=_topk_example,
)
def linear_topk_distillation(
    student_hidden: Tensor,
    student_weight: Tensor,
    teacher_logits: Tensor,
    teacher_indices: Tensor,
    labels: Tensor | None = None,
    *,
    student_bias: Tensor | None = None,
    beta: float = 0.0,
    temperature: float = 1.0,
    ignore_index: int | None = -100,
    reduction: str = "mean",
    chunk_size: int | None = None,
) -> Tensor:
    """Distillation from a teacher's top-k logits (offline, stored), over those k tokens.

    The teacher gives, per position ``t``, ``K`` token ids ``i_t1..i_tK`` (distinct) and their
    logits or log-probabilities ``v_tk`` (either: a constant per position cancels). Both
    distributions are renormalised over those ``K`` tokens: ``T_t = softmax_k(v_tk / temperature)``
    and ``S_t = softmax_k(s_t,i_tk / temperature)`` with the student's logits
    ``s_t = student_hidden_t @ student_weight.T + student_bias`` read only at the ``K`` ids
    (the full-vocabulary normaliser cancels in the renormalisation, so neither the student's
    nor the teacher's ``(N, V)`` logits are needed). The loss of token ``t`` is the generalized
    JSD of :func:`linear_distillation` on the ``K`` tokens: ``beta = 0`` (the default, the
    usual choice for stored teachers) the forward ``KL(T_t || S_t)``, ``beta = 1`` the reverse
    ``KL(S_t || T_t)``, between them ``beta KL(T_t || M_t) + (1 - beta) KL(S_t || M_t)`` with
    ``M_t = beta T_t + (1 - beta) S_t``. A token whose label is ``ignore_index`` gives 0.
    ``"mean"`` divides the sum by the number of counted tokens (0.0, graph-connected, when there
    is none), ``"sum"`` adds them, ``"none"`` returns ``l_t`` per token. The teacher carries no
    gradient.

    Tokens are walked in chunks; each chunk gathers its ``(C, K, D)`` weight rows (``K * D``
    multiply-adds per token instead of the ``V * D`` of the full head) and the gradients are
    accumulated with ``index_add``. Small calls, and calls under ``torch.compile``,
    ``torch.func`` transforms and meta tensors, compute the same formula by autograd; double
    backward differentiates that formula.

    Input: ``student_hidden`` ``(*, D)`` and ``student_weight`` ``(V, D)``, floating;
    ``student_bias`` ``(V,)`` or None. Target: ``teacher_logits`` ``(*, K)`` (floating) and
    ``teacher_indices`` ``(*, K)`` (int64/int32 in ``[0, V)``, distinct per position), as
    ``teacher_logits.topk(K)`` gives them; ``labels`` ``(*)`` only say which tokens count; None
    counts every token.

    When to use:
        Offline distillation of a large-vocabulary teacher whose top-k logits were stored
        (the full ``(tokens, V)`` teacher logits do not fit on disk), or when the student's
        full head is too costly: only ``K`` of ``V`` logits per token are computed.

    Args:
        student_hidden: the student's last hidden states, one row per token.
        student_weight: the student's LM head, one row per token of the vocabulary.
        teacher_logits: the teacher's top-k logits (or log-probabilities) per position.
        teacher_indices: their token ids.
        labels: token labels; positions equal to ``ignore_index`` (prompt, padding) are skipped.
        student_bias: optional ``(V,)`` student head bias.
        beta: in [0, 1]; 0: forward KL(T || S), 1: reverse KL(S || T), between: JSD(beta).
        temperature: > 0; divides both sides' logits before the renormalised softmax.
        ignore_index: label value that is skipped; None: none is.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.
        chunk_size: tokens per chunk; None picks about 64 MiB of gathered rows per chunk.

    Returns:
        A scalar, or the shape of ``student_hidden`` without its last dim for ``"none"``, in
        the promoted dtype of the student's tensors.

    Raises:
        LossInputError: ``teacher_logits`` of another leading shape than ``student_hidden``,
            ``teacher_indices`` of another shape than ``teacher_logits``, ids out of
            ``[0, V)`` or repeated within a position, ``K < 2``, a transposed weight (named),
            labels out of range, ``beta`` outside [0, 1], ``temperature <= 0``, a non-finite
            input (named) when the loss is not finite.

    Example:
        >>> import torch, losskit
        >>> h = torch.tensor([[1.0, 0.0], [0.5, -1.0], [0.0, 2.0]])
        >>> w = torch.tensor([[1.0, 1.0], [-1.0, 0.5], [0.0, -1.0], [2.0, 0.0]])
        >>> values = torch.tensor([[3.0, 1.0], [2.0, 0.0], [1.0, 0.5]])  # the teacher's top 2
        >>> ids = torch.tensor([[0, 3], [2, 1], [1, 0]])  # their token ids
        >>> losskit.linear_topk_distillation(h, w, values, ids)
        tensor(0.3672)
        >>> losskit.linear_topk_distillation(h, w, values, ids, reduction="none")
        tensor([0.8287, 0.0000, 0.2729])

    References:
        Hinton et al., Distilling the Knowledge in a Neural Network (2015); Agarwal et al.,
        On-Policy Distillation of Language Models (ICLR 2024), generalized JSD; Raman et al.,
        For Distillation, Tokens Are Not All You Need (NeurIPS 2023 workshop), top-k teacher
        logits.

    Stability: both renormalised softmaxes subtract their row maximum; ``log M`` is a
    log-add-exp; half-precision inputs are computed in float32 and cast back at the end.
    """
    check_reduction(reduction)
    ignore_index = check_ignore_index(ignore_index)
    beta = check_option("beta", beta, low=0.0, high=1.0)
    temperature = check_option("temperature", temperature, low=0.0, low_open=True)
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, low=1)
    vocab = _check_inputs(
        student_hidden, student_weight, student_bias, labels, ignore_index, prefix="student_"
    )
    _check_topk(teacher_logits, teacher_indices, student_hidden, vocab)
    dtype = student_hidden.dtype
    for t in (student_weight, student_bias):
        if t is not None:
            dtype = torch.promote_types(dtype, t.dtype)
    k = teacher_logits.shape[-1]
    h = student_hidden.to(dtype).reshape(-1, student_hidden.shape[-1])
    w = student_weight.to(dtype)
    b = None if student_bias is None else student_bias.to(dtype)
    values = teacher_logits.detach().reshape(-1, k)
    indices = teacher_indices.reshape(-1, k).long()
    if labels is None:
        flat_labels = torch.zeros(h.shape[0], dtype=torch.long, device=h.device)
        ignore = _NO_LABEL
    else:
        flat_labels = labels.reshape(-1).long()
        ignore = _NO_LABEL if ignore_index is None else ignore_index
    opts: dict[str, Any] = {
        "ignore_index": ignore,
        "beta": beta,
        "temperature": temperature,
        "reduction": reduction,
        "chunk_size": chunk_size,
    }
    n = h.shape[0]
    width = vocab if _topk_dense(vocab, k) else k * h.shape[1]
    small = (
        n * width <= _SMALL_LOGITS
        and (chunk_size is None or chunk_size >= n)
        and dtype in (torch.float32, torch.float64)
    )
    if small or any(unreadable(t) for t in (h, w, values, indices, flat_labels)):
        out = _plain_topk((h, w, b), values, indices, flat_labels, opts).to(dtype)
    else:
        want_grad = torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (h, w, b)
        )
        out = _TopkDistillation.apply(  # type: ignore[no-untyped-call]
            h, w, b, values, indices, flat_labels, opts, want_grad
        )
    if reduction == "none":
        out = out.reshape(student_hidden.shape[:-1])
    return finish(
        out,
        student_hidden=student_hidden,
        student_weight=student_weight,
        teacher_logits=teacher_logits,
        student_bias=student_bias,
    )
