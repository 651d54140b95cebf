"""What the audit is asked about: a registered loss (or alias), a metric turned into a loss
(``accuracy``, ``error_rate``, ``accuracy_as_loss``), a user's ``module:function`` or
``file.py:function``, or any callable, with the task and input space it is audited on."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from losskit._checks import LossInputError
from losskit._spec import Family, LossSpec, Space, UnknownLossError, get_spec, list_specs
from losskit.metrics import accuracy, accuracy_as_loss, error_rate

__all__ = ["FAMILIES", "INPUT_SPACES", "METRICS", "TASKS", "Subject", "resolve"]

FAMILIES = tuple(str(f) for f in Family)
INPUT_SPACES = tuple(str(s) for s in Space)
TASKS = ("regression", "binary", "multiclass")


@dataclass(frozen=True)
class Subject:
    """A function to audit, with the task and input space it is audited on."""

    name: str
    fn: Callable[..., Any]
    task: str
    input_space: str
    spec: LossSpec | None = None
    notes: tuple[str, ...] = ()
    is_metric: bool = False


def _one_minus_accuracy(outputs: Tensor, targets: Tensor) -> Tensor:
    logits = outputs.shape == targets.shape
    return 1 - accuracy(outputs, targets, logits=logits)


def _error_rate(outputs: Tensor, targets: Tensor) -> Tensor:
    return error_rate(outputs, targets, logits=outputs.shape == targets.shape)


# name -> (function, tasks it applies to, note)
METRICS: dict[str, tuple[Callable[..., Tensor], tuple[str, ...], str]] = {
    "accuracy": (
        _one_minus_accuracy,
        ("binary", "multiclass"),
        "accuracy is a score to maximise; it is audited as 1 - accuracy (binary: on logits, "
        "threshold 0; multiclass: argmax)",
    ),
    "error_rate": (
        _error_rate,
        ("binary", "multiclass"),
        "error rate on logits (binary: threshold 0; multiclass: argmax)",
    ),
    "accuracy_as_loss": (
        accuracy_as_loss,
        ("binary",),
        "binary accuracy written through round(sigmoid(x)) so that backward runs",
    ),
}


def _load(path: str) -> Callable[..., Any]:
    """``module:function`` or ``path/to/file.py:function``."""
    where, _, attr = path.rpartition(":")
    if not where or not attr:
        raise LossInputError(f"{path!r}: give a function as module:function or file.py:function")
    try:
        if where.endswith(".py"):
            file = Path(where)
            spec = importlib.util.spec_from_file_location(file.stem, file)
            if spec is None or spec.loader is None or not file.is_file():
                raise LossInputError(f"no Python file {where!r}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            added = "" not in sys.path and str(Path.cwd()) not in sys.path
            if added:  # a console script does not see the current folder
                sys.path.insert(0, str(Path.cwd()))
            try:
                module = importlib.import_module(where)
            finally:
                if added:
                    sys.path.remove(str(Path.cwd()))
    except LossInputError:
        raise
    except Exception as err:  # whatever importing the user's module raised
        raise LossInputError(f"cannot import {where!r}: {type(err).__name__}: {err}") from err
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise LossInputError(f"{where!r} has no function {attr!r}")
    return fn  # type: ignore[no-any-return]


def _infer(fn: Callable[..., Any]) -> tuple[str, str, str]:
    """Task and input space from the argument names (losskit's convention), with a note."""
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        names = []
    first, second = [*names, "", ""][:2]
    table = {
        ("logits", "labels"): ("multiclass", "logits"),
        ("log_probs", "labels"): ("multiclass", "log_probs"),
        ("probs", "labels"): ("multiclass", "probs"),
        ("logits", ""): ("binary", "logits"),
        ("probs", ""): ("binary", "probs"),
        ("log_probs", ""): ("multiclass", "log_probs"),
    }
    found = table.get((first, second)) or table.get((first, ""))
    if found:
        return (*found, f"task {found[0]} inferred from the argument names ({first}, {second})")
    return "regression", "values", "audited as regression on values (choose with task=...)"


def resolve(
    fn: str | Callable[..., Any] | LossSpec,
    *,
    task: str | None = None,
    input_space: str | None = None,
) -> Subject:
    """What ``fn`` names: a registered loss (or alias), a metric (``accuracy``, ``error_rate``,
    ``accuracy_as_loss``), ``module:function``, a spec, or any callable."""
    if task is not None and task not in (*TASKS, *FAMILIES):
        raise LossInputError(f"task must be one of {TASKS} (or a family: {FAMILIES}), got {task!r}")
    if input_space is not None and input_space not in INPUT_SPACES:
        raise LossInputError(f"input_space must be one of {INPUT_SPACES}, got {input_space!r}")
    if isinstance(fn, str) and fn in METRICS:
        func, tasks, note = METRICS[fn]
        if input_space not in (None, "logits"):
            raise LossInputError(f"{fn} is audited on logits, not {input_space!r}")
        chosen = task or tasks[0]
        if chosen not in tasks:
            raise LossInputError(f"{fn} is audited for tasks {tasks}, not {chosen!r}")
        return Subject(fn, func, chosen, "logits", notes=(note,), is_metric=True)
    if isinstance(fn, str) and ":" in fn:
        name, fn = fn, _load(fn)
    elif isinstance(fn, str):
        try:
            fn = get_spec(fn)
        except UnknownLossError as err:
            raise UnknownLossError(
                f"{err}; the metrics {', '.join(METRICS)} and module:function work too"
            ) from None
    else:
        name = getattr(fn, "__name__", type(fn).__name__)
    if not isinstance(fn, LossSpec):
        fn = next((s for s in list_specs() if s.function is fn), fn)
    if isinstance(fn, LossSpec):
        if task not in (None, fn.family):
            raise LossInputError(f"{fn.name} is a {fn.family} loss; task {task!r} does not apply")
        return Subject(fn.name, fn.function, fn.family, input_space or fn.input_space, spec=fn)
    func = fn
    metric = next((m for m, (f, _, _) in METRICS.items() if f is func), None)
    if metric is not None:
        return resolve(metric, task=task, input_space=input_space)
    if task is None:
        task, space, note = _infer(func)
        notes: tuple[str, ...] = (note,)
    else:
        space, notes = {"regression": "values", "binary": "logits"}.get(task, "logits"), ()
    return Subject(name, func, task, input_space or space, notes=notes)
