"""Regression losses: ``preds`` and ``targets`` of the same shape, real values.

Three groups:

* point losses: :func:`mse`, :func:`rmse`, :func:`mae`, :func:`huber`, :func:`smooth_l1`,
  :func:`log_cosh`, :func:`quantile`, :func:`msle`, :func:`mape`, :func:`pseudo_huber`,
  :func:`barron`;
* deviances of a predicted mean: :func:`poisson_nll`, :func:`tweedie_deviance`;
* scores of a predicted distribution: :func:`gaussian_nll`, :func:`student_t_nll`,
  :func:`crps_gaussian`.

Where torch has a kernel for the same maths (``mse_loss``, ``l1_loss``, ``huber_loss``,
``smooth_l1_loss``, ``poisson_nll_loss``) it is called; the rest is written here in stable forms,
each trick commented where it lives. The hand-written losses compute float16/bfloat16 inputs in
float32 and return the dtype of the predictions, as torch's kernels do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_broadcasts_to,
    check_floating,
    check_option,
    check_reduction,
    check_same_shape,
    ensure_float,
    finish,
    get_check_mode,
    native_reduction,
    reduce,
)
from losskit._spec import LossSpec, register

__all__ = [
    "barron",
    "crps_gaussian",
    "gaussian_nll",
    "huber",
    "log_cosh",
    "mae",
    "mape",
    "mse",
    "msle",
    "poisson_nll",
    "pseudo_huber",
    "quantile",
    "regression_inputs",
    "rmse",
    "smooth_l1",
    "student_t_nll",
    "tweedie_deviance",
]

_INF = math.inf
_LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- shared helpers
def regression_inputs(preds: Tensor, targets: Tensor, *, name: str = "preds") -> Tensor:
    """Shared checks of every regression loss; returns ``targets`` in the dtype of ``preds``
    (integer targets are accepted and cast). ``name`` is what the predictions are called."""
    check_floating(name, preds)
    check_same_shape(name, preds, "targets", targets)
    return targets if targets.dtype == preds.dtype else targets.to(preds.dtype)


def _check_values(name: str, x: Tensor, *, low: float, strict: bool, hint: str = "") -> None:
    """Full mode only: every value of ``x`` is ``> low`` (``strict``) or ``>= low``. NaN passes
    here (``finish`` names it if the loss is not finite); one pass over ``x``.

    A generic validator ``_checks`` does not have yet (a candidate to move there)."""
    if get_check_mode() != "full" or x.numel() == 0:
        return
    x = x.detach()
    bad = x <= low if strict else x < low
    if bool(bad.any()):
        lowest = float(x[bad].min())
        raise LossInputError(
            f"{name} must be {'>' if strict else '>='} {low:g}, got a minimum of {lowest:g}{hint}"
        )


def _check_param(name: str, x: Tensor, preds_name: str, preds: Tensor) -> None:
    """A predicted distribution parameter (variance, scale): a floating tensor of the shape of the
    predictions or one that broadcasts to it (never widening it)."""
    if not isinstance(x, Tensor):
        raise LossInputError(
            f"{name} must be a torch.Tensor, got {type(x).__name__}; for one value everywhere "
            f"pass torch.full_like({preds_name}, value)"
        )
    check_floating(name, x)
    check_broadcasts_to(name, x, preds.shape, preds_name)


def _scale_option(name: str, x: float | Tensor, preds: Tensor, hint: str) -> None:
    """A positive hyper-parameter given as a float, or as a tensor broadcasting to ``preds``."""
    if isinstance(x, Tensor):
        check_floating(name, x)
        check_broadcasts_to(name, x, preds.shape, "preds")
        _check_values(name, x, low=0.0, strict=True, hint=hint)
    else:
        check_option(name, x, low=0.0, high=_INF, low_open=True, high_open=True)


def _as_compute(preds: Tensor, *others: Tensor | float) -> list[Any]:
    """``preds`` in its compute dtype (float32 for half precision) and the other tensors cast
    to it; floats pass unchanged."""
    p = ensure_float(preds)
    return [p, *(o.to(p.dtype) if isinstance(o, Tensor) else o for o in others)]


def _done(loss: Tensor, reduction: str, like: Tensor, /, **inputs: Tensor | None) -> Tensor:
    """Reduce, return in the dtype of ``like`` (the predictions), and diagnose non-finite
    input."""
    return finish(reduce(loss, reduction).to(like.dtype), **inputs)


# ----------------------------------------------------------------------------- squared / absolute
def mse(preds: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Mean squared error.

    ``l_n = (preds_n - targets_n) ** 2``; ``"mean"`` averages over every element, ``"sum"`` adds.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape (integer dtypes
    are cast). Unlike :func:`torch.nn.functional.mse_loss`, which only warns, a shape mismatch
    that would broadcast raises.

    Args:
        preds: predicted values.
        targets: true values.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``preds`` not floating, unknown ``reduction``.

    Example:
        >>> import torch, losskit
        >>> losskit.mse(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0]))
        tensor(1.6667)

    References:
        Gauss (1809); the squared error is the negative log-likelihood of a Gaussian.
    """
    check_reduction(reduction)
    targets = regression_inputs(preds, targets)
    out = F.mse_loss(preds, targets, reduction=native_reduction(reduction, preds.numel()))
    return finish(out, preds=preds, targets=targets)


