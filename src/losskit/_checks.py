"""Input validation and reductions shared by every loss: one place, not copied. Validators of
particular kinds of input (embeddings, -1/+1 labels, class weights, ...) are built on these in
:mod:`losskit._validate`.

One switch, :func:`checks`, with four modes; each is deterministic (a call is checked the same
way every time it is made):

``"full"`` (default)
    shapes, dtypes and options, plus the *values* of every constrained tensor, read whole on
    every call: class labels in ``[0, C)`` or ``ignore_index``, binary targets, probabilities,
    log-probabilities, distributions, -1/+1 labels, weights, lower bounds. When the result is
    not finite, the non-finite input is named (targets and weights included).
``"debug"``
    everything in ``"full"``, plus heuristics that could in principle misfire: logits that all
    lie in [0, 1] (16 or more of them) are refused as probabilities given to a logits loss.
``"shapes"``
    shapes, dtypes and options only: never reads tensor data, never forces a device sync.
``"off"``
    nothing; for a hot loop that has already been checked.

Data reads skip themselves where data cannot be read (:func:`reads`): under ``torch.compile``
tracing, inside ``torch.func`` transforms (``vmap``, ``grad``, ``jacrev``), for meta and fake
tensors, and under ``torch.jit`` tracing. There a loss checks shapes, dtypes and options only,
so it compiles with ``fullgraph=True``, runs under ``vmap`` and gives output shapes on meta
tensors. The process default is ``"full"``, or the mode named by the environment variable
``LOSSKIT_CHECKS``.

A check never changes a result: for valid input every mode returns the same value.

Policy for a mean over nothing (an empty batch, every target ignored, every weight zero): the
result is ``0.0``, connected to the graph (its gradient is zero, so DDP still sees every
parameter). It is never a silent NaN. PyTorch returns NaN there; losskit differs on purpose.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import threading
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "CheckMode",
    "LossInputError",
    "Reduction",
    "all_finite",
    "check_binary_targets",
    "check_bool",
    "check_broadcasts_to",
    "check_choice",
    "check_class_logits",
    "check_floating",
    "check_ignore_index",
    "check_int",
    "check_labels",
    "check_log_probs",
    "check_option",
    "check_probs",
    "check_real",
    "check_reduction",
    "check_same_shape",
    "check_tensor",
    "checks",
    "class_dim",
    "class_scores",
    "ensure_float",
    "finish",
    "first_index",
    "get_check_mode",
    "log_probs_below_zero",
    "masked_mean",
    "native_reduction",
    "ratio",
    "reads",
    "reduce",
    "tracing",
    "unreadable",
]

CheckMode = Literal["debug", "full", "shapes", "off"]
Reduction = Literal["mean", "sum", "none"]
_MODES: tuple[str, ...] = ("debug", "full", "shapes", "off")
_REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")


class LossInputError(ValueError):
    """A loss was called with input it cannot use. The message names the argument, what was
    expected, what came, and the likely fix."""


# ----------------------------------------------------------------------------- the check mode
def _default_mode() -> str:
    mode = os.environ.get("LOSSKIT_CHECKS", "").strip().lower() or "full"
    if mode not in _MODES:
        raise LossInputError(
            f"the environment variable LOSSKIT_CHECKS must be one of {_MODES}, got {mode!r}"
        )
    return mode


class _State(threading.local):
    def __init__(self) -> None:
        self.mode = _default_mode()


_state = _State()


class _CheckContext(contextlib.AbstractContextManager["_CheckContext"]):
    """Returned by :func:`checks`; restores the previous mode when used as a context manager."""

    def __init__(self, previous: str) -> None:
        self.previous = previous

    def __exit__(self, *exc: object) -> None:
        _state.mode = self.previous


def checks(mode: CheckMode) -> _CheckContext:
    """Set how much input validation losses do: ``"debug"``, ``"full"`` (the default, or
    ``LOSSKIT_CHECKS``), ``"shapes"`` or ``"off"``; see :mod:`losskit._checks`. Under
    ``torch.compile``, ``vmap`` and meta tensors data reads skip themselves in every mode.

    As a call it sets the mode for this thread; as a context manager it restores the previous
    mode on exit:

    >>> import losskit
    >>> with losskit.checks("off"):
    ...     losskit.get_check_mode()
    'off'
    >>> losskit.get_check_mode()
    'full'
    """
    if mode not in _MODES:
        raise LossInputError(
            f"checks: mode must be one of {_MODES}, got {mode!r}; use 'full' while developing, "
            "'shapes' in a hot loop on GPU, 'off' only for code already checked."
        )
    previous = _state.mode
    _state.mode = mode
    return _CheckContext(previous)


def get_check_mode() -> str:
    """The current check mode of this thread."""
    return _state.mode


def _values_on() -> bool:
    return _state.mode in ("full", "debug")


def _shapes_on() -> bool:
    return _state.mode != "off"


def _debug_on() -> bool:
    return _state.mode == "debug"


def tracing() -> bool:
    """Whether the code runs where tensor data cannot be read: ``torch.compile`` tracing, a
    ``torch.func`` transform (``vmap``, ``grad``, ...) or ``torch.jit`` tracing."""
    # is_compiling first: under torch.compile it is a constant True and the rest is not traced
    return (
        torch.compiler.is_compiling()
        or torch._C._functorch.peek_interpreter_stack() is not None
        or torch._C._is_tracing()
    )


_FakeTensor = torch._subclasses.FakeTensor


def unreadable(x: Tensor) -> bool:
    """Whether the data of ``x`` cannot be read here: :func:`tracing`, or a meta or fake
    tensor. A loss whose kernel cannot trace takes its plain-formula path then."""
    return x.is_meta or tracing() or isinstance(x, _FakeTensor)


def reads(x: Tensor) -> bool:
    """The one predicate of every value check: whether this call reads the values of ``x``.

    True in ``"full"`` and ``"debug"`` mode for a non-empty ``x`` whose data can be read; false
    in ``"shapes"`` and ``"off"``, and under tracing, transforms, meta and fake tensors."""
    return _values_on() and x.numel() > 0 and not unreadable(x)


# ----------------------------------------------------------------------------- option checks
def _type_name(value: object) -> str:
    return type(value).__name__


def check_choice(name: str, value: object, choices: Sequence[object], *, hint: str = "") -> None:
    """Raise unless an option is one of its documented values (always checked: it is free)."""
    if type(value) is str and value in choices:  # the common case, decided without a loop
        return
    try:
        ok = any(value is c or (type(value) is type(c) and value == c) for c in choices)
    except Exception:  # a value whose == is not a bool (a tensor): not one of the choices
        ok = False
    if not ok:
        raise LossInputError(f"{name} must be one of {tuple(choices)}, got {value!r}{hint}")


def check_reduction(reduction: str, *, allowed: Sequence[str] = _REDUCTIONS) -> None:
    """Raise unless ``reduction`` is one of ``allowed`` (always checked: it costs nothing)."""
    if type(reduction) is str and reduction in allowed:
        return
    legacy = reduction not in _REDUCTIONS if isinstance(reduction, str) else False
    hint = "; 'elementwise_mean', 'batchmean', size_average and reduce are not used here"
    check_choice("reduction", reduction, allowed, hint=hint if legacy else "")


def _number(name: str, value: object, *, integer: bool = False) -> float:
    """``value`` as a Python number: ints, floats, numpy scalars and one-element tensors (read
    on the host, so not under tracing); bools, strings, None and sequences are refused."""
    what = "an integer" if integer else "a number"
    if isinstance(value, Tensor):
        ok = value.numel() == 1 and not value.is_complex() and value.dtype != torch.bool
        if integer:
            ok = ok and not value.is_floating_point()
        if not ok:
            raise LossInputError(
                f"{name} must be {what} (or a one-element tensor), got a {value.dtype} tensor of "
                f"shape {tuple(value.shape)}"
            )
        if unreadable(value):
            raise LossInputError(
                f"{name} must be a Python number under torch.compile, vmap or meta tensors, got "
                f"a tensor; pass float({name}) before tracing"
            )
        return value.item()
    real = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, real):
        hint = "; round it and pass an int" if integer and isinstance(value, numbers.Real) else ""
        raise LossInputError(f"{name} must be {what}, got {_type_name(value)} {value!r}{hint}")
    return int(value) if integer else float(value)  # type: ignore[call-overload]


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    return (
        f"{lo}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{hi}"
    )


def check_option(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
) -> float:
    """A real hyper-parameter: a number (int, float, numpy scalar or one-element tensor) in its
    documented interval, finite unless ``finite=False``. Returns it as a float; refuses any
    other type, NaN, and a value outside the interval, naming the argument."""
    v = _number(name, value)
    bad = (
        v != v  # NaN
        or (finite and math.isinf(v))
        or (low is not None and (v <= low if low_open else v < low))
        or (high is not None and (v >= high if high_open else v > high))
    )
    if bad:
        # a finite option's interval is open at an infinite end
        interval = _interval(
            low, high, low_open or (finite and low is None), high_open or (finite and high is None)
        )
        raise LossInputError(f"{name} must lie in {interval}, got {value!r}")
    return v


def check_int(name: str, value: object, *, low: int | None = None) -> int:
    """An integer hyper-parameter (int, numpy integer or one-element integer tensor) ``>= low``."""
    v = int(_number(name, value, integer=True))
    if low is not None and v < low:
        raise LossInputError(f"{name} must lie in [{low}, inf), got {v}")
    return v


def check_bool(name: str, value: object) -> bool:
    """A flag: ``True`` or ``False`` (numpy bools too), never a number or a string."""
    if not isinstance(value, (bool, np.bool_)):
        raise LossInputError(f"{name} must be True or False, got {_type_name(value)} {value!r}")
    return bool(value)


def check_ignore_index(value: object) -> int | None:
    """``ignore_index``: an integer label to skip, or ``None`` for no label ignored."""
    if value is None:
        return None
    return check_int("ignore_index", value)


# ----------------------------------------------------------------------------- tensor checks
def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """The broadcast of two shapes, or None; plain Python, so it traces under torch.compile."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da != db and 1 not in (da, db):
            return None
        out.append(da if db == 1 else db)
    return tuple(reversed(out))


