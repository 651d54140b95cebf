"""Loss metadata as data: a frozen :class:`LossSpec` per loss, kept in one registry.

The registry is the single source for ``losskit list``, ``losskit explain``, the Modules'
``activation``/``decodes``, the audit and the generic test suites: a loss that registers is
covered by all of them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from losskit._checks import LossInputError

__all__ = [
    "ACTIVATIONS",
    "DECODES",
    "FAMILIES",
    "INPUT_SPACES",
    "PROPERTIES",
    "LossSpec",
    "UnknownLossError",
    "get_spec",
    "list_specs",
    "register",
]

FAMILIES = (
    "regression",
    "binary",
    "multiclass",
    "multilabel",
    "overlap",
    "divergence",
    "embedding",
    "ranking",
    "sequence",
    "boxes",
    "large_vocab",
)

# What the predictions are. The argument name of the loss says the same.
INPUT_SPACES = (
    "values",  # real-valued predictions of the targets themselves
    "logits",  # unnormalised scores; the loss applies sigmoid or softmax itself
    "probs",  # probabilities in [0, 1]
    "log_probs",  # log-probabilities, e.g. log_softmax output
    "embeddings",  # vectors compared with each other
    "scores",  # ranking scores
    "boxes",  # (x1, y1, x2, y2) boxes
    "hidden",  # hidden states multiplied by a classifier weight inside the loss
)

PROPERTIES = {
    "convex": "convex in its predictions (a single minimum, easy for SGD)",
    "smooth": "differentiable everywhere, with a continuous gradient",
    "nonnegative": "never below zero",
    "zero_at_target": "exactly zero when the prediction equals the target",
    "proper_scoring_rule": "expected loss is minimised by the true probability",
    "robust": "gradient bounded in the residual: outliers pull no harder than a typical point",
    "bounded": "the loss itself is bounded above",
    "classification_calibrated": "minimising it gives the Bayes classifier",
}


def _softmax(x: Tensor) -> Tensor:
    return torch.softmax(x, dim=1 if x.dim() > 1 else 0)


def _argmax(x: Tensor) -> Tensor:
    return x.argmax(dim=1 if x.dim() > 1 else 0)


# How model outputs become probabilities (or values) ...
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda x: x,
    "sigmoid": torch.sigmoid,
    "softmax": _softmax,
    "exp": torch.exp,
}
# ... and how activated outputs become predictions (fastai's `decodes`).
DECODES: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda x: x,
    "threshold": lambda x: x > 0.5,
    "argmax": _argmax,
}


@dataclass(frozen=True)
class LossSpec:
    """Everything losskit knows about one loss, as plain data."""

    name: str
    function: Callable[..., Tensor]
    family: str
    input_space: str
    target_space: str
    summary: str
    formula: str
    when_to_use: str
    activation: str = "identity"
    decode: str = "identity"
    metrics: tuple[str, ...] = ()
    properties: frozenset[str] = field(default_factory=frozenset)
    aliases: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    reductions: tuple[str, ...] = ("mean", "sum", "none")
    mean_over: str = "every element"

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: unknown family {self.family!r}")
        if self.input_space not in INPUT_SPACES:
            raise ValueError(f"{self.name}: unknown input space {self.input_space!r}")
        if self.activation not in ACTIVATIONS or self.decode not in DECODES:
            raise ValueError(f"{self.name}: unknown activation or decode")
        unknown = set(self.properties) - set(PROPERTIES)
        if unknown:
            raise ValueError(f"{self.name}: unknown properties {sorted(unknown)}")

    def activate(self, outputs: Tensor) -> Tensor:
        """Model outputs to probabilities (or values): sigmoid, softmax over dim 1, ..."""
        return ACTIVATIONS[self.activation](outputs)

    def decodes(self, activated: Tensor) -> Tensor:
        """Activated outputs to predictions: threshold at 0.5, argmax over dim 1, ..."""
        return DECODES[self.decode](activated)


class UnknownLossError(LossInputError, KeyError):
    """No loss is registered under that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


_REGISTRY: dict[str, LossSpec] = {}
_ALIASES: dict[str, str] = {}


def register(spec: LossSpec) -> LossSpec:
    """Add ``spec`` to the registry; names and aliases must be new."""
    for key in (spec.name, *spec.aliases):
        if key in _REGISTRY or key in _ALIASES:
            raise ValueError(f"loss name {key!r} is registered twice")
    _REGISTRY[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name
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
    if family is not None and family not in FAMILIES:
        raise LossInputError(f"family must be one of {FAMILIES}, got {family!r}")
    specs = [s for s in _REGISTRY.values() if family is None or s.family == family]
    return sorted(specs, key=lambda s: (FAMILIES.index(s.family), s.name))
