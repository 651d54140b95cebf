"""LossInfo entries of the regression losses. References are float64 NumPy, written here from
the formulas in the literature (never calling losskit or torch's loss)."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import torch
import torch.nn.functional as F

from tests.lossinfo import (
    ELEMENTWISE_SHAPES,
    ErrorCase,
    LossInfo,
    Sample,
    add,
    np_reduce,
    rand,
    randn,
)


def _log_gamma_ratio(nu: float) -> float:
    """log(Gamma((nu + 1) / 2) / Gamma(nu / 2)) to 30 digits: float64 lgamma of large df loses
    the digits this difference keeps (mpmath ships with torch, through sympy)."""
    with mpmath.workdps(30):
        half = mpmath.mpf(nu) / 2
        return float(mpmath.loggamma(half + mpmath.mpf(1) / 2) - mpmath.loggamma(half))


_lgamma_ratio = np.vectorize(_log_gamma_ratio, otypes=[float])
_erf = np.vectorize(math.erf, otypes=[float])


# ----------------------------------------------------------------------------- shared pieces
def _regression_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    return [
        Sample((randn(gen, *s, dtype=dtype), randn(gen, *s, dtype=dtype)), desc=str(s))
        for s in ELEMENTWISE_SHAPES
    ]


def _with_options(*options: dict, spread: float = 1.0):
    """Elementwise samples (one per shape), the i-th shape with the i-th options; residuals of
    about ``spread`` so both sides of a kink are hit."""

    def make(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
        return [
            Sample(
                (spread * randn(gen, *s, dtype=dtype), spread * randn(gen, *s, dtype=dtype)),
                dict(opts),
                f"{s} {opts}",
            )
            for s, opts in zip(ELEMENTWISE_SHAPES, options, strict=True)
        ]

    return make


def _regression_errors(extra: int = 0, name: str = "preds", **kwargs) -> list[ErrorCase]:
    """Shape, dtype and reduction errors every regression loss shares. ``extra`` counts the
    positional tensors after the targets (a variance, a scale: made like the predictions),
    ``kwargs`` are the required options."""

    def more(*shape: int) -> tuple[torch.Tensor, ...]:
        return tuple(torch.ones(shape) for _ in range(extra))

    return [
        ErrorCase(
            (torch.zeros(64, 1), torch.zeros(64), *more(64, 1)),
            dict(kwargs),
            rf"{name} \(64, 1\) vs targets \(64,\).*broadcast to \(64, 64\).*squeeze",
            "rank off by one",
        ),
        ErrorCase(
            (torch.zeros(3, 5), torch.zeros(5, 3), *more(3, 5)), dict(kwargs), "transpose", "T"
        ),
        ErrorCase(
            (torch.zeros(3, dtype=torch.long), torch.zeros(3), *more(3)),
            dict(kwargs),
            "floating",
            "integer preds",
        ),
        ErrorCase(
            (torch.ones(3), torch.ones(3), *more(3)),
            {**kwargs, "reduction": "elementwise_mean"},
            "reduction must be one of",
            "bad reduction",
        ),
    ]


def _err(args: tuple, kwargs: dict, match: str, desc: str = "") -> ErrorCase:
    return ErrorCase(args, kwargs, match, desc)


_X3 = (torch.ones(3), torch.ones(3))


# ----------------------------------------------------------------------------- mse, rmse, mae
def _mse_ref(p, t, *, reduction):
    return np_reduce((p - t) ** 2, reduction)


def _mae_ref(p, t, *, reduction):
    return np_reduce(np.abs(p - t), reduction)


def _rmse_ref(p, t, *, reduction):
    assert reduction == "mean"
    return np.sqrt(((p - t) ** 2).mean()) if p.size else 0.0


add(LossInfo("mse", _regression_samples, _mse_ref, peer=F.mse_loss, errors=_regression_errors))
add(LossInfo("mae", _regression_samples, _mae_ref, peer=F.l1_loss, errors=_regression_errors))
add(
    LossInfo(
        "rmse",
        _regression_samples,
        _rmse_ref,
        errors=lambda: [
            *_regression_errors()[:3],
            ErrorCase(
                (torch.zeros(3), torch.zeros(3)),
                {"reduction": "sum"},
                r"reduction must be one of \('mean',\)",
                "rmse has no sum",
            ),
        ],
    )
)


# ----------------------------------------------------------------------------- huber, smooth_l1
def _huber_ref(p, t, *, reduction, delta=1.0):
    a = np.abs(p - t)
    if np.isinf(delta):
        return np_reduce(0.5 * a**2, reduction)
    return np_reduce(np.where(a <= delta, 0.5 * a**2, delta * (a - 0.5 * delta)), reduction)


def _smooth_l1_ref(p, t, *, reduction, beta=1.0):
    a = np.abs(p - t)
    if beta == 0:
        return np_reduce(a, reduction)
    return np_reduce(np.where(a < beta, 0.5 * a**2 / beta, a - 0.5 * beta), reduction)


add(
    LossInfo(
        "huber",
        _with_options({}, {"delta": 0.5}, {"delta": 2.0}, {"delta": math.inf}, spread=1.5),
        _huber_ref,
        peer=F.huber_loss,
        errors=lambda: [
            *_regression_errors(),
            _err(_X3, {"delta": 0.0}, r"delta must lie in \(0, inf\]", "delta 0"),
            _err(_X3, {"delta": math.nan}, "delta must lie in", "delta NaN"),
        ],
    )
)
add(
    LossInfo(
        "smooth_l1",
        _with_options({}, {"beta": 0.5}, {"beta": 2.0}, {"beta": 0.0}, spread=1.5),
        _smooth_l1_ref,
        peer=F.smooth_l1_loss,
        errors=lambda: [
            *_regression_errors(),
            _err(_X3, {"beta": -1.0}, r"beta must lie in \[0, inf\)", "beta < 0"),
            _err(_X3, {"beta": math.inf}, r"beta must lie in \[0, inf\)", "beta inf"),
        ],
    )
)


# ----------------------------------------------------------------------------- log_cosh, quantile
def _log_cosh_ref(p, t, *, reduction):
    return np_reduce(np.log(np.cosh(p - t)), reduction)


def _quantile_ref(p, t, *, reduction, q=0.5):
    d = t - p
    return np_reduce(np.maximum(q * d, (q - 1) * d), reduction)


def _quantile_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = _with_options({}, {"q": 0.1}, {"q": 0.9}, {"q": 0.0})(gen, dtype)
    levels = torch.tensor([0.1, 0.5, 0.9], dtype=dtype)
    out.append(
        Sample(
            (randn(gen, 6, 3, dtype=dtype), randn(gen, 6, 3, dtype=dtype)),
            {"q": levels},
            "three quantiles in the last dim",
        )
    )
    out.append(
        Sample((randn(gen, 5, dtype=dtype), randn(gen, 5, dtype=dtype)), {"q": 1.0}, "q = 1")
    )
    return out


add(
    LossInfo(
        "log_cosh",
        _with_options({}, {}, {}, {}, spread=2.0),
        _log_cosh_ref,
        errors=_regression_errors,
    )
)
add(
    LossInfo(
        "quantile",
        _quantile_samples,
        _quantile_ref,
        errors=lambda: [
            *_regression_errors(),
            _err(_X3, {"q": 1.5}, r"q must lie in \[0, 1\], got 1.5", "q > 1"),
            _err(_X3, {"q": -0.1}, r"q must lie in \[0, 1\]", "q < 0"),
            _err(
                (torch.ones(4, 3), torch.ones(4, 3)),
                {"q": torch.tensor([0.1, 0.5, 1.2])},
                r"q must lie in \[0, 1\], got values in \[0.1, 1.2\]",
                "tensor q > 1",
            ),
            _err(
                (torch.ones(3, 5), torch.ones(3, 5)),
                {"q": torch.full((3,), 0.5)},
                r"q of shape \(3,\) does not broadcast to preds \(3, 5\)",
                "q per row given as (N,)",
            ),
        ],
    )
)


# ----------------------------------------------------------------------------- pseudo_huber, barron
def _pseudo_huber_ref(p, t, *, reduction, delta=1.0):
    r = p - t
    if np.isinf(delta):
        return np_reduce(0.5 * r**2, reduction)
    return np_reduce(delta**2 * (np.sqrt(1 + (r / delta) ** 2) - 1), reduction)


def _barron_ref(p, t, *, reduction, alpha, scale=1.0):
    u2 = ((p - t) / scale) ** 2
    if alpha == 2:
        loss = 0.5 * u2
    elif alpha == 0:
        loss = np.log(0.5 * u2 + 1)
    elif alpha == -math.inf:
        loss = 1 - np.exp(-0.5 * u2)
    elif alpha == math.inf:
        loss = np.exp(0.5 * u2) - 1
    else:  # the paper's equation, including alpha = 1 and -2
        b = abs(alpha - 2)
        loss = b / alpha * ((u2 / b + 1) ** (alpha / 2) - 1)
    return np_reduce(loss, reduction)


def _barron_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    alphas = (2.0, 1.0, 0.0, -2.0, -math.inf, math.inf, 0.5, 3.5, -7.0, 1.999)
    for i, alpha in enumerate(alphas):
        shape = ELEMENTWISE_SHAPES[i % len(ELEMENTWISE_SHAPES)]
        scale = (0.5, 1.0, 2.0)[i % 3]
        p, t = randn(gen, *shape, dtype=dtype), randn(gen, *shape, dtype=dtype)
        out.append(Sample((p, t), {"alpha": alpha, "scale": scale}, f"{shape} alpha={alpha}"))
    scale = rand(gen, 3, dtype=dtype) + 0.5
    for alpha in (1.0, -3.0):
        p, t = randn(gen, 4, 3, dtype=dtype), randn(gen, 4, 3, dtype=dtype)
        out.append(
            Sample(
                (p, t),
                {"alpha": alpha, "scale": scale},
                f"a scale per column, alpha={alpha}",
                grad_kwargs=("scale",),
            )
        )
    return out


add(
    LossInfo(
        "pseudo_huber",
        _with_options({}, {"delta": 0.3}, {"delta": 3.0}, {"delta": math.inf}, spread=1.5),
        _pseudo_huber_ref,
        errors=lambda: [
            *_regression_errors(),
            _err(_X3, {"delta": 0.0}, r"delta must lie in \(0, inf\]", "delta 0"),
        ],
    )
)
add(
    LossInfo(
        "barron",
        _barron_samples,
        _barron_ref,
        errors=lambda: [
            *_regression_errors(alpha=1.0),
            _err(_X3, {"alpha": math.nan}, "alpha must lie in", "alpha NaN"),
            _err(_X3, {"alpha": 1.0, "scale": 0.0}, r"scale must lie in \(0, inf\)", "scale 0"),
            _err(
                _X3,
                {"alpha": 1.0, "scale": torch.tensor([1.0, 0.0, 2.0])},
                "scale must be > 0, got a minimum of 0",
                "a zero scale in a tensor",
            ),
        ],
    )
)


# ----------------------------------------------------------------------------- msle, mape
def _msle_ref(p, t, *, reduction):
    return np_reduce((np.log(1 + p) - np.log(1 + t)) ** 2, reduction)


def _mape_ref(p, t, *, reduction, eps=0.0):
    return np_reduce(np.abs(p - t) / np.maximum(np.abs(t), eps), reduction)


def _msle_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    # mostly >= 0, some in (-1, 0): the domain is log1p's
    return [
        Sample(
            (4 * rand(gen, *s, dtype=dtype) - 0.9, 4 * rand(gen, *s, dtype=dtype) - 0.9),
            desc=str(s),
        )
        for s in ELEMENTWISE_SHAPES
    ]


def _mape_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for s in ELEMENTWISE_SHAPES:
        sign = torch.where(rand(gen, *s) < 0.5, -1.0, 1.0).to(dtype)
        targets = sign * (rand(gen, *s, dtype=dtype) * 3 + 0.5)
        out.append(Sample((randn(gen, *s, dtype=dtype), targets), desc=str(s)))
    targets = torch.tensor([0.0, 0.05, -2.0, 0.5, 0.0], dtype=dtype)
    out.append(Sample((randn(gen, 5, dtype=dtype), targets), {"eps": 0.1}, "eps clamps zeros"))
    return out


add(
    LossInfo(
        "msle",
        _msle_samples,
        _msle_ref,
        errors=lambda: [
            *_regression_errors(),
            _err(
                (torch.tensor([0.0, -1.0]), torch.zeros(2)),
                {},
                "preds must be > -1, got a minimum of -1",
                "preds at -1",
            ),
            _err(
                (torch.zeros(2), torch.tensor([3.0, -2.0])),
                {},
                "targets must be > -1, got a minimum of -2",
                "targets below -1",
            ),
        ],
    )
)
add(
    LossInfo(
        "mape",
        _mape_samples,
        _mape_ref,
        errors=lambda: [
            *_regression_errors(),
            _err(
                (torch.ones(3), torch.tensor([1.0, 0.0, 2.0])),
                {},
                r"targets hold 1 zero\(s\) \(the first at index \(1,\)\).*eps",
                "zero target",
            ),
            _err(_X3, {"eps": -1.0}, r"eps must lie in \[0, inf\)", "eps < 0"),
        ],
    )
)


# ----------------------------------------------------------------------------- poisson, tweedie
def _poisson_ref(x, y, *, reduction, log_input=True, full=False, eps=1e-8):
    loss = np.exp(x) - y * x if log_input else x - y * np.log(x + eps)
    if full:
        big = y > 1
        ys = np.where(big, y, 2.0)  # any value > 1 where masked: keeps the log finite
        loss = loss + np.where(big, ys * np.log(ys) - ys + 0.5 * np.log(2 * np.pi * ys), 0.0)
    return np_reduce(loss, reduction)


def _counts(gen: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randint(0, 7, shape, generator=gen).to(dtype)


def _poisson_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    options = (
        {},
        {"full": True},
        {"log_input": False},
        {"log_input": False, "full": True, "eps": 1e-3},
    )
    out = []
    for s, opts in zip(ELEMENTWISE_SHAPES, options, strict=True):
        preds = randn(gen, *s, dtype=dtype) if opts.get("log_input", True) else None
        if preds is None:
            preds = 3 * rand(gen, *s, dtype=dtype) + 0.1
        out.append(Sample((preds, _counts(gen, *s, dtype=dtype)), dict(opts), f"{s} {opts}"))
    return out


def _tweedie_ref(mu, y, *, reduction, power):
    p = power
    if p == 0:
        loss = (y - mu) ** 2
    elif p == 1:
        ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
        loss = 2 * (ylogy - y + mu)
    elif p == 2:
        loss = 2 * (np.log(mu / y) + y / mu - 1)
    else:
        loss = 2 * (
            np.maximum(y, 0) ** (2 - p) / ((1 - p) * (2 - p))
            - y * mu ** (1 - p) / (1 - p)
            + mu ** (2 - p) / (2 - p)
        )
    return np_reduce(loss, reduction)


def _tweedie_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for i, power in enumerate((0.0, 1.0, 1.5, 2.0, 3.0, -1.0, 1.2)):
        shape = ELEMENTWISE_SHAPES[i % len(ELEMENTWISE_SHAPES)]
        mu = torch.exp(0.7 * randn(gen, *shape, dtype=dtype))
        if power <= 0:
            y = 2 * randn(gen, *shape, dtype=dtype)  # any real, negatives included
        elif power < 2:
            y = _counts(gen, *shape, dtype=dtype) * rand(gen, *shape, dtype=dtype)  # zeros
        else:
            y = torch.exp(0.7 * randn(gen, *shape, dtype=dtype))
        out.append(Sample((mu, y), {"power": power}, f"{shape} power={power}"))
    return out


add(
    LossInfo(
        "poisson_nll",
        _poisson_samples,
        _poisson_ref,
        peer=F.poisson_nll_loss,
        errors=lambda: [
            *_regression_errors(),
            _err(
                (torch.zeros(3), torch.tensor([1.0, -1.0, 0.0])),
                {},
                "targets must be >= 0, got a minimum of -1; Poisson targets are counts",
                "negative count",
            ),
            _err(
                (torch.tensor([1.0, -0.5]), torch.ones(2)),
                {"log_input": False},
                "preds must be >= 0.*log_input=True",
                "negative rate",
            ),
            _err(_X3, {"eps": 0.0}, r"eps must lie in \(0, inf\)", "eps 0"),
        ],
    )
)
add(
    LossInfo(
        "tweedie_deviance",
        _tweedie_samples,
        _tweedie_ref,
        errors=lambda: [
            *_regression_errors(power=0.0),
            _err(_X3, {"power": 0.5}, "power must be <= 0 or >= 1", "0 < power < 1"),
            _err(_X3, {"power": math.inf}, r"power must lie in \(-inf, inf\)", "power inf"),
            _err(
                (torch.tensor([1.0, 0.0]), torch.ones(2)),
                {"power": 1.0},
                "preds must be > 0, got a minimum of 0.*exp",
                "zero mean",
            ),
            _err(
                (torch.ones(2), torch.tensor([1.0, -1.0])),
                {"power": 1.5},
                "targets must be >= 0, got a minimum of -1 for power=1.5",
                "negative target, compound Poisson",
            ),
            _err(
                (torch.ones(2), torch.tensor([1.0, 0.0])),
                {"power": 2.0},
                "targets must be > 0, got a minimum of 0 for power=2",
                "zero target, gamma",
            ),
        ],
    )
)


# ----------------------------------------------------------------------------- gaussian_nll
def _gaussian_ref(p, t, var, *, reduction, full=False, eps=1e-6):
    v = np.maximum(np.broadcast_to(var, p.shape), eps)
    loss = 0.5 * (np.log(v) + (p - t) ** 2 / v) + (0.5 * np.log(2 * np.pi) if full else 0.0)
    return np_reduce(loss, reduction)


def _gaussian_peer(p, t, var, **kwargs):
    return F.gaussian_nll_loss(p, t, var.expand_as(p), **kwargs)


def _gaussian_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    def var(*shape: int) -> torch.Tensor:
        return rand(gen, *shape, dtype=dtype) * 2 + 0.1

    def pt(*shape: int) -> tuple[torch.Tensor, torch.Tensor]:
        return randn(gen, *shape, dtype=dtype), randn(gen, *shape, dtype=dtype)

    return [
        Sample((*pt(), var()), {}, "()", grad_args=(0, 2)),
        Sample((*pt(7), var(7)), {"full": True}, "(7,) full", grad_args=(0, 2)),
        Sample((*pt(5, 3), var(5, 1)), {}, "(5, 3), a variance per row", grad_args=(0, 2)),
        Sample((*pt(2, 3, 5, 1), var(2, 3, 5, 1)), {"eps": 1e-3}, "(2, 3, 5, 1)", (0, 2)),
        Sample((*pt(4, 2), var()), {"full": True}, "one variance for all", grad_args=(0, 2)),
    ]


add(
    LossInfo(
        "gaussian_nll",
        _gaussian_samples,
        _gaussian_ref,
        peer=_gaussian_peer,
        errors=lambda: [
            *_regression_errors(1),
            _err(
                (*_X3, torch.tensor([1.0, -0.5, 1.0])),
                {},
                "var must be >= 0, got a minimum of -0.5.*softplus",
                "negative variance",
            ),
            _err(
                (torch.ones(4, 3), torch.ones(4, 3), torch.ones(4)),
                {},
                r"var of shape \(4,\) is preds \(4, 3\) without its last dimension.*unsqueeze",
                "torch's unsqueezed variance",
            ),
            _err(
                (torch.ones(4, 3), torch.ones(4, 3), torch.ones(3, 4)),
                {},
                r"var of shape \(3, 4\) does not broadcast to preds \(4, 3\)",
                "variance of the wrong shape",
            ),
            _err((*_X3, 1.0), {}, "var must be a torch.Tensor.*full_like", "a float variance"),
            _err((*_X3, torch.ones(3)), {"eps": 0.0}, r"eps must lie in \(0, inf\)", "eps 0"),
        ],
    )
)


# ----------------------------------------------------------------------------- student_t_nll
def _student_t_ref(p, t, scale, *, reduction, df):
    s = np.broadcast_to(scale, p.shape)
    nu = np.broadcast_to(np.asarray(df, dtype=float), p.shape)
    z = (t - p) / s
    log_density = (
        _lgamma_ratio(nu)
        - 0.5 * np.log(nu * np.pi)
        - np.log(s)
        - (nu + 1) / 2 * np.log(1 + z**2 / nu)
    )
    return np_reduce(-log_density, reduction)


def _student_t_peer(p, t, scale, *, df, reduction="mean"):
    """torch.distributions in float64 (its lgamma difference loses digits in float32 at large
    df), cast back to the dtype of the inputs."""
    d = torch.distributions.StudentT(
        torch.as_tensor(df, dtype=torch.float64), p.double(), scale.double().expand_as(p)
    )
    loss = -d.log_prob(t.double())
    out = {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]
    return out.to(p.dtype)


def _student_t_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    def pt(*shape: int) -> tuple[torch.Tensor, torch.Tensor]:
        return randn(gen, *shape, dtype=dtype), 2 * randn(gen, *shape, dtype=dtype)

    def scale(*shape: int) -> torch.Tensor:
        return rand(gen, *shape, dtype=dtype) + 0.3

    # both sides of 40; 6e4 stays finite in float16
    mixed = torch.tensor([0.5, 3.0, 39.0, 41.0, 1e3, 6e4], dtype=dtype)
    return [
        Sample((*pt(), scale()), {"df": 1.0}, "() Cauchy", grad_args=(0, 2)),
        Sample((*pt(7), scale(7)), {"df": 4.0}, "(7,) df 4", grad_args=(0, 2)),
        Sample((*pt(5, 3), scale(5, 1)), {"df": 100.0}, "scale per row, df 100", (0, 2)),
        Sample((*pt(2, 3, 5, 1), scale(2, 3, 5, 1)), {"df": 0.7}, "(2, 3, 5, 1)", (0, 2)),
        Sample(
            (*pt(4, 6), scale(4, 6)),
            {"df": mixed},
            "a learned df per column",
            grad_args=(0, 2),
            grad_kwargs=("df",),
        ),
    ]


add(
    LossInfo(
        "student_t_nll",
        _student_t_samples,
        _student_t_ref,
        peer=_student_t_peer,
        errors=lambda: [
            *_regression_errors(1, df=3.0),
            _err(
                (*_X3, torch.tensor([1.0, 0.0, 1.0])),
                {"df": 3.0},
                "scale must be > 0, got a minimum of 0",
                "zero scale",
            ),
            _err((*_X3, torch.ones(3)), {"df": 0.0}, r"df must lie in \(0, inf\)", "df 0"),
            _err((*_X3, torch.ones(3)), {"df": math.inf}, r"df must lie in \(0, inf\)", "inf"),
            _err(
                (*_X3, torch.ones(3)),
                {"df": torch.tensor([2.0, -1.0, 2.0])},
                "df must be > 0, got a minimum of -1",
                "negative df in a tensor",
            ),
            _err((*_X3, 2.0), {"df": 3.0}, "scale must be a torch.Tensor", "a float scale"),
        ],
    )
)


# ----------------------------------------------------------------------------- crps_gaussian
def _crps_ref(mu, y, std, *, reduction):
    s = np.broadcast_to(std, mu.shape)
    z = (y - mu) / s
    cdf = 0.5 * (1 + _erf(z / np.sqrt(2)))
    pdf = np.exp(-(z**2) / 2) / np.sqrt(2 * np.pi)
    return np_reduce(s * (z * (2 * cdf - 1) + 2 * pdf - 1 / np.sqrt(np.pi)), reduction)


def _crps_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    out = []
    for s in ELEMENTWISE_SHAPES:
        std = rand(gen, *s, dtype=dtype) * 2 + 0.05
        args = (randn(gen, *s, dtype=dtype), 2 * randn(gen, *s, dtype=dtype), std)
        out.append(Sample(args, desc=str(s), grad_args=(0, 2)))
    args = (
        randn(gen, 6, 2, dtype=dtype),
        randn(gen, 6, 2, dtype=dtype),
        rand(gen, 6, 1, dtype=dtype) + 0.5,
    )
    out.append(Sample(args, desc="a std per row", grad_args=(0, 2)))
    return out


add(
    LossInfo(
        "crps_gaussian",
        _crps_samples,
        _crps_ref,
        errors=lambda: [
            *_regression_errors(1, name="mean"),
            _err(
                (*_X3, torch.tensor([1.0, 0.0, 1.0])),
                {},
                "std must be > 0, got a minimum of 0.*mae",
                "zero std",
            ),
            _err(
                (torch.ones(2, 3), torch.ones(2, 3), torch.ones(2)),
                {},
                r"std of shape \(2,\) does not broadcast to mean \(2, 3\)",
                "std per row as (N,)",
            ),
        ],
    )
)
