"""Generic suites over the whole registry: every registered loss is checked against its
independent float64 reference, its peer, gradcheck, the reduction contract, its Module form and
its error cases. Entries come from ``tests/infos``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import losskit
import tests.infos  # noqa: F401  (fills INFOS)
from losskit.nn import module_for
from tests.lossinfo import INFOS, LossInfo, Sample, to_numpy

SPECS = losskit.list_specs()
NAMES = [s.name for s in SPECS]


def _info(name: str) -> LossInfo:
    if name not in INFOS:
        pytest.fail(f"{name} is registered but has no LossInfo in tests/infos")
    return INFOS[name]


def _samples(name: str, dtype: torch.dtype = torch.float64) -> list[Sample]:
    return _info(name).samples(torch.Generator().manual_seed(7), dtype)


def _call(name: str, sample: Sample, **extra):
    return losskit.get_spec(name).function(*sample.args, **{**sample.kwargs, **extra})


def _reference(name: str, sample: Sample, reduction: str):
    kwargs = {k: to_numpy(v) for k, v in sample.kwargs.items()}
    return np.asarray(
        _info(name).reference(*map(to_numpy, sample.args), reduction=reduction, **kwargs)
    )


def test_every_loss_has_info_and_module() -> None:
    missing = [n for n in NAMES if n not in INFOS]
    assert not missing, f"registered losses without a LossInfo: {missing}"
    assert not [n for n in INFOS if n not in NAMES], "LossInfo for unregistered losses"
    for name in NAMES:
        assert module_for(name).function.spec.name == name


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_complete(name: str) -> None:
    spec = losskit.get_spec(name)
    assert spec.summary and spec.formula and spec.when_to_use
    assert set(spec.reductions) <= {"mean", "sum", "none"} and "mean" in spec.reductions
    assert spec.function.__doc__ and ">>>" in spec.function.__doc__, "docstring needs an example"
    assert name not in {"accuracy", "error_rate"}, "metrics are never registered as losses"


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_float64_reference(name: str) -> None:
    spec = losskit.get_spec(name)
    for sample in _samples(name):
        for reduction in spec.reductions:
            got = _call(name, sample, reduction=reduction)
            want = _reference(name, sample, reduction)
            assert tuple(got.shape) == want.shape, (
                sample.desc,
                reduction,
            )  # assert_close broadcasts
            np.testing.assert_allclose(
                got.detach().numpy(),
                want,
                rtol=1e-10,
                atol=1e-12,
                err_msg=f"{name} {sample.desc} {reduction}",
            )


@pytest.mark.parametrize("name", [n for n in NAMES if INFOS.get(n) and INFOS[n].peer])
def test_matches_peer(name: str) -> None:
    peer = _info(name).peer
    assert peer is not None
    for sample in _samples(name, torch.float32):
        for reduction in ("sum", "none"):
            got = _call(name, sample, reduction=reduction)
            want = peer(*sample.args, **sample.kwargs, reduction=reduction)
            assert got.shape == want.shape
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        if not (_info(name).ignore_index or _info(name).weights):
            want = peer(*sample.args, **sample.kwargs)
            if torch.isnan(want).all():  # torch's mean over nothing; ours is 0.0 by policy
                want = torch.zeros_like(want)
            torch.testing.assert_close(_call(name, sample), want)


@pytest.mark.parametrize("name", NAMES)
def test_reduction_contract(name: str) -> None:
    spec = losskit.get_spec(name)
    if "none" not in spec.reductions:
        pytest.skip(f"{name} reduces only by {spec.reductions}")
    for sample in _samples(name):
        none = _call(name, sample, reduction="none")
        torch.testing.assert_close(_call(name, sample, reduction="sum"), none.sum())
        if spec.mean_over == "every element":
            torch.testing.assert_close(
                _call(name, sample, reduction="mean"), none.mean() if none.numel() else none.sum()
            )


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64(name: str) -> None:
    spec = losskit.get_spec(name)
    for sample in _samples(name):
        for reduction in spec.reductions:
            tensors = [
                a.clone().requires_grad_(i in sample.grad_args) for i, a in enumerate(sample.args)
            ]
            kw = {
                k: (v.clone().requires_grad_(k in sample.grad_kwargs) if torch.is_tensor(v) else v)
                for k, v in sample.kwargs.items()
            }
            inputs = [t for t in tensors if t.requires_grad] + [kw[k] for k in sample.grad_kwargs]

            def fn(*_: torch.Tensor, tensors=tensors, kw=kw, reduction=reduction):
                return spec.function(*tensors, **kw, reduction=reduction)

            assert torch.autograd.gradcheck(fn, inputs), (name, sample.desc, reduction)


@pytest.mark.parametrize("name", NAMES)
def test_module_equals_function(name: str) -> None:
    for sample in _samples(name):
        module = module_for(name)(**sample.kwargs)
        torch.testing.assert_close(module(*sample.args), _call(name, sample))
        assert module.spec.name == name


@pytest.mark.parametrize("name", NAMES)
def test_error_cases_raise_clearly(name: str) -> None:
    cases = _info(name).errors()
    assert cases, f"{name} has no error cases"
    for case in cases:
        with pytest.raises(losskit.LossInputError, match=case.match):
            losskit.get_spec(name).function(*case.args, **case.kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_reduction_is_refused(name: str) -> None:
    sample = _samples(name)[0]
    with pytest.raises(losskit.LossInputError, match="reduction must be one of"):
        _call(name, sample, reduction="batchmean")