def check_tensor(name: str, x: object, *, hint: str = "") -> None:
    """Raise unless ``x`` is a tensor (in every mode: it reads no data)."""
    if not isinstance(x, Tensor):
        raise LossInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}{hint}")


def _is_integer(x: Tensor) -> bool:
    return not (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool)


def check_floating(name: str, x: Tensor) -> None:
    """Predictions must be a floating tensor (so they can carry a gradient)."""
    check_tensor(name, x)
    if _shapes_on() and x.is_complex():
        raise LossInputError(
            f"{name} must be real, got dtype {x.dtype}; complex values are not supported "
            f"(pass {name}.real or {name}.abs() explicitly)"
        )
    if _shapes_on() and not x.is_floating_point():
        raise LossInputError(
            f"{name} must be a floating tensor, got dtype {x.dtype}; did you mean {name}.float()?"
        )
    if name == "logits" and _state.mode == "debug" and x.numel() >= 16:
        lo, hi = _range(x)
        if lo >= 0.0 and hi <= 1.0:
            raise LossInputError(
                f"logits all lie in [0, 1] ({x.numel()} values in [{lo:g}, {hi:g}]): these look "
                "like probabilities given to a logits loss (a double sigmoid or softmax); pass the "
                "raw scores, or use the loss's probability form (e.g. bce)"
            )


