"""Input validation and reductions shared by every loss: one place, not copied. Validators of
particular kinds of input (embeddings, -1/+1 labels, class weights, ...) are built on these in
:mod:`losskit._validate`.

Three check modes (see :func:`checks`):

``"full"`` (default)
    shapes, dtypes and options, plus the *values* of constrained tensors: class labels in
    ``[0, C)`` or ``ignore_index`` (read whole), and on the :func:`spot` sample (all of a tensor
    up to 4096 elements, else 16 evenly spaced blocks of about 256 from the first element to the
    last): binary targets in ``{0, 1}`` or ``[0, 1]``, probabilities in ``[0, 1]``,
    log-probabilities ``<= 0``, distributions summing to 1, -1/+1 labels, lower bounds. A tensor
    larger than the sample is read on the first 31 calls with its signature (argument, shape,
    dtype, device) and on every 31st after (:func:`read_values`). Inputs that are non-finite, or
    that make the result so (mape's zero targets), are diagnosed *after* the loss is computed,
    on every call, only when the result is not finite, so a finite result costs one scalar
    test. Cost, measured by ``python -m bench --sections checks``: a few dispatches per checked
    tensor, whatever its size, on a call that reads.
``"debug"``
    everything in ``"full"``, reading every value of every tensor on every call, plus
    heuristics that cost a pass over the predictions and could in principle misfire: logits
    that all lie in [0, 1] (16 or more of them) are refused as probabilities given to a logits
    loss. This cannot be decided cheaply or surely by default, so it lives here.
``"shapes"``
    shapes, dtypes and options only: never reads tensor data, never forces a device sync.
``"off"``
    nothing; for a hot loop that has already been checked.

Policy for a mean over nothing (an empty batch, every target ignored, every weight zero): the
result is ``0.0``, connected to the graph (its gradient is zero, so DDP still sees every
parameter). It is never a silent NaN. PyTorch returns NaN there; losskit differs on purpose.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "CheckMode",
    "LossInputError",
    "Reduction",
    "all_finite",
    "check_binary_targets",
    "check_broadcasts_to",
    "check_choice",
    "check_class_logits",
    "check_floating",
    "check_labels",
    "check_log_probs",
    "check_option",
    "check_probs",
    "check_real",
    "check_reduction",
    "check_same_shape",
    "check_tensor",
    "checks",
    "class_scores",
    "ensure_float",
    "finish",
    "get_check_mode",
    "grid",
    "log_probs_below_zero",
    "masked_mean",
    "native_reduction",
    "ratio",
    "read_values",
    "reduce",
    "spot",
]

CheckMode = Literal["debug", "full", "shapes", "off"]
Reduction = Literal["mean", "sum", "none"]
_MODES: tuple[str, ...] = ("debug", "full", "shapes", "off")
_REDUCTIONS: tuple[str, ...] = ("mean", "sum", "none")


class LossInputError(ValueError):
    """A loss was called with input it cannot use. The message names the argument, what was
    expected, what came, and the likely fix."""


# ----------------------------------------------------------------------------- the check mode
class _State(threading.local):
    mode: str = "full"

    def __init__(self) -> None:
        # calls per (argument, shape, dtype, device) of value checks of tensors larger than the
        # spot sample, in "full" mode, on this thread: see read_values
        self.reads: dict[tuple[object, ...], int] = {}


_state = _State()


class _CheckContext(contextlib.AbstractContextManager["_CheckContext"]):
    """Returned by :func:`checks`; restores the previous mode when used as a context manager."""

    def __init__(self, previous: str) -> None:
        self.previous = previous

    def __exit__(self, *exc: object) -> None:
        _state.mode = self.previous


def checks(mode: CheckMode) -> _CheckContext:
    """Set how much input validation losses do: ``"debug"``, ``"full"`` (the default),
    ``"shapes"`` or ``"off"``.

    ``"full"`` reads the values of a tensor larger than 4096 elements on a sample, and on the
    first 31 calls with its shape and dtype then every 31st (a training loop pays for about
    one call in 31); ``"debug"`` reads every value on every call. See the module docstring of
    :mod:`losskit._checks`.

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


