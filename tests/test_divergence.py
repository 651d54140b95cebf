"""Divergences and distillation beyond the generic suites: the per-example mean (not torch's
element mean), identities, symmetry, disjoint supports and temperature scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit.losses._divergence import distillation, js_div, kl_div
from losskit.losses._multiclass import soft_cross_entropy
from tests.infos.divergence import _js_ref, _kd_ref, _kl_ref

REDUCTIONS = ("mean", "sum", "none")


def _dists(gen, *shape):
    """log-probabilities and probabilities over dim 1 (dim 0 for one distribution)."""
    dim = 0 if len(shape) == 1 else 1
    lp = torch.log_softmax(2 * torch.randn(shape, generator=gen, dtype=torch.float64), dim)
    q = torch.softmax(2 * torch.randn(shape, generator=gen, dtype=torch.float64), dim)
    return lp, q


def test_every_divergence_is_listed_in_its_family() -> None:
    assert {"kl_div", "js_div", "distillation"} <= {
        s.name for s in losskit.list_specs("divergence")
    }


# ----------------------------------------------------------------------------- KL
def test_kl_mean_is_per_example_not_torchs_element_mean(gen) -> None:
    lp, q = _dists(gen, 8, 10)
    ours = kl_div(lp, q)
    torch.testing.assert_close(ours, F.kl_div(lp, q, reduction="batchmean"))
    # torch's "mean" divides by N * C: C = 10 times smaller (and it is not a KL)
    with pytest.warns(UserWarning, match="'mean' divides the total loss by both"):
        torch_mean = F.kl_div(lp, q, reduction="mean")
    torch.testing.assert_close(ours, 10 * torch_mean)
    torch.testing.assert_close(ours, kl_div(lp, q, reduction="none").mean())


def test_kl_mean_over_extra_dims_averages_every_position(gen) -> None:
    lp, q = _dists(gen, 2, 4, 3, 5)
    ours = kl_div(lp, q)
    # one KL per (n, h, w): the mean divides by N * H * W = 30; torch's "batchmean" by N = 2
    torch.testing.assert_close(ours, F.kl_div(lp, q, reduction="sum") / 30)
    torch.testing.assert_close(ours * 15, F.kl_div(lp, q, reduction="batchmean"))
    assert kl_div(lp, q, reduction="none").shape == (2, 3, 5)


@pytest.mark.parametrize("shape", [(6,), (5, 4), (2, 3, 4)])
def test_kl_of_a_distribution_with_itself_is_zero(gen, shape) -> None:
    lp, _ = _dists(gen, *shape)
    for reduction in REDUCTIONS:
        assert kl_div(lp, lp.exp(), reduction=reduction).abs().max().item() < 1e-15
        assert kl_div(lp, lp, log_targets=True, reduction=reduction).abs().max().item() < 1e-15


def test_kl_with_log_targets_equals_probability_targets(gen) -> None:
    lp, q = _dists(gen, 7, 5)
    for reduction in REDUCTIONS:
        torch.testing.assert_close(
            kl_div(lp, torch.log(q), log_targets=True, reduction=reduction),
            kl_div(lp, q, reduction=reduction),
        )


def test_kl_is_cross_entropy_minus_the_target_entropy(gen) -> None:
    x = 2 * torch.randn(6, 4, generator=gen, dtype=torch.float64)
    _, q = _dists(gen, 6, 4)
    entropy = -(q * torch.log(q)).sum(1)
    torch.testing.assert_close(
        kl_div(torch.log_softmax(x, 1), q, reduction="none"),
        soft_cross_entropy(x, q, reduction="none") - entropy,
    )


def test_kl_with_zero_targets_uses_zero_log_zero(gen) -> None:
    lp, _ = _dists(gen, 3, 4)
    q = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.25] * 4], dtype=torch.float64)
    lp.requires_grad_()
    got = kl_div(lp, q, reduction="none")
    want = (q * torch.log(torch.where(q > 0, q, 1.0)) - q * lp).sum(1)
    torch.testing.assert_close(got, want)
    (grad,) = torch.autograd.grad(got.sum(), lp)
    torch.testing.assert_close(grad, -q)


# ----------------------------------------------------------------------------- JS
def test_js_is_symmetric_bounded_and_zero_on_equal_distributions(gen) -> None:
    lp, q = _dists(gen, 6, 5)
    p = lp.exp()
    torch.testing.assert_close(
        js_div(lp, q, reduction="none"), js_div(torch.log(q), p, reduction="none")
    )
    assert (js_div(lp, q, reduction="none") <= math.log(2)).all()
    assert js_div(lp, p).abs().item() < 1e-15
    # the mixture M = (P + Q) / 2 written out
    m = (p + q) / 2
    want = 0.5 * (p * torch.log(p / m)).sum(1) + 0.5 * (q * torch.log(q / m)).sum(1)
    torch.testing.assert_close(js_div(lp, q, reduction="none"), want)


def test_js_of_disjoint_supports_is_log_2_with_finite_gradients() -> None:
    # KL would be infinite here; JS is log 2 and both sides get a finite gradient
    lp = torch.log(torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], dtype=torch.float64))
    q = torch.tensor([[0.0, 0.3, 0.7], [0.0, 0.0, 1.0]], dtype=torch.float64)
    lp.requires_grad_()
    q.requires_grad_()
    got = js_div(lp, q, reduction="none")
    torch.testing.assert_close(got, torch.full((2,), math.log(2), dtype=torch.float64))
    g_lp, g_q = torch.autograd.grad(got.sum(), (lp, q))
    assert torch.isfinite(g_lp).all() and torch.isfinite(g_q).all()
    # the KL is infinite: in full mode that is refused, naming the -inf log-probabilities
    with pytest.raises(losskit.LossInputError, match="log_preds holds non-finite values"):
        kl_div(lp.detach(), q.detach())
    with losskit.checks("shapes"):
        assert torch.isinf(kl_div(lp.detach(), q.detach(), reduction="none")).all()


def test_js_with_log_targets(gen) -> None:
    lp, q = _dists(gen, 5, 4)
    torch.testing.assert_close(js_div(lp, torch.log(q), log_targets=True), js_div(lp, q))


# ----------------------------------------------------------------------------- distillation
def test_distillation_at_temperature_1_is_kl(gen) -> None:
    s = 2 * torch.randn(6, 5, 3, generator=gen, dtype=torch.float64)
    t = 2 * torch.randn(6, 5, 3, generator=gen, dtype=torch.float64)
    for reduction in REDUCTIONS:
        torch.testing.assert_close(
            distillation(s, t, reduction=reduction),
            kl_div(torch.log_softmax(s, 1), torch.softmax(t, 1), reduction=reduction),
        )


def test_distillation_scales_by_temperature_squared(gen) -> None:
    s = 2 * torch.randn(6, 5, generator=gen, dtype=torch.float64)
    t = 2 * torch.randn(6, 5, generator=gen, dtype=torch.float64)
    kl = kl_div(torch.log_softmax(s / 3, 1), torch.softmax(t / 3, 1))
    torch.testing.assert_close(distillation(s, t, temperature=3.0), 9 * kl)
    torch.testing.assert_close(
        distillation(s, t, temperature=3.0),
        F.kl_div(F.log_softmax(s / 3, 1), F.softmax(t / 3, 1), reduction="batchmean") * 9,
    )
    assert distillation(s, s, temperature=3.0).item() < 1e-15


def test_distillation_gradient_size_does_not_shrink_with_temperature(gen) -> None:
    """Hinton et al.: at high T the gradient of T^2 KL approaches the centred logit difference
    / C, whatever T is."""
    s = torch.randn(4, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    t = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    centred = (s - s.mean(1, keepdim=True)) - (t - t.mean(1, keepdim=True))
    for temperature in (1e3, 1e4):  # the error of the approximation is O(1 / T)
        loss = distillation(s, t, temperature=temperature, reduction="sum")
        (grad,) = torch.autograd.grad(loss, s)
        torch.testing.assert_close(grad, centred.detach() / 6, rtol=0, atol=10 / temperature)


def test_distillation_teacher_is_not_detached(gen) -> None:
    s, t = torch.randn(3, 4, generator=gen), torch.randn(3, 4, generator=gen, requires_grad=True)
    (grad,) = torch.autograd.grad(distillation(s, t, temperature=2.0), t)
    assert grad.abs().sum() > 0


# ----------------------------------------------------------------------------- one distribution
@pytest.mark.parametrize("name", ["kl_div", "js_div", "distillation"])
def test_one_distribution_against_the_reference(gen, name) -> None:
    fn = losskit.get_spec(name).function
    ref = {"kl_div": _kl_ref, "js_div": _js_ref, "distillation": _kd_ref}[name]
    if name == "distillation":
        a = 2 * torch.randn(5, generator=gen, dtype=torch.float64)
        b = 2 * torch.randn(5, generator=gen, dtype=torch.float64)
    else:
        a, b = _dists(gen, 5)
    for reduction in REDUCTIONS:
        got = fn(a, b, reduction=reduction)
        assert got.shape == ()
        np.testing.assert_allclose(got.numpy(), ref(a.numpy(), b.numpy(), reduction=reduction))


# ----------------------------------------------------------------------------- errors, modules
def test_a_log_softmax_over_the_wrong_dim_is_refused(gen) -> None:
    x = torch.randn(2, 3, 4, generator=gen)
    with pytest.raises(losskit.LossInputError, match="log_softmax over dim 1"):
        kl_div(torch.log_softmax(x, -1), torch.softmax(x, 1))
    with pytest.raises(losskit.LossInputError, match="pass log_targets=True"):
        js_div(torch.log_softmax(x, 1), torch.log_softmax(x, 1))
    with losskit.checks("shapes"):  # value checks off: a caller who knows can skip them
        kl_div(torch.log_softmax(x, -1), torch.softmax(x, 1))


def test_modules(gen) -> None:
    from losskit.nn._divergence import DistillationLoss, JSDivLoss, KLDivLoss

    lp, q = _dists(gen, 4, 3)
    torch.testing.assert_close(KLDivLoss()(lp, q), kl_div(lp, q))
    torch.testing.assert_close(JSDivLoss(log_targets=True)(lp, torch.log(q)), js_div(lp, q))
    s, t = torch.randn(4, 3, generator=gen), torch.randn(4, 3, generator=gen)
    torch.testing.assert_close(
        DistillationLoss(temperature=2.0)(s, t), distillation(s, t, temperature=2.0)
    )


# ----------------------------------------------------------------------------- issue 14
NEG_INF = -math.inf


def _kl_np(lp: np.ndarray, t: np.ndarray) -> np.ndarray:
    """KL per row over the classes with target mass only (0 log 0 = 0), float64 NumPy."""
    has = t > 0
    safe_t = np.where(has, t, 1.0)
    safe_lp = np.where(has, lp, 0.0)
    return np.where(has, t * (np.log(safe_t) - safe_lp), 0.0).sum(axis=1)


def test_kl_with_a_minus_inf_log_target_is_the_exact_finite_value() -> None:
    # an exact zero probability given as a log-target of -inf was refused as "a diverging model?"
    t = torch.tensor([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]], dtype=torch.float64)
    lp = torch.log_softmax(
        torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], dtype=torch.float64), 1
    )
    log_t = torch.log(t).requires_grad_()  # -inf where t == 0
    lp = lp.requires_grad_()
    out = kl_div(lp, log_t, log_targets=True, reduction="none")
    np.testing.assert_allclose(out.detach().numpy(), _kl_np(lp.detach().numpy(), t.numpy()))
    out.sum().backward()
    assert torch.isfinite(lp.grad).all() and torch.isfinite(log_t.grad).all()
    # d KL / d log_preds = -t (0 where there is no target mass)
    np.testing.assert_allclose(lp.grad.numpy(), -t.numpy())


@pytest.mark.parametrize("log_targets", [False, True])
def test_kl_with_minus_inf_log_preds_where_the_target_is_zero_is_finite(log_targets: bool) -> None:
    lp = torch.tensor([[math.log(0.4), math.log(0.6), NEG_INF]], dtype=torch.float64)
    t = torch.tensor([[0.5, 0.5, 0.0]], dtype=torch.float64)
    lp.requires_grad_()
    target = torch.log(t) if log_targets else t
    out = kl_div(lp, target, log_targets=log_targets)
    want = 0.5 * math.log(0.5 / 0.4) + 0.5 * math.log(0.5 / 0.6)
    assert out.item() == pytest.approx(want, rel=1e-14)
    out.backward()
    assert torch.isfinite(lp.grad).all()
    np.testing.assert_allclose(lp.grad.numpy(), [[-0.5, -0.5, 0.0]])


def test_kl_with_target_mass_at_a_minus_inf_prediction_is_infinite_and_named() -> None:
    lp = torch.tensor([[math.log(0.5), math.log(0.5), NEG_INF]], dtype=torch.float64)
    t = torch.tensor([[0.4, 0.4, 0.2]], dtype=torch.float64)
    with losskit.checks("off"):
        assert kl_div(lp, t).item() == math.inf  # the true value, never a finite number
    with pytest.raises(losskit.LossInputError, match="log_preds holds non-finite"):
        kl_div(lp, t)


def test_distillation_with_minus_inf_logits_where_the_teacher_has_no_mass() -> None:
    # a masked class: -inf in the teacher's logits (and in the student's too, or not)
    student = torch.tensor(
        [[2.0, 0.5, NEG_INF], [0.1, 0.2, 3.0]], dtype=torch.float64, requires_grad=True
    )
    teacher = torch.tensor([[3.0, 0.0, NEG_INF], [0.0, NEG_INF, 2.0]], dtype=torch.float64)
    temp = 2.0
    out = distillation(student, teacher, temperature=temp, reduction="none")
    s, te = student.detach().double().numpy() / temp, teacher.double().numpy() / temp

    def log_softmax(x):  # over the finite entries; -inf stays -inf
        m = np.max(x, axis=1, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))

    want = temp**2 * _kl_np(log_softmax(s), np.exp(log_softmax(te)))
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-12)
    out.sum().backward()
    assert torch.isfinite(student.grad).all()
    assert student.grad[0, 2] == 0.0


def test_distillation_teacher_mass_at_a_minus_inf_student_logit_is_refused() -> None:
    student = torch.tensor([[2.0, 0.5, NEG_INF]])
    teacher = torch.tensor([[3.0, 0.0, 1.0]])
    with losskit.checks("off"):
        assert distillation(student, teacher).item() == math.inf
    with pytest.raises(losskit.LossInputError, match="student_logits"):
        distillation(student, teacher)


@pytest.mark.parametrize("temp", [np.float32(2.0), np.float64(2.0), torch.tensor(2.0), 2])
def test_distillation_takes_numpy_and_tensor_temperatures(temp: object) -> None:
    gen = torch.Generator().manual_seed(0)
    s, t = torch.randn(4, 5, generator=gen), torch.randn(4, 5, generator=gen)
    want = _kd_ref(s.double().numpy(), t.double().numpy(), reduction="mean", temperature=2.0)
    out = distillation(s, t, temperature=temp)  # type: ignore[arg-type]
    assert out.item() == pytest.approx(float(want), rel=1e-5)


@pytest.mark.parametrize("temp", ["2.0", None, [2.0], 0.0, -1.0, float("nan"), float("inf"), True])
def test_distillation_refuses_a_bad_temperature(temp: object) -> None:
    s = torch.zeros(2, 3)
    with pytest.raises(losskit.LossInputError, match="temperature"):
        distillation(s, s, temperature=temp)  # type: ignore[arg-type]


@pytest.mark.parametrize("fn", [kl_div, js_div])
@pytest.mark.parametrize("flag", [1, "yes", None])
def test_log_targets_must_be_a_bool(fn, flag: object) -> None:
    lp, t = _dists(torch.Generator().manual_seed(0), 2, 3)
    with pytest.raises(losskit.LossInputError, match="log_targets"):
        fn(lp, t, log_targets=flag)


@pytest.mark.parametrize("fn", [kl_div, js_div])
def test_inputs_of_two_dtypes_promote_and_complex_is_refused(fn) -> None:
    lp, t = _dists(torch.Generator().manual_seed(0), 3, 4)
    ref = _kl_ref if fn is kl_div else _js_ref
    out = fn(lp.float(), t)  # float32 log_preds, float64 targets
    assert out.dtype == torch.float64
    want = ref(lp.float().double().numpy(), t.numpy(), reduction="mean")
    assert out.item() == pytest.approx(float(want), rel=1e-6)
    with pytest.raises(losskit.LossInputError, match="targets must be real"):
        fn(lp, t.to(torch.complex128))
    with pytest.raises(losskit.LossInputError, match="log_preds must be real"):
        fn(lp.to(torch.complex128), t)
    s = torch.zeros(2, 3, dtype=torch.complex64)
    with pytest.raises(losskit.LossInputError, match="student_logits must be real"):
        distillation(s, s)
    with pytest.raises(losskit.LossInputError, match="teacher_logits must be real"):
        distillation(s.real, s)


@pytest.mark.parametrize("where", ["log_preds", "targets"])
def test_js_with_a_nan_is_nan_and_named(where: str) -> None:
    lp, t = _dists(torch.Generator().manual_seed(0), 3, 4)
    if where == "log_preds":
        lp = lp.clone()
        lp[0, 0] = math.nan
    else:
        t = t.clone()
        t[0, 0] = math.nan
    with losskit.checks("off"):
        assert math.isnan(js_div(lp, t).item())
    with pytest.raises(losskit.LossInputError, match=where):
        js_div(lp, t)


@pytest.mark.parametrize("name", ["kl_div", "js_div", "distillation"])
def test_vmap_gives_per_example_divergences(name: str) -> None:
    gen = torch.Generator().manual_seed(4)
    lp = torch.log_softmax(torch.randn(3, 5, 4, generator=gen, dtype=torch.float64), -1)
    t = torch.softmax(torch.randn(3, 5, 4, generator=gen, dtype=torch.float64), -1)
    fn = losskit.get_spec(name).function
    second = torch.log(t) if name == "distillation" else t
    got = torch.func.vmap(lambda a, b: fn(a, b, reduction="none"))(lp, second)
    if name == "kl_div":
        want = np.stack([_kl_np(lp[i].numpy(), t[i].numpy()) for i in range(3)])
    elif name == "js_div":
        want = np.stack([_js_ref(lp[i].numpy(), t[i].numpy(), reduction="none") for i in range(3)])
    else:
        want = np.stack(
            [_kd_ref(lp[i].numpy(), second[i].numpy(), reduction="none") for i in range(3)]
        )
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