def rmse(preds: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Root mean squared error: the square root of :func:`mse`.

    ``rmse = sqrt(mean_n (preds_n - targets_n) ** 2)``. Note what this is:
    ``((preds - targets) ** 2).mean().sqrt()`` is the **RMSE, not the MSE**; the MSE is that
    expression without ``.sqrt()``. RMSE is in the units of the targets; its minimiser is the
    same as MSE's, but its gradient is MSE's divided by ``2 * rmse``.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape.

    Args:
        preds: predicted values.
        targets: true values.
        reduction: only ``"mean"``: a root of a mean is not a sum of per-element terms, so
            ``"sum"`` and ``"none"`` are refused (use :func:`mse` or :func:`mae` for those).

    Returns:
        A scalar. At ``preds == targets`` the value is 0 and the gradient is defined as 0
        (the square root has no derivative at 0; 0 is its subgradient of least norm).

    Raises:
        LossInputError: shapes differ, ``preds`` not floating, a reduction other than mean.

    Example:
        >>> import torch, losskit
        >>> losskit.rmse(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0]))
        tensor(1.2910)
    """
    check_reduction(reduction, allowed=("mean",))
    targets = regression_inputs(preds, targets)
    mean_sq = F.mse_loss(preds, targets, reduction="mean") if preds.numel() else preds.sum()
    positive = mean_sq > 0
    # sqrt'(0) is infinite: take the root of 1 where the mean is 0 and zero it, so the value is 0
    # and the gradient 0 there instead of NaN.
    root = torch.where(positive, mean_sq, torch.ones_like(mean_sq)).sqrt() * positive
    return finish(root, preds=preds, targets=targets)


def mae(preds: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Mean absolute error (L1 loss).

    ``l_n = |preds_n - targets_n|``; ``"mean"`` averages over every element. Its gradient is
    ``sign(preds - targets)`` (0 at equality, as torch), so an outlier pulls no harder than any
    other point; its minimiser is the median.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape.

    Args:
        preds: predicted values.
        targets: true values.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``preds`` not floating, unknown ``reduction``.

    Example:
        >>> import torch, losskit
        >>> losskit.mae(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0]))
        tensor(1.)
    """
    check_reduction(reduction)
    targets = regression_inputs(preds, targets)
    out = F.l1_loss(preds, targets, reduction=native_reduction(reduction, preds.numel()))
    return finish(out, preds=preds, targets=targets)


