"""Regression family: identities between the losses, hand-checked values, limits and edge
cases. The generic suites (test_generic.py) already compare every loss with its float64
reference, its torch peer and gradcheck; this file checks what is particular to each."""

from __future__ import annotations

import inspect
import math

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit.losses._probabilistic import (
    crps_gaussian,
    gaussian_nll,
    poisson_nll,
    student_t_nll,
    tweedie_deviance,
)
from losskit.losses._regression import (
    barron,
    huber,
    log_cosh,
    mae,
    mape,
    mse,
    msle,
    pseudo_huber,
    quantile,
    smooth_l1,
)
from losskit.nn import module_for

D = torch.float64
INF = math.inf


def close(a: torch.Tensor, b: torch.Tensor, **tol: float) -> None:
    assert a.shape == b.shape, (a.shape, b.shape)  # assert_close would broadcast
    torch.testing.assert_close(a, b, **tol)


def grad_of(fn, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    fn(x).sum().backward()
    assert x.grad is not None
    return x.grad


@pytest.fixture
def pt(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Residuals spread over several units, so every kink and tail is visited."""
    return 3 * torch.randn(40, generator=gen, dtype=D), torch.randn(40, generator=gen, dtype=D)


# ----------------------------------------------------------------------------- the registry
def test_the_family_is_registered_with_its_aliases() -> None:
    names = {s.name for s in losskit.list_specs("regression")}
    assert names == {
        "mse", "rmse", "mae", "huber", "smooth_l1", "log_cosh", "quantile", "msle", "mape",
        "poisson_nll", "gaussian_nll", "tweedie_deviance", "pseudo_huber", "barron",
        "crps_gaussian", "student_t_nll",
    }  # fmt: skip
    for alias, name in [("l1", "mae"), ("pinball", "quantile"), ("charbonnier", "pseudo_huber")]:
        assert losskit.get_spec(alias).name == name
    assert losskit.get_spec("poisson_nll").activation == "exp"
    for name in names:
        assert module_for(name).function.spec.name == name


# ----------------------------------------------------------------------------- hand-checked values
@pytest.mark.parametrize(
    ("fn", "preds", "targets", "extra", "kwargs", "want"),
    [
        # residuals 1, 3 with delta 2: 0.5 * 1 = 0.5 and 2 * (3 - 1) = 4; mean 2.25
        (huber, [1.0, 3.0], [0.0, 0.0], (), {"delta": 2.0}, 2.25),
        # beta 2: 0.25 and 3 - 1 = 2; mean 1.125 (= huber / 2)
        (smooth_l1, [1.0, 3.0], [0.0, 0.0], (), {"beta": 2.0}, 1.125),
        # q = 0.25: under-predict by 2 costs 0.5, over-predict by 2 costs 1.5; mean 1
        (quantile, [0.0, 2.0], [2.0, 0.0], (), {"q": 0.25}, 1.0),
        # log1p: (log 4 - log 2)^2 = (log 2)^2 = 0.480453...
        (msle, [3.0], [1.0], (), {}, math.log(2) ** 2),
        # |90 - 100| / 100 and |-3 - (-2)| / 2: 0.1 and 0.5; mean 0.3
        (mape, [90.0, -3.0], [100.0, -2.0], (), {}, 0.3),
        # exp(log 2) - 3 log 2 = 2 - 2.0794...
        (poisson_nll, [math.log(2)], [3.0], (), {}, 2 - 3 * math.log(2)),
        # rate 2, count 3 with the Stirling term 3 log 3 - 3 + 0.5 log(6 pi)
        (
            poisson_nll,
            [2.0],
            [3.0],
            (),
            {"log_input": False, "full": True, "eps": 1e-300},
            2 - 3 * math.log(2) + 3 * math.log(3) - 3 + 0.5 * math.log(6 * math.pi),
        ),
        # gamma deviance at mu 2, y 1: 2 (log 2 + 1/2 - 1)
        (tweedie_deviance, [2.0], [1.0], (), {"power": 2.0}, 2 * (math.log(2) - 0.5)),
        # power 1.5 at mu 1, y 0: 2 mu^0.5 / 0.5 = 4
        (tweedie_deviance, [1.0], [0.0], (), {"power": 1.5}, 4.0),
        # var 4, residual 2, full: 0.5 (log 4 + 1 + log 2 pi)
        (
            gaussian_nll,
            [0.0],
            [2.0],
            ([4.0],),
            {"full": True},
            0.5 * (math.log(4) + 1 + math.log(2 * math.pi)),
        ),
        # Cauchy (df 1), scale 2, z = 1: log(2 pi) + log 2
        (student_t_nll, [0.0], [2.0], ([2.0],), {"df": 1.0}, math.log(4 * math.pi)),
        # df 2: the density is (2 + z^2)^(-3/2) / s, so at z = 0: log s + 1.5 log 2
        (student_t_nll, [1.0], [1.0], ([3.0],), {"df": 2.0}, math.log(3) + 1.5 * math.log(2)),
        # CRPS at the mean: sigma (2 phi(0) - 1/sqrt(pi)) = sigma (sqrt 2 - 1) / sqrt(pi)
        (crps_gaussian, [1.0], [1.0], ([2.0],), {}, 2 * (math.sqrt(2) - 1) / math.sqrt(math.pi)),
        # Barron at u = 2 (r 4, c 2): Cauchy log(3), Geman-McClure 8/8 = 1, Welsch 1 - e^-2
        (barron, [4.0], [0.0], (), {"alpha": 0.0, "scale": 2.0}, math.log(3)),
        (barron, [4.0], [0.0], (), {"alpha": -2.0, "scale": 2.0}, 1.0),
        (barron, [4.0], [0.0], (), {"alpha": -INF, "scale": 2.0}, 1 - math.exp(-2)),
        # alpha 4: |2| / 4 ((4/2 + 1)^2 - 1) = 0.5 * 8 = 4
        (barron, [4.0], [0.0], (), {"alpha": 4.0, "scale": 2.0}, 4.0),
        # delta 2, r 4: 4 (sqrt(1 + 4) - 1)
        (pseudo_huber, [4.0], [0.0], (), {"delta": 2.0}, 4 * (math.sqrt(5) - 1)),
    ],
)
def test_hand_checked_values(fn, preds, targets, extra, kwargs, want) -> None:
    t = lambda v: torch.tensor(v, dtype=D)  # noqa: E731
    got = fn(t(preds), t(targets), *map(t, extra), **kwargs)
    assert got.shape == () and got.dtype == D
    assert got.item() == pytest.approx(want, rel=1e-12, abs=1e-14)


# ----------------------------------------------------------------------------- identities
@pytest.mark.parametrize("delta", [0.1, 1.0, 3.0])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_huber_is_delta_times_smooth_l1(pt, delta: float, reduction: str) -> None:
    p, t = pt
    close(
        huber(p, t, delta=delta, reduction=reduction),
        delta * smooth_l1(p, t, beta=delta, reduction=reduction),
    )
    g_huber = grad_of(lambda x: huber(x, t, delta=delta), p)
    close(g_huber, delta * grad_of(lambda x: smooth_l1(x, t, beta=delta), p))


def test_smooth_l1_beta_zero_is_mae_with_zero_gradient_at_the_kink() -> None:
    p = torch.tensor([-1.0, 0.0, 2.0], dtype=D)
    t = torch.zeros(3, dtype=D)
    close(smooth_l1(p, t, beta=0.0, reduction="none"), mae(p, t, reduction="none"))
    close(
        grad_of(lambda x: smooth_l1(x, t, beta=0.0, reduction="sum"), p),
        torch.tensor([-1.0, 0.0, 1.0], dtype=D),
    )


def test_infinite_delta_is_half_the_squared_error(pt) -> None:
    p, t = pt
    for fn in (huber, pseudo_huber):
        close(fn(p, t, delta=INF, reduction="none"), 0.5 * mse(p, t, reduction="none"))


def test_quantile_at_one_half_is_half_the_mae(pt) -> None:
    p, t = pt
    close(quantile(p, t, q=0.5, reduction="none"), 0.5 * mae(p, t, reduction="none"))


def test_quantile_edges_are_one_sided_and_the_tie_gradient_is_zero() -> None:
    p = torch.tensor([0.0, 1.0, 2.0], dtype=D)
    t = torch.ones(3, dtype=D)
    close(quantile(p, t, q=0.0, reduction="none"), F.relu(p - t))  # over-prediction only
    close(quantile(p, t, q=1.0, reduction="none"), F.relu(t - p))  # under-prediction only
    for q in (0.0, 0.3, 1.0):
        g = grad_of(lambda x, q=q: quantile(x, t, q=q, reduction="sum"), p)
        close(g, torch.tensor([-q, 0.0, 1 - q], dtype=D))


def test_quantile_tensor_levels_equal_one_call_per_level(gen) -> None:
    p, t = torch.randn(8, 3, generator=gen, dtype=D), torch.randn(8, 3, generator=gen, dtype=D)
    levels = torch.tensor([0.1, 0.5, 0.9], dtype=D)
    got = quantile(p, t, q=levels, reduction="none")
    for k, q in enumerate(levels.tolist()):
        close(got[:, k], quantile(p[:, k], t[:, k], q=q, reduction="none"))
    # the Module keeps q as a buffer: it follows .to() and lands in the state_dict
    module = module_for("quantile")(q=levels)
    assert "q" in module.state_dict()
    close(module(p, t), quantile(p, t, q=levels))


def test_pseudo_huber_is_barron_at_alpha_one_up_to_scale(pt) -> None:
    p, t = pt
    for c in (0.2, 1.0, 4.0):
        close(
            pseudo_huber(p, t, delta=c, reduction="none") / c**2,
            barron(p, t, alpha=1.0, scale=c, reduction="none"),
        )


def test_pseudo_huber_tends_to_huber_in_both_regimes() -> None:
    delta = 2.0
    small = torch.tensor([1e-4, -3e-3], dtype=D)
    close(
        pseudo_huber(small, torch.zeros(2, dtype=D), delta=delta, reduction="none"),
        0.5 * small**2,
        rtol=1e-5,
        atol=0,
    )
    big = torch.tensor([1e6, -1e7], dtype=D)
    # delta^2 (sqrt(1 + u^2) - 1) = delta |r| - delta^2 + O(1/|r|)
    close(
        pseudo_huber(big, torch.zeros(2, dtype=D), delta=delta, reduction="none"),
        delta * big.abs() - delta**2,
        rtol=1e-12,
        atol=1e-5,
    )


@pytest.mark.parametrize("c", [0.5, 1.0, 3.0])
def test_barron_special_cases_are_the_named_losses(pt, c: float) -> None:
    p, t = pt
    u = (p - t) / c
    named = {
        2.0: 0.5 * u**2,  # L2
        1.0: torch.sqrt(u**2 + 1) - 1,  # Charbonnier / pseudo-Huber
        0.0: torch.log(0.5 * u**2 + 1),  # Cauchy / Lorentzian
        -2.0: 2 * u**2 / (u**2 + 4),  # Geman-McClure
        -INF: 1 - torch.exp(-0.5 * u**2),  # Welsch / Leclerc
        INF: torch.exp(0.5 * u**2) - 1,
    }
    for alpha, want in named.items():
        close(barron(p, t, alpha=alpha, scale=c, reduction="none"), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("alpha", [2.0, 1.0, 0.0, -2.0])
def test_barron_general_formula_is_continuous_at_the_special_cases(alpha: float) -> None:
    r = torch.linspace(-6, 6, 25, dtype=D)
    t = torch.zeros_like(r)
    exact = barron(r, t, alpha=alpha, reduction="none")
    for step in (1e-7, -1e-7):
        near = barron(r, t, alpha=alpha + step, reduction="none")
        close(near, exact, rtol=1e-5, atol=1e-7)


def test_barron_extremes_of_alpha_approach_the_limits() -> None:
    r = torch.linspace(-3, 3, 13, dtype=D)
    t = torch.zeros_like(r)
    close(
        barron(r, t, alpha=-1e7, reduction="none"),
        barron(r, t, alpha=-INF, reduction="none"),
        rtol=1e-5,
        atol=1e-6,
    )
    close(
        barron(r, t, alpha=1e7, reduction="none"),
        barron(r, t, alpha=INF, reduction="none"),
        rtol=1e-4,
        atol=1e-6,
    )


def test_every_barron_is_half_squared_near_the_target_with_finite_gradients() -> None:
    r = torch.tensor([0.0, 1e-5, -2e-5], dtype=D)
    for alpha in (2.0, 1.0, 0.5, 0.0, -2.0, -7.0, -INF, INF):
        loss = barron(r, torch.zeros(3, dtype=D), alpha=alpha, reduction="none")
        close(loss, 0.5 * r**2, rtol=1e-8, atol=0)
        g = grad_of(
            lambda x, a=alpha: barron(x, torch.zeros(3, dtype=D), alpha=a, reduction="sum"), r
        )
        close(g, r, rtol=1e-8, atol=0)


def test_barron_accepts_a_scale_per_column() -> None:
    p, t = torch.randn(6, 3, dtype=D), torch.randn(6, 3, dtype=D)
    scale = torch.tensor([0.5, 1.0, 2.0], dtype=D)
    got = barron(p, t, alpha=0.0, scale=scale, reduction="none")
    for k in range(3):
        close(
            got[:, k], barron(p[:, k], t[:, k], alpha=0.0, scale=scale[k].item(), reduction="none")
        )


def test_msle_is_the_mse_of_log1p(gen) -> None:
    p, t = torch.rand(20, generator=gen, dtype=D) * 9, torch.rand(20, generator=gen, dtype=D) * 9
    close(msle(p, t, reduction="none"), mse(torch.log1p(p), torch.log1p(t), reduction="none"))


def test_tweedie_powers_zero_one_two_are_the_classical_deviances(gen) -> None:
    mu = torch.exp(torch.randn(30, generator=gen, dtype=D))
    y = torch.poisson(3 * torch.rand(30, generator=gen, dtype=D), generator=gen)  # zeros included
    close(tweedie_deviance(mu, y, power=0.0, reduction="none"), (y - mu) ** 2)
    # Poisson deviance = 2 (NLL(mu) - NLL(y)), the saturated model's NLL at mu = y
    nll = lambda m: poisson_nll(m, y, log_input=False, eps=1e-300, reduction="none")  # noqa: E731
    close(tweedie_deviance(mu, y, power=1.0, reduction="none"), 2 * (nll(mu) - nll(y)))
    yp = y + 0.5
    gamma = 2 * (torch.log(mu / yp) + yp / mu - 1)
    close(tweedie_deviance(mu, yp, power=2.0, reduction="none"), gamma)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_tweedie_general_formula_is_continuous_at_one_and_two(gen, power: float) -> None:
    mu = torch.exp(torch.randn(10, generator=gen, dtype=D))
    y = torch.exp(torch.randn(10, generator=gen, dtype=D))
    exact = tweedie_deviance(mu, y, power=power, reduction="none")
    for step in (1e-6, -1e-6):
        if 0 < power + step < 1:
            continue
        close(
            tweedie_deviance(mu, y, power=power + step, reduction="none"),
            exact,
            rtol=1e-4,
            atol=1e-8,
        )


def test_tweedie_is_zero_at_the_target_and_its_gradient_vanishes_there(gen) -> None:
    y = torch.exp(torch.randn(8, generator=gen, dtype=D))
    for power in (-1.0, 0.0, 1.0, 1.5, 2.0, 3.0):
        zero = torch.zeros(8, dtype=D)
        # the general formula cancels terms of size y^(2-p): zero up to their rounding
        close(tweedie_deviance(y, y, power=power, reduction="none"), zero, atol=1e-9, rtol=0)
        g = grad_of(lambda m, p=power: tweedie_deviance(m, y, power=p, reduction="sum"), y)
        close(g, zero, atol=1e-9, rtol=0)


def test_gaussian_nll_full_is_the_normal_log_density(gen) -> None:
    p, t = torch.randn(12, generator=gen, dtype=D), torch.randn(12, generator=gen, dtype=D)
    var = torch.rand(12, generator=gen, dtype=D) + 0.1
    want = -torch.distributions.Normal(p, var.sqrt()).log_prob(t)
    close(gaussian_nll(p, t, var, full=True, reduction="none"), want)


def test_student_t_matches_cauchy_and_tends_to_gaussian(gen) -> None:
    p, t = torch.randn(12, generator=gen, dtype=D), 3 * torch.randn(12, generator=gen, dtype=D)
    s = torch.rand(12, generator=gen, dtype=D) + 0.2
    z = (t - p) / s
    close(
        student_t_nll(p, t, s, df=1.0, reduction="none"), torch.log(math.pi * s) + torch.log1p(z**2)
    )
    gauss = gaussian_nll(p, t, s**2, full=True, eps=1e-300, reduction="none")
    # the gap is about z^4 / (4 df): below 1e-8 for |z| < 20 at df = 1e13
    close(student_t_nll(p, t, s, df=1e13, reduction="none"), gauss, rtol=1e-9, atol=1e-9)


def test_student_t_normaliser_is_continuous_where_it_switches_to_its_series() -> None:
    p, t, s = torch.zeros(1, dtype=D), torch.ones(1, dtype=D), torch.ones(1, dtype=D)
    below = student_t_nll(p, t, s, df=40 - 1e-10)
    above = student_t_nll(p, t, s, df=40 + 1e-10)
    assert abs(below.item() - above.item()) < 1e-12


def test_student_t_keeps_float32_precision_at_large_df() -> None:
    p, t, s = torch.zeros(3), torch.tensor([0.0, 1.0, 5.0]), torch.ones(3)
    for df in (50.0, 1e4, 1e7):
        got = student_t_nll(p, t, s, df=df, reduction="none")
        want = student_t_nll(p.double(), t.double(), s.double(), df=df, reduction="none")
        assert got.dtype == torch.float32
        close(got.double(), want, rtol=1e-6, atol=1e-6)  # two lgamma of 5e6 would be off by 0.5


def test_crps_is_the_integral_of_the_squared_cdf_difference() -> None:
    mean, std = torch.tensor([0.0, 1.0, -2.0], dtype=D), torch.tensor([1.0, 0.5, 3.0], dtype=D)
    y = torch.tensor([0.3, -1.0, 4.0], dtype=D)
    got = crps_gaussian(mean, y, std, reduction="none")
    erf = np.vectorize(math.erf, otypes=[float])

    def trapezoid(f: np.ndarray, x: np.ndarray) -> float:
        return float(((f[1:] + f[:-1]) / 2 * np.diff(x)).sum())

    for k in range(3):
        m, s, obs = mean[k].item(), std[k].item(), y[k].item()
        # split at the observation, where the step 1[x >= y] jumps: each side is smooth
        left, right = np.linspace(m - 15 * s, obs, 100_001), np.linspace(obs, m + 15 * s, 100_001)
        cdf = lambda x, m=m, s=s: 0.5 * (1 + erf((x - m) / (s * math.sqrt(2))))  # noqa: E731
        want = trapezoid(cdf(left) ** 2, left) + trapezoid((1 - cdf(right)) ** 2, right)
        assert got[k].item() == pytest.approx(want, rel=1e-7)


def test_crps_gradients_and_its_point_forecast_limit(gen) -> None:
    mean, y = torch.randn(10, generator=gen, dtype=D), torch.randn(10, generator=gen, dtype=D)
    std = torch.rand(10, generator=gen, dtype=D) + 0.1
    z = (y - mean) / std
    close(
        grad_of(lambda m: crps_gaussian(m, y, std, reduction="sum"), mean),
        -torch.erf(z / math.sqrt(2)),
    )
    pdf = torch.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
    close(
        grad_of(lambda s: crps_gaussian(mean, y, s, reduction="sum"), std),
        2 * pdf - 1 / math.sqrt(math.pi),
    )
    tiny = torch.full_like(mean, 1e-12)
    close(
        crps_gaussian(mean, y, tiny, reduction="none"),
        mae(mean, y, reduction="none"),
        rtol=1e-9,
        atol=1e-11,
    )


# ----------------------------------------------------------------------------- stability
def test_log_cosh_is_accurate_for_tiny_and_finite_for_huge_residuals() -> None:
    r = torch.tensor([1e-5, -3e-4, 0.5, -1.0, 30.0, -1e4, 1e30])
    loss = log_cosh(r, torch.zeros_like(r), reduction="none")
    with mpmath.workdps(40):  # log(cosh(1e-5)) in float64 keeps only 10 digits
        want = torch.tensor([float(mpmath.log(mpmath.cosh(v))) for v in r.double().tolist()])
    close(loss, want.float(), rtol=2e-6, atol=0)  # float32, including 5e-11 at r = 1e-5
    g = grad_of(lambda x: log_cosh(x, torch.zeros_like(x), reduction="sum"), r)
    close(g, torch.tanh(r))


def test_pseudo_huber_and_barron_stay_finite_for_huge_residuals() -> None:
    r = torch.tensor([1e20, -1e30, 1e-15])
    z = torch.zeros_like(r)
    loss = pseudo_huber(r, z, delta=1.0, reduction="none")
    assert torch.isfinite(loss).all()
    close(loss[:2], r[:2].abs() - 1)
    assert loss[2].item() == pytest.approx(0.5e-30, rel=1e-5)  # no cancellation to 0
    for alpha in (1.0, -2.0, -INF):
        assert torch.isfinite(barron(r, z, alpha=alpha, reduction="none")).all()
        assert torch.isfinite(
            grad_of(lambda x, a=alpha: barron(x, z, alpha=a, reduction="sum"), r)
        ).all()


# ----------------------------------------------------------------------------- gaussian_nll's eps
@pytest.mark.parametrize("var", [0.0, 1e-12, 1e-6, 1.0])
@pytest.mark.parametrize("residual", [0.0, 1e-2])
def test_gaussian_nll_clamps_var_at_eps_with_the_clamped_gradient(
    var: float, residual: float
) -> None:
    eps = 1e-6
    p, t = torch.tensor([residual], dtype=D), torch.zeros(1, dtype=D)
    v = torch.tensor([var], dtype=D, requires_grad=True)
    loss = gaussian_nll(p, t, v, eps=eps, reduction="sum")
    used = max(var, eps)
    assert loss.item() == pytest.approx(0.5 * (math.log(used) + residual**2 / used), rel=1e-12)
    loss.backward()
    assert v.grad is not None
    # d/dv 0.5 (log v + r^2 / v) = 0.5 (1/v - r^2/v^2) where var >= eps, and 0 below (flat)
    want = 0.5 * (1 / used - residual**2 / used**2) if var >= eps else 0.0
    assert v.grad.item() == pytest.approx(want, rel=1e-12)
    # the same values as torch, whose gradient below eps is straight-through instead
    v2 = v.detach().clone().requires_grad_(True)
    peer = F.gaussian_nll_loss(p, t, v2, eps=eps, reduction="sum")
    assert peer.item() == pytest.approx(loss.item(), rel=1e-12)
    if var < eps:
        peer.backward()
        assert v2.grad is not None and v2.grad.item() != 0.0


def test_gaussian_nll_names_a_nan_variance() -> None:
    with pytest.raises(losskit.LossInputError, match="var holds non-finite values"):
        gaussian_nll(torch.zeros(2), torch.zeros(2), torch.tensor([1.0, math.nan]))


# ----------------------------------------------------------------------------- domains and modes
def test_mape_eps_clamps_zero_targets_and_unchecked_zero_is_infinite() -> None:
    p, t = torch.tensor([2.0, 1.0], dtype=D), torch.tensor([0.0, 4.0], dtype=D)
    close(mape(p, t, eps=0.5, reduction="none"), torch.tensor([4.0, 0.75], dtype=D))
    with losskit.checks("off"):
        assert mape(p, t, reduction="none")[0].item() == INF


def test_poisson_stirling_term_only_above_one() -> None:
    x = torch.zeros(4, dtype=D)
    y = torch.tensor([0.0, 1.0, 2.0, 5.0], dtype=D)
    extra = poisson_nll(x, y, full=True, reduction="none") - poisson_nll(x, y, reduction="none")
    stirling = [0.0, 0.0] + [
        v * math.log(v) - v + 0.5 * math.log(2 * math.pi * v) for v in (2.0, 5.0)
    ]
    close(extra, torch.tensor(stirling, dtype=D))


def test_shapes_mode_skips_value_checks_but_not_shape_checks() -> None:
    with losskit.checks("shapes"):
        assert torch.isnan(msle(torch.tensor([-2.0]), torch.zeros(1)))  # documented: NaN
        poisson_nll(torch.zeros(1), torch.tensor([-1.0]))  # negative count not read
        gaussian_nll(torch.zeros(1), torch.zeros(1), torch.tensor([-1.0]))
        with pytest.raises(losskit.LossInputError, match="shapes must match"):
            huber(torch.zeros(4, 1), torch.zeros(4))
        with pytest.raises(losskit.LossInputError, match="delta must lie in"):
            huber(torch.zeros(1), torch.zeros(1), delta=-1.0)  # options are always checked


# ----------------------------------------------------------------------------- empty and half precision
def _call_args(name: str, shape: tuple[int, ...], dtype: torch.dtype):
    """Valid inputs of ``shape`` for any regression loss, and its required options."""
    gen = torch.Generator().manual_seed(3)
    u = torch.rand(shape, generator=gen, dtype=torch.float64)
    preds, targets, pos = (
        (u + 0.5).to(dtype),
        (2 * u.flip(-1) + 0.25).to(dtype),
        (u + 0.5).to(dtype),
    )
    extra = (pos,) if name in ("gaussian_nll", "student_t_nll", "crps_gaussian") else ()
    kwargs = {
        "barron": {"alpha": 0.5},
        "tweedie_deviance": {"power": 1.5},
        "student_t_nll": {"df": 3.0},
    }
    return (preds, targets, *extra), kwargs.get(name, {})


REGRESSION = [s.name for s in losskit.list_specs("regression")]


@pytest.mark.parametrize("name", REGRESSION)
def test_empty_input_mean_is_a_graph_connected_zero(name: str) -> None:
    fn = losskit.get_spec(name).function
    args, kwargs = _call_args(name, (0,), D)
    preds = args[0].requires_grad_(True)
    out = fn(*args, **kwargs)
    assert out.shape == () and out.item() == 0.0
    out.backward()
    assert preds.grad is not None and preds.grad.shape == (0,)
    if "none" in losskit.get_spec(name).reductions:
        assert fn(*args, **kwargs, reduction="none").shape == (0,)
        assert fn(*args, **kwargs, reduction="sum").item() == 0.0


@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_close_to_float64_and_keeps_its_dtype(
    name: str, dtype: torch.dtype
) -> None:
    fn = losskit.get_spec(name).function
    args, kwargs = _call_args(name, (6, 5), dtype)
    got = fn(*args, **kwargs)
    want = fn(*(a.double() for a in args), **kwargs)
    assert got.dtype == dtype
    rtol = 1e-2 if dtype == torch.float16 else 5e-2
    assert got.double().item() == pytest.approx(want.item(), rel=rtol, abs=1e-3)


def test_modules_take_the_distribution_parameter_in_forward(gen) -> None:
    p, t = torch.randn(5, generator=gen), torch.randn(5, generator=gen)
    s = torch.rand(5, generator=gen) + 0.5
    mods = {name: module_for(name) for name in ("gaussian_nll", "student_t_nll", "crps_gaussian")}
    close(mods["gaussian_nll"](full=True)(p, t, s), gaussian_nll(p, t, s, full=True))
    close(mods["student_t_nll"](df=4.0)(p, t, s), student_t_nll(p, t, s, df=4.0))
    close(mods["crps_gaussian"]()(p, t, s), crps_gaussian(p, t, s))
    assert "df=4.0" in repr(mods["student_t_nll"](df=4.0))


# ----------------------------------------------------------------------------- issue 14: rmse
def test_rmse_of_a_nan_is_nan_and_full_mode_names_it() -> None:
    nan3 = torch.tensor([math.nan, 1.0, 2.0])
    with losskit.checks("off"):
        # numpy: sqrt(mean([nan, 1, 4])) is nan, never 0
        assert math.isnan(losskit.rmse(nan3, torch.zeros(3)).item())
        assert math.isnan(losskit.rmse(torch.zeros(3), nan3).item())
        assert losskit.rmse(torch.tensor([math.inf, 1.0]), torch.zeros(2)).item() == INF
    with pytest.raises(losskit.LossInputError, match="preds holds non-finite"):
        losskit.rmse(nan3, torch.zeros(3))
    with pytest.raises(losskit.LossInputError, match="targets holds non-finite"):
        losskit.rmse(torch.zeros(3), nan3)


@pytest.mark.parametrize("size", [1e30, 1e-30, 1e38, 1e-37])
def test_rmse_neither_overflows_nor_underflows_where_the_value_is_representable(
    size: float,
) -> None:
    r64 = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=D) * size
    r = r64.float().requires_grad_(True)  # float32: squares of 1e30 overflow, of 1e-30 underflow
    got = losskit.rmse(r, torch.zeros(4))
    with mpmath.workdps(40):
        vals = [mpmath.mpf(v) for v in r.detach().double().tolist()]
        want = mpmath.sqrt(sum(v * v for v in vals) / 4)
        # d rmse / d r_i = r_i / (N rmse)
        grad = [float(v / (4 * want)) for v in vals]
    assert got.item() == pytest.approx(float(want), rel=1e-6)
    got.backward()
    assert r.grad is not None
    close(r.grad.double(), torch.tensor(grad, dtype=D), rtol=1e-6, atol=0)


def test_rmse_at_the_target_is_zero_with_a_zero_gradient() -> None:
    p = torch.ones(5, dtype=D, requires_grad=True)
    out = losskit.rmse(p, torch.ones(5, dtype=D))
    out.backward()
    assert out.item() == 0.0 and p.grad is not None and torch.equal(p.grad, torch.zeros(5, dtype=D))


# ----------------------------------------------------------------------------- issue 14: complex
def _complex(x: torch.Tensor) -> torch.Tensor:
    return torch.complex(x.double(), torch.ones_like(x.double()))


@pytest.mark.parametrize(
    ("name", "position"),
    [(n, i) for n in REGRESSION for i in range(len(_call_args(n, (4,), D)[0]))],
)
def test_complex_inputs_are_refused_in_every_mode(name: str, position: int) -> None:
    fn = losskit.get_spec(name).function
    args, kwargs = _call_args(name, (4,), D)
    arg = list(inspect.signature(fn).parameters)[position]
    bad = list(args)
    bad[position] = _complex(args[position])
    for mode in ("full", "off"):  # off too: a cast would drop the imaginary part silently
        with (
            losskit.checks(mode),
            pytest.raises(losskit.LossInputError, match=f"{arg} must be real"),
        ):
            fn(*bad, **kwargs)


@pytest.mark.parametrize(
    ("name", "option"), [("quantile", "q"), ("barron", "scale"), ("student_t_nll", "df")]
)
def test_complex_tensor_options_are_refused(name: str, option: str) -> None:
    fn = losskit.get_spec(name).function
    args, kwargs = _call_args(name, (4,), D)
    kwargs = {**kwargs, option: _complex(torch.full((4,), 0.5))}
    with pytest.raises(losskit.LossInputError, match=f"{option} must be real"):
        fn(*args, **kwargs)


# ----------------------------------------------------------------------------- issue 14: barron
def test_barron_names_a_nan_scale() -> None:
    p, t = torch.zeros(3), torch.ones(3)
    with pytest.raises(losskit.LossInputError, match="scale holds non-finite"):
        barron(p, t, alpha=1.0, scale=torch.tensor([1.0, math.nan, 1.0]))
    with pytest.raises(losskit.LossInputError, match="scale must lie in"):
        barron(p, t, alpha=1.0, scale=math.nan)
    with losskit.checks("off"):
        assert math.isnan(barron(p, t, alpha=1.0, scale=torch.tensor([1.0, math.nan, 1.0])).item())


# ----------------------------------------------------------------------------- issue 14: options
_P, _T = torch.tensor([0.3, -1.2, 2.5], dtype=D), torch.tensor([0.1, 0.4, -0.5], dtype=D)
_POS_P, _POS_T = torch.tensor([0.5, 1.5, 3.0], dtype=D), torch.tensor([1.0, 0.5, 2.0], dtype=D)
_SCALE = torch.tensor([0.5, 1.0, 2.0], dtype=D)
# (loss, positional inputs, option, a valid value, other required options)
OPTIONS = [
    (huber, (_P, _T), "delta", 2.0, {}),
    (smooth_l1, (_P, _T), "beta", 0.5, {}),
    (pseudo_huber, (_P, _T), "delta", 2.0, {}),
    (quantile, (_P, _T), "q", 0.25, {}),
    (barron, (_P, _T), "alpha", 0.5, {}),
    (barron, (_P, _T), "scale", 2.0, {"alpha": 0.5}),
    (mape, (_P, _T), "eps", 0.1, {}),
    (poisson_nll, (_P, _POS_T), "eps", 1e-3, {}),
    (tweedie_deviance, (_POS_P, _POS_T), "power", 1.5, {}),
    (gaussian_nll, (_P, _T, _SCALE), "eps", 1e-3, {}),
    (student_t_nll, (_P, _T, _SCALE), "df", 3.0, {}),
]


@pytest.mark.parametrize(("fn", "args", "option", "value", "other"), OPTIONS)
def test_a_numpy_float32_option_is_the_same_as_the_float(fn, args, option, value, other) -> None:
    got = fn(*args, **other, **{option: np.float32(value)})
    close(got, fn(*args, **other, **{option: float(np.float32(value))}))
    assert got.dtype == D  # the option is a Python float: it does not change the dtype


@pytest.mark.parametrize(("fn", "args", "option", "value", "other"), OPTIONS)
@pytest.mark.parametrize("bad", ["1.0", None, [1.0], True, math.nan])
def test_a_wrong_option_is_refused_naming_it(fn, args, option, value, other, bad) -> None:
    with pytest.raises(losskit.LossInputError, match=option):
        fn(*args, **other, **{option: bad})


@pytest.mark.parametrize(
    ("fn", "args", "option"),
    [
        (poisson_nll, (_P, _POS_T), "log_input"),
        (poisson_nll, (_P, _POS_T), "full"),
        (gaussian_nll, (_P, _T, _SCALE), "full"),
    ],
)
@pytest.mark.parametrize("bad", [1, "yes", None])
def test_a_flag_that_is_not_a_bool_is_refused(fn, args, option, bad) -> None:
    with pytest.raises(losskit.LossInputError, match=f"{option} must be True or False"):
        fn(*args, **{option: bad})


@pytest.mark.parametrize(
    ("fn", "option"), [(huber, "delta"), (pseudo_huber, "delta"), (barron, "scale")]
)
def test_infinity_is_refused_where_it_has_no_meaning(fn, option) -> None:
    kwargs = {"alpha": 1.0} if fn is barron else {}
    if fn is barron:
        with pytest.raises(losskit.LossInputError, match="scale must lie in"):
            fn(_P, _T, **kwargs, **{option: INF})
    else:  # documented: delta=inf is half the squared error
        close(fn(_P, _T, **{option: INF}, reduction="none"), 0.5 * (_P - _T) ** 2)


# ----------------------------------------------------------------------------- issue 14: dtypes
@pytest.mark.parametrize("name", REGRESSION)
@pytest.mark.parametrize(
    ("dp", "dt"),
    [
        (torch.float32, torch.float64),
        (torch.float64, torch.float32),
        (torch.float16, torch.float32),
    ],
)
def test_mixed_floating_dtypes_promote_as_torch_does(name: str, dp, dt) -> None:
    fn = losskit.get_spec(name).function
    args, kwargs = _call_args(name, (6, 5), D)
    mixed = [args[0].to(dp), *(a.to(dt) for a in args[1:])]
    got = fn(*mixed, **kwargs)
    assert got.dtype == torch.result_type(mixed[0], mixed[1])
    # the reference: the same loss with every input in float64 (a float16 input is rounded
    # once on the way in, so compare with its float64 value)
    want = fn(*(a.double() for a in mixed), **kwargs)
    assert got.double().item() == pytest.approx(want.item(), rel=1e-5)


def test_integer_targets_take_the_dtype_of_the_predictions() -> None:
    p = torch.tensor([0.5, 2.0], dtype=torch.float16)
    got = mse(p, torch.tensor([1, 2]))
    assert got.dtype == torch.float16 and got.item() == pytest.approx(0.125)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("quantile", {"q": torch.tensor([0.1, 0.5, 0.9])}),
        ("barron", {"alpha": 0.5, "scale": torch.tensor([0.5, 1.0, 2.0])}),
    ],
)
def test_a_float32_module_buffer_follows_float64_inputs(name: str, options) -> None:
    p, t = torch.randn(4, 3, dtype=D), torch.randn(4, 3, dtype=D)
    got = module_for(name)(**options)(p, t)
    want = losskit.get_spec(name).function(
        p, t, **{k: v.double() if isinstance(v, torch.Tensor) else v for k, v in options.items()}
    )
    assert got.dtype == D
    close(got, want, rtol=1e-7, atol=0)  # the buffer's float32 values, read as float64
