"""One context manager for torch's intra-op thread count, shared by the training loop and the
audit (neither imports the other)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from losskit._checks import check_int

__all__ = ["torch_threads"]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (None: leave the setting), then restore it.

    Small tensors gain nothing from parallel kernels: for the small models of
    :mod:`losskit.train` the start-up and contention of intra-op threads cost more than the
    maths, so one thread trains them faster (the bench's training section measures it). Also a
    decorator: ``@torch_threads(1)``.
    """
    previous = torch.get_num_threads()
    if n is not None:
        n = check_int("threads", n, low=1)
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
