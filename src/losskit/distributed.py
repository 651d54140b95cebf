"""Losses that stay exactly right under ``torch.distributed`` (DDP, FSDP, ``torchrun``).

Two things go wrong when a loss reduces over the batch or uses other examples as negatives and
training moves to several processes:

* **Means.** DDP *averages* the gradients of the ranks. If each rank returns the mean over its
  own items, the result is a mean of means: wrong as soon as ranks hold different numbers of
  items (uneven batches, ignored tokens, an empty shard). :func:`global_mean` returns instead
  ``W * local_sum / global_count``, whose DDP average is the gradient of the single-process mean.
* **Negatives.** ``dist.all_gather`` returns tensors without gradient, so the terms where this
  rank's features are other ranks' negatives are lost. :func:`all_gather_with_grad` carries
  gradients: its backward sums, over the ranks, the gradients of every rank's loss w.r.t. this
  rank's rows.

What is exact under DDP (the mean over ranks of what each rank returns is the single-process
loss on the concatenated batch, and DDP's averaged gradient is its gradient, to rounding):
:func:`global_mean` of a ``reduction="sum"`` loss and its count; ``cross_entropy``/``nll`` with
``normalizer=normalizer(count)``; with gradient accumulation, every micro-batch's sum divided by
one :func:`normalizer` of the whole step; the contrastive losses with ``gather="local"`` or
``"global"``; and plain ``reduction="mean"`` only when every rank counts the same number of items
(equal shards, nothing ignored, no weights). Plain ``reduction="mean"`` on uneven shards gives the
mean of the ranks' means, not the single-process loss. :func:`global_value` computes the mean over
ranks for logging. Without an initialised process group, or with one rank, every function here is
the single-process identity. :func:`global_batch` makes any batch-dependent loss (pairs, lists,
batch statistics, a user's own) exact by computing it on the gathered batch of every rank.

The gradient algebra, and the measured cases behind it: ``anchors/reliability.md``, section (c).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from losskit._checks import LossInputError, masked_mean

__all__ = [
    "all_gather_with_grad",
    "gather_rows",
    "global_batch",
    "global_count",
    "global_mean",
    "global_value",
    "is_distributed",
    "normalizer",
]

# Which autograd gather to use: None picks the newest one this torch has; tests set "single",
# "tensor" or "nn" to check every path.
_GATHER_IMPL: str | None = None
_MAX_DIMS = 8  # dims of a gathered tensor's shape that are compared across ranks


# ----------------------------------------------------------------------------- the process group
def is_distributed(group: Any = None) -> bool:
    """True when a process group is initialised and has more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group=group) > 1


def _world(group: Any) -> int:
    return dist.get_world_size(group=group) if is_distributed(group) else 1


def _group(group: Any) -> Any:
    return dist.group.WORLD if group is None else group


def _count_device(like: Tensor | None, group: Any) -> torch.device:
    """Where a count tensor must live for this group's backend (NCCL: the current GPU)."""
    if like is not None:
        return like.device
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# ----------------------------------------------------------------------------- gathers
def _autograd_gather(x: Tensor, group: Any) -> Tensor:
    """Concatenate equal-shaped ``x`` of every rank along dim 0, with a backward that sums each
    rank's slice of the gradient over the ranks (a reduce-scatter)."""
    from torch.distributed import _functional_collectives as fcol

    impl = _GATHER_IMPL
    if impl is None:  # the newest that exists; the older ones warn where the newer exist
        if hasattr(fcol, "all_gather_single_autograd"):
            impl = "single"
        elif hasattr(fcol, "all_gather_tensor_autograd"):
            impl = "tensor"
        else:
            impl = "nn"
    out: Tensor
    if impl == "single":
        out = fcol.all_gather_single_autograd(x, 0, _group(group))
    elif impl == "tensor":
        out = fcol.all_gather_tensor_autograd(x, 0, _group(group))
    else:
        from torch.distributed.nn.functional import all_gather

        out = torch.cat(all_gather(x, group=_group(group)))  # type: ignore[no-untyped-call]
    return out


