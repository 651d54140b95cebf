"""Regression losses: ``preds`` and ``targets`` of the same shape, real values.

The point losses: :func:`mse`, :func:`rmse`, :func:`mae`, :func:`huber`, :func:`smooth_l1`,
:func:`log_cosh`, :func:`quantile`, :func:`msle`, :func:`mape`, :func:`pseudo_huber`,
:func:`barron`. The deviances of a predicted mean (:func:`poisson_nll`,
:func:`tweedie_deviance`) and the scores of a predicted distribution (:func:`gaussian_nll`,
:func:`student_t_nll`, :func:`crps_gaussian`) live in :mod:`losskit.losses._probabilistic`,
which imports the shared helpers and the spec helper defined here.

Where torch has a kernel for the same maths (``mse_loss``, ``l1_loss``, ``huber_loss``,
``smooth_l1_loss``) it is called; the rest is written here in stable forms, each trick
commented where it lives. The hand-written losses compute float16/bfloat16 inputs in float32.

Dtypes: floating inputs (predictions, targets, a variance or scale passed positionally) promote
as ``torch.result_type`` does, and the result has that dtype; integer and bool targets take the
predictions' dtype; tensor options (``q``, ``scale``, ``df``, Module buffers) follow the compute
dtype. Complex inputs are refused, in every check mode: a cast would drop the imaginary part.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_floating,
    check_option,
    check_reduction,
    check_same_shape,
    finish,
    first_index,
    native_reduction,
    reads,
    reduce,
    tracing,
)
from losskit._spec import Family, MeanOver, Prop, Space, Targets, register
from losskit._validate import check_param, check_values
from losskit.losses import _examples as ex

__all__ = [
    "barron",
    "huber",
    "log_cosh",
    "mae",
    "mape",
    "mse",
    "msle",
    "pseudo_huber",
    "quantile",
    "rmse",
    "smooth_l1",
]


# ----------------------------------------------------------------------------- shared helpers
# Shared with losskit.losses._probabilistic: public names, deliberately not in __all__.
def regression_inputs(preds: Tensor, targets: Tensor, *, name: str = "preds") -> None:
    """The checks every regression loss shares: real floating ``preds`` (``name`` is what they
    are called), real ``targets`` of the same shape (integer and bool dtypes are accepted).

    Complex values are refused in every mode (a dtype test reads no data): casting them to a
    real dtype would silently drop the imaginary part."""
    if (
        isinstance(preds, Tensor)
        and isinstance(targets, Tensor)
        and preds.is_floating_point()
        and not targets.is_complex()
        and preds.shape == targets.shape
    ):
        return  # valid in every mode: the checks below would all pass
    check_real_values(name, preds)
    check_real_values("targets", targets)
    check_floating(name, preds)
    check_same_shape(name, preds, "targets", targets)


def check_real_values(name: str, x: object) -> None:
    """Refuse a complex tensor, naming it (other types are left to the caller's checks)."""
    if isinstance(x, Tensor) and x.is_complex():
        raise LossInputError(
            f"{name} must be real, got dtype {x.dtype}: regression losses do not take complex "
            "values (a cast would drop the imaginary part); for a loss on both parts pass "
            f"torch.view_as_real({name}) and the same for the other inputs"
        )


def result_dtype(*tensors: Tensor) -> torch.dtype:
    """The dtype torch's type promotion gives these inputs (``torch.result_type`` over all of
    them): the floating tensors with dimensions decide; 0-dim ones only when every floating
    input is 0-dim. Integer and bool inputs never widen a floating dtype."""
    first = tensors[0].dtype
    if all(t.dtype == first for t in tensors[1:]) and tensors[0].is_floating_point():
        return first  # the common case: one floating dtype throughout
    floating = [t for t in tensors if t.is_floating_point()]
    ranked = [t for t in floating if t.dim() > 0] or floating
    dtype = ranked[0].dtype
    for t in ranked[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def in_dtype(dtype: torch.dtype, *xs: Any) -> list[Any]:
    """Each tensor of ``xs`` cast to ``dtype`` (no copy when it has it already); other values
    (Python floats) pass unchanged."""
    return [x.to(dtype) if isinstance(x, Tensor) and x.dtype != dtype else x for x in xs]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the hand-written losses compute in: float32 for half precision."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def positive_option(name: str, x: object, preds: Tensor, hint: str) -> float | Tensor:
    """A hyper-parameter ``> 0``: a number (returned as a finite float), or a floating tensor
    broadcasting to ``preds`` (returned as it is; its values read where
    :func:`losskit._checks.reads`; NaN is named by :func:`losskit._checks.finish`)."""
    if isinstance(x, Tensor):  # a tensor stays one: it may be learned (a gradient flows)
        check_real_values(name, x)
        check_param(name, x, "preds", preds)
        check_values(name, x, low=0.0, strict=True, hint=hint)
        return x
    return check_option(name, x, low=0.0, low_open=True)


def promoted(*tensors: Tensor) -> list[Tensor]:
    """The tensors cast to their promoted dtype (:func:`result_dtype`), for a torch kernel."""
    return in_dtype(result_dtype(*tensors), *tensors)


_REDUCTION_ENUM = {"none": 0, "mean": 1, "sum": 2}


def kernel_reduction(reduction: str, numel: int) -> Any:
    """The reduction argument of a ``torch._C._nn`` loss kernel (an int enum; the stubs say str):
    :func:`losskit._checks.native_reduction` as torch's own wrappers encode it. The losses call
    those kernels directly: the Python wrappers of ``torch.nn.functional`` only broadcast (the
    shapes here already match) and translate this argument."""
    return _REDUCTION_ENUM[native_reduction(reduction, numel)]


def tensor_or_none(x: object) -> Tensor | None:
    """``x`` if it is a tensor (for :func:`losskit._checks.finish` to name), else None."""
    return x if isinstance(x, Tensor) else None


# ----------------------------------------------------------------------------- squared / absolute
@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.ZERO_AT_TARGET, Prop.PROPER},
    metrics=("mae", "rmse"),
    aliases=("l2", "mean_squared_error"),
    example=ex.values,
)
def mse(preds: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Mean squared error.

    ``l_n = (preds_n - targets_n) ** 2``; ``"mean"`` averages over every element, ``"sum"`` adds.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape (integer dtypes
    are cast). Unlike :func:`torch.nn.functional.mse_loss`, which only warns, a shape mismatch
    that would broadcast raises.

    When to use:
        Regression with roughly Gaussian noise; punishes large errors strongly. On sigmoid
        outputs it also works (poorly calibrated) for 0/1 targets.

    Args:
        preds: predicted values.
        targets: true values.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``preds`` not floating, a complex input, unknown
            ``reduction``.

    Example:
        >>> import torch, losskit
        >>> losskit.mse(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0]))
        tensor(1.6667)

    References:
        Gauss (1809); the squared error is the negative log-likelihood of a Gaussian.
    """
    check_reduction(reduction)
    regression_inputs(preds, targets)
    p, t = promoted(preds, targets)
    out = torch._C._nn.mse_loss(p, t, kernel_reduction(reduction, p.numel()))
    return finish(out, preds=preds, targets=targets)


@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    mean_over=MeanOver.ROOT,
    properties={Prop.CONVEX, Prop.NONNEGATIVE, Prop.ZERO_AT_TARGET},
    metrics=("rmse",),
    aliases=("root_mean_squared_error",),
    reductions=("mean",),
    example=ex.values,
)
def rmse(preds: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Root mean squared error: the square root of :func:`mse`.

    ``rmse = sqrt(mean_n (preds_n - targets_n) ** 2)``. Note what this is:
    ``((preds - targets) ** 2).mean().sqrt()`` is the **RMSE, not the MSE**; the MSE is that
    expression without ``.sqrt()``. RMSE is in the units of the targets; its minimiser is the
    same as MSE's, but its gradient is MSE's divided by ``2 * rmse``.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape.

    When to use:
        When you want the loss in the units of the target (same minimiser as MSE).

    Args:
        preds: predicted values.
        targets: true values.
        reduction: only ``"mean"``: a root of a mean is not a sum of per-element terms, so
            ``"sum"`` and ``"none"`` are refused (use :func:`mse` or :func:`mae` for those).

    Returns:
        A scalar. At ``preds == targets`` the value is 0 and the gradient is defined as 0
        (the square root has no derivative at 0; 0 is its subgradient of least norm).

    Raises:
        LossInputError: shapes differ, ``preds`` not floating, a complex input, a reduction other
            than mean.

    Example:
        >>> import torch, losskit
        >>> losskit.rmse(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0]))
        tensor(1.2910)

    Stability:
        Computed as ``m * ||r / m|| / sqrt(N)`` with ``m = max |r|``, so residuals of ``1e30``
        or ``1e-30`` in float32, whose squares overflow or underflow, give their representable
        RMSE and its gradient (the closed form ``r / (N rmse)``). A NaN residual gives NaN, an
        infinite one inf.
    """
    check_reduction(reduction, allowed=("mean",))
    regression_inputs(preds, targets)
    dtype = result_dtype(preds, targets)
    p, t = in_dtype(compute_dtype(dtype), preds, targets)
    if p.numel() == 0:  # a static shape test: the mean over nothing is a graph-connected 0
        return finish((p - t).sum().to(dtype), preds=preds, targets=targets)
    if p.dtype == torch.float32 and p.numel() <= _SMALL:
        # the squares summed in float64, where no float32 residual's square overflows or
        # underflows: few operators, the cheapest form where the per-operator cost dominates
        # (the cast happens inside the reduction; torch differentiates the norm)
        norm = torch.linalg.vector_norm(p - t, dtype=torch.float64)
        return finish((norm / math.sqrt(p.numel())).to(dtype), preds=preds, targets=targets)
    root, _, _ = _Rmse.apply(p, t)  # type: ignore[no-untyped-call]
    return finish(root.to(dtype), preds=preds, targets=targets)


