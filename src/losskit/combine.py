"""A weighted sum of named loss terms, with detached per-term values for logging and a failing
term named in the error.

``combine({"ce": ce, "aux": aux}, {"aux": 0.1})`` returns a :class:`Combined`: the total (a
scalar with gradients) and ``logs``, the unweighted value of every term, detached, ready for
Lightning's ``self.log_dict`` or, as floats (:meth:`Combined.floats`), a Hugging Face
``Trainer.log``. :class:`Combine` is the Module form: it stores the terms (losskit Modules,
losskit functions or any callables) and their weights, and calls each term on the inputs of
``forward``.

A weight is a number ``>= 0`` or a schedule, a callable ``step -> number`` such as
:func:`linear_warmup`, :func:`cosine_ramp` or :func:`piecewise`, read at the ``step`` given with
the call.

Errors name the term. A term that combine calls (a callable in :func:`combine`, every term of
:class:`Combine`) and that refuses its input with a :class:`~losskit.LossInputError` (a losskit
loss checking its arguments, or naming a non-finite input) is re-raised as :class:`TermError`,
its message prefixed with the term's name; any other exception from a term gets a note naming
the term. When the total is not finite, :class:`TermError` names every non-finite term and its
weight. That test reads the total (one host read of a scalar) only where
:func:`losskit._checks.reads` allows: in the ``"full"`` and ``"debug"`` check modes, never under
``torch.compile``, ``torch.func`` transforms or meta tensors, so a combined loss compiles with
``fullgraph=True`` and runs under ``vmap``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor

from losskit._checks import LossInputError, all_finite, check_int, check_option, reads

__all__ = [
    "Combine",
    "Combined",
    "CosineRamp",
    "LinearWarmup",
    "Piecewise",
    "TermError",
    "combine",
    "cosine_ramp",
    "evaluate_terms",
    "explain_non_finite",
    "linear_warmup",
    "piecewise",
]

Schedule = Callable[[int], float]
Weight = float | int | Tensor | Schedule
Term = Tensor | Callable[[], Tensor]


class TermError(LossInputError):
    """A term of a combined loss failed: its own checks refused its input (the message is the
    term's, prefixed with its name), or the total is not finite. ``terms`` names the terms at
    fault (empty when every term is finite and their weighted sum overflows)."""

    def __init__(self, message: str, terms: tuple[str, ...]) -> None:
        super().__init__(message)
        self.terms = terms

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes (DataLoader workers)
        return (type(self), (self.args[0], self.terms))


class Combined(NamedTuple):
    """What :func:`combine` returns: ``total, logs = combine(...)``.

    ``total`` is the weighted sum, a scalar with gradients; ``logs`` maps each term's name to
    its unweighted value, a detached 0-d tensor (no host sync: on GPU it costs nothing until a
    logger reads it)."""

    total: Tensor
    logs: dict[str, Tensor]

    def floats(self, prefix: str = "") -> dict[str, float]:
        """``logs`` as Python floats (one host read each), with the total under ``"total"``:
        the plain dict a Hugging Face ``Trainer.log`` or a JSON log line wants."""
        out = {prefix + name: float(value) for name, value in self.logs.items()}
        out[prefix + "total"] = float(self.total.detach())
        return out


# ----------------------------------------------------------------------------- schedules
# Frozen dataclasses, not closures: a Combine holding one pickles, compares and prints.
def _progress(step: int, steps: int, delay: int) -> float:
    """The fraction of the ramp done at ``step``: 0 until ``delay``, 1 from ``delay + steps``
    (a ramp of 0 steps jumps from 0 to 1 at ``delay``)."""
    if steps == 0:
        return 1.0 if step >= delay else 0.0
    return min(max(step - delay, 0), steps) / steps


@dataclass(frozen=True)
class LinearWarmup:
    """``start`` until step ``delay``, linearly to ``final`` at ``delay + steps``, then
    ``final``; made by :func:`linear_warmup`."""

    final: float
    steps: int
    start: float = 0.0
    delay: int = 0

    def __call__(self, step: int) -> float:
        return self.start + (self.final - self.start) * _progress(step, self.steps, self.delay)


@dataclass(frozen=True)
class CosineRamp:
    """``start`` until step ``delay``, along half a cosine to ``final`` at ``delay + steps``,
    then ``final``; made by :func:`cosine_ramp`."""

    final: float
    steps: int
    start: float = 0.0
    delay: int = 0

    def __call__(self, step: int) -> float:
        done = _progress(step, self.steps, self.delay)
        return self.start + (self.final - self.start) * (1.0 - math.cos(math.pi * done)) / 2.0


@dataclass(frozen=True)
class Piecewise:
    """A constant weight per stretch of steps; made by :func:`piecewise`."""

    boundaries: tuple[int, ...]
    values: tuple[float, ...]

    def __call__(self, step: int) -> float:
        return self.values[bisect.bisect_right(self.boundaries, step) - 1]


def _ramp_options(name: str, final: object, steps: object, start: object, delay: object) -> Any:
    return (
        check_option(f"{name}: final", final, low=0.0),
        check_int(f"{name}: steps", steps, low=0),
        check_option(f"{name}: start", start, low=0.0),
        check_int(f"{name}: delay", delay, low=0),
    )


def linear_warmup(final: float, steps: int, *, start: float = 0.0, delay: int = 0) -> LinearWarmup:
    """A schedule for a term's weight: ``start`` until step ``delay``, then linearly up (or
    down) to ``final`` at step ``delay + steps``, then ``final``.

    ``w(t) = start + (final - start) * clip((t - delay) / steps, 0, 1)``; with ``steps=0`` the
    weight jumps from ``start`` to ``final`` at ``delay``.

    Example:
        >>> from losskit.combine import linear_warmup
        >>> w = linear_warmup(1.0, steps=10)
        >>> w(0), w(5), w(10), w(99)
        (0.0, 0.5, 1.0, 1.0)
    """
    return LinearWarmup(*_ramp_options("linear_warmup", final, steps, start, delay))


def cosine_ramp(final: float, steps: int, *, start: float = 0.0, delay: int = 0) -> CosineRamp:
    """A schedule for a term's weight: ``start`` until step ``delay``, then along half a cosine
    to ``final`` at step ``delay + steps``, then ``final`` (flat at both ends, so the weight
    starts and stops changing gently).

    ``w(t) = start + (final - start) * (1 - cos(pi * p)) / 2`` with
    ``p = clip((t - delay) / steps, 0, 1)``.

    Example:
        >>> from losskit.combine import cosine_ramp
        >>> w = cosine_ramp(1.0, steps=10)
        >>> w(0), round(w(5), 12), w(10)
        (0.0, 0.5, 1.0)
    """
    return CosineRamp(*_ramp_options("cosine_ramp", final, steps, start, delay))


def piecewise(values: Mapping[int, float]) -> Piecewise:
    """A schedule for a term's weight: ``values`` maps the first step of each stretch to the
    weight from there on, e.g. ``{0: 0.0, 1000: 0.1, 5000: 1.0}`` (a term switched on after
    1000 steps, raised at 5000). Step 0 must be a key.

    Example:
        >>> from losskit.combine import piecewise
        >>> w = piecewise({0: 0.0, 10: 0.5, 20: 1.0})
        >>> w(0), w(9), w(10), w(25)
        (0.0, 0.0, 0.5, 1.0)
    """
    if not isinstance(values, Mapping) or 0 not in values:
        raise LossInputError(
            "piecewise: values must be a dict from first step to weight with step 0 among its "
            f"keys, e.g. {{0: 0.0, 1000: 1.0}}, got {values!r}"
        )
    items = sorted((check_int("piecewise: step", k, low=0), v) for k, v in values.items())
    weights = tuple(check_option(f"piecewise: weight at step {k}", v, low=0.0) for k, v in items)
    return Piecewise(tuple(k for k, _ in items), weights)


# ----------------------------------------------------------------------------- checks
def _is_callable(w: object) -> bool:
    return callable(w) and not isinstance(w, Tensor)


def _weight_value(name: str, w: object, step: int | None) -> float:
    """The weight of ``name`` at ``step`` as a float >= 0, or an error naming the term."""
    where = f"weight of term {name!r}"
    if _is_callable(w):
        if step is None:
            raise LossInputError(
                f"the {where} is a schedule ({w!r}); pass step= (the optimiser step, the same "
                "for every micro-batch of a step) to combine or to Combine's forward"
            )
        where += f" at step {step}"
        w = w(step)  # type: ignore[operator]
    if isinstance(w, Tensor) and w.requires_grad:
        raise LossInputError(
            f"the {where} is a tensor that requires grad; combine reads a weight as a number, "
            "which would cut its gradient. For learned weights use losskit.multitask or "
            "multiply the term yourself"
        )
    try:
        return check_option(where, w, low=0.0)
    except LossInputError as e:
        if _negative(w):
            raise LossInputError(
                f"{e}; to maximise term {name!r}, negate it where it is defined "
                "(lambda: -term), so that the sign is visible there"
            ) from None
        raise


def _negative(w: object) -> bool:
    """Whether a refused weight is a negative number (for the hint); NaN compares false."""
    try:
        return not isinstance(w, (bool, str)) and float(w) < 0  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError):
        return False


def _check_weights(
    names: tuple[str, ...], weights: Mapping[str, Weight] | None
) -> dict[str, float | Schedule]:
    """Every term's weight (1 where not named): a constant as a checked float, a schedule as it
    is (checked at each step, where it has a value)."""
    if weights is None:
        weights = {}
    if not isinstance(weights, Mapping):
        raise LossInputError(
            f"weights must be a dict from term name to weight, got {type(weights).__name__}; "
            'e.g. weights={"aux": 0.1} (a term not named there has weight 1)'
        )
    unknown = [k for k in weights if k not in names]
    if unknown:
        raise LossInputError(
            f"weights name {unknown}, which are not terms; the terms are {list(names)}"
        )
    out: dict[str, float | Schedule] = {}
    for name in names:
        w = weights.get(name, 1.0)
        out[name] = w if _is_callable(w) else _weight_value(name, w, None)  # type: ignore[assignment]
    return out


def _check_step(step: object) -> int | None:
    if step is None:
        return None
    return check_int("step", step, low=0)


def _check_names(terms: object) -> tuple[str, ...]:
    if not isinstance(terms, Mapping) or not terms:
        raise LossInputError(
            "terms must be a non-empty dict from name to term (a tensor, or a callable "
            f"returning one), got {terms!r}"
        )
    for name in terms:
        if not isinstance(name, str) or not name:
            raise LossInputError(f"term names must be non-empty strings, got {name!r}")
    return tuple(terms)


def _as_term(name: str, value: object) -> Tensor:
    """A term's value must be a floating scalar tensor (free checks: no data read)."""
    if not isinstance(value, Tensor):
        raise LossInputError(
            f"term {name!r} must be a tensor or a callable returning one, got "
            f"{type(value).__name__}"
        )
    if not value.is_floating_point():
        raise LossInputError(f"term {name!r} must be a floating tensor, got {value.dtype}")
    if value.dim() != 0:
        raise LossInputError(
            f"term {name!r} must be a scalar (0-d) tensor, got shape {tuple(value.shape)}; "
            "reduce it first (reduction='mean' or 'sum')"
        )
    return value


