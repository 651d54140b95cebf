"""Regression losses: ``preds`` and ``targets`` of the same shape, real values."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    check_floating,
    check_reduction,
    check_same_shape,
    finish,
    native_reduction,
)
from losskit._spec import LossSpec, register

__all__ = ["mae", "mse", "regression_inputs", "rmse"]


def regression_inputs(preds: Tensor, targets: Tensor) -> Tensor:
    """Shared checks of every regression loss; returns ``targets`` in the dtype of ``preds``
    (integer targets are accepted and cast)."""
    check_floating("preds", preds)
    check_same_shape("preds", preds, "targets", targets)
    return targets if targets.dtype == preds.dtype else targets.to(preds.dtype)


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
    return finish(
        F.mse_loss(preds, targets, reduction=native_reduction(reduction, preds.numel())),
        preds=preds,
        targets=targets,
    )


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
    return finish(
        F.l1_loss(preds, targets, reduction=native_reduction(reduction, preds.numel())),
        preds=preds,
        targets=targets,
    )


register(
    LossSpec(
        name="mse",
        function=mse,
        family="regression",
        input_space="values",
        target_space="real values, same shape",
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
)
register(
    LossSpec(
        name="rmse",
        function=rmse,
        family="regression",
        input_space="values",
        target_space="real values, same shape",
        summary="Root mean squared error: sqrt(mean((preds - targets)^2)), in the targets' units.",
        formula="rmse = sqrt( (1/N) * sum_n (preds_n - targets_n)^2 )   # this is NOT the MSE",
        when_to_use="When you want the loss in the units of the target (same minimiser as MSE).",
        metrics=("rmse",),
        properties=frozenset({"convex", "nonnegative", "zero_at_target"}),
        aliases=("root_mean_squared_error",),
        reductions=("mean",),
        mean_over="every element, then the square root",
    )
)
register(
    LossSpec(
        name="mae",
        function=mae,
        family="regression",
        input_space="values",
        target_space="real values, same shape",
        summary="Mean absolute error: the average of absolute residuals (L1).",
        formula="l_n = |preds_n - targets_n|",
        when_to_use="Regression with outliers; estimates the median. Gradient has constant size.",
        metrics=("mae",),
        properties=frozenset({"convex", "nonnegative", "zero_at_target", "robust"}),
        aliases=("l1", "mean_absolute_error"),
    )
)
