"""Per-loss test metadata, like PyTorch's ModuleInfo: how to make inputs for a loss, its
independent float64 NumPy reference, the peer implementation where one exists, and the bad
inputs it must refuse. The generic suites (``test_generic.py``) iterate over the registry and
require an entry here for every registered loss, so a new loss is covered the moment it
registers. Entries live in ``tests/infos/<family>.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class Sample:
    """One call: positional tensors (predictions, targets, extras) and keyword options."""

    args: tuple[Tensor, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    desc: str = ""
    # positions in `args` (and names in `kwargs`) whose tensors get gradients in gradcheck
    grad_args: tuple[int, ...] = (0,)
    grad_kwargs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ErrorCase:
    """A call that must raise ``losskit.LossInputError`` with a message matching ``match``."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    match: str
    desc: str = ""


SampleFn = Callable[[torch.Generator, torch.dtype], list[Sample]]


@dataclass(frozen=True)
class LossInfo:
    name: str
    # make samples (shapes from a single example to 4-D with odd sizes) in a dtype
    samples: SampleFn
    # float64 NumPy reference: reference(*numpy_args, **kwargs) -> the reduced value for
    # kwargs["reduction"] (always passed)
    reference: Callable[..., Any]
    # the peer with the same maths (torch native), called like the loss; None if there is none
    peer: Callable[..., Tensor] | None = None
    errors: Callable[[], list[ErrorCase]] = lambda: []
    dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
    soft_targets: bool = False
    ignore_index: bool = False
    weights: bool = False
    gradgrad: bool = True
    # an empty batch (dim 0 sliced to 0) is a valid call: mean and sum give a graph-connected 0.0
    empty_ok: bool = True
    # logits at +-1e4 give a finite loss and gradient (false where the true value is infinite)
    extreme_ok: bool = True
    # per-dtype (rtol, atol) overrides of the shared table in test_reliability.py
    tolerances: dict[torch.dtype, tuple[float, float]] = field(default_factory=dict)
    # batch rows are independent: permuting dim 0 of every argument keeps mean and sum
    # (false where rows interact beyond the batch statistics, e.g. a per-batch normaliser)
    permutation_invariant: bool = True
    # each row's loss depends on that row only (false for in-batch negatives): a batch split
    # into micro-batches sums to the same total
    rows_independent: bool = True


INFOS: dict[str, LossInfo] = {}


def add(info: LossInfo) -> LossInfo:
    if info.name in INFOS:
        raise ValueError(f"two LossInfo entries for {info.name!r}")
    INFOS[info.name] = info
    return info


def to_numpy(x: Any) -> Any:
    """Tensors to float64 (or integer) NumPy arrays; other values unchanged."""
    if isinstance(x, Tensor):
        x = x.detach().cpu()
        return x.double().numpy() if x.is_floating_point() else x.numpy()
    return x


def np_reduce(loss: np.ndarray, reduction: str) -> Any:
    """The reductions every reference shares: mean over every element (0.0 over nothing)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean() if loss.size else 0.0


def randn(gen: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64) -> Tensor:
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)


def rand(gen: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64) -> Tensor:
    return torch.rand(shape, generator=gen, dtype=torch.float64).to(dtype)


def bits(gen: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64) -> Tensor:
    return torch.randint(0, 2, shape, generator=gen).to(dtype)


def labels(gen: torch.Generator, num_classes: int, *shape: int) -> Tensor:
    return torch.randint(0, num_classes, shape, generator=gen)


# the shapes used by elementwise losses: a single element, 1-D, 2-D, 4-D with odd sizes
ELEMENTWISE_SHAPES: tuple[tuple[int, ...], ...] = ((), (7,), (5, 3), (2, 3, 5, 1))
