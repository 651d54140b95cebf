"""One context manager for torch's intra-op thread count, shared by the training loop and the
audit (neither imports the other)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from losskit._checks import check_option

__all__ = ["torch_threads"]


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (None: leave the setting), then restore it.

    Small tensors gain nothing from parallel kernels: on 2 cores, one thread trained the linear
    and the mlp model of :mod:`losskit.train` 4 to 5 times faster than two (less CPU time too),
    and on a busy machine the threads of a cross-entropy of 64 x 3 cost 1000x more than the maths
    (28 ms against 11 us). Also a decorator: ``@torch_threads(1)``.
    """
    previous = torch.get_num_threads()
    if n is not None:
        check_option("threads", n, low=1)
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
