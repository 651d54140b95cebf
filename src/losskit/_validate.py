"""Validators of particular kinds of input, shared by several loss families: learned scalar
hyper-parameters, predicted distribution parameters, integer tensors, embedding matrices, class
weights, lower bounds, -1/+1 labels and distributions over a class dimension.

Built on :mod:`losskit._checks` (its check modes, error type and primitives). Imports point
down: this module imports ``_checks``, never the reverse.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# the check-mode predicates and dtype test are _checks' own: one place, not copied
from losskit._checks import (
    LossInputError,
    _class_dim,
    _debug_on,
    _full_on,
    _is_integer,
    _shapes_on,
    _values_on,
    check_broadcasts_to,
    check_floating,
    check_option,
    check_real,
    check_tensor,
    ensure_float,
    grid,
    log_probs_below_zero,
    read_values,
    spot,
)

__all__ = [
    "check_class_weight",
    "check_embeddings",
    "check_integer",
    "check_param",
    "check_sign_targets",
    "check_values",
    "distribution_inputs",
    "scalar_hyper",
]


# ----------------------------------------------------------------------------- hyper-parameters
def scalar_hyper(name: str, value: float | Tensor, *, positive: bool) -> float | Tensor:
    """A hyper-parameter given as a number or a one-element tensor (a learned parameter):
    returned as a float or a 0-dim tensor. NaN is refused; so is a non-positive value when
    ``positive`` (tensors are read only in full mode)."""
    if isinstance(value, Tensor):
        if value.numel() != 1 or not value.is_floating_point():
            raise LossInputError(
                f"{name} must be a number or a one-element floating tensor, got a "
                f"{value.dtype} tensor of shape {tuple(value.shape)}"
            )
        if _full_on():
            v = float(value.detach().reshape(()))
            if (positive and not v > 0) or v != v:
                raise LossInputError(
                    f"{name} must be {'> 0' if positive else 'a number'}, got {v!r}"
                    + (
                        "; learn its log instead, e.g. temperature = log_t.exp()"
                        if positive
                        else ""
                    )
                )
        return value.reshape(())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LossInputError(f"{name} must be a number or a tensor, got {type(value).__name__}")
    check_option(name, float(value), low=0.0 if positive else None, low_open=positive)
    if math.isinf(value):
        raise LossInputError(f"{name} must be finite, got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------- tensors of a kind
def check_param(name: str, x: Tensor, preds_name: str, preds: Tensor) -> None:
    """A tensor parameter (variance, scale, quantile): floating, broadcasting to ``preds``."""
    check_tensor(
        name, x, hint=f"; for one value everywhere pass torch.full_like({preds_name}, value)"
    )
    check_floating(name, x)
    check_broadcasts_to(name, x, preds.shape, preds_name)


def check_integer(name: str, x: Tensor, what: str) -> None:
    """An integer tensor (not bool, not floating) of ``what``."""
    check_tensor(name, x)
    if _shapes_on() and not _is_integer(x):
        raise LossInputError(
            f"{name} must be an integer tensor of {what}, got dtype {x.dtype}; "
            f"for integer-valued floats use {name}.long()"
        )


def check_embeddings(name: str, x: Tensor) -> None:
    """Embeddings are a floating ``(N, D)`` matrix, one row per example."""
    check_floating(name, x)
    if _shapes_on() and x.dim() != 2:
        hint = (
            f"; for one example use {name}.unsqueeze(0)"
            if x.dim() == 1
            else f"; flatten the features with {name}.flatten(1)"
            if x.dim() > 2
            else ""
        )
        raise LossInputError(
            f"{name} must have shape (N, D), one embedding per row, got {tuple(x.shape)}{hint}"
        )


def check_class_weight(weight: Tensor | None, num_classes: int) -> None:
    """An optional ``(C,)`` weight, one value >= 0 per class (dim 1 of the logits)."""
    if weight is None or not _shapes_on():
        return
    if not isinstance(weight, Tensor) or tuple(weight.shape) != (num_classes,):
        got = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise LossInputError(
            f"weight must have shape ({num_classes},), one value per class (dim 1 of logits), "
            f"got {got}"
        )
    if _values_on() and num_classes and float(weight.detach().min()) < 0:
        raise LossInputError("weight must be >= 0 (a class weight scales that class's loss)")


# ----------------------------------------------------------------------------- values (full mode)
def check_values(name: str, x: Tensor, *, low: float, strict: bool, hint: str = "") -> None:
    """Full mode only: every value of ``x`` is ``> low`` (``strict``) or ``>= low``. NaN passes
    here (``finish`` names it if the loss is not finite). Reads the :func:`spot` sample (whole
    in ``"debug"`` mode)."""
    if not read_values(name, x):
        return
    lowest = spot(x).amin().item()  # NaN (amin propagates it) takes the exact path below
    if lowest == lowest and (lowest > low if strict else lowest >= low):
        return
    x = x.detach()
    bad = x <= low if strict else x < low
    if bool(bad.any()):
        lowest = float(x[bad].min())
        raise LossInputError(
            f"{name} must be {'>' if strict else '>='} {low:g}, got a minimum of {lowest:g}{hint}"
        )


def check_sign_targets(name: str, targets: Tensor) -> None:
    """Labels of -1 or +1, the convention of PyTorch's margin losses (0/1 labels are refused: the
    formulas read 0 as "neither" and return a wrong loss). Reads the :func:`spot` sample (whole
    in ``"debug"`` mode)."""
    check_tensor(name, targets)
    check_real(name, targets)
    if not read_values(name, targets):
        return
    t = spot(targets)
    lo2, hi2 = torch.aminmax(t * t)  # t^2 is 1 everywhere exactly when every t is -1 or +1
    if lo2.item() == 1 and hi2.item() == 1:
        return
    bad = (targets != 1) & (targets != -1)
    if bool(bad.any()):
        seen = torch.unique(targets.detach()[bad].float())[:4].tolist()
        zero_one = bool(((targets == 0) | (targets == 1)).all())
        raise LossInputError(
            f"{name} must be -1 or +1, got {', '.join(f'{v:g}' for v in seen)}"
            + (
                "; 0/1 labels? map them with 2 * targets - 1 (0 is read as neither class)"
                if zero_one
                else ""
            )
        )


def distribution_inputs(
    name: str, x: Tensor, *, log: bool, log_hint: str = "use their exp"
) -> None:
    """Full mode only: ``x`` holds distributions over dim 1 (dim 0 for 1-D), within a tolerance
    for rounding (1e-3, or 2e-2 in half precision). ``log_hint`` ends the message for
    log-probabilities given as probabilities.

    In ``"full"`` mode the values are read on the :func:`losskit._checks.spot` sample (``>= 0``
    for probabilities, ``<= 0`` for log-probabilities) and the sums over dim 1 on at most 4
    entries of each other dim (first and last included; :func:`losskit._checks.grid`); ``"debug"``
    reads every value and every sum. Whole, the two passes (an ``exp`` for log-probabilities)
    cost 10-25 % of a forward+backward of kl_div or soft_cross_entropy. A softmax over the wrong
    dim, logits, or log-probabilities given as probabilities fail on any slice."""
    if not read_values(name, x):
        return
    dim = _class_dim(x)
    values = ensure_float(x.detach())  # no float64 copy of a large tensor
    slices = values if _debug_on() else grid(values, 4, keep=dim)
    if log:
        log_probs_below_zero(name, x)  # values <= 0: the exp below cannot overflow
        sums = slices.exp().sum(dim)
    else:
        if not float(spot(values).amin()) >= 0.0:  # NaN fails too, and takes the message below
            lo, hi = (float(v) for v in torch.aminmax(values))
            if not (lo >= 0.0 and hi <= 1.0):
                raise LossInputError(
                    f"{name} must be probabilities in [0, 1], got values in [{lo:g}, {hi:g}]; "
                    f"logits? use torch.softmax({name}, {dim}); log-probabilities? {log_hint}"
                )
        sums = slices.sum(dim)
    lo, hi = (float(v) for v in torch.aminmax(sums))
    tol = 2e-2 if x.dtype in (torch.float16, torch.bfloat16) else 1e-3
    if not (abs(lo - 1) <= tol and abs(hi - 1) <= tol):
        how = (
            f"log_softmax over dim {dim}"
            if log
            else f"softmax over dim {dim}, or divide by the sum"
        )
        raise LossInputError(
            f"{name} must hold distributions over dim {dim} (each summing to 1), got sums in "
            f"[{lo:.6g}, {hi:.6g}]; normalised over another dim? use {how}"
        )
