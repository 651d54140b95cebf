"""Factories of valid example inputs, named by each loss's ``@register(example=...)``.

A factory is ``make(n, gen) -> Example``: inputs whose main tensor has about ``n`` elements,
drawn from ``gen``. The audit draws its problems from them and the benchmark times them; the
tests keep their own, independent inputs. Losses over pairs of a batch (supcon, info_nce, ...)
read ``n`` as the entries of the ``N x N`` similarity matrix, so their ``N`` is ``sqrt(n)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "Example",
    "ExampleFactory",
    "binary_masks",
    "boxes",
    "class_log_probs",
    "class_logits",
    "class_priors",
    "class_probs",
    "cosine_pairs",
    "counts",
    "ctc_inputs",
    "embeddings_labels",
    "gaussian_forecast",
    "lm_head",
    "logits01",
    "multihot",
    "positive",
    "probs01",
    "query_key",
    "ranking_lists",
    "ranking_pairs",
    "router_logits",
    "segmentation",
    "sign_values",
    "teacher_student",
    "triplets",
    "two_distributions",
    "values",
    "with_options",
]


@dataclass
class Example:
    """One valid call: positional tensors, keyword options, and the positions in ``args`` that
    carry a gradient (the predictions, and learned parameters such as a variance)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    grad: tuple[int, ...] = (0,)


ExampleFactory = Callable[[int, torch.Generator], Example]


def with_options(make: ExampleFactory, **options: Any) -> ExampleFactory:
    """``make`` with keyword options added to every example (``power=1.5``, ``q=0.9``)."""

    def call(n: int, gen: torch.Generator) -> Example:
        ex = make(n, gen)
        return Example(ex.args, {**ex.kwargs, **options}, ex.grad)

    call.__name__ = f"{getattr(make, '__name__', 'example')}({options})"
    return call