# Up to this many elements rmse sums float32 squares in float64 (a cast the norm's kernel
# makes element by element, slow per element but few operators); above it, _Rmse.
_SMALL = 1 << 14


class _Rmse(torch.autograd.Function):
    """``sqrt(mean((p - t)^2))`` of same-shape ``p``, ``t``, scaled so that no square overflows
    or underflows, with its closed-form gradient ``(p - t) / (N rmse)``.

    The residuals are divided by ``m = max |r|`` (in place, in the one buffer that holds them):
    ``rmse = m sqrt(q / N)`` with ``q = sum (r / m)^2`` for any ``m > 0``, and with this ``m``
    every square is at most 1 and the largest is 1, so residuals of ``1e30`` or ``1e-30`` in
    float32 give their representable RMSE. The gradient is ``s / sqrt(N q)`` with
    ``s = r / m``: the saved buffer times one number. Under ``create_graph`` the backward is
    written in differentiable ops of ``p``, ``t`` and the output, so the gradient has its own
    gradient."""

    generate_vmap_rule = True

    @staticmethod
    def forward(p: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        s = p - t
        lo, hi = torch.aminmax(s)  # one pass (vector_norm's ord=inf is a slower kernel)
        info = torch.finfo(s.dtype)
        # m = max |r| (NaN propagates through maximum and clamp), kept in [tiny, max]: every
        # residual 0 gives s = 0 (not 0/0), an infinite one s = inf and so the value inf, its
        # RMSE (not inf/inf = NaN); dividing by tiny, a power of 2, is exact
        m = torch.maximum(hi, -lo).clamp(info.tiny, info.max)
        s = s / m if tracing() else s.div_(m)  # in place on a plain tensor: no second buffer
        q = torch.sum(s * s)  # torch's cascade sum (a BLAS dot accumulates in one pass)
        return torch.sqrt(q / s.numel()) * m, s, q

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor], output: tuple[Tensor, ...]) -> None:
        root, s, q = output
        ctx.mark_non_differentiable(s, q)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(*inputs, root, s, q)

    @staticmethod
    def backward(ctx: Any, grad: Tensor | None, *_: Any) -> tuple[Tensor | None, Tensor | None]:
        p, t, root, s, q = ctx.saved_tensors
        if grad is None:
            return None, None
        if torch.is_grad_enabled():  # create_graph: differentiable in p, t and the output
            # d rmse / d r = r / (N rmse); at rmse == 0 the subgradient of least norm, 0
            coef = torch.where(root == 0, 0.0, grad / torch.where(root == 0, 1.0, root))
            g = (p - t) * (coef / s.numel())
        else:
            # r / (N rmse) = s / sqrt(N q). q is 0 (every s is 0: the gradient 0, not 0 * inf)
            # or at least the square of the smallest subnormal over tiny, far above tiny, so
            # the clamp changes nothing else
            g = s * (grad * torch.rsqrt((q * s.numel()).clamp(min=torch.finfo(q.dtype).tiny)))
        gp = g if ctx.needs_input_grad[0] else None
        gt = -g if ctx.needs_input_grad[1] else None
        return gp, gt


