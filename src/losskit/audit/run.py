"""Running the audit: the sampled problem of a subject, every measurement on it, and the
verdict (:func:`audit`); :func:`problem_for` gives the pictures the same problem."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from losskit._checks import LossInputError, checks
from losskit._spec import LossSpec
from losskit._threads import torch_threads
from losskit.audit.measures import (
    Check,
    convexity,
    draw,
    far_side,
    gradient_stats,
    minimum,
    proper,
    steps,
)
from losskit.audit.problems import Problem, candidates
from losskit.audit.report import AuditReport, verdict
from losskit.audit.subjects import Subject, resolve

__all__ = ["audit", "problem_for", "single_thread"]

# The audit's tensors are tiny, so it runs on one intra-op thread (see torch_threads).
single_thread = functools.partial(torch_threads, 1)


def _build(subject: Subject, options: dict[str, Any], seed: int) -> Problem:
    errors = []
    for make in candidates(
        subject.fn,
        subject.task,
        subject.input_space,
        spec=subject.spec,
        options=options,
        seed=seed,
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

    A registered loss is sampled on its task's problem, or, where its family has none, from
    its example factory (``spec.example``); its docstring example is never run.

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
    result, reasons = verdict(found, facts)
    return AuditReport(
        name=label or subject.name,
        task=problem.task,
        input_space=problem.input_space,
        sampled=problem.describe,
        seed=seed,
        verdict=result,
        reasons=tuple(reasons),
        checks=tuple(found),
        notes=subject.notes,
    )