def check_same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    """Shapes must match exactly: losskit never broadcasts predictions against targets."""
    check_tensor(name_b, b)
    if not _shapes_on() or a.shape == b.shape:
        return
    sa, sb = _shape(a), _shape(b)
    wide = _broadcast(sa, sb)
    msg = f"{name_a} {sa} vs {name_b} {sb}: shapes must match exactly"
    if wide is not None:
        msg += f", and these would broadcast to {wide}"
    if a.numel() == b.numel():
        if len(sa) == len(sb) and sorted(sa) == sorted(sb):
            msg += f"; the same elements in another order: did you transpose {name_b}?"
        else:
            squeeze = [i for i, s in enumerate(sa) if s == 1] or [
                i for i, s in enumerate(sb) if s == 1
            ]
            hint = f" (e.g. `.squeeze({squeeze[0]})`)" if squeeze else ""
            msg += f"; squeeze or unsqueeze one of them{hint}, or reshape {name_b} to {sa}"
    else:
        msg += f"; give {name_b} the shape of {name_a}"
    raise LossInputError(msg)


def check_broadcasts_to(name: str, x: Tensor | None, shape: torch.Size, what: str) -> None:
    """A weight-like tensor may broadcast *to* ``shape`` (the result keeps that shape), never
    widen it."""
    if x is None or not _shapes_on():
        return
    if not isinstance(x, Tensor):
        raise LossInputError(f"{name} must be a torch.Tensor or None, got {type(x).__name__}")
    ok = _broadcast(_shape(x), tuple(shape)) == tuple(shape)
    if not ok:
        raise LossInputError(
            f"{name} of shape {_shape(x)} does not broadcast to {what} {tuple(shape)}; "
            f"give it shape {tuple(shape)} or one that broadcasts to it "
            f"(e.g. ({shape[-1] if len(shape) else 1},) for one value per class in the last dim)"
        )


