"""The audit: can a function serve as a loss? Measured, not assumed.

A metric such as accuracy is what people care about, but SGD cannot minimise it: a small change
of the weights almost never flips a decision, so its gradient is zero almost everywhere.
:func:`audit` makes that a question any function can be asked. On predictions and targets
sampled with a seed (in float64) it measures:

* the share of sampled points where the gradient is exactly zero (or absent: the output is not
  connected to the predictions), and where it is not finite;
* whether small steps toward the target lower the loss ("slightly better predictions give a
  slightly better loss");
* whether the minimum is at the target (for logits: whether the loss falls as the true class
  becomes more confident);
* whether it is a proper scoring rule (binary and multiclass: the expected loss under a Bernoulli
  or categorical target is lowest at the true probability);
* convexity along random lines, boundedness, how the gradient grows with the error (outliers,
  confident mistakes), and finiteness at extreme inputs (logits and residuals of 1e4).

The verdict follows fixed rules. A point "can still improve" when it is wrong (off the target,
on the wrong side of the threshold, argmax not the label) and its own loss is above the lowest
value seen: a hinge beyond its margin is right to have a zero gradient there. **Not usable**: no
gradient, or a zero gradient at 90% or more of the points that can still improve, or a
non-finite gradient at half of the points or more, or small steps toward the target lower the
loss in fewer than half of the trials, or the loss is no lower at (or toward) the target than
at the sampled predictions. **Usable with caveats**: a zero gradient at 5% or more of the points
that can still improve, any non-finite gradient at sampled points, a non-finite loss or
gradient at extreme inputs, steps toward the target that lower the loss in fewer than 90% of
trials, or a minimum away from the target. Anything else is **usable as a
loss**. Convexity, boundedness, properness and the gradient's growth are reported as notes:
they are trade-offs, not defects.

Example:
    >>> from losskit.audit import audit
    >>> audit("mse").verdict
    'usable as a loss'
    >>> report = audit("accuracy")
    >>> report.verdict, report.zero_grad_fraction
    ('not usable', 1.0)
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import Tensor

from losskit import metrics
from losskit._audit_checks import (
    Check,
    convexity,
    draw,
    far_side,
    gradient_stats,
    minimum,
    pct,
    proper,
    steps,
)
from losskit._audit_problems import Problem, candidates
from losskit._checks import LossInputError, checks
from losskit._spec import (
    Family,
    LossSpec,
    Space,
    UnknownLossError,
    get_spec,
    list_specs,
)
from losskit._threads import torch_threads

FAMILIES = tuple(str(f) for f in Family)
INPUT_SPACES = tuple(str(s) for s in Space)

__all__ = [
    "CAVEATS",
    "NOT_USABLE",
    "USABLE",
    "AuditReport",
    "Check",
    "audit",
    "audit_command",
    "plot_command",
    "problem_for",
    "resolve",
]

USABLE = "usable as a loss"
CAVEATS = "usable with caveats"
NOT_USABLE = "not usable"
TASKS = ("regression", "binary", "multiclass")


@dataclass(frozen=True)
class AuditReport:
    """What the audit found: the verdict, the reasons in plain words, and every check."""

    name: str
    task: str
    input_space: str
    sampled: str
    seed: int
    verdict: str
    reasons: tuple[str, ...]
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = ()

    def check(self, name: str) -> Check:
        """The check called ``name``."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def zero_grad_fraction(self) -> float:
        """Share of sampled points whose gradient is exactly zero or absent."""
        return float(self.check("zero gradient").value or 0.0)

    @property
    def nonfinite_grad_fraction(self) -> float:
        """Share of sampled points whose gradient holds inf or NaN."""
        return float(self.check("non-finite gradient").value or 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return asdict(self)

    def __str__(self) -> str:
        head = f"losskit audit: {self.name} ({self.task}, {self.input_space}; seed {self.seed})"
        lines = [head, f"sampled: {self.sampled}", "", f"verdict: {self.verdict.upper()}"]
        lines += [f"  - {r}" for r in self.reasons]
        lines += ["", "checks:"]
        width = max(len(c.name) for c in self.checks)
        for c in self.checks:
            lines.append(f"  {c.name:<{width}}  {c.status:<6}  {c.detail}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- what is audited
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
    return 1 - metrics.accuracy(outputs, targets, logits=logits)


def _error_rate(outputs: Tensor, targets: Tensor) -> Tensor:
    return metrics.error_rate(outputs, targets, logits=outputs.shape == targets.shape)


# name -> (function, tasks it applies to, note)
_METRICS: dict[str, tuple[Callable[..., Tensor], tuple[str, ...], str]] = {
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
        metrics.accuracy_as_loss,
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
    if isinstance(fn, str) and fn in _METRICS:
        func, tasks, note = _METRICS[fn]
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
                f"{err}; the metrics {', '.join(_METRICS)} and module:function work too"
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
    metric = next((m for m, (f, _, _) in _METRICS.items() if f is func), None)
    if metric is not None:
        return resolve(metric, task=task, input_space=input_space)
    if task is None:
        task, space, note = _infer(func)
        notes: tuple[str, ...] = (note,)
    else:
        space, notes = {"regression": "values", "binary": "logits"}.get(task, "logits"), ()
    return Subject(name, func, task, input_space or space, notes=notes)


# ----------------------------------------------------------------------------- the audit
def _build(subject: Subject, options: dict[str, Any], seed: int) -> Problem:
    errors = []
    for make in candidates(
        subject.fn, subject.task, subject.input_space, spec=subject.spec, options=options
    ):
        try:
            problem = make()
            if problem is None:
                continue
            problem.none_ok = subject.spec is not None and "none" in subject.spec.reductions
            latent, others = draw(problem, torch.Generator().manual_seed(seed), 8)
            value = problem.call(problem.to_input(latent), others)
            if bool(torch.isfinite(value.detach()).all()):
                return problem
            errors.append(f"{problem.describe}: the loss is not finite")
        except Exception as err:  # a candidate the function refuses: try the next one
            errors.append(f"{type(err).__name__}: {err}")
    raise LossInputError(
        f"the audit could not call {subject.name} on sampled {subject.task} inputs"
        + (f" ({'; '.join(errors[-3:])})" if errors else "; give its task with task=...")
    )


# The audit's tensors are tiny, so it runs on one intra-op thread (see torch_threads).
single_thread = functools.partial(torch_threads, 1)


def _guard(name: str, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except Exception as err:  # one check that cannot run does not stop the audit
        return Check(name, "n/a", f"could not be measured: {type(err).__name__}: {err}")


def problem_for(
    fn: str | Callable[..., Any] | LossSpec,
    *,
    task: str | None = None,
    input_space: str | None = None,
    options: dict[str, Any] | None = None,
    seed: int = 0,
) -> tuple[Subject, Problem]:
    """What ``fn`` names and the sampled problem the audit (and its pictures) use for it."""
    subject = resolve(fn, task=task, input_space=input_space)
    with checks("full"), single_thread():
        return subject, _build(subject, options or {}, seed)


def audit(
    fn: str | Callable[..., Any] | LossSpec,
    *,
    task: str | None = None,
    input_space: str | None = None,
    options: dict[str, Any] | None = None,
    seed: int = 0,
    label: str | None = None,
) -> AuditReport:
    """Audit ``fn`` as a loss and return an :class:`AuditReport` with a verdict.

    Args:
        fn: a registered loss name or alias, ``"accuracy"``, ``"error_rate"``,
            ``"accuracy_as_loss"``, ``"module:function"``, a :class:`LossSpec`, or any callable
            ``fn(predictions, targets) -> tensor or number``.
        task: ``"regression"``, ``"binary"`` or ``"multiclass"`` (or a spec family) for a
            callable; a registered loss uses its family, and a callable without one is read
            from its argument names (``logits``, ``probs``, ``log_probs``, ``labels``).
        input_space: ``"values"``, ``"logits"``, ``"probs"`` or ``"log_probs"`` (default: from
            the spec, or logits for classification and values for regression).
        options: keyword options passed to every call of ``fn`` (e.g. ``{"gamma": 2.0}``).
        seed: the seed of every sample.
        label: the name shown in the report (default: the loss's or function's name).

    Returns:
        The report; ``str(report)`` is the text ``losskit audit`` prints.

    Raises:
        LossInputError: an unknown name, a function that cannot be imported, or one the audit
            cannot call on any sampled input of its task.
    """
    subject = resolve(fn, task=task, input_space=input_space)
    with checks("full"), torch.enable_grad(), single_thread():
        problem = _build(subject, options or {}, seed)
        gen = torch.Generator().manual_seed(seed)
        found, facts = gradient_stats(problem, gen)
        found.append(_guard("better predictions, lower loss", lambda: steps(problem, gen)))
        found.append(_guard("minimum at the target", lambda: minimum(problem, gen)))
        found.append(_guard("proper scoring rule", lambda: proper(problem, gen)))
        found.append(_guard("convex along lines", lambda: convexity(problem, gen)))
        try:
            far, _ = far_side(problem, gen)
        except Exception as err:
            far = [Check("extreme inputs", "n/a", f"could not be measured: {err}")]
        found += far
    verdict, reasons = _verdict(found, facts)
    return AuditReport(
        name=label or subject.name,
        task=problem.task,
        input_space=problem.input_space,
        sampled=problem.describe,
        seed=seed,
        verdict=verdict,
        reasons=tuple(reasons),
        checks=tuple(found),
        notes=subject.notes,
    )


def _verdict(found: Sequence[Check], facts: dict[str, Any]) -> tuple[str, list[str]]:
    fails = [c for c in found if c.status == "fail"]
    caveats = [c for c in found if c.status == "caveat"]
    if fails:
        reasons = [f"{c.name}: {c.detail}" for c in fails]
        if any(c.name == "zero gradient" for c in fails):
            reasons.append(
                "SGD cannot step: a small change of the weights does not change this "
                "value, so nothing tells the weights which way to move"
            )
        return NOT_USABLE, reasons
    if caveats:
        return CAVEATS, [f"{c.name}: {c.detail}" for c in caveats]
    reasons = [
        "its gradient is non-zero and finite wherever a prediction can still improve "
        f"({pct(1 - facts['stuck'])} of them), so SGD can always step"
    ]
    reasons += [
        f"{c.name}: {c.detail}"
        for c in found
        if c.status == "ok"
        and c.name in ("better predictions, lower loss", "minimum at the target")
    ]
    return USABLE, reasons


# ----------------------------------------------------------------------------- commands
def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name).strip("_") or "loss"


def audit_command(
    name_or_path: str,
    out_dir: str | Path = "losskit-out",
    *,
    task: str | None = None,
    input_space: str | None = None,
    seed: int = 0,
    plots: bool = True,
    stream: TextIO | None = None,
) -> int:
    """``losskit audit NAME_OR_PATH``: print the report and write
    ``<out_dir>/audit_<name>.png``. Returns 0 once the report is printed, whatever the verdict.

    Raises:
        LossInputError: an unknown name, a ``module:function`` that cannot be imported, or a
            function the audit cannot call (the CLI prints it as one line and exits with 1).
    """
    stream = stream or sys.stdout
    report = audit(name_or_path, task=task, input_space=input_space, seed=seed)
    print(report, file=stream)
    if plots:
        from losskit._audit_plots import plot_audit

        path = Path(out_dir) / f"audit_{_safe(report.name)}.png"
        plot_audit(name_or_path, path, report=report, task=task, input_space=input_space, seed=seed)
        print(f"\nwrote {path}", file=stream)
    return 0


def plot_command(
    names: Sequence[str], out: str | Path = "losses.png", *, stream: TextIO | None = None
) -> int:
    """``losskit plot NAME [NAME ...]``: the curves of several losses on one figure, written to
    ``out``; returns 0. Raises :class:`LossInputError` for a name it cannot resolve."""
    from losskit._audit_plots import plot_losses

    path = plot_losses(names, out)
    print(f"wrote {path}", file=stream or sys.stdout)
    return 0
