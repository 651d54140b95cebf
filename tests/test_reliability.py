"""Reliability suites over the whole registry (the failure modes of
``shared/anchors/reliability.md``): dtypes against the float64 reference, random upstream
gradients against finite differences of the reference, non-contiguous inputs, no mutation,
Modules that pickle, ``torch.compile``, extreme inputs, and the edge policies (empty batch, every
label ignored, every weight zero) with metamorphic identities."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import losskit
import tests.infos  # noqa: F401  (fills INFOS)
from losskit._spec import MeanOver
from losskit.nn import module_for
from tests.lossinfo import INFOS, LossInfo, Sample, to_numpy

SPECS = losskit.list_specs()
NAMES = [s.name for s in SPECS]

# One table of tolerances against the float64 reference, computed from the same rounded inputs.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float32: (1e-4, 1e-5),
    torch.float16: (2e-2, 2e-2),
    torch.bfloat16: (6e-2, 6e-2),
}


def _info(name: str) -> LossInfo:
    if name not in INFOS:
        pytest.fail(f"{name} is registered but has no LossInfo in tests/infos")
    return INFOS[name]


def _samples(name: str, dtype: torch.dtype = torch.float64, seed: int = 11) -> list[Sample]:
    return _info(name).samples(torch.Generator().manual_seed(seed), dtype)


def _fn(name: str) -> Any:
    return losskit.get_spec(name).function


def _ref(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], reduction: str) -> np.ndarray:
    np_kwargs = {k: to_numpy(v) for k, v in kwargs.items()}
    return np.asarray(
        _info(name).reference(*map(to_numpy, args), reduction=reduction, **np_kwargs),
        dtype=np.float64,
    )


def _reductions(name: str) -> tuple[str, ...]:
    return losskit.get_spec(name).reductions


def _grad_tensors(sample: Sample) -> tuple[list[torch.Tensor], dict[str, Any], list[torch.Tensor]]:
    args = [a.clone().requires_grad_(i in sample.grad_args) for i, a in enumerate(sample.args)]
    kwargs = {
        k: (v.clone().requires_grad_(k in sample.grad_kwargs) if torch.is_tensor(v) else v)
        for k, v in sample.kwargs.items()
    }
    leaves = [a for a in args if a.requires_grad] + [kwargs[k] for k in sample.grad_kwargs]
    return args, kwargs, leaves


# ----------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("name", NAMES)
def test_low_precision_against_float64_reference(name: str) -> None:
    info = _info(name)
    for dtype in info.dtypes:
        if dtype == torch.float64:
            continue
        rtol, atol = info.tolerances.get(dtype, TOLERANCES[dtype])
        for sample in _samples(name, dtype):
            for reduction in _reductions(name):
                got = _fn(name)(*sample.args, **sample.kwargs, reduction=reduction)
                assert got.is_floating_point()
                want = _ref(name, sample.args, sample.kwargs, reduction)
                assert tuple(got.shape) == want.shape
                np.testing.assert_allclose(
                    got.detach().double().numpy(),
                    want,
                    rtol=rtol,
                    atol=atol,
                    err_msg=f"{name} {dtype} {sample.desc} {reduction}",
                )


# ----------------------------------------------------------------------------- gradients
def _numeric_vjp(
    name: str, sample: Sample, reduction: str, upstream: np.ndarray
) -> list[np.ndarray]:
    """Central differences of the float64 *reference*, contracted with the upstream gradient."""
    args = [to_numpy(a).copy() if torch.is_tensor(a) else a for a in sample.args]
    kwargs = {k: to_numpy(v) for k, v in sample.kwargs.items()}
    targets: list[tuple[Any, Any]] = [(args, i) for i in sample.grad_args]
    targets += [(kwargs, k) for k in sample.grad_kwargs]
    out = []
    h = 1e-6
    for holder, key in targets:
        x = holder[key]
        grad = np.zeros_like(x, dtype=np.float64)
        flat = x.reshape(-1)
        for j in range(flat.size):
            keep = flat[j]
            flat[j] = keep + h
            up = np.asarray(_info(name).reference(*args, reduction=reduction, **kwargs))
            flat[j] = keep - h
            down = np.asarray(_info(name).reference(*args, reduction=reduction, **kwargs))
            flat[j] = keep
            grad.reshape(-1)[j] = np.sum((up - down) / (2 * h) * upstream)
        out.append(grad)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_random_upstream_gradient_matches_reference(name: str) -> None:
    gen = torch.Generator().manual_seed(3)
    for sample in _samples(name)[:3]:
        for reduction in _reductions(name):
            args, kwargs, leaves = _grad_tensors(sample)
            out = _fn(name)(*args, **kwargs, reduction=reduction)
            upstream = torch.randn(out.shape, generator=gen, dtype=torch.float64) + 0.5
            grads = torch.autograd.grad(out, leaves, upstream, allow_unused=True)
            want = _numeric_vjp(name, sample, reduction, upstream.numpy())
            for got, expected in zip(grads, want, strict=True):
                got_np = np.zeros_like(expected) if got is None else got.numpy()
                np.testing.assert_allclose(
                    got_np,
                    expected,
                    rtol=1e-5,
                    atol=1e-6,
                    err_msg=f"{name} {sample.desc} {reduction}",
                )


@pytest.mark.parametrize("name", [n for n in NAMES if INFOS.get(n) and INFOS[n].gradgrad])
def test_gradgradcheck_float64(name: str) -> None:
    sample = _samples(name)[min(1, len(_samples(name)) - 1)]
    for reduction in _reductions(name):
        args, kwargs, leaves = _grad_tensors(sample)

        def fn(*_: torch.Tensor, args=args, kwargs=kwargs, reduction=reduction) -> torch.Tensor:
            return _fn(name)(*args, **kwargs, reduction=reduction)

        assert torch.autograd.gradgradcheck(fn, leaves), (name, reduction)


# ----------------------------------------------------------------------------- memory layout
def _noncontiguous(t: torch.Tensor) -> torch.Tensor:
    if t.dim() == 0:
        return t
    wide = torch.zeros(*t.shape, 2, dtype=t.dtype)
    wide[..., 0] = t
    view = wide[..., 0]
    assert not view.is_contiguous() or t.numel() <= 1
    return view


@pytest.mark.parametrize("name", NAMES)
def test_non_contiguous_inputs_give_the_same_result(name: str) -> None:
    for sample in _samples(name):
        args = [_noncontiguous(a) if torch.is_tensor(a) else a for a in sample.args]
        for reduction in _reductions(name):
            want = _fn(name)(*sample.args, **sample.kwargs, reduction=reduction)
            got = _fn(name)(*args, **sample.kwargs, reduction=reduction)
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_inputs_are_never_mutated(name: str) -> None:
    for sample in _samples(name):
        args, kwargs, _ = _grad_tensors(sample)
        tensors = [a for a in args if torch.is_tensor(a)] + [
            v for v in kwargs.values() if torch.is_tensor(v)
        ]
        versions = [t._version for t in tensors]
        copies = [t.detach().clone() for t in tensors]
        out = _fn(name)(*args, **kwargs)
        if out.requires_grad:
            out.sum().backward()
        assert [t._version for t in tensors] == versions, f"{name} {sample.desc}: mutated in place"
        for t, c in zip(tensors, copies, strict=True):
            assert torch.equal(t.detach(), c)


# ----------------------------------------------------------------------------- Modules
@pytest.mark.parametrize("name", NAMES)
def test_module_pickles_and_state_dict_round_trips(name: str) -> None:
    sample = _samples(name)[-1]
    module = module_for(name)(**sample.kwargs)
    clone = pickle.loads(pickle.dumps(module))
    torch.testing.assert_close(clone(*sample.args), module(*sample.args))
    fresh = module_for(name)(**sample.kwargs)
    fresh.load_state_dict(module.state_dict())
    torch.testing.assert_close(fresh(*sample.args), module(*sample.args))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_torch_compile_gives_the_same_values_and_gradients(name: str) -> None:
    torch._dynamo.reset()
    sample = _samples(name)[-1]
    fn = _fn(name)
    compiled = torch.compile(fn, backend="aot_eager")
    args, kwargs, leaves = _grad_tensors(sample)
    want = fn(*args, **kwargs)
    want_grads = torch.autograd.grad(want, leaves) if want.requires_grad else ()
    args2, kwargs2, leaves2 = _grad_tensors(sample)
    got = compiled(*args2, **kwargs2)
    got_grads = torch.autograd.grad(got, leaves2) if got.requires_grad else ()
    torch.testing.assert_close(got, want)
    for g, w in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g, w)


# ----------------------------------------------------------------------------- edge policies
def _batched(sample: Sample) -> bool:
    """All positional tensors share a batch dim 0, and no keyword tensor is per row (it would
    have to be sliced with the rows)."""
    tensors = [a for a in sample.args if torch.is_tensor(a)]
    if not tensors or any(t.dim() == 0 for t in tensors) or len({t.shape[0] for t in tensors}) != 1:
        return False
    n = tensors[0].shape[0]
    return not any(
        torch.is_tensor(v) and v.dim() >= 2 and v.shape[0] == n for v in sample.kwargs.values()
    )


@pytest.mark.parametrize("name", [n for n in NAMES if INFOS.get(n) and INFOS[n].empty_ok])
def test_empty_batch_policy(name: str) -> None:
    samples = [s for s in _samples(name) if _batched(s)]
    assert samples, f"{name}: no batched sample to slice"
    for sample in samples:
        args = [
            a[:0].clone().requires_grad_(i in sample.grad_args) for i, a in enumerate(sample.args)
        ]
        for reduction in _reductions(name):
            out = _fn(name)(*args, **sample.kwargs, reduction=reduction)
            if reduction == "none":
                assert out.numel() == 0
                continue
            assert out.shape == () and out.item() == 0.0, f"{name} {sample.desc} {reduction}: {out}"
            assert out.grad_fn is not None, f"{name}: the zero must stay on the graph (DDP)"
            out.backward()


def _label_sample(name: str) -> Sample | None:
    for sample in _samples(name):
        labels = sample.args[1] if len(sample.args) > 1 else None
        if (
            labels is not None
            and not labels.is_floating_point()
            and labels.dim() >= 1
            and labels.numel() > 3
        ):
            return sample
    return None


IGNORE = [n for n in NAMES if INFOS.get(n) and INFOS[n].ignore_index]


@pytest.mark.parametrize("name", IGNORE)
def test_every_label_ignored_gives_zero_and_zero_gradient(name: str) -> None:
    sample = _label_sample(name)
    assert sample is not None
    ignore = sample.kwargs.get("ignore_index", -100)
    logits = sample.args[0].clone().requires_grad_()
    labels = torch.full_like(sample.args[1], ignore)
    for reduction in ("mean", "sum"):
        out = _fn(name)(logits, labels, *sample.args[2:], **sample.kwargs, reduction=reduction)
        assert out.item() == 0.0 and not torch.isnan(out)
        (grad,) = torch.autograd.grad(out, logits)
        assert torch.count_nonzero(grad) == 0


@pytest.mark.parametrize("name", IGNORE)
def test_ignored_items_equal_slicing_and_do_not_leak(name: str) -> None:
    sample = _label_sample(name)
    assert sample is not None
    ignore = sample.kwargs.get("ignore_index", -100)
    logits, labels = sample.args[0], sample.args[1].clone()
    labels[::2] = ignore
    keep = labels != ignore
    fn = _fn(name)
    if logits.dim() == 2:  # mask == slice (rows)
        for reduction in ("mean", "sum"):
            torch.testing.assert_close(
                fn(logits, labels, **sample.kwargs, reduction=reduction),
                fn(logits[keep], labels[keep], **sample.kwargs, reduction=reduction),
            )
    # perturbing only ignored items changes neither the loss nor the kept items' gradients
    noise = torch.randn_like(logits) * 5
    if losskit.get_spec(name).input_space == "log_probs":
        noise = -noise.abs()  # stay in the input space
    ignored = ~keep.unsqueeze(1).expand_as(logits) if logits.dim() >= 2 else ~keep
    a, b = (
        logits.clone().requires_grad_(),
        torch.where(ignored, logits + noise, logits).requires_grad_(),
    )
    la, lb = fn(a, labels, **sample.kwargs), fn(b, labels, **sample.kwargs)
    torch.testing.assert_close(la, lb)
    (ga,), (gb,) = torch.autograd.grad(la, a), torch.autograd.grad(lb, b)
    torch.testing.assert_close(ga, gb)


@pytest.mark.parametrize("name", [n for n in NAMES if INFOS.get(n) and INFOS[n].weights])
def test_all_zero_weights_give_zero_not_nan(name: str) -> None:
    for sample in _samples(name):
        if "weight" not in sample.kwargs:
            continue
        kwargs = {**sample.kwargs, "weight": torch.zeros_like(sample.kwargs["weight"])}
        for reduction in _reductions(name):
            out = _fn(name)(*sample.args, **kwargs, reduction=reduction)
            assert torch.count_nonzero(out) == 0 and not torch.isnan(out).any(), (name, reduction)


@pytest.mark.parametrize(
    "name",
    [
        s.name
        for s in SPECS
        if s.mean_over == MeanOver.ELEMENT and INFOS.get(s.name) and INFOS[s.name].rows_independent
    ],
)
def test_micro_batch_sums_over_total_count_equal_full_mean(name: str) -> None:
    """The gradient-accumulation case: sum over micro-batches / total count == full-batch mean."""
    for sample in _samples(name):
        if not _batched(sample) or sample.args[0].shape[0] < 3 or "none" not in _reductions(name):
            continue
        n = sample.args[0].shape[0]
        full = _fn(name)(*sample.args, **sample.kwargs)
        count = _fn(name)(*sample.args, **sample.kwargs, reduction="none").numel()
        parts = [slice(0, 1), slice(1, n)]
        total = sum(
            _fn(name)(*[a[p] for a in sample.args], **sample.kwargs, reduction="sum") for p in parts
        )
        torch.testing.assert_close(total / count, full)


@pytest.mark.parametrize("name", [s.name for s in SPECS if s.input_space == "logits"])
def test_extreme_logits_give_finite_values_and_gradients(name: str) -> None:
    info = _info(name)
    if not info.extreme_ok:
        pytest.skip(f"{name}: the true value at +-1e4 is infinite (documented)")
    for sample in _samples(name):
        big = torch.where(sample.args[0] >= 0, 1e4, -1e4).to(sample.args[0].dtype).requires_grad_()
        out = _fn(name)(big, *sample.args[1:], **sample.kwargs)
        (grad,) = torch.autograd.grad(out, big)
        assert torch.isfinite(out).all() and torch.isfinite(grad).all(), (name, sample.desc)


@pytest.mark.parametrize("name", [s.name for s in SPECS if s.input_space == "probs"])
def test_probabilities_at_exactly_zero_and_one_stay_finite(name: str) -> None:
    for sample in _samples(name):
        p = sample.args[0].clone()
        p.view(-1)[::2] = 0.0
        p.view(-1)[1::2] = 1.0
        p.requires_grad_()
        out = _fn(name)(p, *sample.args[1:], **sample.kwargs)
        (grad,) = torch.autograd.grad(out, p)
        assert torch.isfinite(out).all() and torch.isfinite(grad).all(), (name, sample.desc)


# ----------------------------------------------------------------------------- properties
SEEDS = st.integers(min_value=0, max_value=2**31 - 1)
PROPERTY_SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("name", [s.name for s in SPECS if "nonnegative" in s.properties])
@PROPERTY_SETTINGS
@given(seed=SEEDS)
def test_property_nonnegative(name: str, seed: int) -> None:
    reduction = "none" if "none" in _reductions(name) else "mean"
    for sample in _samples(name, seed=seed):
        out = _fn(name)(*sample.args, **sample.kwargs, reduction=reduction)
        assert (out >= -1e-12).all(), (name, sample.desc)


@pytest.mark.parametrize("name", [s.name for s in SPECS if "zero_at_target" in s.properties])
@PROPERTY_SETTINGS
@given(seed=SEEDS)
def test_property_minimum_at_target(name: str, seed: int) -> None:
    for sample in _samples(name, seed=seed):
        preds, targets = sample.args[0], sample.args[1]
        if preds.shape != targets.shape or not targets.is_floating_point():
            continue
        try:
            at_target = _fn(name)(targets.clone(), targets, *sample.args[2:], **sample.kwargs)
        except losskit.LossInputError:
            continue  # a target outside the prediction domain (tweedie's zero counts)
        elsewhere = _fn(name)(*sample.args, **sample.kwargs)
        assert abs(at_target.item()) < 1e-9 and elsewhere.item() >= at_target.item() - 1e-12


@pytest.mark.parametrize("name", [n for n in NAMES if "none" in losskit.get_spec(n).reductions])
@PROPERTY_SETTINGS
@given(seed=SEEDS)
def test_property_sum_is_sum_of_none(name: str, seed: int) -> None:
    for sample in _samples(name, seed=seed):
        none = _fn(name)(*sample.args, **sample.kwargs, reduction="none")
        torch.testing.assert_close(
            _fn(name)(*sample.args, **sample.kwargs, reduction="sum"), none.sum()
        )


@pytest.mark.parametrize(
    "name", [n for n in NAMES if INFOS.get(n) and INFOS[n].permutation_invariant]
)
@PROPERTY_SETTINGS
@given(seed=SEEDS)
def test_property_batch_permutation_invariance(name: str, seed: int) -> None:
    perm_gen = torch.Generator().manual_seed(seed)
    for sample in _samples(name, seed=seed):
        if not _batched(sample):
            continue
        n = sample.args[0].shape[0]
        perm = torch.randperm(n, generator=perm_gen)
        for reduction in [r for r in _reductions(name) if r != "none"]:
            torch.testing.assert_close(
                _fn(name)(*[a[perm] for a in sample.args], **sample.kwargs, reduction=reduction),
                _fn(name)(*sample.args, **sample.kwargs, reduction=reduction),
            )
