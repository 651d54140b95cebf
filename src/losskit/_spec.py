"""Loss metadata as data: the ``@register(...)`` decorator above each loss, and the registry.

The decorator holds only what code reads, as enums and small frozen values: the family, the
input space, the kind of targets, the activation and decode (fastai's sense), the mean's
denominator, the properties, the factory of example inputs. Everything a person reads (the
summary, the formula, when to use it, the references) is the loss's docstring, parsed here:

* the summary is its first line;
* the formula is its first paragraph after the summary;
* "When to use:" and "References:" are sections of it.

The registry is read by ``losskit list``, ``losskit explain``, the Modules' ``activation`` and
``decodes``, the audit, the benchmark and the generic test suites: a loss that registers is
covered by all of them.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import Tensor

from losskit._checks import LossInputError

if TYPE_CHECKING:  # the factories live beside the losses, which import this module
    from losskit.losses._examples import ExampleFactory

__all__ = [
    "Activation",
    "Decode",
    "Family",
    "LossSpec",
    "MeanOver",
    "Prop",
    "Space",
    "Targets",
    "UnknownLossError",
    "get_spec",
    "list_specs",
    "register",
]


class Choice(str, Enum):
    """An enum whose members are their strings (``Family.BINARY == "binary"``), with a
    description for people."""

    def __str__(self) -> str:
        return str(self.value)

    @property
    def description(self) -> str:
        return _DESCRIPTIONS.get(self, str(self.value))


class Family(Choice):
    """The kind of task; ``losskit list`` groups by it, in this order."""

    REGRESSION = "regression"
    BINARY = "binary"
    MULTICLASS = "multiclass"
    MULTILABEL = "multilabel"
    OVERLAP = "overlap"
    DIVERGENCE = "divergence"
    EMBEDDING = "embedding"
    RANKING = "ranking"
    SEQUENCE = "sequence"
    BOXES = "boxes"
    LARGE_VOCAB = "large_vocab"
    PREFERENCE = "preference"
    POLICY = "policy_gradient"
    MOE = "moe"


class Space(Choice):
    """What the predictions are; the loss's first argument is named for it."""

    VALUES = "values"
    LOGITS = "logits"
    PROBS = "probs"
    LOG_PROBS = "log_probs"
    EMBEDDINGS = "embeddings"
    SCORES = "scores"
    BOXES = "boxes"
    HIDDEN = "hidden"


class Targets(Choice):
    """What the targets are (the docstring's "Target:" gives their shape and details)."""

    REAL = "real"
    NONNEGATIVE = "nonnegative"
    BINARY = "binary"
    SOFT_BINARY = "soft_binary"
    SIGNS = "signs"
    CLASS_LABELS = "class_labels"
    CLASS_PROBS = "class_probs"
    TEACHER_LOGITS = "teacher_logits"
    TEACHER_TOPK = "teacher_topk"
    MULTI_HOT = "multi_hot"
    MASKS = "masks"
    BINARY_MASKS = "binary_masks"
    GROUPS = "groups"
    PAIRED = "paired"
    EMBEDDINGS = "embeddings"
    RELEVANCE = "relevance"
    SEQUENCES = "sequences"
    BOXES = "boxes"
    REFERENCE_LOG_PROBS = "reference_log_probs"
    ADVANTAGES = "advantages"
    NONE = "none"


class Activation(Choice):
    """How model outputs become probabilities (or values)."""

    IDENTITY = "identity"
    SIGMOID = "sigmoid"
    SOFTMAX = "softmax"
    EXP = "exp"


class Decode(Choice):
    """How activated outputs become predictions (fastai's ``decodes``)."""

    IDENTITY = "identity"
    THRESHOLD = "threshold"
    ARGMAX = "argmax"


class MeanOver(Choice):
    """The denominator of ``reduction="mean"`` (the docstring gives the loss's own detail)."""

    ELEMENT = "element"
    ITEM = "item"
    WEIGHTED_ITEM = "weighted_item"
    ROW = "row"
    IMAGE = "image"
    PAIR = "pair"
    ANCHOR = "anchor"
    LIST = "list"
    TARGET_LENGTH = "target_length"
    ROOT = "root"
    SEQUENCE = "sequence"
    TOKEN = "token"


class Prop(Choice):
    """A mathematical property of the loss in its predictions."""

    CONVEX = "convex"
    SMOOTH = "smooth"
    NONNEGATIVE = "nonnegative"
    ZERO_AT_TARGET = "zero_at_target"
    PROPER = "proper_scoring_rule"
    ROBUST = "robust"
    BOUNDED = "bounded"
    CALIBRATED = "classification_calibrated"