def _gather_shapes(x: Tensor, group: Any) -> list[tuple[int, ...]]:
    """Every rank's shape of ``x`` (one small all-gather), refused on every rank alike when
    they cannot be concatenated along dim 0, so no rank hangs."""
    code = torch.zeros(1 + _MAX_DIMS, dtype=torch.int64, device=x.device)
    code[0] = x.dim()
    code[1 : 1 + min(x.dim(), _MAX_DIMS)] = torch.tensor(x.shape[:_MAX_DIMS], dtype=torch.int64)
    codes = [torch.empty_like(code) for _ in range(_world(group))]
    dist.all_gather(codes, code, group=group)
    shapes = [tuple(int(s) for s in c[1 : 1 + int(c[0])].tolist()) for c in codes]
    ndims = [int(c[0]) for c in codes]
    if any(n == 0 or n > _MAX_DIMS for n in ndims) or any(
        s[1:] != shapes[0][1:] or n != ndims[0] for s, n in zip(shapes, ndims, strict=True)
    ):
        listed = ", ".join(
            f"rank {r}: {s if n <= _MAX_DIMS else f'{n} dims'}"
            for r, (s, n) in enumerate(zip(shapes, ndims, strict=True))
        )
        raise LossInputError(
            "all_gather_with_grad: every rank must give a tensor with at least one and at most "
            f"{_MAX_DIMS} dims and the same shape after dim 0 (dim 0 may differ); got {listed}; "
            "check that every rank runs the same model and reshapes alike"
        )
    return shapes


def gather_rows(
    x: Tensor, *, group: Any = None, sizes: list[int] | None = None
) -> tuple[Tensor, int, list[int]]:
    """:func:`all_gather_with_grad`, plus the row offset of this rank in the result and every
    rank's number of rows (for labels that point at this rank's rows). Pass ``sizes`` returned
    by an earlier call for a tensor with the same rows (labels of gathered embeddings) to skip
    the exchange of shapes.

    Example:
        >>> import torch
        >>> from losskit.distributed import gather_rows
        >>> gathered, offset, sizes = gather_rows(torch.zeros(3, 2))  # one process
        >>> offset, sizes
        (0, [3])
    """
    if not isinstance(x, Tensor):
        raise LossInputError(f"all_gather_with_grad: x must be a torch.Tensor, got {type(x)}")
    if x.dim() == 0:
        raise LossInputError(
            "all_gather_with_grad: x is a scalar; gather along dim 0 needs at least one dim "
            "(use x.reshape(1))"
        )
    if not is_distributed(group):
        return x, 0, [x.shape[0]]
    if sizes is None:
        sizes = [s[0] for s in _gather_shapes(x, group)]
    rank = dist.get_rank(group=group)
    offset = sum(sizes[:rank])
    top = max(sizes)
    if top == 0:  # nothing anywhere: the concatenation is this rank's empty tensor
        return x, 0, sizes
    x = x.contiguous()  # the collectives need it (pytorch/pytorch #73515)
    if min(sizes) == top:
        return _autograd_gather(x, group), offset, sizes
    # Uneven first dims: pad every rank to the largest, gather, keep the real rows. The padding
    # never reaches a loss, and the backward of index_select gives it no gradient.
    pad = x.new_zeros((top - x.shape[0], *x.shape[1:]))
    padded = _autograd_gather(torch.cat([x, pad]), group)  # (W * top, *rest)
    keep = torch.cat(
        [torch.arange(r * top, r * top + n, device=x.device) for r, n in enumerate(sizes)]
    )
    return padded.index_select(0, keep), offset, sizes


def all_gather_with_grad(x: Tensor, *, group: Any = None) -> Tensor:
    """Concatenate ``x`` of every rank along dim 0, keeping gradients.

    The backward gives each rank the sum, over all ranks, of the gradients w.r.t. its own rows;
    with DDP's gradient averaging that is exactly the single-process gradient when every rank
    returns its share of the loss (see the module docstring). Uses
    ``torch.distributed._functional_collectives`` (the newest autograd gather this torch has;
    ``torch.distributed.nn.all_gather`` only as a fallback) on a contiguous copy.

    Dim 0 may differ between ranks (uneven batches, an empty shard): sizes are gathered first,
    rows padded to the largest and the padding dropped after the gather. The other dims must
    agree; otherwise every rank raises the same :class:`LossInputError` (no rank hangs).

    Args:
        x: a tensor with at least one dim, on the device of the group's backend.
        group: the process group; ``None`` is the default (world) group.

    Returns:
        ``(sum of the ranks' dim 0, *x.shape[1:])``, ranks in order; ``x`` itself without an
        initialised process group or with one rank.

    Raises:
        LossInputError: the shapes after dim 0 differ between ranks, or ``x`` is a scalar.

    Example:
        >>> import torch
        >>> from losskit.distributed import all_gather_with_grad
        >>> all_gather_with_grad(torch.ones(2, 3)).shape  # one process: a no-op
        torch.Size([2, 3])
    """
    return gather_rows(x, group=group)[0]