def _full_on() -> bool:
    # The value checks of the loss modules (most now in _validate): "debug" runs everything
    # "full" runs.
    return _values_on()


# ----------------------------------------------------------------------------- option checks
def check_choice(name: str, value: object, choices: Sequence[object], *, hint: str = "") -> None:
    """Raise unless an option is one of its documented values (always checked: it is free)."""
    if value not in choices:
        raise LossInputError(f"{name} must be one of {tuple(choices)}, got {value!r}{hint}")


def check_reduction(reduction: str, *, allowed: Sequence[str] = _REDUCTIONS) -> None:
    """Raise unless ``reduction`` is one of ``allowed`` (always checked: it costs nothing)."""
    legacy = reduction not in _REDUCTIONS
    hint = "; 'elementwise_mean', 'batchmean', size_average and reduce are not used here"
    check_choice("reduction", reduction, allowed, hint=hint if legacy else "")


def check_option(
    name: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise unless a scalar hyper-parameter lies in its documented interval."""
    bad = (
        (low is not None and (value <= low if low_open else value < low))
        or (high is not None and (value >= high if high_open else value > high))
        or value != value  # NaN
    )
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        interval = f"{lo}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{hi}"
        raise LossInputError(f"{name} must lie in {interval}, got {value!r}")


# ----------------------------------------------------------------------------- tensor checks
def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def check_tensor(name: str, x: object, *, hint: str = "") -> None:
    """Raise unless ``x`` is a tensor (in every mode: it reads no data)."""
    if not isinstance(x, Tensor):
        raise LossInputError(f"{name} must be a torch.Tensor, got {type(x).__name__}{hint}")


def _is_integer(x: Tensor) -> bool:
    return not (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool)


def check_floating(name: str, x: Tensor) -> None:
    """Predictions must be a floating tensor (so they can carry a gradient)."""
    check_tensor(name, x)
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
    try:
        wide: tuple[int, ...] | None = tuple(torch.broadcast_shapes(a.shape, b.shape))  # type: ignore[no-untyped-call]
    except RuntimeError:
        wide = None
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
    try:
        ok = torch.broadcast_shapes(x.shape, shape) == shape  # type: ignore[no-untyped-call]
    except RuntimeError:
        ok = False
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
    """Binary targets: ``{0, 1}``, or ``[0, 1]`` when ``soft``. Any real or bool dtype. Floating
    targets are read on the :func:`spot` sample in ``"full"`` mode (reading them whole cost
    10-15 % of a cheap loss), integer ones whole, on the calls :func:`read_values` picks."""
    check_real(name, targets)
    if targets.dtype == torch.bool or not read_values(name, targets):
        return
    if targets.is_floating_point():
        # Fast path, one fused kernel and one reduction: t - t*t is exactly 0 for t in {0, 1},
        # positive for fractions and negative outside [0, 1] (NaN for NaN). Only a failure pays
        # for the passes below, which read the whole tensor and say what is wrong.
        t = spot(targets)
        lo0, hi0 = torch.aminmax(torch.addcmul(t, t, t, value=-1))
        if (float(lo0) == 0.0 and float(hi0) == 0.0) or (soft and float(lo0) >= 0.0):
            return
    lo, hi = _range(targets)
    if not (lo >= 0.0 and hi <= 1.0):  # also false for NaN
        hint = (
            "; targets of -1/+1 (SVM style) map to 0/1 with (targets + 1) / 2"
            if lo == -1.0 and hi <= 1.0
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


_SPOT_BLOCKS, _SPOT_BLOCK = 16, 256  # a spot check reads 4096 values of a larger tensor
# Values of a tensor larger than the spot sample are read on the first _EVERY calls of its
# signature, then on every _EVERY-th. A prime, so that k < _EVERY losses called in turn on
# tensors of one signature (their counts interleave) each still get every _EVERY-th read.
_EVERY = 31
_MAX_SIGNATURES = 4096


def read_values(name: str, x: Tensor) -> bool:
    """Whether this call's value check of ``x`` reads its values.

    ``"debug"``: always. ``"shapes"``, ``"off"``, or an empty ``x``: never. ``"full"``: always
    for a tensor of up to 4096 elements; a larger one is read on the first 31 calls with its
    signature (argument name, shape, dtype, device) and on every 31st call after that, counted
    per thread in ``"full"`` mode over the life of the process.

    Why: a value check is a few PyTorch dispatches and a host sync, 20-60 us in a training loop
    whatever the tensor size, 10-25 % of a forward+backward of a cheap loss at 1e5 elements on
    one CPU thread. The errors it is for (an activation missing or doubled, 0/255 masks,
    -1/+1 labels in a 0/1 loss, a softmax over the wrong dim) are systematic: they show on the
    first call, and on any later one. A new shape or dtype (the last partial batch, the
    validation loop) is read again from its first call. Integer class labels are not thinned
    (:func:`check_labels`), nor is the after-the-fact test of a non-finite result
    (:func:`finish`). Under ``torch.compile`` every call reads (no count: it would recompile)."""
    mode = _state.mode
    if mode == "debug":
        return x.numel() > 0
    if mode != "full":
        return False
    n = x.numel()
    if n <= _SPOT_BLOCKS * _SPOT_BLOCK or torch.compiler.is_compiling():
        # torch.compile: a count that changes every call would be a guard that recompiles
        # every call; a compiled loss reads on every call, as before the schedule
        return n > 0
    reads = _state.reads
    key = (name, x.shape, x.dtype, x.device)
    count = reads.get(key, 0)
    if count == 0 and len(reads) >= _MAX_SIGNATURES:  # shapes that never repeat
        reads.clear()
    reads[key] = count + 1
    return count < _EVERY or count % _EVERY == 0


def spot(x: Tensor) -> Tensor:
    """The values a ``"full"``-mode check of a floating tensor reads: all of ``x`` up to 4096
    elements (and in ``"debug"`` mode), else a detached view of 16 evenly spaced blocks of about
    256 consecutive elements, the first starting at element 0 and the last ending at the last
    element (a non-contiguous ``x``: an evenly strided sub-grid of about 4096 elements).

    Why a sample: the input errors a value check exists for (logits where probabilities belong,
    0/255 masks, -1/+1 labels in a 0/1 loss, a softmax over the wrong dim) come from a missing
    or wrong transform and show on nearly every value. Reading every value costs a pass over the
    tensor plus its dispatch, 10-25 % of a forward+backward of a cheap loss at 1e5 elements and
    more per call as tensors grow; the sample costs the same few microseconds at any size.
    ``"debug"`` reads everything. Integer labels are always read whole (one value per item, and
    an out-of-range label is a device assert on CUDA)."""
    n = x.numel()
    x = x.detach()
    if n <= _SPOT_BLOCKS * _SPOT_BLOCK or _debug_on():
        return x
    if x.is_contiguous():
        # blocks `stride` apart, lengthened by the remainder (< 16) so the last ends at n
        stride, extra = divmod(n - _SPOT_BLOCK, _SPOT_BLOCKS - 1)
        size = (_SPOT_BLOCKS, _SPOT_BLOCK + extra)
        return x.as_strided(size, (stride, 1), x.storage_offset())
    return grid(x, max(2, round((_SPOT_BLOCKS * _SPOT_BLOCK) ** (1 / x.dim()))))


def grid(x: Tensor, per_dim: int, *, keep: int | None = None) -> Tensor:
    """A view of ``x`` with at most about ``per_dim`` evenly spaced entries of each dim, the
    first and the last included, and every entry of dim ``keep``: a sample, no copy."""
    index = tuple(
        slice(
            None, None, 1 if d == keep or size <= per_dim else max(1, (size - 1) // (per_dim - 1))
        )
        for d, size in enumerate(x.shape)
    )
    return x[index]


def check_probs(name: str, probs: Tensor) -> None:
    """Probabilities lie in ``[0, 1]``; logits passed by mistake are refused (read on the
    :func:`spot` sample in ``"full"`` mode, whole in ``"debug"``)."""
    if not read_values(name, probs):
        return
    lo, hi = _range(spot(probs))
    if not (lo >= 0.0 and hi <= 1.0):
        lo, hi = _range(probs)
        raise LossInputError(
            f"{name} must be probabilities in [0, 1], got values in [{lo:g}, {hi:g}]; "
            "if these are logits, use the *_with_logits form of this loss (it is also more "
            "stable), or apply torch.sigmoid first"
        )


def check_log_probs(name: str, log_probs: Tensor) -> None:
    """Log-probabilities are <= 0; logits given by mistake are refused (read on the
    :func:`spot` sample in ``"full"`` mode, whole in ``"debug"``)."""
    if read_values(name, log_probs):
        log_probs_below_zero(name, log_probs)


def log_probs_below_zero(name: str, log_probs: Tensor) -> None:
    """The value test of :func:`check_log_probs`, for a caller that has decided to read."""
    top = float(spot(log_probs).amax())  # amax: a quarter faster than max() on CPU
    if not top <= 1e-4:
        top = float(log_probs.detach().amax())
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
    if not (read and _values_on()) or labels.numel() == 0:
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


def _class_dim(x: Tensor) -> int:
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
    class_dim = _class_dim(logits)
    num_classes = logits.shape[class_dim]
    if not _shapes_on():
        return num_classes
    expected = _shape(logits)[:class_dim] + _shape(logits)[class_dim + 1 :]
    if _shape(labels) != expected:
        hint = ""
        if _shape(labels) == _shape(logits):
            hint = (
                f"; {labels_name} has the shape of {name}: if they are one-hot or class "
                f"probabilities, use soft_cross_entropy, or labels.argmax(1)"
            )
        elif labels.dim() == logits.dim() and labels.shape[class_dim] == 1:
            hint = f"; did you forget `{labels_name}.squeeze({class_dim})`?"
        raise LossInputError(
            f"{labels_name} must have shape {expected} (that of {name} {_shape(logits)} without "
            f"the class dimension {class_dim}), got {_shape(labels)}{hint}"
        )
    _refuse_one_class(name, num_classes, class_dim)
    return num_classes


def class_scores(name: str, x: Tensor) -> int:
    """Scores over a class dim without labels: floating, at least 1-D, C >= 2 in dim 1 (dim 0
    for a single example). Returns C."""
    check_floating(name, x)
    if x.dim() == 0:
        raise LossInputError(
            f"{name} must have a class dimension (dim 1, or dim 0 for one example), got a scalar"
        )
    class_dim = _class_dim(x)
    num_classes = x.shape[class_dim]
    if _shapes_on():
        _refuse_one_class(name, num_classes, class_dim)
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
    (about 1 us, against about 25 us for ``isfinite(x).all()`` on a scalar). A larger one is
    summed first: a NaN or an infinity makes the sum non-finite, so a finite sum proves every
    value finite in one reduction (10 us at 1e5 elements on one CPU thread, against 300 us for
    ``isfinite(x).all()``); only a non-finite sum, which may also be an overflow of finite
    values, pays for the exact test."""
    if x.numel() == 1:
        return math.isfinite(x.item())
    if not x.is_floating_point():
        return True
    if math.isfinite(x.detach().sum().item()):
        return True
    return bool(torch.isfinite(x.detach()).all())


def finish(
    result: Tensor, explain: Callable[[], None] | None = None, /, **inputs: Tensor | None
) -> Tensor:
    """Final check in ``"full"`` mode: a non-finite result caused by non-finite input is refused,
    naming the argument. Cost when the result is finite: one test on the (usually scalar) result.

    ``explain``, when given, runs first on a non-finite result: a loss whose finite inputs can
    still give an infinite value (a zero denominator) raises its own message there, so that check
    costs nothing while the result is finite."""
    if not _values_on() or result.numel() == 0 or all_finite(result):
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
            first = tuple(int(i) for i in bad.nonzero()[0].tolist())
            raise LossInputError(
                f"{name} holds non-finite values ({n_nan} NaN, {n_inf} inf; the first at index "
                f"{first}) and the loss is not finite; a diverging model? lower the learning rate, "
                "clip gradients, or check the data; losskit.checks('off') returns the raw result"
            )
    return result


def ensure_float(x: Tensor) -> Tensor:
    """Half-precision inputs are computed in float32 (precision), others as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