_DESCRIPTIONS: dict[Choice, str] = {
    Targets.REAL: "real values, the shape of the predictions",
    Targets.NONNEGATIVE: "values >= 0 (counts, rates, amounts), the shape of the predictions",
    Targets.BINARY: "0 or 1 (bool, integer or float), the shape of the predictions",
    Targets.SOFT_BINARY: "0/1 or soft in [0, 1], the shape of the predictions",
    Targets.SIGNS: "-1 or +1 labels",
    Targets.CLASS_LABELS: "integer class labels in [0, C) or ignore_index",
    Targets.CLASS_PROBS: "class probabilities over dim 1 (soft or one-hot)",
    Targets.TEACHER_LOGITS: "a teacher's logits, the shape of the student's",
    Targets.TEACHER_TOPK: "a teacher's top-k logits and their token ids, (*, K) each",
    Targets.MULTI_HOT: "multi-hot {0, 1} (or soft [0, 1]) over the labels in dim 1",
    Targets.MASKS: "masks of the shape of the logits (0/1 or soft) or integer labels (N, *spatial)",
    Targets.BINARY_MASKS: "binary {0, 1} masks of the shape of the logits",
    Targets.GROUPS: "integer group ids, one per row; equal ids make positive pairs",
    Targets.PAIRED: "none: row i of the second tensor is the positive of row i of the first",
    Targets.EMBEDDINGS: "positive and negative embeddings, the shape of the anchors",
    Targets.RELEVANCE: "relevance >= 0 per item of each list",
    Targets.SEQUENCES: "integer label sequences with input and target lengths",
    Targets.BOXES: "(x1, y1, x2, y2) boxes with x2 >= x1 and y2 >= y1",
    Targets.REFERENCE_LOG_PROBS: "a frozen reference model's log-probabilities of the same sequences",
    Targets.ADVANTAGES: "advantages, with the sampling policy's log-probabilities and a token mask",
    Targets.NONE: "none",
    MeanOver.ELEMENT: "every element",
    MeanOver.ITEM: "non-ignored items: sum_n l_n / #{n : y_n != ignore_index}",
    MeanOver.WEIGHTED_ITEM: "non-ignored items, weighted: sum_n w_{y_n} l_n / sum_n w_{y_n}",
    MeanOver.ROW: "items (N, *extra): each summed over the class dim 1, averaged over the rest",
    MeanOver.IMAGE: "images (dim 0) with at least one non-ignored pixel",
    MeanOver.PAIR: "every pair i < j of the batch",
    MeanOver.ANCHOR: "anchors with at least one positive (0.0 when there is none)",
    MeanOver.LIST: "lists with at least one valid item",
    MeanOver.TARGET_LENGTH: "examples, each divided by its target length (at least 1)",
    MeanOver.ROOT: "every element, then the square root",
    MeanOver.SEQUENCE: "sequences or preference pairs (dim 0)",
    MeanOver.TOKEN: "unmasked tokens, as the loss's normalisation option says",
    Prop.CONVEX: "convex in its predictions (a single minimum, easy for SGD)",
    Prop.SMOOTH: "differentiable everywhere, with a continuous gradient",
    Prop.NONNEGATIVE: "never below zero",
    Prop.ZERO_AT_TARGET: "exactly zero when the prediction equals the target",
    Prop.PROPER: "expected loss is minimised by the true probability",
    Prop.ROBUST: "gradient bounded in the residual: outliers pull no harder than a typical point",
    Prop.BOUNDED: "the loss itself is bounded above",
    Prop.CALIBRATED: "minimising it gives the Bayes classifier",
}


def _softmax(x: Tensor) -> Tensor:
    return torch.softmax(x, dim=1 if x.dim() > 1 else 0)


def _argmax(x: Tensor) -> Tensor:
    return x.argmax(dim=1 if x.dim() > 1 else 0)


def _identity(x: Tensor) -> Tensor:
    return x


def _threshold(x: Tensor) -> Tensor:
    return x > 0.5


_ACTIVATE: dict[Activation, Callable[[Tensor], Tensor]] = {
    Activation.IDENTITY: _identity,
    Activation.SIGMOID: torch.sigmoid,
    Activation.SOFTMAX: _softmax,
    Activation.EXP: torch.exp,
}
_DECODE: dict[Decode, Callable[[Tensor], Tensor]] = {
    Decode.IDENTITY: _identity,
    Decode.THRESHOLD: _threshold,
    Decode.ARGMAX: _argmax,
}


def activate(activation: Activation, outputs: Tensor) -> Tensor:
    """Apply ``activation`` to model outputs (softmax over dim 1, dim 0 for 1-D)."""
    return _ACTIVATE[activation](outputs)


def decode(how: Decode, activated: Tensor) -> Tensor:
    """Turn activated outputs into predictions (threshold at 0.5, argmax over dim 1, ...)."""
    return _DECODE[how](activated)


# ----------------------------------------------------------------------------- the docstring
def doc_section(doc: str, title: str) -> str:
    """The indented body of the Google-style section ``title:`` of a dedented ``doc``, or
    ``""``: the lines after the header up to the first line that is not indented."""
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == f"{title}:")
    except StopIteration:
        return ""
    body: list[str] = []
    for line in lines[start + 1 :]:
        if line.strip() and not line[0].isspace():
            break
        body.append(line)
    return inspect.cleandoc("\n".join(body)).strip()


