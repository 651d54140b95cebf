"""Registry-wide: every option of every loss is validated by the shared helpers.

For each keyword-only option with a number or flag as its default: a string, ``None`` (unless
the option documents it, e.g. ``ignore_index=None``), a list, NaN and infinity (unless
documented, e.g. ``p=inf``) are refused with a ``LossInputError`` that names
the option (never a raw ``TypeError`` from deep inside torch); a numpy scalar and a 0-d tensor
of the default value are accepted and give the same loss as the Python number."""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
import pytest
import torch

import losskit
import tests.infos  # noqa: F401  (fills INFOS)
from tests.lossinfo import INFOS, Sample

SPECS = losskit.list_specs()
# options whose docstring gives an infinite value a meaning (the L-inf norm, half the MSE, ...)
INFINITE_OK = {
    ("triplet_margin", "p"),
    ("huber", "delta"),
    ("pseudo_huber", "delta"),
    ("barron", "alpha"),
}


def _sample(name: str) -> Sample:
    samples = INFOS[name].samples(torch.Generator().manual_seed(2), torch.float64)
    return next((s for s in samples if s.args[0].dim() >= 2), samples[-1])


def _options(name: str) -> list[tuple[str, Any, bool]]:
    """(name, default, whether None is a documented value) of the number and flag options."""
    fn = losskit.get_spec(name).function
    out = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind is not p.KEYWORD_ONLY or p.name == "reduction":
            continue
        if isinstance(p.default, (bool, int, float)) and p.name not in _sample(name).kwargs:
            out.append((p.name, p.default, "None" in str(p.annotation)))
    return out


CASES = [
    pytest.param(s.name, option, default, none_ok, id=f"{s.name}-{option}")
    for s in SPECS
    for option, default, none_ok in _options(s.name)
]


@pytest.mark.parametrize(("name", "option", "default", "none_ok"), CASES)
def test_wrong_types_are_refused_by_name(
    name: str, option: str, default: Any, none_ok: bool
) -> None:
    fn = losskit.get_spec(name).function
    sample = _sample(name)
    bad: list[Any] = ["1", [default]] + ([] if none_ok else [None])
    if not isinstance(default, bool):
        bad.append(math.nan)
        if (name, option) not in INFINITE_OK:
            bad.append(math.inf)
    for value in bad:
        with pytest.raises(losskit.LossInputError, match=option):
            fn(*sample.args, **{**sample.kwargs, option: value})


@pytest.mark.parametrize(("name", "option", "default", "none_ok"), CASES)
def test_numpy_scalars_and_0d_tensors_are_numbers(
    name: str, option: str, default: Any, none_ok: bool
) -> None:
    fn = losskit.get_spec(name).function
    sample = _sample(name)
    want = fn(*sample.args, **sample.kwargs)
    kinds: list[Any] = [np.bool_(default)] if isinstance(default, bool) else [np.float64(default)]
    if isinstance(default, int) and not isinstance(default, bool):
        kinds = [np.int64(default), torch.tensor(default)]
    elif isinstance(default, float):
        kinds.append(torch.tensor(default, dtype=torch.float64))
    for value in kinds:
        got = fn(*sample.args, **{**sample.kwargs, option: value})
        torch.testing.assert_close(got, want, rtol=0, atol=0)
