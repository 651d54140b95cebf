"""Registry-wide: the default checks under the tools people trace with, and checks that never
change a result.

For every registered loss, in the default ``"full"`` mode: ``torch.compile(fullgraph=True)``
of the function and of its Module gives the eager value; ``torch.func.vmap`` gives per-sample
losses (``reduction="none"``) and per-sample gradients equal to a Python loop; meta tensors
give the eager output shapes; and every check mode returns the same value for valid input.
Inputs come from ``tests/infos`` (independent of the loss code)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch

import losskit
import tests.infos  # noqa: F401  (fills INFOS)
from losskit.nn import module_for
from tests.lossinfo import INFOS, Sample

SPECS = losskit.list_specs()
NAMES = [s.name for s in SPECS]
MODES = ("debug", "full", "shapes", "off")


def _sample(name: str, seed: int = 5) -> Sample:
    samples = INFOS[name].samples(torch.Generator().manual_seed(seed), torch.float64)
    batched = [s for s in samples if s.args[0].dim() >= 2] or samples
    return batched[-1]


def _fn(name: str) -> Any:
    return losskit.get_spec(name).function


def _reduction(name: str, wanted: str) -> str:
    return wanted if wanted in losskit.get_spec(name).reductions else "mean"


# ----------------------------------------------------------------------------- check modes
@pytest.mark.parametrize("name", NAMES)
def test_every_check_mode_returns_the_same_value(name: str) -> None:
    sample = _sample(name)
    fn = _fn(name)
    for reduction in losskit.get_spec(name).reductions:
        values = []
        for mode in MODES:
            with losskit.checks(mode):
                values.append(fn(*sample.args, **{**sample.kwargs, "reduction": reduction}))
        for mode, value in zip(MODES[1:], values[1:], strict=True):
            assert torch.equal(value, values[0]), (name, reduction, mode)


# ----------------------------------------------------------------------------- torch.compile
@pytest.mark.parametrize("name", NAMES)
def test_compiles_with_fullgraph_in_the_default_mode(name: str) -> None:
    torch._dynamo.reset()
    sample = _sample(name)
    fn = _fn(name)
    want = fn(*sample.args, **sample.kwargs)
    got = torch.compile(fn, backend="eager", fullgraph=True)(*sample.args, **sample.kwargs)
    torch.testing.assert_close(got, want)
    # options the function requires (no default) are the Module's required options too
    required = {
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.default is p.empty
    }
    module = module_for(name)(**{k: sample.kwargs[k] for k in required})
    rest = {k: v for k, v in sample.kwargs.items() if k not in required}
    positional = [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind is p.POSITIONAL_OR_KEYWORD
    ]
    # Modules store options: tensors that the loss takes by keyword are passed at call time
    # only where the Module's forward takes them positionally
    if all(k in positional for k in rest):
        extra = [rest[k] for k in positional[len(sample.args) :] if k in rest]
        compiled = torch.compile(module, backend="eager", fullgraph=True)
        torch.testing.assert_close(compiled(*sample.args, *extra), want)


# ----------------------------------------------------------------------------- meta tensors
@pytest.mark.parametrize("name", NAMES)
def test_meta_tensors_give_the_output_shape(name: str) -> None:
    sample = _sample(name)
    fn = _fn(name)

    def meta(x: Any) -> Any:
        return x.to("meta") if isinstance(x, torch.Tensor) else x

    for reduction in ("mean", _reduction(name, "none")):
        kwargs = {**sample.kwargs, "reduction": reduction}
        want = fn(*sample.args, **kwargs)
        got = fn(*map(meta, sample.args), **{k: meta(v) for k, v in kwargs.items()})
        assert got.is_meta and got.shape == want.shape and got.dtype == want.dtype, reduction


# ----------------------------------------------------------------------------- vmap
def _stack(name: str, copies: int = 3) -> tuple[list[Sample], tuple[Any, ...]]:
    """``copies`` samples of the same shapes (different seeds) and their positional tensors
    stacked along a new dim 0."""
    samples = [_sample(name, seed) for seed in range(copies)]
    shapes = {tuple(tuple(a.shape) for a in s.args) for s in samples}
    assert len(shapes) == 1, "the infos' last batched sample has a fixed shape"
    stacked = tuple(torch.stack(group) for group in zip(*(s.args for s in samples), strict=True))
    return samples, stacked


@pytest.mark.parametrize("name", NAMES)
def test_vmap_gives_per_sample_losses(name: str) -> None:
    samples, stacked = _stack(name)
    fn = _fn(name)
    kwargs = {k: v for k, v in samples[0].kwargs.items() if not isinstance(v, torch.Tensor)}
    tensors = {k: v for k, v in samples[0].kwargs.items() if isinstance(v, torch.Tensor)}
    reduction = _reduction(name, "none")

    def one(*args: torch.Tensor) -> torch.Tensor:
        return fn(*args, **kwargs, **tensors, reduction=reduction)

    got = torch.func.vmap(one)(*stacked)
    want = torch.stack([one(*s.args) for s in samples])
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("name", NAMES)
def test_vmap_grad_gives_per_sample_gradients(name: str) -> None:
    samples, stacked = _stack(name)
    fn = _fn(name)
    kwargs = {k: v for k, v in samples[0].kwargs.items() if not isinstance(v, torch.Tensor)}
    tensors = {k: v for k, v in samples[0].kwargs.items() if isinstance(v, torch.Tensor)}

    def one(first: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        return fn(first, *rest, **kwargs, **tensors)

    got = torch.func.vmap(torch.func.grad(one))(*stacked)
    want = []
    for s in samples:
        first = s.args[0].detach().requires_grad_(True)
        (g,) = torch.autograd.grad(one(first, *s.args[1:]), first, allow_unused=True)
        want.append(torch.zeros_like(first) if g is None else g)
    torch.testing.assert_close(got, torch.stack(want))