def _paragraphs(doc: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", doc) if p.strip()]


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class LossSpec:
    """Everything losskit knows about one loss: the decorator's data, and the docstring."""

    name: str
    function: Callable[..., Tensor]
    family: Family
    input_space: Space
    targets: Targets
    activation: Activation = Activation.IDENTITY
    decode: Decode = Decode.IDENTITY
    mean_over: MeanOver = MeanOver.ELEMENT
    properties: frozenset[Prop] = frozenset()
    metrics: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    reductions: tuple[str, ...] = ("mean", "sum", "none")
    example: ExampleFactory | None = None

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.function) or ""

    @property
    def summary(self) -> str:
        """The docstring's first line."""
        return self.doc.split("\n", 1)[0].strip()

    @property
    def formula(self) -> str:
        """The docstring's first paragraph after the summary (where the formula is written)."""
        paragraphs = _paragraphs(self.doc)
        return _one_line(paragraphs[1]) if len(paragraphs) > 1 else ""

    @property
    def when_to_use(self) -> str:
        return _one_line(doc_section(self.doc, "When to use"))

    @property
    def references(self) -> tuple[str, ...]:
        """The docstring's "References:" section, one entry per ``;``-separated work."""
        text = _one_line(doc_section(self.doc, "References"))
        return tuple(r.strip().rstrip(".") for r in re.split(r";\s+", text) if r.strip())

    @property
    def shapes(self) -> str:
        """The docstring's paragraph that starts with "Input:" (shapes and target details)."""
        found = next((p for p in _paragraphs(self.doc) if p.startswith("Input")), "")
        return _one_line(found)

    def activate(self, outputs: Tensor) -> Tensor:
        """Model outputs to probabilities (or values): sigmoid, softmax over dim 1, ..."""
        return activate(self.activation, outputs)

    def decodes(self, activated: Tensor) -> Tensor:
        """Activated outputs to predictions: threshold at 0.5, argmax over dim 1, ..."""
        return decode(self.decode, activated)


class UnknownLossError(LossInputError, KeyError):
    """No loss is registered under that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


_REGISTRY: dict[str, LossSpec] = {}
_ALIASES: dict[str, str] = {}

F = TypeVar("F", bound=Callable[..., Tensor])


def register(
    *,
    family: Family,
    inputs: Space,
    targets: Targets,
    activation: Activation = Activation.IDENTITY,
    decode: Decode = Decode.IDENTITY,
    mean_over: MeanOver = MeanOver.ELEMENT,
    properties: frozenset[Prop] | set[Prop] = frozenset(),
    metrics: tuple[str, ...] = (),
    aliases: tuple[str, ...] = (),
    reductions: tuple[str, ...] = ("mean", "sum", "none"),
    example: ExampleFactory | None = None,
    name: str | None = None,
) -> Callable[[F], F]:
    """Register the decorated function as a loss (its name is the function's ``__name__``).

    The function's docstring must open with a one-line summary followed by the formula
    paragraph; names and aliases must be new."""

    def decorate(function: F) -> F:
        spec = LossSpec(
            name=name or function.__name__,
            function=function,
            family=Family(family),
            input_space=Space(inputs),
            targets=Targets(targets),
            activation=Activation(activation),
            decode=Decode(decode),
            mean_over=MeanOver(mean_over),
            properties=frozenset(Prop(p) for p in properties),
            metrics=tuple(metrics),
            aliases=tuple(aliases),
            reductions=tuple(reductions),
            example=example,
        )
        if not spec.summary or not spec.formula:
            raise ValueError(f"{spec.name}: the docstring needs a summary line and a formula")
        for key in (spec.name, *spec.aliases):
            if key in _REGISTRY or key in _ALIASES:
                raise ValueError(f"loss name {key!r} is registered twice")
        _REGISTRY[spec.name] = spec
        for alias in spec.aliases:
            _ALIASES[alias] = spec.name
        function.spec = spec  # type: ignore[attr-defined]
        return function

    return decorate


def spec_of(function: Callable[..., Any]) -> LossSpec:
    """The spec of a registered loss function."""
    spec = getattr(function, "spec", None)
    if not isinstance(spec, LossSpec):
        raise LossInputError(
            f"{getattr(function, '__name__', function)!r} is not a registered loss"
        )
    return spec


def get_spec(name: str) -> LossSpec:
    """The spec registered under ``name`` or one of its aliases."""
    key = _ALIASES.get(name, name)
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(name, [*_REGISTRY, *_ALIASES], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `losskit list` shows them all"
    raise UnknownLossError(f"no loss named {name!r}{hint}")


def list_specs(family: str | None = None) -> list[LossSpec]:
    """Every registered spec (in family order, then by name), or those of one family."""
    if family is not None and family not in set(Family):
        raise LossInputError(
            f"family must be one of {tuple(str(f) for f in Family)}, got {family!r}"
        )
    specs = [s for s in _REGISTRY.values() if family is None or s.family == family]
    order = list(Family)
    return sorted(specs, key=lambda s: (order.index(s.family), s.name))
