"""The peers of the losses no other library has: the plain-torch formula of each loss's own
docstring, the obvious code a user would write (no checks, no special cases beyond the
docstring's). One module per family; each defines ``FORMULAS = {name: (description, fn)}`` with
``fn(args, kwargs) -> Tensor`` called on the loss's example positional tensors and options, and
returning the same value as the loss (the bench prints the difference)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from torch import Tensor

Formula = Callable[[tuple[Any, ...], dict[str, Any]], Tensor]
FAMILIES = ("regression", "binary", "multiclass", "overlap", "misc", "preference", "policy")


def all_formulas() -> dict[str, tuple[str, Formula]]:
    out: dict[str, tuple[str, Formula]] = {}
    for family in FAMILIES:
        try:
            module = importlib.import_module(f"bench.formulas.{family}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.formulas.{family}":
                raise
            continue
        out.update(module.FORMULAS)
    return out
