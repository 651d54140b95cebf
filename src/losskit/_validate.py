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
    _is_integer,
    _shapes_on,
    check_broadcasts_to,
    check_floating,
    check_option,
    check_real,
    check_tensor,
    class_dim,
    ensure_float,
    log_probs_below_zero,
    reads,
)

__all__ = [
    "check_class_weight",
    "check_embeddings",
    "check_integer",
    "check_normalizer",
    "check_param",
    "check_sign_targets",
    "check_values",
    "check_weight",
    "distribution_inputs",
    "scalar_hyper",
]


# ----------------------------------------------------------------------------- hyper-parameters
def scalar_hyper(name: str, value: float | Tensor, *, positive: bool) -> float | Tensor:
    """A hyper-parameter given as a number or a one-element tensor (a learned parameter):
    returned as a float or a 0-dim tensor. NaN and infinity are refused; so is a non-positive
    value when ``positive`` (a tensor's value is read where :func:`losskit._checks.reads`)."""
    if isinstance(value, Tensor):
        if value.numel() != 1 or not value.is_floating_point():
            raise LossInputError(
                f"{name} must be a number or a one-element floating tensor, got a "
                f"{value.dtype} tensor of shape {tuple(value.shape)}"
            )
        if reads(value):
            v = float(value.detach().reshape(()))
            if (positive and not v > 0) or not math.isfinite(v):
                raise LossInputError(
                    f"{name} must be {'> 0 and finite' if positive else 'finite'}, got {v!r}"
                    + (
                        "; learn its log instead, e.g. temperature = log_t.exp()"
                        if positive
                        else ""
                    )
                )
        return value.reshape(())
    return check_option(name, value, low=0.0 if positive else None, low_open=positive)


def check_normalizer(normalizer: float | Tensor | None, reduction: str) -> None:
    """The one ``normalizer`` check (the denominator that replaces the local count under DDP or
    gradient accumulation): ``None``, or a number or one-element tensor, finite and >= 0, with
    ``reduction="mean"`` only. A tensor's value is read where :func:`losskit._checks.reads`."""
    if normalizer is None:
        return
    if reduction != "mean":
        raise LossInputError(
            f"normalizer applies to reduction='mean' only, got reduction={reduction!r}"
        )
    if isinstance(normalizer, Tensor):
        if normalizer.numel() != 1 or normalizer.is_complex() or normalizer.dtype == torch.bool:
            raise LossInputError(
                "normalizer must be a number or a one-element tensor (a count or weight sum), "
                f"got a {normalizer.dtype} tensor of shape {tuple(normalizer.shape)}"
            )
        if reads(normalizer):
            v = float(normalizer.detach().reshape(()))
            if not (math.isfinite(v) and v >= 0):
                raise LossInputError(f"normalizer must be finite and >= 0, got {v!r}")
        return
    check_option("normalizer", normalizer, low=0.0)


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


def check_class_weight(
    weight: Tensor | None, num_classes: int, *, name: str = "weight", of: str = "logits"
) -> None:
    """The one class-weight validator: an optional ``(C,)`` floating tensor, one finite value
    >= 0 per class (dim 1 of ``of``). Negative or non-finite weights are refused."""
    if weight is None or not _shapes_on():
        return
    if not isinstance(weight, Tensor) or tuple(weight.shape) != (num_classes,):
        got = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise LossInputError(
            f"{name} must have shape ({num_classes},), one value per class (dim 1 of {of}), "
            f"got {got}"
        )
    check_weight(name, weight, what="a class weight scales that class's loss")


def check_weight(name: str, weight: Tensor | None, *, what: str = "a weight scales a loss") -> None:
    """Any weight tensor: floating (or integer), and where values are read every value finite
    and >= 0 (a negative weight would turn a loss into a reward)."""
    if weight is None or not _shapes_on():
        return
    check_tensor(name, weight)
    if weight.is_complex() or weight.dtype == torch.bool:
        raise LossInputError(f"{name} must be a real floating tensor, got dtype {weight.dtype}")
    if not reads(weight):
        return
    w = weight.detach()
    lo = float(w.amin())
    if lo >= 0 and (not w.is_floating_point() or math.isfinite(float(w.sum()))):
        return
    if w.is_floating_point() and not bool(torch.isfinite(w).all()):
        raise LossInputError(f"{name} holds non-finite values; every weight must be finite")
    if lo < 0:
        raise LossInputError(f"{name} must be >= 0 ({what}), got a minimum of {lo:g}")


# ----------------------------------------------------------------------------- values (full mode)
def check_values(name: str, x: Tensor, *, low: float, strict: bool, hint: str = "") -> None:
    """Every value of ``x`` is ``> low`` (``strict``) or ``>= low``, read whole where
    :func:`losskit._checks.reads`. NaN passes here (``finish`` names it if the loss is not
    finite)."""
    if not reads(x):
        return
    x = x.detach()
    lowest = float(x.amin())  # NaN (amin propagates it) takes the exact path below
    if lowest == lowest and (lowest > low if strict else lowest >= low):
        return
    bad = x <= low if strict else x < low
    if bool(bad.any()):
        lowest = float(x[bad].min())
        raise LossInputError(
            f"{name} must be {'>' if strict else '>='} {low:g}, got a minimum of {lowest:g}{hint}"
        )


def check_sign_targets(name: str, targets: Tensor) -> None:
    """Labels of -1 or +1, the convention of PyTorch's margin losses (0/1 labels are refused: the
    formulas read 0 as "neither" and return a wrong loss), read whole."""
    check_tensor(name, targets)
    check_real(name, targets)
    if not reads(targets):
        return
    t = targets.detach()
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
    """``x`` holds distributions over dim 1 (dim 0 for 1-D), within a tolerance for rounding
    (1e-3, or 2e-2 in half precision), read whole where :func:`losskit._checks.reads`.
    ``log_hint`` ends the message for log-probabilities given as probabilities. A softmax over
    the wrong dim, logits, or log-probabilities given as probabilities are refused; NaN passes
    here (``finish`` names it)."""
    if not reads(x):
        return
    dim = class_dim(x)
    values = ensure_float(x.detach())  # no float64 copy of a large tensor
    if log:
        log_probs_below_zero(name, x)  # values <= 0: the exp below cannot overflow
        sums = values.exp().sum(dim)
    else:
        lo, hi = (float(v) for v in torch.aminmax(values))
        if lo < 0.0 or hi > 1.0:
            raise LossInputError(
                f"{name} must be probabilities in [0, 1], got values in [{lo:g}, {hi:g}]; "
                f"logits? use torch.softmax({name}, {dim}); log-probabilities? {log_hint}"
            )
        sums = values.sum(dim)
    lo, hi = (float(v) for v in torch.aminmax(sums))
    tol = 2e-2 if x.dtype in (torch.float16, torch.bfloat16) else 1e-3
    if abs(lo - 1) > tol or abs(hi - 1) > tol:
        how = (
            f"log_softmax over dim {dim}"
            if log
            else f"softmax over dim {dim}, or divide by the sum"
        )
        raise LossInputError(
            f"{name} must hold distributions over dim {dim} (each summing to 1), got sums in "
            f"[{lo:.6g}, {hi:.6g}]; normalised over another dim? use {how}"
        )