def _call(name: str, term: Any, *args: Any, **kwargs: Any) -> Tensor:
    """Call a term; an error it raises names the term."""
    try:
        value = term(*args, **kwargs)
    except TermError:
        raise  # a nested Combine has named its own term
    except LossInputError as e:
        raise TermError(f"term {name!r}: {e}", (name,)) from e
    except Exception as e:
        add_note = getattr(e, "add_note", None)  # Python 3.11 and later
        if add_note is not None:
            add_note(f"raised by term {name!r} of the combined loss")
        raise
    return _as_term(name, value)


def evaluate_terms(terms: Mapping[str, Term]) -> dict[str, Tensor]:
    """Every term's value, in order: a tensor as it is, a callable called (an error it raises
    names the term, as in :func:`combine`); each must be a floating scalar tensor. The building
    block of :func:`combine` and of the weightings of :mod:`losskit.multitask`."""
    _check_names(terms)
    return {
        name: _call(name, t) if _is_callable(t) else _as_term(name, t) for name, t in terms.items()
    }


def _shown(w: float | Tensor) -> str:
    return str(float(w.detach()) if isinstance(w, Tensor) else w)


def explain_non_finite(
    total: Tensor, values: Mapping[str, Tensor], weights: Mapping[str, float | Tensor]
) -> None:
    """Raise :class:`TermError` for a non-finite ``total`` of weighted ``values``, naming the
    non-finite terms and their weights. Reads the total where :func:`reads` allows (one scalar),
    and the terms only once the total is not finite; does nothing elsewhere."""
    if not reads(total) or all_finite(total):
        return
    read = {name: float(v.detach()) for name, v in values.items()}  # the error path only
    bad = tuple(name for name, v in read.items() if not math.isfinite(v))
    if bad:
        listed = ", ".join(f"{n!r} = {read[n]} (weight {_shown(weights[n])})" for n in bad)
        raise TermError(
            f"the combined loss is not finite: term(s) {listed}; a losskit loss names a non-finite "
            "input itself (unless checks are 'shapes' or 'off'), so look at what the term "
            "computes from finite inputs (a log of zero? a division by zero?); a diverging "
            "model? lower the learning rate or clip gradients",
            bad,
        )
    raise TermError(
        f"the combined loss overflows {total.dtype}: every term is finite "
        f"({', '.join(f'{n!r} = {v}' for n, v in read.items())}) but their weighted sum "
        "is not; lower the weights, or compute the terms in a wider dtype (float32 or float64)",
        (),
    )