# ----------------------------------------------------------------------------- robust point losses
def huber(preds: Tensor, targets: Tensor, *, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """Huber loss: squared near the target, linear (slope ``delta``) beyond ``delta``.

    ``l_n = 0.5 r_n^2`` if ``|r_n| <= delta`` else ``delta (|r_n| - 0.5 delta)``, with
    ``r_n = preds_n - targets_n``; ``"mean"`` averages over every element. The same maths as
    :func:`torch.nn.functional.huber_loss`, optax and Keras. It is :func:`smooth_l1` scaled:
    ``huber(delta=d) == d * smooth_l1(beta=d)``; its gradient is the residual clipped to
    ``[-delta, delta]``.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape.

    Args:
        preds: predicted values.
        targets: true values.
        delta: where the quadratic turns linear, ``> 0``. ``delta=inf`` is half the squared
            error everywhere. ``delta`` at 0 is refused: the loss would vanish everywhere
            (use :func:`smooth_l1` with ``beta=0``, i.e. :func:`mae`, for the L1 limit).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``preds`` not floating, ``delta <= 0`` or NaN.

    Example:
        >>> import torch, losskit
        >>> losskit.huber(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0]))
        tensor(0.6667)

    References:
        Huber, Robust Estimation of a Location Parameter, Ann. Math. Statist. (1964).
    """
    check_reduction(reduction)
    check_option("delta", delta, low=0.0, low_open=True)
    targets = regression_inputs(preds, targets)
    out = F.huber_loss(
        preds, targets, reduction=native_reduction(reduction, preds.numel()), delta=delta
    )
    return finish(out, preds=preds, targets=targets)


def smooth_l1(
    preds: Tensor, targets: Tensor, *, beta: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """Smooth L1 loss: L1 with its kink rounded off by a parabola of width ``beta``.

    ``l_n = 0.5 r_n^2 / beta`` if ``|r_n| < beta`` else ``|r_n| - 0.5 beta``, with
    ``r_n = preds_n - targets_n``; ``"mean"`` averages over every element. The same maths as
    :func:`torch.nn.functional.smooth_l1_loss` (Fast R-CNN's box loss). It is :func:`huber`
    divided by ``beta``: ``huber(delta=d) == d * smooth_l1(beta=d)``; its gradient is bounded
    by 1 whatever ``beta``.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape.

    Args:
        preds: predicted values.
        targets: true values.
        beta: width of the quadratic zone, ``>= 0`` and finite. ``beta=0`` is exactly
            :func:`mae` (torch dispatches to L1, so the gradient at ``r == 0`` is 0, not NaN).
            ``beta=inf`` is refused: the loss would vanish everywhere.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``preds`` not floating, ``beta`` negative, infinite or
            NaN.

    Example:
        >>> import torch, losskit
        >>> preds, targets = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0])
        >>> losskit.smooth_l1(preds, targets, beta=2.0)
        tensor(0.4167)

    References:
        Girshick, Fast R-CNN, ICCV (2015).
    """
    check_reduction(reduction)
    check_option("beta", beta, low=0.0, high=_INF, high_open=True)
    targets = regression_inputs(preds, targets)
    out = F.smooth_l1_loss(
        preds, targets, reduction=native_reduction(reduction, preds.numel()), beta=beta
    )
    return finish(out, preds=preds, targets=targets)


def log_cosh(preds: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Log-cosh loss: ``log(cosh(preds - targets))``, smooth everywhere and linear in the tails.

    ``l_n = log cosh(r_n)``, ``r_n = preds_n - targets_n``: about ``r^2 / 2`` near 0 and
    ``|r| - log 2`` far away, with gradient ``tanh(r)`` (bounded by 1). ``"mean"`` averages over
    every element. The same maths as optax ``log_cosh`` and Keras ``LogCosh``.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape.

    Args:
        preds: predicted values.
        targets: true values.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``preds`` not floating.

    Example:
        >>> import torch, losskit
        >>> losskit.log_cosh(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0]))
        tensor(0.5863)

    Stability:
        ``cosh`` overflows beyond ``|r| ~ 89`` in float32, so the tails use
        ``|r| + softplus(-2|r|) - log 2``; near 0 that form cancels, so ``|r| < 1`` uses
        ``log1p(2 sinh(r/2)^2)`` (the same value, accurate to the last digit for tiny ``r``).
    """
    check_reduction(reduction)
    targets = regression_inputs(preds, targets)
    p, t = _as_compute(preds, targets)
    a = (p - t).abs()
    # cosh(a) = 1 + 2 sinh(a/2)^2: log1p keeps every digit of a tiny residual (no 1 + r^2/2 - 1)
    near = torch.log1p(2 * torch.sinh(a.clamp(max=1.0) / 2) ** 2)
    # log cosh a = a + log((1 + e^(-2a)) / 2): no cosh, so no overflow for any finite residual
    far = a + F.softplus(-2 * a) - math.log(2)
    return _done(torch.where(a < 1, near, far), reduction, preds, preds=preds, targets=targets)


def quantile(
    preds: Tensor, targets: Tensor, *, q: float | Tensor = 0.5, reduction: str = "mean"
) -> Tensor:
    """Quantile (pinball) loss: its minimiser is the ``q``-th quantile of the targets.

    ``l_n = q d_n`` if ``d_n >= 0`` else ``(q - 1) d_n``, with ``d_n = targets_n - preds_n``
    (under-prediction costs ``q`` per unit, over-prediction ``1 - q``). ``"mean"`` averages over
    every element. The same maths as scikit-learn's ``mean_pinball_loss(alpha=q)``; at
    ``q = 0.5`` it is half of :func:`mae`.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape. ``q`` a float,
    or a tensor broadcasting to ``preds`` (e.g. ``(K,)`` for ``K`` quantiles predicted in the
    last dimension).

    Args:
        preds: predicted quantiles.
        targets: true values.
        q: the quantile level, in ``[0, 1]``. At ``q = 0`` or ``1`` the loss is one-sided
            (``relu(preds - targets)`` or ``relu(targets - preds)``): it has no finite
            minimiser unless the targets are bounded, but it is accepted, as scikit-learn does.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``. At ``preds == targets`` the
        gradient is 0 (the subgradient of least norm, as :func:`mae`).

    Raises:
        LossInputError: shapes differ, ``q`` outside ``[0, 1]``, a ``q`` tensor that does not
            broadcast to ``preds``.

    Example:
        >>> import torch, losskit
        >>> preds, targets = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0])
        >>> losskit.quantile(preds, targets, q=0.9)
        tensor(0.3667)

    References:
        Koenker & Bassett, Regression Quantiles, Econometrica (1978).
    """
    check_reduction(reduction)
    targets = regression_inputs(preds, targets)
    if isinstance(q, Tensor):
        check_floating("q", q)
        check_broadcasts_to("q", q, preds.shape, "preds")
        if get_check_mode() == "full" and q.numel():
            lo, hi = (float(v) for v in torch.aminmax(q.detach()))
            if not (lo >= 0.0 and hi <= 1.0):
                raise LossInputError(f"q must lie in [0, 1], got values in [{lo:g}, {hi:g}]")
    else:
        check_option("q", q, low=0.0, high=1.0)
    p, t, qc = _as_compute(preds, targets, q)
    d = t - p
    # relu has gradient 0 at 0, so the tie d == 0 gets the least-norm subgradient 0
    loss = qc * F.relu(d) + (1 - qc) * F.relu(-d)
    return _done(loss, reduction, preds, preds=preds, targets=targets)


def pseudo_huber(
    preds: Tensor, targets: Tensor, *, delta: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """Pseudo-Huber (Charbonnier) loss: a Huber loss that is smooth to every order.

    ``l_n = delta^2 (sqrt(1 + (r_n / delta)^2) - 1)``, ``r_n = preds_n - targets_n``: about
    ``r^2 / 2`` near 0 and ``delta |r| - delta^2`` far away, like :func:`huber` with the same
    ``delta``. ``"mean"`` averages over every element.

    One name, several scalings: image-restoration papers call ``sqrt(r^2 + eps^2)`` the
    Charbonnier loss, which is ``pseudo_huber(delta=eps) / eps + eps`` per element; kornia's
    ``charbonnier_loss`` is ``sqrt(r^2 + 1) - 1``, i.e. ``delta=1`` here; Barron's loss at
    ``alpha=1`` is ``pseudo_huber(delta=c) / c^2`` (see :func:`barron`).

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape.

    Args:
        preds: predicted values.
        targets: true values.
        delta: the residual where the loss turns from quadratic to linear, ``> 0``.
            ``delta=inf`` is half the squared error; ``delta`` at 0 is refused (the loss
            would vanish).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``preds`` not floating, ``delta <= 0`` or NaN.

    Example:
        >>> import torch, losskit
        >>> losskit.pseudo_huber(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0]))
        tensor(0.5501)

    Stability:
        Computed as ``r * (r / (1 + hypot(1, r / delta)))``: the textbook form cancels
        (``sqrt(1 + tiny) - 1``) for small residuals, and squaring overflows for huge ones.

    References:
        Charbonnier et al., Two deterministic half-quadratic regularization algorithms for
        computed imaging, ICIP (1994); Hartley & Zisserman, Multiple View Geometry, A6.8.
    """
    check_reduction(reduction)
    check_option("delta", delta, low=0.0, low_open=True)
    targets = regression_inputs(preds, targets)
    p, t = _as_compute(preds, targets)
    r = p - t
    # delta^2 (sqrt(1 + u^2) - 1) = r^2 / (1 + sqrt(1 + u^2)), u = r / delta; the second factor
    # r / (1 + hypot) is at most delta, so r is never squared on its own
    loss = r * (r / (1 + torch.hypot(r / delta, torch.ones_like(r))))
    return _done(loss, reduction, preds, preds=preds, targets=targets)


def barron(
    preds: Tensor,
    targets: Tensor,
    *,
    alpha: float,
    scale: float | Tensor = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """Barron's general robust loss: one shape parameter spans L2, Charbonnier, Cauchy,
    Geman-McClure and Welsch.

    With ``u_n = (preds_n - targets_n) / scale``,
    ``l_n = |alpha - 2| / alpha * ((u_n^2 / |alpha - 2| + 1)^(alpha / 2) - 1)``, and its limits:

    ===========  ============================  ==========================================
    ``alpha``    ``l_n``                       also known as
    ===========  ============================  ==========================================
    2            ``u^2 / 2``                   L2 (half squared error / ``scale^2``)
    1            ``sqrt(u^2 + 1) - 1``         pseudo-Huber / Charbonnier
    0            ``log(u^2 / 2 + 1)``          Cauchy / Lorentzian
    -2           ``2 u^2 / (u^2 + 4)``         Geman-McClure
    -inf         ``1 - exp(-u^2 / 2)``         Welsch / Leclerc
    +inf         ``exp(u^2 / 2) - 1``          (not robust; the paper's upper limit)
    ===========  ============================  ==========================================

    Those six values of ``alpha`` are computed by their closed forms; every other value by the
    general formula (continuous in ``alpha``, so ``alpha = 2 - 1e-9`` is within rounding of
    ``alpha = 2``). Smaller ``alpha`` is more robust: the gradient is bounded for
    ``alpha <= 1``, and the loss itself for ``alpha < 0``. ``"mean"`` averages over every
    element. This is the robust loss ``rho`` of the paper, not its adaptive negative
    log-likelihood (which adds a partition function of ``alpha``).

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape. ``scale`` a
    float or a tensor broadcasting to ``preds`` (e.g. one scale per output dimension).

    Args:
        preds: predicted values.
        targets: true values.
        alpha: the shape, any real number or ``±inf`` (a Python float: the closed forms are
            chosen by its exact value).
        scale: ``c > 0``, the size of the quadratic bowl around the target.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``alpha`` NaN, ``scale <= 0`` or infinite, a ``scale``
            tensor that does not broadcast to ``preds``.

    Example:
        >>> import torch, losskit
        >>> preds, targets = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0])
        >>> losskit.barron(preds, targets, alpha=0.0)
        tensor(0.5014)

    References:
        Barron, A General and Adaptive Robust Loss Function, CVPR (2019).
    """
    check_reduction(reduction)
    check_option("alpha", alpha)
    targets = regression_inputs(preds, targets)
    _scale_option("scale", scale, preds, "; the scale c of the robust loss must be positive")
    p, t, c = _as_compute(preds, targets, scale)
    u = (p - t) / c
    if alpha == 2:
        loss = 0.5 * u * u
    elif alpha == 1:
        loss = u * (u / (1 + torch.hypot(u, torch.ones_like(u))))  # as pseudo_huber: stable
    elif alpha == 0:
        loss = torch.log1p(0.5 * u * u)
    elif alpha == -2:
        w = u / torch.hypot(u, torch.full_like(u, 2.0))  # u^2 / (u^2 + 4) without squaring u
        loss = 2 * w * w
    elif alpha == -_INF:
        loss = -torch.expm1(-0.5 * u * u)
    elif alpha == _INF:
        loss = torch.expm1(0.5 * u * u)
    else:
        b = abs(alpha - 2)
        # (1 + x)^(alpha/2) - 1 as expm1(alpha/2 * log1p(x)): exact near the target, no cancel
        loss = (b / alpha) * torch.expm1((alpha / 2) * torch.log1p(u * u / b))
    return _done(loss, reduction, preds, preds=preds, targets=targets)


# ----------------------------------------------------------------------------- relative errors
def msle(preds: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Mean squared logarithmic error: the squared error of ``log1p`` values.

    ``l_n = (log(1 + preds_n) - log(1 + targets_n))^2``; ``"mean"`` averages over every
    element. It measures relative error for non-negative quantities (counts, prices). Computed
    with torch's ``mse_loss`` kernel on ``log1p`` of both.

    Input: ``preds``, any shape, floating, every value ``> -1``. Target: ``targets``, the same
    shape, every value ``> -1`` (the domain of ``log1p``).

    Args:
        preds: predicted values.
        targets: true values.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ; ``preds`` or ``targets`` ``<= -1`` (full check mode;
            with checks off they give NaN). scikit-learn raises likewise; Keras silently
            clamps both at 0 instead, which hides the error and zeroes the gradient.

    Example:
        >>> import torch, losskit
        >>> losskit.msle(torch.tensor([0.0, 1.0, 3.0]), torch.tensor([0.0, 3.0, 1.0]))
        tensor(0.3203)
    """
    check_reduction(reduction)
    targets = regression_inputs(preds, targets)
    _check_values(
        "preds",
        preds,
        low=-1.0,
        strict=True,
        hint="; msle takes log1p(preds): bound the model output (e.g. softplus), or predict "
        "log1p(y) and use mse",
    )
    _check_values(
        "targets",
        targets,
        low=-1.0,
        strict=True,
        hint="; msle takes log1p(targets): it is meant for targets >= 0 (counts, prices)",
    )
    out = F.mse_loss(
        torch.log1p(preds),
        torch.log1p(targets),
        reduction=native_reduction(reduction, preds.numel()),
    )
    return finish(out, preds=preds, targets=targets)