def _randn(g: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(shape, generator=g)


def _rand(g: torch.Generator, *shape: int) -> Tensor:
    return torch.rand(shape, generator=g)


def _bits(g: torch.Generator, *shape: int) -> Tensor:
    return torch.randint(0, 2, shape, generator=g).float()


def _sign(g: torch.Generator, *shape: int) -> Tensor:
    return _bits(g, *shape) * 2 - 1


# ----------------------------------------------------------------------------- elementwise
def values(n: int, g: torch.Generator) -> Example:
    """Real predictions and targets, ``(n,)`` each."""
    return Example((_randn(g, n), _randn(g, n)))


def positive(n: int, g: torch.Generator) -> Example:
    """Predictions and targets in [0.1, 1.1): for percentage, log and Tweedie errors."""
    return Example((_rand(g, n) + 0.1, _rand(g, n) + 0.1))


def counts(n: int, g: torch.Generator) -> Example:
    """Log-rates and Poisson counts."""
    return Example((_randn(g, n), torch.poisson(_rand(g, n) * 3, generator=g)))


def gaussian_forecast(n: int, g: torch.Generator) -> Example:
    """A predicted mean, the targets, and a predicted variance or scale (with a gradient)."""
    return Example((_randn(g, n), _randn(g, n), _rand(g, n) + 0.1), grad=(0, 2))


def logits01(n: int, g: torch.Generator) -> Example:
    """Logits and 0/1 targets."""
    return Example((2 * _randn(g, n), _bits(g, n)))


def probs01(n: int, g: torch.Generator) -> Example:
    """Probabilities in [0.01, 0.99] and 0/1 targets."""
    return Example((_rand(g, n) * 0.98 + 0.01, _bits(g, n)))


def sign_values(n: int, g: torch.Generator) -> Example:
    """Non-negative distances in [0, 2) and -1/+1 labels."""
    return Example((_rand(g, n) * 2, _sign(g, n)))


# ----------------------------------------------------------------------------- classes
def _classes(n: int) -> tuple[int, int]:
    c = 10 if n < 10_000 else 100
    return max(1, n // c), c


def class_logits(n: int, g: torch.Generator) -> Example:
    """``(N, C)`` logits and ``(N,)`` integer labels."""
    rows, c = _classes(n)
    return Example((2 * _randn(g, rows, c), torch.randint(0, c, (rows,), generator=g)))


def class_priors(n: int, g: torch.Generator) -> Example:
    """:func:`class_logits` with ``class_priors`` (a distribution over the classes)."""
    ex = class_logits(n, g)
    priors = torch.softmax(_randn(g, ex.args[0].shape[1]), 0)
    return Example(ex.args, {"class_priors": priors})


def class_log_probs(n: int, g: torch.Generator) -> Example:
    """``(N, C)`` log-probabilities and ``(N,)`` integer labels."""
    ex = class_logits(n, g)
    return Example((torch.log_softmax(ex.args[0], 1), ex.args[1]))


def class_probs(n: int, g: torch.Generator) -> Example:
    """``(N, C)`` logits and ``(N, C)`` target distributions."""
    rows, c = _classes(n)
    return Example((2 * _randn(g, rows, c), torch.softmax(_randn(g, rows, c), 1)))


def teacher_student(n: int, g: torch.Generator) -> Example:
    """``(N, C)`` student and teacher logits."""
    rows, c = _classes(n)
    return Example((2 * _randn(g, rows, c), 2 * _randn(g, rows, c)))


def two_distributions(n: int, g: torch.Generator) -> Example:
    """``(N, C)`` log-probabilities and ``(N, C)`` target distributions."""
    rows, c = _classes(n)
    return Example((torch.log_softmax(_randn(g, rows, c), 1), torch.softmax(_randn(g, rows, c), 1)))


def multihot(n: int, g: torch.Generator) -> Example:
    """``(N, C)`` logits and multi-hot ``(N, C)`` targets."""
    rows, c = _classes(n)
    return Example((_randn(g, rows, c), _bits(g, rows, c)))


# ----------------------------------------------------------------------------- dense
def _seg_shape(n: int, c: int) -> tuple[int, int]:
    batch = 2 if n < 10_000 else 4
    return batch, max(2, round(math.sqrt(n / (batch * c))))


def segmentation(n: int, g: torch.Generator) -> Example:
    """``(N, 4, H, W)`` logits and ``(N, H, W)`` integer labels."""
    c = 4
    batch, side = _seg_shape(n, c)
    labels = torch.randint(0, c, (batch, side, side), generator=g)
    return Example((_randn(g, batch, c, side, side), labels))


def binary_masks(n: int, g: torch.Generator) -> Example:
    """``(N, H, W)`` logits and 0/1 masks."""
    batch, side = _seg_shape(n, 1)
    return Example((_randn(g, batch, side, side), _bits(g, batch, side, side)))


# ----------------------------------------------------------------------------- embeddings
def router_logits(n: int, g: torch.Generator) -> Example:
    """``(T, 8)`` router logits of T tokens over 8 experts, top-2 routing."""
    return Example((_randn(g, max(2, n // 8), 8),), {"top_k": 2})


def _pair_rows(n: int) -> int:
    return max(4, round(math.sqrt(n)))


def embeddings_labels(n: int, g: torch.Generator) -> Example:
    """``(N, 64)`` embeddings and ``(N,)`` group ids (about four rows a group)."""
    rows = _pair_rows(n)
    labels = torch.randint(0, max(2, rows // 4), (rows,), generator=g)
    return Example((_randn(g, rows, 64), labels))


def query_key(n: int, g: torch.Generator) -> Example:
    """Paired ``(N, 64)`` queries and keys: row ``i`` of each is a positive pair."""
    rows = _pair_rows(n)
    return Example((_randn(g, rows, 64), _randn(g, rows, 64)), grad=(0, 1))


def triplets(n: int, g: torch.Generator) -> Example:
    """Anchors, positives and negatives, ``(N, 64)`` each."""
    rows = max(1, n // 64)
    return Example(tuple(_randn(g, rows, 64) for _ in range(3)), grad=(0, 1, 2))


def cosine_pairs(n: int, g: torch.Generator) -> Example:
    """Two ``(N, 64)`` embeddings and a -1/+1 label per pair."""
    rows = max(1, n // 64)
    return Example((_randn(g, rows, 64), _randn(g, rows, 64), _sign(g, rows)), grad=(0, 1))


# ----------------------------------------------------------------------------- ranking
def ranking_pairs(n: int, g: torch.Generator) -> Example:
    """Two score vectors and a -1/+1 label per pair (+1: the first should rank higher)."""
    return Example((_randn(g, n), _randn(g, n), _sign(g, n)), grad=(0, 1))


def ranking_lists(n: int, g: torch.Generator) -> Example:
    """``(B, 32)`` scores and relevances in [0, 1)."""
    lists = max(1, n // 32)
    return Example((_randn(g, lists, 32), _rand(g, lists, 32)))


# ----------------------------------------------------------------------------- sequences, boxes
def ctc_inputs(n: int, g: torch.Generator) -> Example:
    """``(T, N, C)`` log-probabilities, ``(N, S)`` label sequences and the two lengths."""
    t, c, s = 50, 20, 10
    batch = max(1, n // (t * c))
    log_probs = torch.log_softmax(_randn(g, t, batch, c), 2)
    targets = torch.randint(1, c, (batch, s), generator=g)
    lengths = torch.full((batch,), t, dtype=torch.long), torch.full((batch,), s, dtype=torch.long)
    return Example((log_probs, targets, *lengths))


def boxes(n: int, g: torch.Generator) -> Example:
    """Predicted and target ``(N, 4)`` boxes ``(x1, y1, x2, y2)``, each of positive size."""
    rows = max(1, n // 4)

    def make() -> Tensor:
        xy = _rand(g, rows, 2) * 10
        return torch.cat([xy, xy + _rand(g, rows, 2) * 5 + 0.5], 1)

    return Example((make(), make()))


def lm_head(n: int, g: torch.Generator) -> Example:
    """Hidden states ``(N, D)``, a classifier weight ``(V, D)`` and token labels; ``n`` counts
    the entries of the ``(N, V)`` logits the loss never holds."""
    tokens, vocab, dim = (
        (32, 32, 16) if n <= 1_000 else (256, 512, 64) if n <= 100_000 else (1024, 1024, 128)
    )
    hidden = _randn(g, tokens, dim) / math.sqrt(dim)
    weight = _randn(g, vocab, dim)
    labels = torch.randint(0, vocab, (tokens,), generator=g)
    return Example((hidden, weight, labels), grad=(0, 1))