# ----------------------------------------------------------------------------- combine
def _weighted_sum(
    values: dict[str, Tensor], weights: Mapping[str, float | Schedule], step: int | None
) -> Combined:
    used = {name: _weight_value(name, weights[name], step) for name in values}
    total: Tensor | None = None
    for name, v in values.items():
        # a weight of 0 still multiplies: the term's parameters get a (zero) gradient, which DDP
        # needs, and a NaN term still makes the total NaN (0 * NaN = NaN)
        part = v * used[name]
        total = part if total is None else total + part
    assert total is not None  # _check_names refused no terms
    explain_non_finite(total, values, used)
    return Combined(total, {name: v.detach() for name, v in values.items()})


def combine(
    terms: Mapping[str, Term],
    weights: Mapping[str, Weight] | None = None,
    *,
    step: int | None = None,
) -> Combined:
    """A weighted sum of named loss terms, with each term's value for logging.

    ``total = sum_k w_k(step) * term_k``; ``logs[k] = term_k`` detached (unweighted).

    Input: ``terms``, name -> a floating scalar tensor, or a callable with no arguments returning
    one. Every term is computed, weight zero included.

    When to use:
        A model trained on several losses at once (a main loss and auxiliary terms, a
        reconstruction and a KL, several heads), when you want each term logged and a NaN traced
        to its term. For weights learned from the data see :mod:`losskit.multitask`.

    Under gradient accumulation or DDP give each term its global denominator (``normalizer=``
    of :func:`losskit.cross_entropy`, or a ``reduction="sum"`` divided by the step's global
    count) and the same ``step`` to every micro-batch of an optimiser step: the weighted sum is
    linear, so the sum over micro-batches is then the whole batch's combined loss.

    Args:
        terms: name -> a scalar tensor (a loss already computed) or a callable with no
            arguments returning one (``lambda: losskit.mse(preds, targets)``); a callable's
            errors name its term.
        weights: name -> a number ``>= 0`` or a schedule ``step -> number``
            (:func:`linear_warmup`, :func:`cosine_ramp`, :func:`piecewise`); a term not named
            has weight 1. A negative weight is refused: negate the term itself to maximise it.
            A tensor weight is read once as a number (not under ``torch.compile``).
        step: the optimiser step, read by schedules; required when any weight is a schedule.

    Returns:
        :class:`Combined` ``(total, logs)``: the total, a scalar with gradients, in the terms'
        promoted dtype; ``logs``, each term's unweighted value, detached.

    Raises:
        LossInputError: no terms, a term that is not a floating scalar tensor, an unknown name in
            ``weights``, a weight that is not a number ``>= 0`` (NaN, inf, negative, a string),
            a schedule without ``step``.
        TermError: a callable term refused its input (its message, prefixed with the term's
            name), or the total is not finite (in the ``"full"`` and ``"debug"`` modes, where data
            can be read): it names the non-finite terms and their weights.

    Example:
        >>> import torch, losskit
        >>> from losskit.combine import combine
        >>> preds, targets = torch.tensor([0.5, 2.0]), torch.tensor([0.0, 2.0])
        >>> total, logs = combine(
        ...     {"mse": losskit.mse(preds, targets), "mae": lambda: losskit.mae(preds, targets)},
        ...     {"mae": 0.5},
        ... )
        >>> total, logs
        (tensor(0.2500), {'mse': tensor(0.1250), 'mae': tensor(0.2500)})
    """
    checked = _check_weights(_check_names(terms), weights)
    step = _check_step(step)
    return _weighted_sum(evaluate_terms(terms), checked, step)


