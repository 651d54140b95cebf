"""Probabilistic regression losses: negative log-likelihoods and proper scores of predicted distributions (Gaussian, Student-t, Poisson, Tweedie, CRPS).

Two groups, with the conventions of :mod:`losskit.losses._regression` (whose input checks, helpers
and spec helper they import; their specs are in the ``"regression"`` family):

* deviances of a predicted mean: :func:`poisson_nll`, :func:`tweedie_deviance`;
* scores of a predicted distribution: :func:`gaussian_nll`, :func:`student_t_nll`,
  :func:`crps_gaussian`.

:func:`poisson_nll` calls torch's ``poisson_nll_loss``; the rest is written here in stable forms,
each trick commented where it lives. The hand-written losses compute float16/bfloat16 inputs in
float32 and return the dtype of the predictions, as torch's kernels do.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_bool,
    check_option,
    check_reduction,
    finish,
    reduce,
    tracing,
)
from losskit._spec import Activation, Family, Prop, Space, Targets, register
from losskit._validate import check_param, check_values
from losskit.losses import _examples as ex
from losskit.losses._regression import (
    check_real_values,
    compute_dtype,
    in_dtype,
    kernel_reduction,
    positive_option,
    promoted,
    regression_inputs,
    result_dtype,
    tensor_or_none,
)

__all__ = [
    "crps_gaussian",
    "gaussian_nll",
    "poisson_nll",
    "student_t_nll",
    "tweedie_deviance",
]

_LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- deviances
@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.NONNEGATIVE,
    activation=Activation.EXP,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.PROPER},
    metrics=("mae", "rmse"),
    aliases=("poisson",),
    example=ex.counts,
)
def poisson_nll(
    preds: Tensor,
    targets: Tensor,
    *,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> Tensor:
    """Poisson negative log-likelihood of counts under a predicted rate.

    With ``log_input=True`` (default) ``preds`` are log-rates and
    ``l_n = exp(preds_n) - targets_n * preds_n``, stable for any log-rate; with
    ``log_input=False`` they are rates and ``l_n = preds_n - targets_n * log(preds_n + eps)``.
    ``full=True`` adds the Stirling approximation of ``log(targets_n!)``,
    ``t log t - t + 0.5 log(2 pi t)``, for ``targets_n > 1`` and 0 below, as torch (for integer
    counts it is within 0.041 of the exact ``lgamma(t + 1)``, the worst at ``t = 2``, and the
    gap shrinks like ``1 / (12 t)``; the term has no gradient). ``"mean"`` averages over
    every element. Calls :func:`torch.nn.functional.poisson_nll_loss` (the same maths, the same
    defaults), and adds what it lacks: shape, target and rate checks.

    Input: ``preds``, any shape, floating: log-rates (any real) or rates (``>= 0``). Target:
    ``targets``, the same shape, counts or rates ``>= 0`` (fractional values are accepted).

    When to use:
        Count targets (events, clicks, photons) with a log link: the model outputs the log-rate,
        exp gives the rate.

    Args:
        preds: predicted log-rates (``log_input=True``) or rates.
        targets: observed counts, ``>= 0``.
        log_input: whether ``preds`` are log-rates (the model's raw output; ``exp`` is the
            activation).
        full: add the Stirling term, so the value is the full negative log-likelihood.
        eps: added to the rate inside the log when ``log_input=False``, ``> 0``.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ; negative targets (torch accepts them silently);
            negative rates with ``log_input=False`` (torch gives NaN); ``eps <= 0``.

    Example:
        >>> import torch, losskit
        >>> losskit.poisson_nll(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 3.0]))
        tensor(0.3591)
    """
    check_reduction(reduction)
    log_input = check_bool("log_input", log_input)
    full = check_bool("full", full)
    eps = check_option("eps", eps, low=0.0, low_open=True)
    regression_inputs(preds, targets)
    check_values("targets", targets, low=0.0, strict=False, hint="; Poisson targets are counts")
    if not log_input:
        check_values(
            "preds",
            preds,
            low=0.0,
            strict=False,
            hint="; with log_input=False preds are rates: pass log-rates with log_input=True "
            "(the stable default) or make the rates positive (exp, softplus)",
        )
    p, t = promoted(preds, targets)
    # the kernel behind F.poisson_nll_loss, whose wrapper only re-checks the reduction
    out = torch.poisson_nll_loss(p, t, log_input, full, eps, kernel_reduction(reduction, p.numel()))
    return finish(out, preds=preds, targets=targets)


@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.NONNEGATIVE,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.ZERO_AT_TARGET, Prop.PROPER},
    metrics=("mae", "rmse"),
    aliases=("tweedie",),
    example=ex.with_options(ex.positive, power=1.5),
)
def tweedie_deviance(
    preds: Tensor, targets: Tensor, *, power: float, reduction: str = "mean"
) -> Tensor:
    """Tweedie deviance: the distance of a predicted mean from the targets under a Tweedie
    distribution whose variance is ``mean^power``.

    With ``y = targets_n``, ``mu = preds_n`` and ``p = power``:

    * ``p = 0`` (normal): ``(y - mu)^2``;
    * ``p = 1`` (Poisson): ``2 (y log(y / mu) - y + mu)``, with ``0 log 0 = 0``;
    * ``p = 2`` (gamma): ``2 (log(mu / y) + y / mu - 1)``;
    * otherwise: ``2 (max(y, 0)^(2-p) / ((1-p)(2-p)) - y mu^(1-p) / (1-p) + mu^(2-p) / (2-p))``.

    ``1 < p < 2`` is the compound Poisson-gamma (zero-inflated positive amounts: insurance
    claims, rainfall; LightGBM and XGBoost default to 1.5), ``p = 3`` the inverse Gaussian.
    The deviance is 0 at ``mu == y`` and its minimiser is the mean. ``"mean"`` averages over
    every element. The same maths as scikit-learn's ``mean_tweedie_deviance``.

    Input: ``preds``, any shape, floating: the predicted mean, ``> 0`` for ``p != 0`` (apply
    ``exp`` to a model's raw output: the log link). Target: ``targets``, the same shape, any
    real for ``p <= 0``, ``>= 0`` for ``1 <= p < 2``, ``> 0`` for ``p >= 2``.

    When to use:
        Zero-inflated positive amounts (insurance claims, rainfall, sales) with 1 < power < 2;
        preds are means > 0 (apply exp to the model output).

    Args:
        preds: predicted means.
        targets: true values.
        power: the Tweedie power ``p``, ``<= 0`` or ``>= 1`` (no distribution exists between
            0 and 1) and finite. No default: the power chooses the noise model.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``0 < power < 1`` or not finite, ``preds`` or
            ``targets`` outside the domain of ``power`` (full check mode).

    Example:
        >>> import torch, losskit
        >>> losskit.tweedie_deviance(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 2.0]), power=1.0)
        tensor(0.3863)

    Stability:
        For ``p >= 1`` it is computed as ``2 mu^(2-p) (rho E(rho, 1-p) - E(rho, 2-p))`` with
        ``rho = y / mu`` and ``E(rho, k) = (rho^k - 1) / k = expm1(k log rho) / k`` (``log rho``
        at ``k = 0``): no term of size ``1 / |1 - p|`` or ``1 / |2 - p|`` is subtracted, so a
        power next to 1 or 2 is as accurate as 1 or 2 themselves, and ``p = 1``, ``p = 2`` are
        the same formula at its limits. The value is clamped at 0 (the deviance is never
        negative; rounding near ``mu == y`` could make it so).

    References:
        Jorgensen, The Theory of Dispersion Models (1997); scikit-learn
        ``mean_tweedie_deviance``.
    """
    check_reduction(reduction)
    power = check_option("power", power)
    if 0 < power < 1:
        raise LossInputError(
            f"power must be <= 0 or >= 1, got {power!r}: no Tweedie distribution has "
            "0 < power < 1 (0 normal, 1 Poisson, 1-2 compound Poisson-gamma, 2 gamma)"
        )
    regression_inputs(preds, targets)
    if power != 0:
        check_values(
            "preds",
            preds,
            low=0.0,
            strict=True,
            hint=f"; with power={power:g} preds are a mean > 0: apply exp to the model output",
        )
    if 1 <= power < 2:
        check_values("targets", targets, low=0.0, strict=False, hint=f" for power={power:g}")
    elif power >= 2:
        check_values("targets", targets, low=0.0, strict=True, hint=f" for power={power:g}")
    dtype = result_dtype(preds, targets)
    mu, y = in_dtype(compute_dtype(dtype), preds, targets)
    if power == 0:
        loss = (y - mu) ** 2
    elif power < 0:  # targets of any sign: sklearn's max(y, 0)^(2-p), far from 1 and 2
        a, b = 1 - power, 2 - power
        loss = 2 * (y.clamp(min=0) ** b / (a * b) - y * mu**a / a + mu**b / b)
    elif targets.requires_grad or tracing():
        loss = _tweedie_positive(mu, y, power)[0]  # autograd through the stable form
    else:  # the same value, with the gradient in closed form (see _TweedieMean)
        loss, _ = _TweedieMean.apply(mu, y, power)  # type: ignore[no-untyped-call]
    return finish(reduce(loss, reduction).to(dtype), preds=preds, targets=targets)


def _expm1_ratio(log_x: Tensor, k: float) -> Tensor:
    """``(x^k - 1) / k`` from ``log x``, exact near ``k = 0`` (its limit ``log x`` there)."""
    return log_x if k == 0 else torch.expm1(k * log_x) / k


def _tweedie_positive(mu: Tensor, y: Tensor, power: float) -> tuple[Tensor, Tensor]:
    """The Tweedie deviance for ``power >= 1``, ``mu > 0``, ``y >= 0`` (see the Stability note
    of :func:`tweedie_deviance`): ``2 mu^b (rho E(rho, a) - E(rho, b))``, ``a = 1 - p``,
    ``b = 2 - p``, ``rho = y / mu``; and ``mu^b``."""
    a, b = 1 - power, 2 - power
    rho = y / mu
    if power < 2:
        # y = 0 has the finite limit rho E(rho, a) -> 0 and E(rho, b) -> -1/b; log is taken
        # of rho = 1 there, so no inf * 0 reaches the gradient through the unselected branch
        pos = y > 0
        log_rho = torch.log(torch.where(pos, rho, 1.0))
        inner = rho * _expm1_ratio(log_rho, a) - torch.where(pos, _expm1_ratio(log_rho, b), -1 / b)
    else:  # y > 0 (y = 0 with checks off: log 0 = -inf makes the deviance +inf, its value)
        log_rho = torch.log(rho)
        inner = rho * _expm1_ratio(log_rho, a) - _expm1_ratio(log_rho, b)
    mu_b = mu**b
    # the deviance is >= 0; rounding at rho ~ 1 must not make it negative (clamp keeps NaN)
    return (2 * mu_b * inner).clamp(min=0), mu_b


class _TweedieMean(torch.autograd.Function):
    """The Tweedie deviance for ``power >= 1`` (:func:`_tweedie_positive`) with its gradient in
    the mean in closed form, ``d/d mu = 2 mu^(1-p) (1 - y / mu) = 2 (mu^b / mu) (mu - y) / mu``:
    a few products of what the forward pass has, saved as one tensor, where autograd would
    record and replay every operation of the stable form (two ``expm1``, a ``log``, a power).
    At ``mu == y`` it is exactly 0; where rounding made the value negative and the clamp made
    it 0, it is the deviance's own (tiny) slope. The targets get no gradient: the caller takes
    this path only when they need none. Under ``create_graph`` the backward is the same closed
    form in differentiable ops of the saved inputs."""

    generate_vmap_rule = True

    @staticmethod
    def forward(mu: Tensor, y: Tensor, power: float) -> tuple[Tensor, Tensor]:
        loss, mu_b = _tweedie_positive(mu, y, power)
        slope = mu_b.div_(mu).mul_((mu - y).div_(mu)).mul_(2)  # in place: mu_b is not needed
        return loss, slope

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
        mu, y, ctx.power = inputs
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(mu, y, output[1])

    @staticmethod
    def backward(ctx: Any, grad: Tensor | None, *_: Any) -> tuple[Tensor | None, None, None]:
        mu, y, slope = ctx.saved_tensors
        if grad is None:
            return None, None, None
        if torch.is_grad_enabled():  # create_graph: differentiable in the saved inputs
            return grad * (2 * mu ** (1 - ctx.power) * ((mu - y) / mu)), None, None
        return grad * slope, None, None


# Function.apply binds its arguments to forward's signature on every call; a stored signature
# is read instead of being rebuilt
_TweedieMean.forward.__signature__ = inspect.signature(_TweedieMean.forward)  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- distributions
@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    properties={Prop.SMOOTH, Prop.PROPER},
    metrics=("mae", "rmse"),
    aliases=("gaussian_nll_loss",),
    example=ex.gaussian_forecast,
)
def gaussian_nll(
    preds: Tensor,
    targets: Tensor,
    var: Tensor,
    *,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """Gaussian negative log-likelihood with a predicted variance (heteroscedastic regression).

    ``l_n = 0.5 (log v_n + (preds_n - targets_n)^2 / v_n)`` with ``v_n = max(var_n, eps)``,
    plus ``0.5 log(2 pi)`` when ``full``. ``"mean"`` averages over every element. The same
    values as :func:`torch.nn.functional.gaussian_nll_loss`.

    ``eps`` **clamps** (as torch; its old docs said it adds), and here the gradient is the
    gradient of that clamped value: below ``eps`` the loss does not depend on ``var``, so its
    gradient in ``var`` is 0. torch instead clamps outside autograd, so its gradient is the
    unclamped one evaluated at ``eps`` (straight-through: at ``var = 1e-12`` and residual 0 it
    reports ``5e5``, and keeps pushing ``var`` down). The flat zone can stall a variance that
    entered it; parametrise ``var = F.softplus(raw) + eps`` and it never does.

    Input: ``preds``, any shape, floating (the predicted mean). Target: ``targets``, the same
    shape. ``var``: the predicted variance, ``>= 0``, the shape of ``preds`` or one that
    broadcasts to it (e.g. ``(N, 1)`` for one variance per row of ``(N, D)``). torch's
    ``var`` of shape ``preds.shape[:-1]``, which it unsqueezes, is refused as ambiguous: pass
    ``var.unsqueeze(-1)``.

    When to use:
        Heteroscedastic regression: the model predicts a mean and a variance, and learns where
        it is uncertain.

    Args:
        preds: predicted means.
        targets: true values.
        var: predicted variances (not standard deviations).
        full: add the constant ``0.5 log(2 pi)``: the exact negative log-density.
        eps: the smallest variance used, ``> 0``.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``var`` negative (full check mode) or of a shape that
            does not broadcast to ``preds``, ``eps <= 0``.

    Example:
        >>> import torch, losskit
        >>> preds, targets = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0])
        >>> losskit.gaussian_nll(preds, targets, torch.tensor([1.0, 0.5]))
        tensor(0.0767)

    References:
        Nix & Weigend, Estimating the mean and variance of the target probability
        distribution, ICNN (1994).
    """
    check_reduction(reduction)
    full = check_bool("full", full)
    eps = check_option("eps", eps, low=0.0, low_open=True)
    regression_inputs(preds, targets)
    check_real_values("var", var)
    if isinstance(var, Tensor) and var.dim() >= 1 and tuple(var.shape) == tuple(preds.shape[:-1]):
        raise LossInputError(
            f"var of shape {tuple(var.shape)} is preds {tuple(preds.shape)} without its last "
            "dimension: torch's gaussian_nll_loss would unsqueeze it, broadcasting would not; "
            "pass var.unsqueeze(-1) (one variance per row) or a var of the shape of preds"
        )
    check_param("var", var, "preds", preds)
    check_values(
        "var",
        var,
        low=0.0,
        strict=False,
        hint="; var is a variance: predict it as F.softplus(raw) + eps or exp(log_var)",
    )
    dtype = result_dtype(preds, targets, var)
    p, t, v = in_dtype(compute_dtype(dtype), preds, targets, var)
    # a true clamp: the value is that at eps and the gradient in var is 0 below eps
    v = v.clamp(min=eps)
    twice = torch.log(v) + (p - t) ** 2 / v
    if full:
        out = reduce(0.5 * twice + 0.5 * _LOG_2PI, reduction)
    elif reduction == "none":
        out = 0.5 * twice
    else:  # halving is exact, so it may follow the reduction: a scalar op, not a full pass
        out = 0.5 * reduce(twice, reduction)
    return finish(out.to(dtype), preds=preds, targets=targets, var=var)


def _student_t_log_norm(half_df: Tensor) -> Tensor:
    """``-log(Gamma(a + 1/2) / (Gamma(a) sqrt(2 a pi)))`` for ``a = df / 2 > 0``: the
    log-normaliser of the Student-t density with unit scale.

    For ``a >= 20`` the difference of two large ``lgamma`` values would lose digits in float32
    (``lgamma(5e7)`` has an ulp of 64), so it uses the asymptotic series of
    ``lgamma(a + 1/2) - lgamma(a)``, accurate to 4e-15 there."""
    big = half_df >= 20
    a = half_df.clamp(min=20.0)  # the clamps keep the unused branch finite (no NaN gradient)
    inv = 1 / a
    inv2 = inv * inv
    series = 0.5 * _LOG_2PI + inv * (
        1 / 8 + inv2 * (-1 / 192 + inv2 * (1 / 640 + inv2 * (-17 / 14336)))
    )
    s = half_df.clamp(max=20.0)
    direct = torch.lgamma(s) - torch.lgamma(s + 0.5) + 0.5 * torch.log(2 * math.pi * s)
    return torch.where(big, series, direct)


def _student_t_log_norm_float(half_df: float) -> float:
    """:func:`_student_t_log_norm` of a number: the same two forms, in float64."""
    if half_df >= 20:
        inv = 1 / half_df
        inv2 = inv * inv
        return 0.5 * _LOG_2PI + inv * (
            1 / 8 + inv2 * (-1 / 192 + inv2 * (1 / 640 + inv2 * (-17 / 14336)))
        )
    return math.lgamma(half_df) - math.lgamma(half_df + 0.5) + 0.5 * math.log(2 * math.pi * half_df)


@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    properties={Prop.SMOOTH, Prop.PROPER, Prop.ROBUST},
    metrics=("mae",),
    aliases=("student_t",),
    example=ex.with_options(ex.gaussian_forecast, df=3.0),
)
def student_t_nll(
    preds: Tensor,
    targets: Tensor,
    scale: Tensor,
    *,
    df: float | Tensor,
    reduction: str = "mean",
) -> Tensor:
    """Student-t negative log-likelihood: a heavy-tailed alternative to :func:`gaussian_nll`.

    With ``z_n = (targets_n - preds_n) / scale_n`` and ``nu = df``,
    ``l_n = log scale_n + 0.5 log(nu pi) + lgamma(nu / 2) - lgamma((nu + 1) / 2)
    + (nu + 1) / 2 * log(1 + z_n^2 / nu)``: the exact negative log-density of a t
    distribution with location ``preds``, scale ``scale`` (not a variance) and ``df`` degrees
    of freedom. ``df = 1`` is the Cauchy distribution; as ``df`` grows it tends to
    ``gaussian_nll(var=scale^2, full=True)``. Its gradient in ``preds`` is bounded, so outliers
    pull only so hard. ``"mean"`` averages over every element. The same values as
    ``-torch.distributions.StudentT(df, preds, scale).log_prob(targets)``, without that
    class's validation (which forces a device sync).

    Input: ``preds``, any shape, floating (the location). Target: ``targets``, the same shape.
    ``scale``: a tensor ``> 0``, the shape of ``preds`` or broadcasting to it. ``df``: a float
    or tensor ``> 0`` (a tensor may be learned), broadcasting to ``preds``.

    When to use:
        Probabilistic regression with outliers; small df (3-5) is robust, large df approaches
        gaussian_nll.

    Args:
        preds: predicted locations.
        targets: true values.
        scale: predicted scales, ``> 0``.
        df: degrees of freedom, ``> 0`` and finite (for ``df = inf`` use :func:`gaussian_nll`
            with ``full=True``). No default: it sets how heavy the tails are.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``scale`` or ``df`` not positive, shapes that do not
            broadcast to ``preds``.

    Example:
        >>> import torch, losskit
        >>> preds, targets = torch.tensor([0.0, 0.0]), torch.tensor([0.0, 2.0])
        >>> losskit.student_t_nll(preds, targets, torch.ones(2), df=1.0)
        tensor(1.9494)

    Stability:
        ``lgamma((nu + 1) / 2) - lgamma(nu / 2)`` switches to its asymptotic series for
        ``nu >= 40``, where the two ``lgamma`` values are large and nearly equal.

    References:
        Lange, Little & Taylor, Robust Statistical Modeling Using the t Distribution, JASA
        (1989).
    """
    check_reduction(reduction)
    regression_inputs(preds, targets)
    check_real_values("scale", scale)
    check_param("scale", scale, "preds", preds)
    check_values(
        "scale", scale, low=0.0, strict=True, hint="; predict it as F.softplus(raw) + 1e-6"
    )
    df = positive_option("df", df, preds, "; degrees of freedom must be positive")
    dtype = result_dtype(preds, targets, scale)
    p, t, s, nu = in_dtype(compute_dtype(dtype), preds, targets, scale, df)
    z = (t - p) / s
    if isinstance(nu, Tensor):  # a tensor (it may be learned): the normaliser in torch ops
        norm: Tensor | float = _student_t_log_norm(nu / 2)
    else:  # a number: the normaliser is one number, in float64 on the host (no tensor ops)
        norm = _student_t_log_norm_float(nu / 2)
    loss = torch.log(s) + (nu + 1) / 2 * torch.log1p(z * z / nu) + norm
    return finish(
        reduce(loss, reduction).to(dtype),
        preds=preds,
        targets=targets,
        scale=scale,
        df=tensor_or_none(df),
    )


@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.PROPER, Prop.ROBUST},
    metrics=("mae", "crps"),
    aliases=("crps",),
    example=ex.gaussian_forecast,
)
def crps_gaussian(mean: Tensor, targets: Tensor, std: Tensor, *, reduction: str = "mean") -> Tensor:
    """Continuous ranked probability score of a Gaussian forecast, in closed form.

    ``CRPS(N(mu, sigma^2), y) = integral (F(x) - 1[x >= y])^2 dx
    = sigma (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi))`` with ``z = (y - mu) / sigma``, computed
    as ``r erf(z / sqrt 2) + sigma (2 phi(z) - 1 / sqrt(pi))``, ``r = y - mu``. A proper scoring
    rule in the units of the targets, jointly convex in ``(mean, std)``; its gradient in
    ``mean`` is ``-erf(z / sqrt 2)``, bounded by 1, so it is robust where :func:`gaussian_nll`
    is not. As ``std -> 0`` it tends to ``|y - mu|`` (:func:`mae`). ``"mean"`` averages over
    every element.

    The argument order is the contract's (predictions, targets, then the other predicted
    parameter), as :func:`gaussian_nll`; properscoring's ``crps_gaussian(x, mu, sig)`` puts
    the observation first.

    Input: ``mean``, any shape, floating. Target: ``targets``, the same shape. ``std``: the
    predicted standard deviation (not the variance), ``> 0``, the shape of ``mean`` or
    broadcasting to it.

    When to use:
        Probabilistic forecasts scored in the targets' units; robust (bounded gradient in the
        mean), unlike the Gaussian NLL.

    Args:
        mean: predicted means.
        targets: true values.
        std: predicted standard deviations, ``> 0``.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``mean`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``std <= 0`` (full check mode: at 0 the closed form is
            0/0 at ``y == mu``; use :func:`mae` for a point forecast).

    Example:
        >>> import torch, losskit
        >>> losskit.crps_gaussian(torch.tensor([0.0, 0.0]), torch.tensor([0.0, 1.0]), torch.ones(2))
        tensor(0.4181)

    References:
        Gneiting & Raftery, Strictly Proper Scoring Rules, Prediction, and Estimation, JASA
        (2007); Gneiting et al., Calibrated Probabilistic Forecasting Using Ensemble Model
        Output Statistics and Minimum CRPS Estimation, Mon. Wea. Rev. (2005).
    """
    check_reduction(reduction)
    regression_inputs(mean, targets, name="mean")
    check_real_values("std", std)
    check_param("std", std, "mean", mean)
    check_values(
        "std",
        std,
        low=0.0,
        strict=True,
        hint="; predict it as F.softplus(raw) + 1e-6 (as std -> 0 the CRPS tends to mae)",
    )
    dtype = result_dtype(mean, targets, std)
    m, y, s = in_dtype(compute_dtype(dtype), mean, targets, std)
    r = y - m
    z = r / s
    # sigma z (2 Phi(z) - 1) = r erf(z / sqrt 2): no sigma * z product, finite as sigma -> 0
    loss = r * torch.erf(z / math.sqrt(2)) + s * (
        math.sqrt(2 / math.pi) * torch.exp(-0.5 * z * z) - 1 / math.sqrt(math.pi)
    )
    return finish(reduce(loss, reduction).to(dtype), mean=mean, targets=targets, std=std)