def _range(x: Tensor) -> tuple[float, float]:
    lo, hi = torch.aminmax(x.detach().float() if not x.is_floating_point() else x.detach())
    return float(lo), float(hi)


def check_real(name: str, x: Tensor) -> None:
    """Targets must not be complex (any real or bool dtype)."""
    if _shapes_on() and x.is_complex():
        raise LossInputError(f"{name} must be real, got dtype {x.dtype}")


def check_binary_targets(name: str, targets: Tensor, *, soft: bool) -> None:
    """Binary targets: ``{0, 1}``, or ``[0, 1]`` when ``soft``. Any real or bool dtype, read
    whole (:func:`reads`)."""
    check_real(name, targets)
    if targets.dtype == torch.bool or not reads(targets):
        return
    if targets.is_floating_point():
        # Soft: one read-only reduction, the range itself (NaN fails both comparisons). Hard:
        # one fused kernel and one reduction, t - t*t is exactly 0 for t in {0, 1}, positive
        # for fractions and negative outside [0, 1] (NaN for NaN). Only a failure pays for
        # the passes below, which say what is wrong.
        t = targets.detach()
        if soft:
            lo0, hi0 = torch.aminmax(t)
            if float(lo0) >= 0.0 and float(hi0) <= 1.0:
                return
        else:
            lo0, hi0 = torch.aminmax(torch.addcmul(t, t, t, value=-1))
            if float(lo0) == 0.0 and float(hi0) == 0.0:
                return
    lo, hi = _range(targets)
    if not (lo >= 0.0 and hi <= 1.0):  # also false for NaN
        if lo != lo or hi != hi:
            raise LossInputError(f"{name} holds NaN; binary targets must lie in [0, 1]")
        hint = (
            "; targets of -1/+1 (SVM style) map to 0/1 with (targets + 1) / 2"
            if lo == -1.0 and hi <= 1.0
            else "; a 0/255 mask? divide by 255"
            if hi == 255.0 and lo >= 0.0
            else ""
        )
        raise LossInputError(
            f"{name} must lie in [0, 1]{'' if soft else ' (0 or 1)'}, got values in [{lo:g}, {hi:g}]"
            + hint
        )
    if not soft and targets.is_floating_point():  # integers in [0, 1] are 0 or 1
        off = ((targets != 0) & (targets != 1)).any()
        if bool(off):
            raise LossInputError(
                f"{name} must be 0 or 1 for this loss, got fractional values; use a loss that "
                "documents soft targets (e.g. bce_with_logits) or round them"
            )


def check_probs(name: str, probs: Tensor) -> None:
    """Probabilities lie in ``[0, 1]``; logits passed by mistake are refused (read whole)."""
    if not reads(probs):
        return
    lo, hi = _range(probs)
    if not (lo >= 0.0 and hi <= 1.0):
        what = "NaN" if lo != lo or hi != hi else f"values in [{lo:g}, {hi:g}]"
        raise LossInputError(
            f"{name} must be probabilities in [0, 1], got {what}; "
            "if these are logits, use the *_with_logits form of this loss (it is also more "
            "stable), or apply torch.sigmoid first"
        )


def check_log_probs(name: str, log_probs: Tensor) -> None:
    """Log-probabilities are <= 0; logits given by mistake are refused (read whole)."""
    if reads(log_probs):
        log_probs_below_zero(name, log_probs)