# ----------------------------------------------------------------------------- the Module
class _Callable(torch.nn.Module):
    """Holds a plain callable term (a losskit function) in the Module tree, so that every term
    lives in one ``ModuleDict``; pickles when the callable does (a module-level function)."""

    def __init__(self, function: Callable[..., Tensor]) -> None:
        super().__init__()
        self.function = function

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        return self.function(*args, **kwargs)

    def extra_repr(self) -> str:
        return str(getattr(self.function, "__qualname__", repr(self.function)))


class Combine(torch.nn.Module):
    """Module form of :func:`combine`: stores named terms and their weights.

    ``forward(*args, step=None, inputs=None, **kwargs)`` calls every term on ``(*args,
    **kwargs)``, or, for a term named in ``inputs``, on its own inputs there only (a tuple of
    positional arguments or a dict of keyword arguments; a losskit Module takes its inputs
    positionally), and returns :class:`Combined` ``(total, logs)``. A per-call option of one term (``normalizer=`` of
    :func:`losskit.cross_entropy` under gradient accumulation) goes in that term's ``inputs``.

    Terms that are Modules (``losskit.nn.CrossEntropyLoss(weight=w)``) are submodules: their
    buffers follow ``.to()`` and are in ``state_dict``. Constant weights and schedules are
    plain attributes (configuration, not state); the Module pickles when its terms do.

    Under ``torch.compile`` a schedule's value at each new ``step`` is a new constant (a
    recompile): compile with constant weights, or call the schedule outside and pass numbers.

    Args:
        terms: name -> a losskit Module, a losskit function or any callable returning a
            floating scalar tensor.
        weights: as for :func:`combine`.

    Raises:
        LossInputError: as :func:`combine`, and a term that is not callable.
        TermError: as :func:`combine`.

    Example:
        >>> import torch, losskit
        >>> from losskit.combine import Combine, linear_warmup
        >>> loss = Combine({"mse": losskit.mse, "mae": losskit.mae}, {"mae": linear_warmup(1, 4)})
        >>> preds, targets = torch.tensor([0.5, 2.0]), torch.tensor([0.0, 2.0])
        >>> loss(preds, targets, step=2).total  # 0.125 + 0.5 * 0.25
        tensor(0.2500)
    """

    def __init__(
        self,
        terms: Mapping[str, Callable[..., Tensor]],
        weights: Mapping[str, Weight] | None = None,
    ) -> None:
        super().__init__()
        names = _check_names(terms)
        for name, t in terms.items():
            if not _is_callable(t):
                raise LossInputError(
                    f"Combine: term {name!r} must be a callable (a losskit Module or function), "
                    f"got {type(t).__name__}; for a computed tensor use losskit.combine"
                )
        self.weights: dict[str, float | Schedule] = _check_weights(names, weights)
        self.terms = torch.nn.ModuleDict(
            {n: t if isinstance(t, torch.nn.Module) else _Callable(t) for n, t in terms.items()}
        )

    def weights_at(self, step: int | None = None) -> dict[str, float]:
        """Every term's weight at ``step`` (for logging a schedule)."""
        step = _check_step(step)
        return {name: _weight_value(name, w, step) for name, w in self.weights.items()}

    def forward(
        self,
        *args: Any,
        step: int | None = None,
        inputs: Mapping[str, tuple[Any, ...] | Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> Combined:
        step = _check_step(step)
        own = inputs or {}
        unknown = [k for k in own if k not in self.terms]
        if unknown:
            raise LossInputError(
                f"inputs name {unknown}, which are not terms; the terms are {list(self.terms)}"
            )
        values = {}
        for name, term in self.terms.items():
            given = own.get(name)
            if given is None:
                values[name] = _call(name, term, *args, **kwargs)
            elif isinstance(given, Mapping):
                values[name] = _call(name, term, **given)
            else:
                values[name] = _call(name, term, *given)
        return _weighted_sum(values, self.weights, step)

    def extra_repr(self) -> str:
        return f"weights={self.weights}"