# ----------------------------------------------------------------------------- global reductions
def global_count(count: Tensor | float, *, group: Any = None) -> Tensor:
    """The sum of ``count`` over the ranks (no gradient): a tensor, on ``count``'s device.

    Example:
        >>> from losskit.distributed import global_count
        >>> global_count(7)
        tensor(7)
    """
    if isinstance(count, Tensor):
        total = count.detach().clone()
    else:  # a Python float (a sum of weights) in float64: float32 counts stop at 2**24 exactly
        total = torch.tensor(count, dtype=torch.float64 if isinstance(count, float) else None)
    if total.numel() != 1:
        raise LossInputError(f"count must be a single number, got a tensor of shape {total.shape}")
    total = total.reshape(())
    if is_distributed(group):
        total = total.to(_count_device(count if isinstance(count, Tensor) else None, group))
        dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
    return total


def normalizer(count: Tensor | float, *, group: Any = None, grad_average: bool = True) -> Tensor:
    """What to divide this rank's loss *sum* by: ``global count / W`` under DDP.

    ``local_sum / normalizer(count)`` is :func:`global_mean`. Compute it once per optimiser step
    when accumulating gradients: ``count`` is this rank's number of items over *all* the
    micro-batches of the step (known before the first backward), and every micro-batch divides its
    own sum by the same normaliser.

    Args:
        count: this rank's number of items (or sum of weights) in the step; a number or a
            one-element tensor.
        group: the process group; ``None`` is the default group.
        grad_average: ``True`` (DDP, FSDP, Horovod: gradients are averaged over ranks) divides
            the global count by the world size ``W``; ``False`` if you sum gradients yourself.

    Returns:
        A float64 scalar tensor (``count`` itself in one process).

    Example:
        >>> from losskit.distributed import normalizer
        >>> normalizer(12)
        tensor(12., dtype=torch.float64)
    """
    total = global_count(count, group=group).to(torch.float64)
    return total / _world(group) if grad_average else total


def global_mean(
    loss_sum: Tensor, count: Tensor | float, *, group: Any = None, grad_average: bool = True
) -> Tensor:
    """The mean over every rank's items, as this rank's share for backward.

    Returns ``W * loss_sum / global_count`` (``W`` ranks, ``global_count`` the sum of ``count``
    over the ranks). The mean over ranks of these values is the single-process mean on the
    concatenated batch, and so is DDP's average of their gradients, whatever the number of items
    on each rank: uneven batches, ignored items and a rank with none at all (its share is a
    graph-connected ``0.0``, never NaN). ``0 / 0`` is ``0.0`` everywhere. For logging, the global
    mean itself is ``global_value(result)``.

    With gradient accumulation, ``count`` must cover the whole step (see :func:`normalizer`).

    Args:
        loss_sum: this rank's summed loss (e.g. ``reduction="sum"``), a scalar.
        count: this rank's number of items (or sum of weights) that ``loss_sum`` adds up.
        group: the process group; ``None`` is the default group.
        grad_average: as for :func:`normalizer`.

    Returns:
        A scalar in the dtype of ``loss_sum`` (float32 for half precision).

    Example:
        >>> import torch
        >>> from losskit.distributed import global_mean
        >>> global_mean(torch.tensor(6.0), 4)  # one process: sum / count
        tensor(1.5000)
        >>> global_mean(torch.tensor(0.0), 0)  # nothing counted: 0, not NaN
        tensor(0.)
    """
    if not isinstance(loss_sum, Tensor) or loss_sum.numel() != 1:
        raise LossInputError(
            "global_mean: loss_sum must be a one-element tensor (a loss with reduction='sum'), "
            f"got {type(loss_sum).__name__}"
            + (f" of shape {tuple(loss_sum.shape)}" if isinstance(loss_sum, Tensor) else "")
        )
    if not isinstance(count, Tensor):
        count = torch.tensor(count, device=loss_sum.device)
    norm = normalizer(count, group=group, grad_average=grad_average)
    # at least float32: a count of 70,000 is inf in float16 and rounded to 3 digits in bfloat16
    dtype = torch.promote_types(loss_sum.dtype, torch.float32)
    return masked_mean(loss_sum.reshape(()).to(dtype), norm.to(dtype))


