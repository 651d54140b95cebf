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

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
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
    unreadable,
)
from losskit._spec import Activation, Decode, Family, MeanOver, Prop, Space, Targets, register
from losskit.losses import _examples as ex

__all__ = ["default_chunk_size", "linear_cross_entropy"]

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
            grads = ctx.grads
            if grads is None:
                raise RuntimeError(
                    "linear_cross_entropy: backward through the same call twice; its gradients "
                    "were computed in the forward pass and handed over to the first backward; "
                    "pass retain_graph=True to that one, or call the loss again"
                )
            # retain_graph=True (or gradcheck) may ask again: then scale copies. Otherwise hand
            # the buffers over, scaled in place: no second gradient-sized allocation.
            keep = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", _true)()
            if keep:
                grads = [None if g is None else g * grad_out for g in grads]
            else:
                ctx.grads = None
                if not bool(grad_out == 1):
                    grads = [None if g is None else g.mul_(grad_out) for g in grads]
        grads = [
            g if g is None or g.dtype == d else g.to(d)
            for g, d in zip(grads, ctx.dtypes, strict=True)
        ]
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
    hidden: Tensor, weight: Tensor, bias: Tensor | None, labels: Tensor, ignore_index: int | None
) -> int:
    """Shapes and dtypes of the tensors (and the label values where they are read). Returns V."""
    check_floating("hidden", hidden)
    check_floating("weight", weight)
    if bias is not None:
        check_floating("bias", bias)
    check_tensor("labels", labels)
    if get_check_mode() == "off":
        return weight.shape[0]
    if weight.dim() != 2:
        raise LossInputError(
            f"weight must be the (V, D) classifier matrix (nn.Linear(D, V).weight), got shape "
            f"{tuple(weight.shape)}"
        )
    vocab, dim = weight.shape
    if hidden.dim() == 0 or hidden.shape[-1] != dim:
        hint = (
            "; did you pass weight.T? weight is (V, D), as nn.Linear(D, V).weight"
            if hidden.dim() and hidden.shape[-1] == vocab
            else ""
        )
        raise LossInputError(
            f"hidden {tuple(hidden.shape)} vs weight {tuple(weight.shape)}: the last dim of hidden "
            f"(D) must equal weight's dim 1{hint}"
        )
    if bias is not None and tuple(bias.shape) != (vocab,):
        raise LossInputError(f"bias must have shape ({vocab},), got {tuple(bias.shape)}")
    if vocab < 2:
        raise LossInputError(
            "weight has a single row (V = 1): a softmax over one class is always 1 and its loss "
            "always 0"
        )
    expected = tuple(hidden.shape[:-1])
    if tuple(labels.shape) != expected:
        hint = ""
        if labels.numel() == hidden.numel() // dim:
            hint = f"; reshape labels to {expected}, or flatten both: hidden.reshape(-1, {dim})"
        elif labels.dim() == hidden.dim() - 1 and labels.shape[-1] == hidden.shape[-2] + 1:
            hint = "; a causal LM shifts first: hidden[:, :-1] against labels[:, 1:]"
        raise LossInputError(
            f"labels must have shape {expected} (that of hidden {tuple(hidden.shape)} without "
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