def mape(preds: Tensor, targets: Tensor, *, eps: float = 0.0, reduction: str = "mean") -> Tensor:
    """Mean absolute percentage error, as a fraction (0.1 is 10 %).

    ``l_n = |preds_n - targets_n| / max(|targets_n|, eps)``; ``"mean"`` averages over every
    element. scikit-learn's ``mean_absolute_percentage_error`` also returns a fraction; Keras's
    ``MAPE`` multiplies by 100. Its gradient in ``preds`` is ``sign(r) / |targets|``, so
    small targets dominate training.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape.

    Args:
        preds: predicted values.
        targets: true values.
        eps: the smallest denominator, ``>= 0``. With the default 0 a zero target is refused
            (full check mode; with checks off it gives inf, or NaN when the prediction is also
            0). ``eps > 0`` clamps instead, as scikit-learn (float64 epsilon) and Keras (1e-7)
            do, where a zero target then costs ``|preds| / eps``: astronomically large.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, a target of 0 with ``eps=0``, ``eps`` negative.

    Example:
        >>> import torch, losskit
        >>> losskit.mape(torch.tensor([110.0, 45.0]), torch.tensor([100.0, 50.0]))
        tensor(0.1000)
    """
    check_reduction(reduction)
    check_option("eps", eps, low=0.0, high=_INF, high_open=True)
    targets = regression_inputs(preds, targets)
    if eps == 0 and get_check_mode() == "full" and targets.numel():
        zero = targets.detach() == 0
        if bool(zero.any()):
            first = tuple(int(i) for i in zero.nonzero()[0].tolist())
            raise LossInputError(
                f"targets hold {int(zero.sum())} zero(s) (the first at index {first}): mape "
                "divides by |targets|, so its value there is infinite; drop those elements, use "
                "mae, or pass eps (e.g. eps=1e-7, as Keras) to clamp the denominator"
            )
    p, t = _as_compute(preds, targets)
    denom = t.abs().clamp(min=eps) if eps > 0 else t.abs()
    return _done((p - t).abs() / denom, reduction, preds, preds=preds, targets=targets)