def log_probs_below_zero(name: str, log_probs: Tensor) -> None:
    """The value test of :func:`check_log_probs`, for a caller that has decided to read. NaN
    passes here (:func:`finish` names it when the result is not finite)."""
    top = float(log_probs.detach().amax())  # amax, not max(): no index to compute
    if top > 1e-4:
        raise LossInputError(
            f"{name} must be log-probabilities (<= 0), got a maximum of {top:g}; for raw "
            "scores use the logits form (cross_entropy), or pass torch.log_softmax(logits, 1)"
        )


def check_labels(
    name: str,
    labels: Tensor,
    num_classes: int,
    *,
    ignore_index: int | None,
    read: bool = True,
) -> None:
    """Class labels: an integer tensor with values in ``[0, C)`` or equal to ``ignore_index``
    (the values are not read when ``read`` is false: a kernel checks them)."""
    if not _shapes_on():
        return
    if not _is_integer(labels):
        raise LossInputError(
            f"{name} must hold integer class indices (int64 or int32), got dtype {labels.dtype}; "
            f"for class probabilities use soft_cross_entropy, for integer-valued floats use "
            f"{name}.long()"
        )
    if not (read and reads(labels)):
        return
    # Fast path, one `aminmax` and no boolean index: when every label is a class, nothing more.
    # A negative ignore_index (PyTorch's -100) makes ignored labels fail it; they are then read
    # as class 0 by one `where` and the range taken again. Only a failure of that pays for the
    # exact range below, which names the values.
    lo0, hi0 = torch.aminmax(labels)
    if int(lo0) >= 0 and int(hi0) < num_classes:
        return
    if ignore_index is not None:
        lo0, hi0 = torch.aminmax(torch.where(labels == ignore_index, 0, labels))
        if int(lo0) >= 0 and int(hi0) < num_classes:
            return
    keep = labels if ignore_index is None else labels[labels != ignore_index]
    lo, hi = _range(keep)
    if lo < 0 or hi >= num_classes:
        ign = "" if ignore_index is None else f" or ignore_index={ignore_index}"
        raise LossInputError(
            f"{name} must lie in [0, {num_classes}) (the number of classes in dim 1){ign}, "
            f"got values in [{lo:g}, {hi:g}]"
            + ("; 1-based labels? subtract 1" if hi == num_classes and lo >= 1 else "")
            + ("; is 255 your void label? pass ignore_index=255" if hi == 255 else "")
        )


def class_dim(x: Tensor) -> int:
    """The class dimension: 1, or 0 for a single example (a 1-D tensor)."""
    return 0 if x.dim() == 1 else 1


def _refuse_one_class(name: str, num_classes: int, class_dim: int) -> None:
    if num_classes < 2:
        raise LossInputError(
            f"{name} has a single class (C = 1 in dim {class_dim}): a softmax over one class is "
            "always 1 and its loss always 0; for a binary problem use bce_with_logits"
        )


def check_class_logits(name: str, logits: Tensor, labels_name: str, labels: Tensor) -> int:
    """``logits`` of shape ``(N, C, *extra)`` (or ``(C,)``) against ``labels`` ``(N, *extra)``
    (or ``()``). Returns C."""
    check_floating(name, logits)
    if logits.dim() == 0:
        raise LossInputError(f"{name} must have a class dimension, got a scalar")
    cdim = class_dim(logits)
    num_classes = logits.shape[cdim]
    if not _shapes_on():
        return num_classes
    expected = _shape(logits)[:cdim] + _shape(logits)[cdim + 1 :]
    if _shape(labels) != expected:
        hint = ""
        if _shape(labels) == _shape(logits):
            hint = (
                f"; {labels_name} has the shape of {name}: if they are one-hot or class "
                f"probabilities, use soft_cross_entropy, or labels.argmax(1)"
            )
        elif labels.dim() == logits.dim() and labels.shape[cdim] == 1:
            hint = f"; did you forget `{labels_name}.squeeze({cdim})`?"
        raise LossInputError(
            f"{labels_name} must have shape {expected} (that of {name} {_shape(logits)} without "
            f"the class dimension {cdim}), got {_shape(labels)}{hint}"
        )
    _refuse_one_class(name, num_classes, cdim)
    return num_classes