# Function.apply binds its arguments to forward's signature on every call; a stored signature
# is read instead of being rebuilt (also for _LogCosh)
_Rmse.forward.__signature__ = inspect.signature(_Rmse.forward)  # type: ignore[attr-defined]


@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    properties={Prop.CONVEX, Prop.NONNEGATIVE, Prop.ZERO_AT_TARGET, Prop.ROBUST},
    metrics=("mae",),
    aliases=("l1", "mean_absolute_error"),
    example=ex.values,
)
def mae(preds: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Mean absolute error (L1 loss).

    ``l_n = |preds_n - targets_n|``; ``"mean"`` averages over every element. Its gradient is
    ``sign(preds - targets)`` (0 at equality, as torch), so an outlier pulls no harder than any
    other point; its minimiser is the median.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape.

    When to use:
        Regression with outliers; estimates the median. Gradient has constant size.

    Args:
        preds: predicted values.
        targets: true values.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or the shape of ``preds`` for ``"none"``.

    Raises:
        LossInputError: shapes differ, ``preds`` not floating, a complex input, unknown
            ``reduction``.

    Example:
        >>> import torch, losskit
        >>> losskit.mae(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0]))
        tensor(1.)
    """
    check_reduction(reduction)
    regression_inputs(preds, targets)
    p, t = promoted(preds, targets)
    out = torch._C._nn.l1_loss(p, t, kernel_reduction(reduction, p.numel()))
    return finish(out, preds=preds, targets=targets)


# ----------------------------------------------------------------------------- robust point losses
@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    properties={Prop.CONVEX, Prop.NONNEGATIVE, Prop.ZERO_AT_TARGET, Prop.ROBUST},
    metrics=("mae", "rmse"),
    aliases=("huber_loss",),
    example=ex.values,
)
def huber(preds: Tensor, targets: Tensor, *, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """Huber loss: squared near the target, linear (slope ``delta``) beyond ``delta``.

    ``l_n = 0.5 r_n^2`` if ``|r_n| <= delta`` else ``delta (|r_n| - 0.5 delta)``, with
    ``r_n = preds_n - targets_n``; ``"mean"`` averages over every element. The same maths as
    :func:`torch.nn.functional.huber_loss`, optax and Keras. It is :func:`smooth_l1` scaled:
    ``huber(delta=d) == d * smooth_l1(beta=d)``; its gradient is the residual clipped to
    ``[-delta, delta]``.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape.

    When to use:
        Regression with some outliers: MSE's behaviour near the target, MAE's pull far from it.
        Set delta to the residual size beyond which a point is suspect.

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
        LossInputError: shapes differ, ``preds`` not floating, a complex input, ``delta <= 0`` or
            NaN.

    Example:
        >>> import torch, losskit
        >>> losskit.huber(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0]))
        tensor(0.6667)

    References:
        Huber, Robust Estimation of a Location Parameter, Ann. Math. Statist. (1964).
    """
    check_reduction(reduction)
    delta = check_option("delta", delta, low=0.0, low_open=True, finite=False)
    regression_inputs(preds, targets)
    p, t = promoted(preds, targets)
    out = torch._C._nn.huber_loss(p, t, kernel_reduction(reduction, p.numel()), delta)
    return finish(out, preds=preds, targets=targets)


@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    properties={Prop.CONVEX, Prop.NONNEGATIVE, Prop.ZERO_AT_TARGET, Prop.ROBUST},
    metrics=("mae",),
    example=ex.values,
)
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

    When to use:
        Box regression (Fast R-CNN) and wherever L1 is wanted with a smooth minimum; gradient
        bounded by 1 whatever beta.

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
        LossInputError: shapes differ, ``preds`` not floating, a complex input, ``beta`` negative,
            infinite or NaN.

    Example:
        >>> import torch, losskit
        >>> preds, targets = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0])
        >>> losskit.smooth_l1(preds, targets, beta=2.0)
        tensor(0.4167)

    References:
        Girshick, Fast R-CNN, ICCV (2015).
    """
    check_reduction(reduction)
    beta = check_option("beta", beta, low=0.0)
    regression_inputs(preds, targets)
    p, t = promoted(preds, targets)
    how = kernel_reduction(reduction, p.numel())
    # beta = 0 is L1, as torch's wrapper dispatches it (gradient 0, not NaN, at r == 0)
    if beta == 0:
        out = torch._C._nn.l1_loss(p, t, how)
    else:
        out = torch._C._nn.smooth_l1_loss(p, t, how, beta)
    return finish(out, preds=preds, targets=targets)