# ----------------------------------------------------------------------------- deviances
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
    check_option("eps", eps, low=0.0, low_open=True)
    targets = regression_inputs(preds, targets)
    _check_values("targets", targets, low=0.0, strict=False, hint="; Poisson targets are counts")
    if not log_input:
        _check_values(
            "preds",
            preds,
            low=0.0,
            strict=False,
            hint="; with log_input=False preds are rates: pass log-rates with log_input=True "
            "(the stable default) or make the rates positive (exp, softplus)",
        )
    out = F.poisson_nll_loss(
        preds,
        targets,
        log_input=log_input,
        full=full,
        eps=eps,
        reduction=native_reduction(reduction, preds.numel()),
    )
    return finish(out, preds=preds, targets=targets)


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
        The general formula subtracts terms of size ``1 / |1 - p|`` and ``1 / |2 - p|``: for a
        power within about 1e-3 of 1 or 2 float32 loses most digits; use exactly 1 or 2.

    References:
        Jorgensen, The Theory of Dispersion Models (1997); scikit-learn
        ``mean_tweedie_deviance``.
    """
    check_reduction(reduction)
    check_option("power", power, high=_INF, high_open=True)
    if 0 < power < 1:
        raise LossInputError(
            f"power must be <= 0 or >= 1, got {power!r}: no Tweedie distribution has "
            "0 < power < 1 (0 normal, 1 Poisson, 1-2 compound Poisson-gamma, 2 gamma)"
        )
    targets = regression_inputs(preds, targets)
    if power != 0:
        _check_values(
            "preds",
            preds,
            low=0.0,
            strict=True,
            hint=f"; with power={power:g} preds are a mean > 0: apply exp to the model output",
        )
    if 1 <= power < 2:
        _check_values("targets", targets, low=0.0, strict=False, hint=f" for power={power:g}")
    elif power >= 2:
        _check_values("targets", targets, low=0.0, strict=True, hint=f" for power={power:g}")
    mu, y = _as_compute(preds, targets)
    if power == 0:
        loss = (y - mu) ** 2
    elif power == 1:
        # xlogy(0, .) = 0: a zero count costs 2 mu
        loss = 2 * (torch.xlogy(y, y) - torch.xlogy(y, mu) - y + mu)
    elif power == 2:
        loss = 2 * (torch.log(mu) - torch.log(y) + y / mu - 1)
    else:
        a, b = 1 - power, 2 - power
        loss = 2 * (y.clamp(min=0) ** b / (a * b) - y * mu**a / a + mu**b / b)
    return _done(loss, reduction, preds, preds=preds, targets=targets)


# ----------------------------------------------------------------------------- distributions
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
    check_option("eps", eps, low=0.0, high=_INF, low_open=True, high_open=True)
    targets = regression_inputs(preds, targets)
    if isinstance(var, Tensor) and var.dim() >= 1 and tuple(var.shape) == tuple(preds.shape[:-1]):
        raise LossInputError(
            f"var of shape {tuple(var.shape)} is preds {tuple(preds.shape)} without its last "
            "dimension: torch's gaussian_nll_loss would unsqueeze it, broadcasting would not; "
            "pass var.unsqueeze(-1) (one variance per row) or a var of the shape of preds"
        )
    _check_param("var", var, "preds", preds)
    _check_values(
        "var",
        var,
        low=0.0,
        strict=False,
        hint="; var is a variance: predict it as F.softplus(raw) + eps or exp(log_var)",
    )
    p, t, v = _as_compute(preds, targets, var)
    # a true clamp: the value is that at eps and the gradient in var is 0 below eps
    v = v.clamp(min=eps)
    loss = 0.5 * (torch.log(v) + (p - t) ** 2 / v)
    if full:
        loss = loss + 0.5 * _LOG_2PI
    return _done(loss, reduction, preds, preds=preds, targets=targets, var=var)


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
    targets = regression_inputs(preds, targets)
    _check_param("scale", scale, "preds", preds)
    _check_values(
        "scale", scale, low=0.0, strict=True, hint="; predict it as F.softplus(raw) + 1e-6"
    )
    _scale_option("df", df, preds, "; degrees of freedom must be positive")
    p, t, s, nu = _as_compute(preds, targets, scale, df)
    nu = nu if isinstance(nu, Tensor) else torch.tensor(nu, dtype=p.dtype, device=p.device)
    z = (t - p) / s
    loss = _student_t_log_norm(nu / 2) + torch.log(s) + (nu + 1) / 2 * torch.log1p(z * z / nu)
    df_tensor = df if isinstance(df, Tensor) else None
    return _done(loss, reduction, preds, preds=preds, targets=targets, scale=scale, df=df_tensor)


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
    targets = regression_inputs(mean, targets, name="mean")
    _check_param("std", std, "mean", mean)
    _check_values(
        "std",
        std,
        low=0.0,
        strict=True,
        hint="; predict it as F.softplus(raw) + 1e-6 (as std -> 0 the CRPS tends to mae)",
    )
    m, y, s = _as_compute(mean, targets, std)
    r = y - m
    z = r / s
    # sigma z (2 Phi(z) - 1) = r erf(z / sqrt 2): no sigma * z product, finite as sigma -> 0
    loss = r * torch.erf(z / math.sqrt(2)) + s * (
        math.sqrt(2 / math.pi) * torch.exp(-0.5 * z * z) - 1 / math.sqrt(math.pi)
    )
    return _done(loss, reduction, mean, mean=mean, targets=targets, std=std)


# ----------------------------------------------------------------------------- the registry
def _spec(name: str, function: Callable[..., Tensor], **fields: Any) -> None:
    fields.setdefault("target_space", "real values, same shape")
    register(
        LossSpec(name=name, function=function, family="regression", input_space="values", **fields)
    )


_ROBUST = frozenset({"nonnegative", "zero_at_target", "robust"})

_spec(
    "mse",
    mse,
    summary="Mean squared error: the average of squared residuals.",
    formula="l_n = (preds_n - targets_n)^2",
    when_to_use="Regression with roughly Gaussian noise; punishes large errors strongly. On "
    "sigmoid outputs it also works (poorly calibrated) for 0/1 targets.",
    metrics=("mae", "rmse"),
    properties=frozenset(
        {"convex", "smooth", "nonnegative", "zero_at_target", "proper_scoring_rule"}
    ),
    aliases=("l2", "mean_squared_error"),
    references=("Gauss, Theoria motus corporum coelestium (1809)",),
)
_spec(
    "rmse",
    rmse,
    summary="Root mean squared error: sqrt(mean((preds - targets)^2)), in the targets' units.",
    formula="rmse = sqrt( (1/N) * sum_n (preds_n - targets_n)^2 )   # this is NOT the MSE",
    when_to_use="When you want the loss in the units of the target (same minimiser as MSE).",
    metrics=("rmse",),
    properties=frozenset({"convex", "nonnegative", "zero_at_target"}),
    aliases=("root_mean_squared_error",),
    reductions=("mean",),
    mean_over="every element, then the square root",
)
_spec(
    "mae",
    mae,
    summary="Mean absolute error: the average of absolute residuals (L1).",
    formula="l_n = |preds_n - targets_n|",
    when_to_use="Regression with outliers; estimates the median. Gradient has constant size.",
    metrics=("mae",),
    properties=frozenset({"convex", "nonnegative", "zero_at_target", "robust"}),
    aliases=("l1", "mean_absolute_error"),
)
_spec(
    "huber",
    huber,
    summary="Huber loss: quadratic within delta of the target, linear beyond.",
    formula="l_n = 0.5 r_n^2 if |r_n| <= delta else delta (|r_n| - 0.5 delta),  r = preds - targets",
    when_to_use="Regression with some outliers: MSE's behaviour near the target, MAE's pull "
    "far from it. Set delta to the residual size beyond which a point is suspect.",
    metrics=("mae", "rmse"),
    properties=_ROBUST | {"convex"},
    aliases=("huber_loss",),
    references=("Huber, Ann. Math. Statist. 35 (1964)",),
)
_spec(
    "smooth_l1",
    smooth_l1,
    summary="Smooth L1: L1 with a parabola of width beta at the kink (= huber(beta) / beta).",
    formula="l_n = 0.5 r_n^2 / beta if |r_n| < beta else |r_n| - 0.5 beta",
    when_to_use="Box regression (Fast R-CNN) and wherever L1 is wanted with a smooth minimum; "
    "gradient bounded by 1 whatever beta.",
    metrics=("mae",),
    properties=_ROBUST | {"convex"},
    references=("Girshick, Fast R-CNN, ICCV (2015)",),
)
_spec(
    "log_cosh",
    log_cosh,
    summary="Log-cosh: about r^2/2 near the target, |r| - log 2 far away; smooth everywhere.",
    formula="l_n = log(cosh(preds_n - targets_n))",
    when_to_use="A twice-differentiable Huber-like loss (gradient tanh(r), bounded by 1).",
    metrics=("mae", "rmse"),
    properties=_ROBUST | {"convex", "smooth"},
    aliases=("logcosh",),
)
_spec(
    "quantile",
    quantile,
    summary="Quantile (pinball) loss: its minimiser is the q-th quantile of the targets.",
    formula="l_n = max(q d_n, (q - 1) d_n),  d = targets - preds",
    when_to_use="Prediction intervals and quantile forecasts (q=0.1 and 0.9 for an 80 % "
    "interval); q=0.5 is half the MAE.",
    metrics=("mae",),
    properties=_ROBUST | {"convex"},
    aliases=("pinball",),
    references=("Koenker & Bassett, Econometrica 46 (1978)",),
)
_spec(
    "pseudo_huber",
    pseudo_huber,
    summary="Pseudo-Huber (Charbonnier): delta^2 (sqrt(1 + (r/delta)^2) - 1), a smooth Huber.",
    formula="l_n = delta^2 (sqrt(1 + (r_n / delta)^2) - 1),  r = preds - targets",
    when_to_use="Huber's behaviour with derivatives of every order (second-order optimisers, "
    "image restoration); barron(alpha=1) up to scale.",
    metrics=("mae", "rmse"),
    properties=_ROBUST | {"convex", "smooth"},
    aliases=("charbonnier",),
    references=("Charbonnier et al., ICIP (1994)",),
)
_spec(
    "barron",
    barron,
    summary="Barron's general robust loss: alpha moves from L2 (2) through Charbonnier (1), "
    "Cauchy (0), Geman-McClure (-2) to Welsch (-inf).",
    formula="l_n = |a - 2| / a * (((r_n / c)^2 / |a - 2| + 1)^(a / 2) - 1),  with its limits at "
    "a = 2, 0, -inf",
    when_to_use="Tuning robustness with one number: alpha <= 1 bounds the gradient, alpha < 0 "
    "bounds the loss (outliers ignored); scale c sets the inlier width.",
    metrics=("mae",),
    properties=frozenset({"smooth", "nonnegative", "zero_at_target"}),
    aliases=("general_robust",),
    references=("Barron, A General and Adaptive Robust Loss Function, CVPR (2019)",),
)
_spec(
    "msle",
    msle,
    target_space="real values > -1 (usually >= 0), same shape",
    summary="Mean squared logarithmic error: the MSE of log1p(preds) against log1p(targets).",
    formula="l_n = (log(1 + preds_n) - log(1 + targets_n))^2",
    when_to_use="Non-negative targets over orders of magnitude (counts, prices) where relative "
    "error matters; under-prediction costs more than over-prediction.",
    metrics=("msle",),
    properties=frozenset({"nonnegative", "zero_at_target", "smooth"}),
    aliases=("mean_squared_log_error",),
)
_spec(
    "mape",
    mape,
    target_space="real values, nonzero (or eps > 0), same shape",
    summary="Mean absolute percentage error, as a fraction: |preds - targets| / |targets|.",
    formula="l_n = |preds_n - targets_n| / max(|targets_n|, eps)",
    when_to_use="Reporting relative error on targets far from zero; as a training loss it "
    "favours under-prediction and small targets dominate.",
    metrics=("mape",),
    properties=frozenset({"convex", "nonnegative", "zero_at_target"}),
    aliases=("mean_absolute_percentage_error",),
)
_spec(
    "poisson_nll",
    poisson_nll,
    target_space="counts or rates >= 0, same shape",
    summary="Poisson negative log-likelihood of counts; preds are log-rates by default.",
    formula="l_n = exp(x_n) - y_n x_n  (log_input);  x_n - y_n log(x_n + eps)  (rates)",
    when_to_use="Count targets (events, clicks, photons) with a log link: the model outputs "
    "the log-rate, exp gives the rate.",
    activation="exp",
    metrics=("mae", "rmse"),
    properties=frozenset({"convex", "smooth", "proper_scoring_rule"}),
    aliases=("poisson",),
)
_spec(
    "tweedie_deviance",
    tweedie_deviance,
    target_space="real (power <= 0), >= 0 (1 <= power < 2), > 0 (power >= 2); same shape",
    summary="Tweedie deviance of a positive predicted mean: normal (p=0), Poisson (1), "
    "compound Poisson-gamma (1-2), gamma (2), inverse Gaussian (3).",
    formula="l_n = 2 (max(y,0)^(2-p) / ((1-p)(2-p)) - y mu^(1-p) / (1-p) + mu^(2-p) / (2-p)), "
    "with its limits at p = 0, 1, 2",
    when_to_use="Zero-inflated positive amounts (insurance claims, rainfall, sales) with "
    "1 < power < 2; preds are means > 0 (apply exp to the model output).",
    metrics=("mae", "rmse"),
    properties=frozenset({"nonnegative", "zero_at_target", "smooth", "proper_scoring_rule"}),
    aliases=("tweedie",),
    references=("Jorgensen, The Theory of Dispersion Models (1997)",),
)
_spec(
    "gaussian_nll",
    gaussian_nll,
    summary="Gaussian negative log-likelihood with a predicted variance (var clamped at eps).",
    formula="l_n = 0.5 (log max(var_n, eps) + (preds_n - targets_n)^2 / max(var_n, eps)) "
    "[+ 0.5 log(2 pi)]",
    when_to_use="Heteroscedastic regression: the model predicts a mean and a variance, and "
    "learns where it is uncertain.",
    metrics=("mae", "rmse"),
    properties=frozenset({"smooth", "proper_scoring_rule"}),
    aliases=("gaussian_nll_loss",),
    references=("Nix & Weigend, ICNN (1994)",),
)
_spec(
    "student_t_nll",
    student_t_nll,
    summary="Student-t negative log-likelihood with predicted location and scale: "
    "heavy-tailed, robust to outliers.",
    formula="l_n = log s_n + 0.5 log(nu pi) + lgamma(nu/2) - lgamma((nu+1)/2) "
    "+ (nu+1)/2 log(1 + ((y_n - preds_n) / s_n)^2 / nu)",
    when_to_use="Probabilistic regression with outliers; small df (3-5) is robust, large df "
    "approaches gaussian_nll.",
    metrics=("mae",),
    properties=frozenset({"smooth", "robust", "proper_scoring_rule"}),
    aliases=("student_t",),
    references=("Lange, Little & Taylor, JASA 84 (1989)",),
)
_spec(
    "crps_gaussian",
    crps_gaussian,
    summary="Continuous ranked probability score of a Gaussian forecast (closed form).",
    formula="l_n = s_n (z_n (2 Phi(z_n) - 1) + 2 phi(z_n) - 1/sqrt(pi)),  z = (y - mean) / s",
    when_to_use="Probabilistic forecasts scored in the targets' units; robust (bounded "
    "gradient in the mean), unlike the Gaussian NLL.",
    metrics=("mae", "crps"),
    properties=frozenset({"convex", "smooth", "nonnegative", "robust", "proper_scoring_rule"}),
    aliases=("crps",),
    references=("Gneiting & Raftery, JASA 102 (2007)",),
)
