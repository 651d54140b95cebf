"""Probabilistic regression losses: the numerics fixed for issue 14 (Tweedie near powers 1
and 2), each against an independent mpmath reference written here. The identities and
hand-checked values of these losses live in test_regression.py."""

from __future__ import annotations

import math

import mpmath
import pytest
import torch

import losskit
from losskit.losses._probabilistic import tweedie_deviance

D = torch.float64
NEAR = [1 + 1e-3, 1 + 1e-4, 1 + 1e-6, 1 + 1e-7, 2 - 1e-3, 2 - 1e-5, 2 + 1e-5, 2 + 1e-7]


def _tweedie_mpmath(mu: float, y: float, p: float) -> float:
    """The textbook general formula at 50 digits, where its cancellation does not matter:
    2 (y^(2-p) / ((1-p)(2-p)) - y mu^(1-p) / (1-p) + mu^(2-p) / (2-p))."""
    with mpmath.workdps(50):
        m, t, q = mpmath.mpf(mu), mpmath.mpf(y), mpmath.mpf(p)
        first = t ** (2 - q) / ((1 - q) * (2 - q)) if t > 0 else mpmath.mpf(0)
        return float(2 * (first - t * m ** (1 - q) / (1 - q) + m ** (2 - q) / (2 - q)))


def _means_and_targets(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 means and targets over two orders of magnitude, each pair at least 10 % apart
    (next to mu == y the deviance is a difference of nearly equal terms for every power: that
    is tested separately, for its sign)."""
    gen = torch.Generator().manual_seed(7)
    mu = torch.exp(1.2 * torch.randn(n, generator=gen))
    ratio = torch.exp(torch.rand(n, generator=gen) * 2 + 0.1)
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    return mu, mu * ratio**sign


@pytest.mark.parametrize("power", NEAR)
def test_tweedie_near_one_and_two_keeps_float32_precision(power: float) -> None:
    mu, y = _means_and_targets()
    got = tweedie_deviance(mu, y, power=power, reduction="none")
    assert got.dtype == torch.float32
    want = torch.tensor(
        [_tweedie_mpmath(m, t, power) for m, t in zip(mu.tolist(), y.tolist(), strict=True)],
        dtype=D,
    )
    rel = ((got.double() - want).abs() / want).max().item()
    assert rel <= 1e-5, rel  # the textbook formula in float32 was off by 5e-3 at 1 + 1e-4


@pytest.mark.parametrize("power", [1.0 + 1e-6, 1.5, 2.0 - 1e-5])
def test_tweedie_zero_targets_have_the_closed_form_and_finite_gradients(power: float) -> None:
    mu = torch.tensor([0.5, 1.0, 3.0], requires_grad=True)
    got = tweedie_deviance(mu, torch.zeros(3), power=power, reduction="none")
    b = 2 - power
    # y = 0: the deviance is 2 mu^(2-p) / (2-p), its gradient 2 mu^(1-p)
    want = [2 * m**b / b for m in (0.5, 1.0, 3.0)]
    torch.testing.assert_close(got.double(), torch.tensor(want, dtype=D), rtol=1e-6, atol=0)
    got.sum().backward()
    assert mu.grad is not None
    grad = [2 * m ** (1 - power) for m in (0.5, 1.0, 3.0)]
    torch.testing.assert_close(mu.grad.double(), torch.tensor(grad, dtype=D), rtol=1e-5, atol=0)


@pytest.mark.parametrize("power", [1.0, 1 + 1e-6, 1.5, 2 - 1e-5, 2.0, 2 + 1e-6, 3.0])
def test_tweedie_is_never_negative_next_to_the_target(power: float) -> None:
    y = torch.exp(torch.linspace(-3, 3, 41))
    for step in (0.0, 1e-7, -1e-7, 1e-4, -1e-4):
        got = tweedie_deviance(y * (1 + step), y, power=power, reduction="none")
        assert (got >= 0).all(), (power, step, got.min().item())


def test_tweedie_limits_one_and_two_equal_the_closed_deviances() -> None:
    mu, y = _means_and_targets(16)
    m, t = mu.double(), y.double()
    poisson = 2 * (t * torch.log(t / m) - t + m)
    gamma = 2 * (torch.log(m / t) + t / m - 1)
    for power, want in ((1.0, poisson), (2.0, gamma)):
        got = tweedie_deviance(mu, y, power=power, reduction="none").double()
        torch.testing.assert_close(got, want, rtol=1e-5, atol=0)


def test_tweedie_non_finite_input_is_not_finite_and_is_named() -> None:
    mu, y = torch.tensor([1.0, 2.0]), torch.tensor([math.nan, 1.0])
    with losskit.checks("off"):
        assert math.isnan(tweedie_deviance(mu, y, power=1 + 1e-6).item())
    with pytest.raises(losskit.LossInputError, match="targets holds non-finite"):
        tweedie_deviance(mu, y, power=1.5)