@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.ZERO_AT_TARGET, Prop.ROBUST},
    metrics=("mae", "rmse"),
    aliases=("logcosh",),
    example=ex.values,
)
def log_cosh(preds: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Log-cosh loss: ``log(cosh(preds - targets))``, smooth everywhere and linear in the tails.

    ``l_n = log cosh(r_n)``, ``r_n = preds_n - targets_n``: about ``r^2 / 2`` near 0 and
    ``|r| - log 2`` far away, with gradient ``tanh(r)`` (bounded by 1). ``"mean"`` averages over
    every element. The same maths as optax ``log_cosh`` and Keras ``LogCosh``.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape.

    When to use:
        A twice-differentiable Huber-like loss (gradient tanh(r), bounded by 1).

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
        ``cosh`` overflows beyond ``|r| ~ 89`` in float32, and ``log(cosh r)`` loses every
        digit of a tiny ``r``; it is computed as ``log1p(2 sinh(r/2)^2)`` (accurate to the last
        digit for tiny ``r``) up to ``|r| = 40``, and as ``|r| - log 2`` beyond (where the two
        agree to rounding in float32 and float64).
    """
    check_reduction(reduction)
    regression_inputs(preds, targets)
    dtype = result_dtype(preds, targets)
    p, t = in_dtype(compute_dtype(dtype), preds, targets)
    loss, _ = _LogCosh.apply(p - t)  # type: ignore[no-untyped-call]
    return finish(reduce(loss, reduction).to(dtype), preds=preds, targets=targets)


# Beyond this |r| both float32 and float64 give log cosh r = |r| - log 2 (the dropped
# log1p(exp(-2|r|)) is below half an ulp of |r|), and below it 2 sinh(r/2)^2 cannot overflow.
_LOG_COSH_LINEAR = 40.0


class _LogCosh(torch.autograd.Function):
    """``log cosh r`` elementwise and its derivative ``tanh r``, both from one ``sinh``.

    With ``c = clamp(r, -40, 40)``, ``h = sqrt(2) sinh(c / 2)`` and ``u = h^2 = cosh c - 1``:
    ``log cosh r = log1p(u) + |r - c|`` (``log1p`` keeps every digit of a tiny residual, and
    no ``cosh`` overflows: beyond 40 the loss is linear) and ``tanh r = h sqrt(u + 2) / (u + 1)``
    (``sinh c / cosh c``; ``tanh 40`` is 1 in float64). The derivative is computed in the
    forward pass from the same ``sinh`` and saved, so the backward pass is one product; under
    ``create_graph`` it is ``tanh`` of the saved input, a torch op that differentiates again.
    vmap derives the batching rule."""

    generate_vmap_rule = True

    @staticmethod
    def forward(r: Tensor) -> tuple[Tensor, Tensor]:
        c = r.clamp(-_LOG_COSH_LINEAR, _LOG_COSH_LINEAR)
        if tracing():  # compile or a transform: out of place (in-place is for plain tensors)
            tail = (r - c).abs()
            h = torch.sinh(c * 0.5) * math.sqrt(2)
            u = h * h
            slope = h * torch.sqrt(u + 2) / (u + 1)
            return torch.log1p(u) + tail, slope
        # the same operations, each written into a buffer this call made
        tail = (r - c).abs_()
        h = c.mul_(0.5).sinh_().mul_(math.sqrt(2))
        u = h * h
        slope = torch.add(u, 2.0).sqrt_().mul_(h)
        slope.div_(torch.add(u, 1.0, out=h))
        return u.log1p_().add_(tail), slope

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor], output: tuple[Tensor, Tensor]) -> None:
        ctx.mark_non_differentiable(output[1])
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(inputs[0], output[1])

    @staticmethod
    def backward(ctx: Any, grad: Tensor | None, *_: Any) -> Tensor | None:
        r: Tensor
        slope: Tensor
        r, slope = ctx.saved_tensors
        if grad is None:
            return None
        if torch.is_grad_enabled():  # create_graph: tanh r, differentiable in the saved input
            return grad * torch.tanh(r)  # tanh(+-inf) = +-1, NaN stays NaN
        return grad * slope  # the slope of an infinite residual is tanh 40 = 1, of NaN NaN


_LogCosh.forward.__signature__ = inspect.signature(_LogCosh.forward)  # type: ignore[attr-defined]


@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    properties={Prop.CONVEX, Prop.NONNEGATIVE, Prop.ZERO_AT_TARGET, Prop.ROBUST},
    metrics=("mae",),
    aliases=("pinball",),
    example=ex.with_options(ex.values, q=0.9),
)
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

    When to use:
        Prediction intervals and quantile forecasts (q=0.1 and 0.9 for an 80 % interval); q=0.5
        is half the MAE.

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
    regression_inputs(preds, targets)
    if isinstance(q, Tensor):
        check_real_values("q", q)
        check_param("q", q, "preds", preds)
        if reads(q):
            lo, hi = (float(v) for v in torch.aminmax(q.detach()))
            if not (lo >= 0.0 and hi <= 1.0):  # also false for NaN
                raise LossInputError(f"q must lie in [0, 1], got values in [{lo:g}, {hi:g}]")
    else:
        q = check_option("q", q, low=0.0, high=1.0)
    dtype = result_dtype(preds, targets)
    p, t, qc = in_dtype(compute_dtype(dtype), preds, targets, q)
    d = t - p
    # relu has gradient 0 at 0, so the tie d == 0 gets the least-norm subgradient 0
    loss = qc * F.relu(d) + (1 - qc) * F.relu(-d)
    return finish(
        reduce(loss, reduction).to(dtype), preds=preds, targets=targets, q=tensor_or_none(q)
    )


@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE, Prop.ZERO_AT_TARGET, Prop.ROBUST},
    metrics=("mae", "rmse"),
    aliases=("charbonnier",),
    example=ex.values,
)
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

    When to use:
        Huber's behaviour with derivatives of every order (second-order optimisers, image
        restoration); barron(alpha=1) up to scale.

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
        LossInputError: shapes differ, ``preds`` not floating, a complex input, ``delta <= 0`` or
            NaN.

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
    delta = check_option("delta", delta, low=0.0, low_open=True, finite=False)
    regression_inputs(preds, targets)
    dtype = result_dtype(preds, targets)
    p, t = in_dtype(compute_dtype(dtype), preds, targets)
    r = p - t
    # delta^2 (sqrt(1 + u^2) - 1) = r^2 / (1 + sqrt(1 + u^2)), u = r / delta; the second factor
    # r / (1 + hypot) is at most delta, so r is never squared on its own
    loss = r * (r / (1 + torch.hypot(r / delta, torch.ones_like(r))))
    return finish(reduce(loss, reduction).to(dtype), preds=preds, targets=targets)


@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.ZERO_AT_TARGET},
    metrics=("mae",),
    aliases=("general_robust",),
    example=ex.with_options(ex.values, alpha=1.0),
)
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

    When to use:
        Tuning robustness with one number: alpha <= 1 bounds the gradient, alpha < 0 bounds the
        loss (outliers ignored); scale c sets the inlier width.

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
    alpha = check_option("alpha", alpha, finite=False)
    regression_inputs(preds, targets)
    scale = positive_option("scale", scale, preds, "; the scale c of the robust loss is > 0")
    dtype = result_dtype(preds, targets)
    p, t, c = in_dtype(compute_dtype(dtype), preds, targets, scale)
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
    elif alpha == -math.inf:
        loss = -torch.expm1(-0.5 * u * u)
    elif alpha == math.inf:
        loss = torch.expm1(0.5 * u * u)
    else:
        b = abs(alpha - 2)
        # (1 + x)^(alpha/2) - 1 as expm1(alpha/2 * log1p(x)): exact near the target, no cancel
        loss = (b / alpha) * torch.expm1((alpha / 2) * torch.log1p(u * u / b))
    return finish(
        reduce(loss, reduction).to(dtype), preds=preds, targets=targets, scale=tensor_or_none(scale)
    )


# ----------------------------------------------------------------------------- relative errors
@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.ZERO_AT_TARGET},
    metrics=("msle",),
    aliases=("mean_squared_log_error",),
    example=ex.positive,
)
def msle(preds: Tensor, targets: Tensor, *, reduction: str = "mean") -> Tensor:
    """Mean squared logarithmic error: the squared error of ``log1p`` values.

    ``l_n = (log(1 + preds_n) - log(1 + targets_n))^2``; ``"mean"`` averages over every
    element. It measures relative error for non-negative quantities (counts, prices). Computed
    with torch's ``mse_loss`` kernel on ``log1p`` of both.

    Input: ``preds``, any shape, floating, every value ``> -1``. Target: ``targets``, the same
    shape, every value ``> -1`` (the domain of ``log1p``).

    When to use:
        Non-negative targets over orders of magnitude (counts, prices) where relative error
        matters; under-prediction costs more than over-prediction.

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
    regression_inputs(preds, targets)
    check_values(
        "preds",
        preds,
        low=-1.0,
        strict=True,
        hint="; msle takes log1p(preds): bound the model output (e.g. softplus), or predict "
        "log1p(y) and use mse",
    )
    check_values(
        "targets",
        targets,
        low=-1.0,
        strict=True,
        hint="; msle takes log1p(targets): it is meant for targets >= 0 (counts, prices)",
    )
    p, t = promoted(preds, targets)
    out = torch._C._nn.mse_loss(
        torch.log1p(p), torch.log1p(t), kernel_reduction(reduction, p.numel())
    )
    return finish(out, preds=preds, targets=targets)


@register(
    family=Family.REGRESSION,
    inputs=Space.VALUES,
    targets=Targets.REAL,
    properties={Prop.CONVEX, Prop.NONNEGATIVE, Prop.ZERO_AT_TARGET},
    metrics=("mape",),
    aliases=("mean_absolute_percentage_error",),
    example=ex.positive,
)
def mape(preds: Tensor, targets: Tensor, *, eps: float = 0.0, reduction: str = "mean") -> Tensor:
    """Mean absolute percentage error, as a fraction (0.1 is 10 %).

    ``l_n = |preds_n - targets_n| / max(|targets_n|, eps)``; ``"mean"`` averages over every
    element. scikit-learn's ``mean_absolute_percentage_error`` also returns a fraction; Keras's
    ``MAPE`` multiplies by 100. Its gradient in ``preds`` is ``sign(r) / |targets|``, so
    small targets dominate training.

    Input: ``preds``, any shape, floating. Target: ``targets``, the same shape.

    When to use:
        Reporting relative error on targets far from zero; as a training loss it favours
        under-prediction and small targets dominate.

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
    eps = check_option("eps", eps, low=0.0)
    regression_inputs(preds, targets)

    def zero_targets() -> None:
        # Run by finish() only when the result is not finite: a zero target with eps=0 always
        # makes it so (x/0 is inf, 0/0 NaN), so the check costs nothing on finite results.
        zero = targets.detach() == 0
        if eps == 0 and bool(zero.any()):
            first = first_index(zero)
            raise LossInputError(
                f"targets hold {int(zero.sum())} zero(s) (the first at index {first}): mape "
                "divides by |targets|, so its value there is infinite; drop those elements, use "
                "mae, or pass eps (e.g. eps=1e-7, as Keras) to clamp the denominator"
            )

    dtype = result_dtype(preds, targets)
    p, t = in_dtype(compute_dtype(dtype), preds, targets)
    denom = t.abs().clamp(min=eps) if eps > 0 else t.abs()  # eps is a float: a static branch
    loss = (p - t).abs() / denom
    return finish(reduce(loss, reduction).to(dtype), zero_targets, preds=preds, targets=targets)