def class_scores(name: str, x: Tensor) -> int:
    """Scores over a class dim without labels: floating, at least 1-D, C >= 2 in dim 1 (dim 0
    for a single example). Returns C."""
    check_floating(name, x)
    if x.dim() == 0:
        raise LossInputError(
            f"{name} must have a class dimension (dim 1, or dim 0 for one example), got a scalar"
        )
    cdim = class_dim(x)
    num_classes = x.shape[cdim]
    if _shapes_on():
        _refuse_one_class(name, num_classes, cdim)
    return num_classes


# ----------------------------------------------------------------------------- reductions
def reduce(loss: Tensor, reduction: str) -> Tensor:
    """Reduce an unreduced loss tensor: ``sum == loss.sum()``; ``mean`` over every element,
    and ``0.0`` (graph-connected) when there is none."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if loss.numel() == 0:
        return loss.sum()  # mean over nothing: 0.0, still connected to the graph
    return loss.mean()


def native_reduction(reduction: str, numel: int) -> str:
    """The reduction to ask of a torch kernel: ``"sum"`` for a mean over nothing (torch would
    give NaN; a sum over nothing is the graph-connected 0.0 of our policy)."""
    return "sum" if reduction == "mean" and numel == 0 else reduction


def masked_mean(total: Tensor, denominator: Tensor) -> Tensor:
    """``total / denominator`` with ``0 / 0 = 0`` and no device sync: when the denominator is zero
    (nothing counted) the total is a sum over nothing, so the result is a graph-connected zero."""
    safe = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    return total / safe


def ratio(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` with ``0 / 0 = 1`` (an overlap score: empty prediction and empty target
    overlap fully), a finite value and a zero gradient there: the denominator is made safe before
    dividing, so no NaN reaches the backward pass through the unselected branch of ``where``."""
    empty = den <= 0
    return torch.where(empty, 1.0, num / torch.where(empty, 1.0, den))


def all_finite(x: Tensor) -> bool:
    """Whether every value of ``x`` is finite. A one-element tensor is read with ``.item()``
    (cheaper than ``isfinite(x).all()`` on a scalar). A larger one is summed first: a NaN or an
    infinity makes the sum non-finite, so a finite sum proves every value finite in one
    reduction; only a non-finite sum, which may also be an overflow of finite values, pays for
    the exact test."""
    if x.numel() == 1:
        return math.isfinite(x.item())
    if not x.is_floating_point():
        return True
    if math.isfinite(x.detach().sum().item()):
        return True
    return bool(torch.isfinite(x.detach()).all())


def first_index(mask: Tensor) -> tuple[int, ...]:
    """The index of the first true entry of ``mask``, for an error message: a host read, called
    only after a check has found something to refuse."""
    return tuple(int(i) for i in mask.nonzero()[0].tolist())


def finish(
    result: Tensor, explain: Callable[[], None] | None = None, /, **inputs: Tensor | None
) -> Tensor:
    """Final check in ``"full"`` mode: a non-finite result caused by non-finite input is refused,
    naming the argument. Cost when the result is finite: one test on the (usually scalar) result.
    Skipped where data cannot be read (:func:`reads`).

    ``explain``, when given, runs first on a non-finite result: a loss whose finite inputs can
    still give an infinite value (a zero denominator) raises its own message there, so that check
    costs nothing while the result is finite."""
    if not reads(result) or all_finite(result):
        return result
    if explain is not None:
        explain()
    for name, x in inputs.items():
        if x is None or not x.is_floating_point():
            continue
        bad = ~torch.isfinite(x.detach())
        if bool(bad.any()):
            n_nan = int(torch.isnan(x.detach()).sum())
            n_inf = int(bad.sum()) - n_nan
            first = first_index(bad)
            raise LossInputError(
                f"{name} holds non-finite values ({n_nan} NaN, {n_inf} inf; the first at index "
                f"{first}) and the loss is not finite; a diverging model? lower the learning rate, "
                "clip gradients, or check the data; losskit.checks('off') returns the raw result"
            )
    return result


def ensure_float(x: Tensor) -> Tensor:
    """Half-precision inputs are computed in float32 (precision), others as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
