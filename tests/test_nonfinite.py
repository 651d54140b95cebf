"""Registry-wide non-finite policy: no loss turns a NaN or an infinity in any input into a
finite result, and in ``"full"`` mode the offending input is named.

Every floating tensor a loss takes (positional arguments and tensor options, targets and
weights included) gets one NaN, and every input but the predictions one +inf (an infinite logit can have a
finite limit), at an element that every result depends on.
In ``"off"`` mode the result must not be finite; in ``"full"`` mode the call must raise a
``LossInputError`` whose message names the argument (a value check of that input, or the
after-the-fact diagnosis of a non-finite result). Inputs come from ``tests/infos``."""

from __future__ import annotations

import inspect
import math
from typing import Any

import pytest
import torch

import losskit
import tests.infos  # noqa: F401  (fills INFOS)
from tests.lossinfo import INFOS, Sample

SPECS = losskit.list_specs()


def _sample(name: str) -> Sample:
    """The infos' first sample of at least 2 elements that ignores nothing."""
    samples = INFOS[name].samples(torch.Generator().manual_seed(3), torch.float64)
    for s in samples:
        if s.args[0].numel() >= 2 and "ignore_index" not in s.kwargs and "mask" not in s.kwargs:
            return s
    return samples[-1]


def _positions(name: str) -> list[tuple[str, int | str]]:
    """(argument name, position or keyword) of every floating tensor of the sample."""
    fn = losskit.get_spec(name).function
    params = list(inspect.signature(fn).parameters)
    sample = _sample(name)
    out: list[tuple[str, int | str]] = [
        (params[i], i)
        for i, a in enumerate(sample.args)
        if isinstance(a, torch.Tensor) and a.is_floating_point() and a.numel()
    ]
    out += [
        (k, k)
        for k, v in sample.kwargs.items()
        if isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel()
    ]
    return out


CASES = [
    pytest.param(s.name, arg, where, bad, id=f"{s.name}-{arg}-{bad}")
    for s in SPECS
    for arg, where in _positions(s.name)
    for bad in ("nan", "inf")
    # an infinite prediction (a logit of +inf) may have a finite limit: only NaN is tried there
    if bad == "nan" or where != 0
]


def _with_bad(sample: Sample, where: int | str, bad: float) -> tuple[tuple[Any, ...], dict]:
    args, kwargs = list(sample.args), dict(sample.kwargs)
    x = (args[where] if isinstance(where, int) else kwargs[where]).clone()
    x.view(-1)[0] = bad  # the first element: every loss here reads it
    if isinstance(where, int):
        args[where] = x
    else:
        kwargs[where] = x
    return tuple(args), kwargs


@pytest.mark.parametrize(("name", "arg", "where", "bad"), CASES)
def test_a_non_finite_input_never_gives_a_finite_loss(
    name: str, arg: str, where: int | str, bad: str
) -> None:
    fn = losskit.get_spec(name).function
    args, kwargs = _with_bad(_sample(name), where, float(bad))
    with losskit.checks("off"):
        try:
            out = fn(*args, **kwargs, reduction="sum" if "sum" in SPECS_BY[name] else "mean")
        except (RuntimeError, ValueError):
            out = None  # a kernel that refuses it itself is not a finite result
    if out is not None:
        assert not math.isfinite(float(out.detach().double().sum())), "a finite loss"
    with pytest.raises(losskit.LossInputError, match=arg):
        fn(*args, **kwargs)


SPECS_BY = {s.name: s.reductions for s in SPECS}