def global_value(loss: Tensor, *, group: Any = None) -> Tensor:
    """The mean over ranks of ``loss``, detached, for logging: the single-process value when
    ``loss`` is one of the exact patterns of the module docstring (a :func:`global_mean`, a
    contrastive loss gathered with gradients, a plain mean of equal shards). Every rank must call
    it (it is a collective).

    Example:
        >>> import torch
        >>> from losskit.distributed import global_value
        >>> global_value(torch.tensor(2.5, requires_grad=True))
        tensor(2.5000)
    """
    value = loss.detach().clone()
    if is_distributed(group):
        dist.all_reduce(value, op=dist.ReduceOp.SUM, group=group)
        value = value / dist.get_world_size(group=group)
    return value


# ----------------------------------------------------------------------------- any batch loss
def global_batch(
    loss_fn: Callable[..., Tensor],
    *,
    args: Sequence[int] | None = None,
    kwargs: Sequence[str] = (),
    group: Any = None,
) -> Callable[..., Tensor]:
    """Wrap a loss so that, under ``torch.distributed``, it is computed on the global batch:
    the rows of every rank, gathered with gradients (:func:`gather_rows`), in rank order.

    Every rank then returns the single-process loss on the concatenated batch, and DDP's
    averaged gradient is exactly its gradient: each rank's backward sends the gradient w.r.t.
    every row back to the rank that owns it (the gather's backward sums the W ranks'
    identical contributions, W times the single-process row gradient), and DDP divides the
    parameter gradients by W. This holds for any loss of the batch, however its rows interact
    (pairs and triplets of the whole batch, softmaxes over lists, batch statistics, a ranking
    or survival loss over the risk set, a user's own function), with uneven shards and empty
    ones. The cost: every rank computes the whole loss (W times the single-process work, and
    its memory), plus one gather per tensor; a loss whose rows are independent is cheaper with
    :func:`global_mean`, and the contrastive losses' own ``gather="local"`` computes only this
    rank's rows.

    Args:
        loss_fn: ``loss_fn(*args, **kwargs) -> Tensor``, a losskit loss or any function.
        args: the positions of the positional arguments to gather along dim 0 (labels too:
            integer tensors are gathered without gradient); default: every tensor argument.
        kwargs: the names of keyword arguments to gather (default: none; a class weight or a
            temperature is the same on every rank and passes as it is).
        group: the process group; ``None`` is the default (world) group.

    Returns:
        A function with ``loss_fn``'s arguments. A losskit loss with a ``gather`` option is
        called with ``gather=None`` unless you pass one (its inputs are already global).
        Without an initialised process group, or with one rank, it calls ``loss_fn`` as it is.

    Example:
        >>> import torch, losskit
        >>> from losskit.distributed import global_batch
        >>> loss = global_batch(losskit.contrastive)
        >>> e, y = torch.tensor([[0.0, 0.0], [0.0, 0.5], [3.0, 0.0]]), torch.tensor([0, 0, 1])
        >>> loss(e, y)  # one process: losskit.contrastive itself
        tensor(0.1667)
    """
    if not callable(loss_fn):
        raise LossInputError(f"global_batch: loss_fn must be callable, got {type(loss_fn)}")
    try:
        has_gather = "gather" in inspect.signature(loss_fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        has_gather = False

    @functools.wraps(loss_fn)
    def wrapped(*call_args: Any, **call_kwargs: Any) -> Tensor:
        if not is_distributed(group):
            return loss_fn(*call_args, **call_kwargs)
        positions = range(len(call_args)) if args is None else args
        gathered = list(call_args)
        for i in positions:
            if i >= len(gathered):
                raise LossInputError(
                    f"global_batch: args names position {i}, but the call has "
                    f"{len(gathered)} positional arguments"
                )
            if isinstance(gathered[i], Tensor):
                gathered[i] = gather_rows(gathered[i], group=group)[0]
        named = dict(call_kwargs)
        for name in kwargs:
            if isinstance(named.get(name), Tensor):
                named[name] = gather_rows(named[name], group=group)[0]
        if has_gather and "gather" not in named:
            named["gather"] = None  # the inputs are global already: no second gather
        return loss_fn(*gathered, **named)

    return wrapped
