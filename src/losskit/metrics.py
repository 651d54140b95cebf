"""Metrics: what people care about, and why they are not losses.

A metric such as accuracy counts correct decisions. A small change of the weights almost never
flips a decision, so accuracy is constant almost everywhere and its gradient is zero: SGD cannot
step. These functions are never registered as losses; :func:`accuracy_as_loss` exists only to
show (in ``losskit compare`` and the audit) what happens when one tries.

A metric is told its task; it never infers it from shapes or values:

:func:`binary_accuracy`
    one score per item, ``from_logits`` stated (raw scores or probabilities), a threshold.
:func:`multiclass_accuracy`
    scores ``(N, C, *extra)`` or predicted labels against integer labels; top-k; micro, macro or
    per-class averages.
:func:`multilabel_accuracy`
    one score per label ``(N, L, *extra)`` against 0/1 targets of the same shape.

Each takes ``ignore_index`` (targets equal to it are skipped) and has an accumulating form
(:class:`BinaryAccuracy`, :class:`MulticlassAccuracy`, :class:`MultilabelAccuracy`) for an
epoch: ``update`` adds integer counts, ``compute`` divides them once (so the epoch value is not a
mean of batch means) and, when a ``torch.distributed`` process group is initialised, first sums
the counts over the ranks, which is exact. :func:`accuracy` is the older front: it dispatches only
when the shapes say which task it is, and refuses to guess whether binary outputs are logits.

Conventions, stated because other libraries choose otherwise:

* an accuracy over no items (everything ignored, nothing updated) is NaN, not 0;
* ``average="macro"`` is the mean recall over the classes that occur in ``targets`` (for
  multilabel: the mean accuracy over labels with at least one counted element); a class without
  targets has no recall, so it is NaN in ``average="none"`` and left out of the macro mean;
* an item is positive when its probability is strictly above ``threshold`` (for logits: when the
  logit is strictly above ``logit(threshold)``, compared in float64).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_bool,
    check_choice,
    check_ignore_index,
    check_int,
    check_labels,
    check_option,
    check_real,
    check_same_shape,
    check_tensor,
    reads,
)

__all__ = [
    "Average",
    "BinaryAccuracy",
    "MulticlassAccuracy",
    "MultilabelAccuracy",
    "accuracy",
    "accuracy_as_loss",
    "binary_accuracy",
    "error_rate",
    "multiclass_accuracy",
    "multilabel_accuracy",
]

Average = Literal["micro", "macro", "none"]
_AVERAGES: tuple[str, ...] = ("micro", "macro", "none")


# ----------------------------------------------------------------------------- validation
def _span(x: Tensor) -> tuple[float, float]:
    lo, hi = torch.aminmax(x.detach() if x.is_floating_point() else x.detach().double())
    return float(lo), float(hi)


def _check_scores(fn: str, preds: Tensor, what: str, fix: str) -> None:
    """Floating scores with no NaN (a NaN has no decision: counting it either way is a guess)."""
    check_tensor("preds", preds)
    if preds.is_complex() or not preds.is_floating_point():
        raise LossInputError(f"{fn}: preds must be floating {what}, got dtype {preds.dtype}{fix}")
    if reads(preds) and bool(torch.isnan(preds.detach()).any()):
        raise LossInputError(
            f"{fn}: preds holds NaN, which is neither a right nor a wrong decision; a diverged "
            "model? check the outputs before measuring them"
        )


def _check_from_logits(fn: str, preds: Tensor, from_logits: bool | None, threshold: float) -> bool:
    """``from_logits`` must be stated; probabilities must lie in [0, 1]."""
    if from_logits is None:
        seen = ""
        if reads(preds):
            lo, hi = _span(preds)
            seen = f" (preds here lie in [{lo:g}, {hi:g}]"
            seen += ", which only logits can)" if lo < 0 or hi > 1 else ", which fits either)"
        raise LossInputError(
            f"{fn}: from_logits is required: pass from_logits=True when preds are raw scores "
            f"(positive when above logit({threshold:g})) or from_logits=False when they are "
            f"probabilities in [0, 1] (positive when above {threshold:g}); losskit does not guess "
            f"from the values{seen}"
        )
    from_logits = check_bool("from_logits", from_logits)
    if not from_logits and reads(preds):
        lo, hi = _span(preds)
        if lo < 0 or hi > 1:
            raise LossInputError(
                f"{fn}: preds must be probabilities in [0, 1] because from_logits=False, got "
                f"values in [{lo:g}, {hi:g}]; if they are logits pass from_logits=True (or "
                "torch.sigmoid(preds) first)"
            )
    return from_logits


def _check_binary_targets(fn: str, targets: Tensor, keep: Tensor | None) -> None:
    """Targets are 0 or 1 (any real or bool dtype), except where ``ignore_index`` marks them."""
    check_real("targets", targets)
    if targets.dtype == torch.bool or not reads(targets):
        return
    bad = (targets != 0) & (targets != 1)
    if keep is not None:
        bad &= keep
    if not bool(bad.any()):
        return
    lo, hi = _span(targets[bad])
    hint = ""
    if lo < 0 and float(lo).is_integer():
        hint = f"; a padding label? pass ignore_index={lo:g}"
    elif hi == 255:
        hint = "; a void label? pass ignore_index=255 (or divide a 0/255 mask by 255)"
    elif not float(lo).is_integer() or not float(hi).is_integer():
        hint = "; soft targets have no accuracy: decide them first, e.g. targets > 0.5"
    raise LossInputError(
        f"{fn}: targets must be 0 or 1 (or ignore_index), got other values in [{lo:g}, {hi:g}]"
        + hint
    )


def _positive(preds: Tensor, from_logits: bool, threshold: float) -> Tensor:
    """The decisions: strictly above the threshold, compared in float64 so that the cut is the
    exact real number and not its rounding to the dtype of ``preds``."""
    if not from_logits:
        cut = threshold
    elif threshold in (0.0, 1.0):  # logit(0) = -inf, logit(1) = inf
        cut = math.inf if threshold == 1.0 else -math.inf
    else:  # sigmoid(x) > t  <=>  x > log(t / (1 - t)); no sigmoid, so no rounding to 0 or 1
        cut = math.log(threshold) - math.log1p(-threshold)
    return preds.detach().to(torch.float64) > cut


def _binary_hits(
    fn: str,
    preds: Tensor,
    targets: Tensor,
    from_logits: bool | None,
    threshold: float,
    ignore_index: int | None,
) -> tuple[Tensor, Tensor]:
    """Validated ``(hit, keep)``: whether each element is decided right, and whether it counts."""
    _check_scores(
        fn,
        preds,
        "scores (logits or probabilities)",
        "; for 0/1 decisions pass preds.float() with from_logits=False",
    )
    threshold = check_option("threshold", threshold, low=0.0, high=1.0)
    flag = _check_from_logits(fn, preds, from_logits, threshold)
    ignore_index = check_ignore_index(ignore_index)
    check_tensor("targets", targets)
    if targets.shape != preds.shape and targets.shape == (*preds.shape, 2):
        raise LossInputError(
            f"{fn}: targets {tuple(targets.shape)} has a last dimension of 2 after the shape of "
            f"preds {tuple(preds.shape)}: two-column one-hot targets? pass targets[..., 1]"
        )
    check_same_shape("preds", preds, "targets", targets)
    keep = targets != ignore_index if ignore_index is not None else None
    _check_binary_targets(fn, targets, keep)
    hit = _positive(preds, flag, threshold) == (targets.detach() == 1)
    return hit, torch.ones_like(hit) if keep is None else keep


def _multiclass_counts(
    preds: Tensor, targets: Tensor, num_classes: int, top_k: int, ignore_index: int | None
) -> tuple[Tensor, Tensor]:
    """Validated per-class ``(correct, support)``, int64 of shape ``(C,)``; no host sync beyond
    the value checks of ``"full"`` mode."""
    fn = "multiclass_accuracy"
    c = check_int("num_classes", num_classes, low=2)
    k = check_int("top_k", top_k)
    if not 1 <= k <= c:
        raise LossInputError(f"top_k must lie in [1, {c}] (the number of classes), got {k}")
    ignore_index = check_ignore_index(ignore_index)
    check_tensor("preds", preds)
    check_tensor("targets", targets)
    check_real("targets", targets)
    one_hot = (
        f"{fn}: targets {tuple(targets.shape)} has the shape of preds: one-hot targets or class "
        "probabilities? pass targets.argmax(1) for one class per item, or use "
        "multilabel_accuracy for several labels per item"
    )
    if targets.is_floating_point() or targets.dtype == torch.bool:
        if targets.shape == preds.shape and preds.is_floating_point():
            raise LossInputError(one_hot)
        raise LossInputError(
            f"{fn}: targets must hold integer class labels, got dtype {targets.dtype}; "
            "integer-valued floats? pass targets.long()"
        )
    if preds.is_floating_point() and preds.dim() == targets.dim() + 1:  # scores
        _check_scores(fn, preds, "scores", "")
        scores = preds.detach() if preds.dim() > 1 else preds.detach().unsqueeze(0)
        labels = targets if preds.dim() > 1 else targets.unsqueeze(0)
        if scores.shape[1] != c:
            hint = (
                "; classes in the last dimension? pass preds.movedim(-1, 1)"
                if scores.shape[-1] == c
                else ""
            )
            raise LossInputError(
                f"{fn}: preds {tuple(preds.shape)} has {scores.shape[1]} classes in dim 1, but "
                f"num_classes={c}{hint}"
            )
        expected = scores.shape[:1] + scores.shape[2:]
        if labels.shape != expected:
            raise LossInputError(
                f"{fn}: targets must have shape {tuple(expected)} (that of preds without the "
                f"class dimension 1), got {tuple(targets.shape)}"
            )
        check_labels("targets", labels, c, ignore_index=ignore_index)
        flat = scores.movedim(1, -1).reshape(-1, c)  # (items, C)
        t = labels.reshape(-1)
        keep = (
            t != ignore_index if ignore_index is not None else torch.ones_like(t, dtype=torch.bool)
        )
        t = torch.where(keep, t, 0)  # ignored items point at class 0 with weight 0
        if k == 1:
            hit = flat.argmax(1) == t
        else:
            hit = (flat.topk(k, dim=1).indices == t.unsqueeze(1)).any(1)  # (items,)
    elif preds.shape == targets.shape:  # predicted labels, or one-hot targets
        if preds.is_floating_point():
            if preds.dim() >= 2 and preds.shape[1] == c:
                raise LossInputError(one_hot)
            raise LossInputError(
                f"{fn}: preds {tuple(preds.shape)} has the shape of targets but is floating: "
                "predicted labels? pass preds.long(); scores? give them a class dimension 1 of "
                f"size num_classes={c}"
            )
        if k != 1:
            raise LossInputError(f"{fn}: top_k={k} needs scores (N, C, ...), not predicted labels")
        check_labels("preds", preds, c, ignore_index=None)
        check_labels("targets", targets, c, ignore_index=ignore_index)
        t = targets.reshape(-1)
        keep = (
            t != ignore_index if ignore_index is not None else torch.ones_like(t, dtype=torch.bool)
        )
        t = torch.where(keep, t, 0)
        hit = preds.detach().reshape(-1) == t
    else:
        raise LossInputError(
            f"{fn}: preds {tuple(preds.shape)} vs targets {tuple(targets.shape)}: give scores "
            "(N, C, *extra) with labels (N, *extra), or predicted labels of the shape of targets"
        )
    t = t.long()
    zeros = torch.zeros(c, dtype=torch.int64, device=t.device)
    support = zeros.scatter_add(0, t, keep.long())
    correct = zeros.scatter_add(0, t, (hit & keep).long())
    return correct, support


def _multilabel_counts(
    preds: Tensor,
    targets: Tensor,
    num_labels: int,
    from_logits: bool | None,
    threshold: float,
    ignore_index: int | None,
) -> tuple[Tensor, Tensor]:
    """Validated per-label ``(correct, total)``, int64 of shape ``(L,)``."""
    fn = "multilabel_accuracy"
    n_labels = check_int("num_labels", num_labels, low=1)
    check_tensor("preds", preds)
    if preds.dim() < 2 or preds.shape[1] != n_labels:
        hint = (
            "; labels in the last dimension? pass preds.movedim(-1, 1)"
            if preds.dim() >= 2 and preds.shape[-1] == n_labels
            else ""
        )
        raise LossInputError(
            f"{fn}: preds must have shape (N, num_labels={n_labels}, *extra), got "
            f"{tuple(preds.shape)}{hint}"
        )
    hit, keep = _binary_hits(fn, preds, targets, from_logits, threshold, ignore_index)
    return _per_label(hit & keep, n_labels), _per_label(keep, n_labels)


def _per_label(mask: Tensor, n_labels: int) -> Tensor:
    """Counts of true entries of ``mask`` ``(N, L, *extra)`` per label: ``(L,)``."""
    return mask.movedim(1, 0).reshape(n_labels, -1).sum(1)


# ----------------------------------------------------------------------------- the ratios
def _ratio(correct: Tensor, total: Tensor) -> Tensor:
    """``correct / total`` as float32, NaN where ``total`` is 0; the quotient is formed in
    float64, so counts beyond float32's 2**24 stay exact and smaller ones round once."""
    total64 = total.to(torch.float64)
    return torch.where(total64 > 0, correct.to(torch.float64) / total64, math.nan).float()


def _average(correct: Tensor, total: Tensor, average: str) -> Tensor:
    if average == "micro":
        return _ratio(correct.sum(), total.sum())
    per = _ratio(correct, total)
    return per if average == "none" else per.nanmean()  # nanmean: classes with support only


# ----------------------------------------------------------------------------- functions
def binary_accuracy(
    preds: Tensor,
    targets: Tensor,
    *,
    from_logits: bool | None = None,
    threshold: float = 0.5,
    ignore_index: int | None = None,
) -> Tensor:
    """Fraction of items decided right: ``mean(1[p_i > threshold] == t_i)`` over the items whose
    target is not ``ignore_index``; a float32 scalar without gradient (NaN when none counts).

    Args:
        preds: floating scores of any shape; probabilities in [0, 1] with ``from_logits=False``,
            raw scores with ``from_logits=True`` (then positive when ``preds > logit(threshold)``).
        targets: 0/1 of the shape of ``preds`` (any real or bool dtype), or ``ignore_index``.
        from_logits: required; ``None`` is refused rather than guessed.
        threshold: in [0, 1]; an item is positive strictly above it.
        ignore_index: a target value to skip (e.g. -100 or 255).

    Raises:
        LossInputError: ``from_logits`` not given; probabilities outside [0, 1]; targets other
            than 0, 1 or ``ignore_index``; NaN in ``preds``; shapes that differ.

    Example:
        >>> import torch
        >>> from losskit.metrics import binary_accuracy
        >>> logits = torch.tensor([2.0, -1.0, 0.5, 3.0])
        >>> binary_accuracy(logits, torch.tensor([1, 0, 0, -100]), from_logits=True,
        ...                 ignore_index=-100)
        tensor(0.6667)
    """
    hit, keep = _binary_hits(
        "binary_accuracy", preds, targets, from_logits, threshold, ignore_index
    )
    return _ratio((hit & keep).sum(), keep.sum())


def multiclass_accuracy(
    preds: Tensor,
    targets: Tensor,
    *,
    num_classes: int,
    top_k: int = 1,
    average: Average = "micro",
    ignore_index: int | None = None,
) -> Tensor:
    """Fraction of items whose label is among the ``top_k`` highest scores.

    ``average="micro"``: over all counted items; ``"macro"``: the mean over the classes present
    in ``targets`` of each class's recall (balanced accuracy); ``"none"``: the recall of each
    class, shape ``(C,)``, NaN for a class absent from ``targets``. Logits and probabilities give
    the same result (softmax keeps the order), so there is no ``from_logits``.

    Args:
        preds: scores ``(N, C, *extra)`` (floating), or predicted labels of the shape of
            ``targets`` (integer, ``top_k=1`` only).
        targets: integer labels ``(N, *extra)`` in ``[0, C)`` or ``ignore_index``; one-hot
            targets are refused (pass ``targets.argmax(1)``).
        num_classes: C, required, checked against dim 1 of ``preds``.
        top_k: in ``[1, C]``.
        average: ``"micro"`` (default), ``"macro"`` or ``"none"``.
        ignore_index: a label to skip (e.g. -100).

    Example:
        >>> import torch
        >>> from losskit.metrics import multiclass_accuracy
        >>> scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
        >>> labels = torch.tensor([2, 0, 2])
        >>> multiclass_accuracy(scores, labels, num_classes=3)
        tensor(0.6667)
        >>> multiclass_accuracy(scores, labels, num_classes=3, average="none")
        tensor([1.0000,    nan, 0.5000])
        >>> multiclass_accuracy(scores, labels, num_classes=3, average="macro")
        tensor(0.7500)
    """
    check_choice("average", average, _AVERAGES)
    correct, support = _multiclass_counts(preds, targets, num_classes, top_k, ignore_index)
    return _average(correct, support, average)


def multilabel_accuracy(
    preds: Tensor,
    targets: Tensor,
    *,
    num_labels: int,
    from_logits: bool | None = None,
    threshold: float = 0.5,
    average: Average = "micro",
    ignore_index: int | None = None,
) -> Tensor:
    """Fraction of (item, label) decisions that are right, each label decided as in
    :func:`binary_accuracy`.

    ``average="micro"``: over every counted element; ``"macro"``: the mean of the per-label
    accuracies; ``"none"``: one accuracy per label, shape ``(L,)``. Without ``ignore_index``
    every label counts the same elements, so micro and macro agree.

    Args:
        preds: floating scores ``(N, L, *extra)``; ``from_logits`` as in :func:`binary_accuracy`.
        targets: 0/1 of the shape of ``preds``, or ``ignore_index``.
        num_labels: L, required, checked against dim 1 of ``preds``.

    Example:
        >>> import torch
        >>> from losskit.metrics import multilabel_accuracy
        >>> logits = torch.tensor([[2.0, -1.0], [-0.5, 1.5], [1.0, 1.0]])
        >>> multilabel_accuracy(logits, torch.tensor([[1, 0], [1, 1], [1, 0]]), num_labels=2,
        ...                     from_logits=True, average="none")
        tensor([0.6667, 0.6667])
    """
    check_choice("average", average, _AVERAGES)
    correct, total = _multilabel_counts(
        preds, targets, num_labels, from_logits, threshold, ignore_index
    )
    return _average(correct, total, average)


# ----------------------------------------------------------------------------- the older front
def _all_one_hot(targets: Tensor) -> bool:
    """Whether every row of ``targets`` along dim 1 is one-hot (read only in ``"full"`` mode)."""
    if not reads(targets):
        return False
    t = targets.detach()
    return bool((((t == 0) | (t == 1)).all() & (t.sum(1) == 1).all()).item())


def accuracy(
    outputs: Tensor,
    targets: Tensor,
    *,
    logits: bool | None = None,
    threshold: float = 0.5,
    top_k: int = 1,
) -> Tensor:
    """Micro accuracy where the shapes say the task; prefer the explicit task functions.

    Multiclass (``outputs`` ``(N, C, *extra)``, integer ``targets`` ``(N, *extra)``): as
    :func:`multiclass_accuracy` with ``num_classes=C`` (``logits`` is not needed: the top-k is
    the same for logits and probabilities). Binary (same shapes): as :func:`binary_accuracy` with
    ``from_logits=logits``, which must be given. Refused rather than guessed: binary outputs
    without ``logits``; targets ``(N, C)`` that are all one-hot (multiclass labels or multilabel
    targets? say which with :func:`multiclass_accuracy` or :func:`multilabel_accuracy`).

    Example:
        >>> import torch, losskit
        >>> losskit.accuracy(torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1, 0, 0]), logits=True)
        tensor(0.6667)
        >>> losskit.accuracy(torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]]),
        ...                  torch.tensor([2, 0]), top_k=2)
        tensor(1.)
    """
    check_tensor("outputs", outputs)
    check_tensor("targets", targets)
    if outputs.dim() >= 2 and targets.shape == outputs.shape[:1] + outputs.shape[2:]:
        return multiclass_accuracy(outputs, targets, num_classes=outputs.shape[1], top_k=top_k)
    if outputs.shape == targets.shape:
        if top_k != 1:
            raise LossInputError("top_k applies to multiclass outputs (N, C, ...), not binary ones")
        if outputs.dim() >= 2 and outputs.shape[1] >= 2 and _all_one_hot(targets):
            raise LossInputError(
                f"accuracy: targets {tuple(targets.shape)} are one-hot along dim 1: for one class "
                "per item use multiclass_accuracy(outputs, targets.argmax(1), num_classes="
                f"{outputs.shape[1]}); for independent labels use multilabel_accuracy"
            )
        if logits is None:
            raise LossInputError(
                "accuracy: for binary outputs pass logits=True (raw scores) or logits=False "
                "(probabilities); losskit does not guess (or call binary_accuracy(outputs, "
                "targets, from_logits=...))"
            )
        return binary_accuracy(outputs, targets, from_logits=logits, threshold=threshold)
    raise LossInputError(
        f"accuracy: outputs {tuple(outputs.shape)} vs targets {tuple(targets.shape)}: give the "
        "same shape (binary) or outputs (N, C, *extra) with labels (N, *extra) (multiclass)"
    )


def error_rate(
    outputs: Tensor,
    targets: Tensor,
    *,
    logits: bool | None = None,
    threshold: float = 0.5,
    top_k: int = 1,
) -> Tensor:
    """``1 - accuracy``, with the same arguments and the same refusals.

    Example:
        >>> import torch, losskit
        >>> losskit.error_rate(torch.tensor([0.9, 0.2]), torch.tensor([1, 1]), logits=False)
        tensor(0.5000)
    """
    return 1 - accuracy(outputs, targets, logits=logits, threshold=threshold, top_k=top_k)


# ----------------------------------------------------------------------------- epochs
def _group_size(group: Any) -> int:
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return int(dist.get_world_size(group=group))


class _Accumulator:
    """Integer counts ``(correct, total)`` added by ``update`` and divided once by ``compute``.

    Under ``torch.distributed`` (a process group initialised, more than one rank) ``compute``
    sums the counts of every rank first (one ``all_reduce``; every rank must call it), so each
    rank returns the accuracy of the whole epoch, exactly; the local counts are not changed.
    ``sync_on_compute=False`` keeps ``compute`` local.
    """

    _shape: tuple[int, ...] = ()

    def __init__(self, *, sync_on_compute: bool, group: Any) -> None:
        self.sync_on_compute = check_bool("sync_on_compute", sync_on_compute)
        self.group = group
        self.reset()

    def reset(self) -> None:
        """Forget every update (call it at the start of an epoch)."""
        self.correct = torch.zeros(self._shape, dtype=torch.int64)
        self.total = torch.zeros(self._shape, dtype=torch.int64)
        self._updated = False

    def _counts(self, preds: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _finish(self, correct: Tensor, total: Tensor) -> Tensor:
        raise NotImplementedError

    def update(self, preds: Tensor, targets: Tensor) -> None:
        """Add the counts of one batch (checked as the function form checks it)."""
        correct, total = self._counts(preds, targets)
        if not self._updated:  # the counts live where the first batch lives
            self.correct, self.total = self.correct.to(correct.device), self.total.to(total.device)
            self._updated = True
        self.correct += correct
        self.total += total

    def counts(self) -> tuple[Tensor, Tensor]:
        """``(correct, total)`` summed over the ranks when ``compute`` would sync, else local."""
        if not (self.sync_on_compute and _group_size(self.group) > 1):
            return self.correct.clone(), self.total.clone()
        both = torch.stack([self.correct, self.total])
        if dist.get_backend(self.group) == "nccl":  # NCCL reduces on the current GPU only
            both = both.to(torch.device("cuda", torch.cuda.current_device()))
        dist.all_reduce(both, op=dist.ReduceOp.SUM, group=self.group)
        return both[0], both[1]

    def compute(self) -> Tensor:
        """The accuracy of everything updated since the last ``reset`` (NaN for nothing)."""
        return self._finish(*self.counts())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(correct={self.correct.tolist()}, total={self.total.tolist()})"
        )


class BinaryAccuracy(_Accumulator):
    """:func:`binary_accuracy` over an epoch.

    Example:
        >>> import torch
        >>> from losskit.metrics import BinaryAccuracy
        >>> acc = BinaryAccuracy(from_logits=True)
        >>> acc.update(torch.tensor([2.0, -1.0]), torch.tensor([1, 1]))  # 1 of 2
        >>> acc.update(torch.tensor([0.5, 1.0, -2.0, 3.0]), torch.tensor([1, 1, 0, 1]))  # 4 of 4
        >>> acc.compute()  # 5 of 6, not the mean of 0.5 and 1
        tensor(0.8333)
    """

    def __init__(
        self,
        *,
        from_logits: bool | None = None,
        threshold: float = 0.5,
        ignore_index: int | None = None,
        sync_on_compute: bool = True,
        group: Any = None,
    ) -> None:
        _check_from_logits("BinaryAccuracy", torch.empty(0), from_logits, threshold)
        self.from_logits = from_logits
        self.threshold = check_option("threshold", threshold, low=0.0, high=1.0)
        self.ignore_index = check_ignore_index(ignore_index)
        super().__init__(sync_on_compute=sync_on_compute, group=group)

    def _counts(self, preds: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        hit, keep = _binary_hits(
            "BinaryAccuracy", preds, targets, self.from_logits, self.threshold, self.ignore_index
        )
        return (hit & keep).sum(), keep.sum()

    def _finish(self, correct: Tensor, total: Tensor) -> Tensor:
        return _ratio(correct, total)


class MulticlassAccuracy(_Accumulator):
    """:func:`multiclass_accuracy` over an epoch; per-class counts, so every ``average`` is exact.

    Example:
        >>> import torch
        >>> from losskit.metrics import MulticlassAccuracy
        >>> acc = MulticlassAccuracy(num_classes=3, average="macro")
        >>> acc.update(torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0]]), torch.tensor([0, 0]))
        >>> acc.update(torch.tensor([[0.0, 3.0, 0.0]]), torch.tensor([1]))
        >>> acc.compute()  # recall 1/2 for class 0, 1/1 for class 1; class 2 never seen
        tensor(0.7500)
    """

    def __init__(
        self,
        *,
        num_classes: int,
        top_k: int = 1,
        average: Average = "micro",
        ignore_index: int | None = None,
        sync_on_compute: bool = True,
        group: Any = None,
    ) -> None:
        self.num_classes = check_int("num_classes", num_classes, low=2)
        self.top_k = check_int("top_k", top_k)
        if not 1 <= self.top_k <= self.num_classes:
            raise LossInputError(
                f"top_k must lie in [1, {self.num_classes}] (the number of classes), got {top_k}"
            )
        check_choice("average", average, _AVERAGES)
        self.average, self.ignore_index = average, check_ignore_index(ignore_index)
        self._shape = (self.num_classes,)
        super().__init__(sync_on_compute=sync_on_compute, group=group)

    def _counts(self, preds: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        return _multiclass_counts(preds, targets, self.num_classes, self.top_k, self.ignore_index)

    def _finish(self, correct: Tensor, total: Tensor) -> Tensor:
        return _average(correct, total, self.average)


class MultilabelAccuracy(_Accumulator):
    """:func:`multilabel_accuracy` over an epoch; per-label counts.

    Example:
        >>> import torch
        >>> from losskit.metrics import MultilabelAccuracy
        >>> acc = MultilabelAccuracy(num_labels=2, from_logits=False)
        >>> acc.update(torch.tensor([[0.9, 0.2]]), torch.tensor([[1, 1]]))
        >>> acc.update(torch.tensor([[0.8, 0.7], [0.1, 0.4]]), torch.tensor([[1, 1], [0, 0]]))
        >>> acc.compute()  # 5 of 6 decisions
        tensor(0.8333)
    """

    def __init__(
        self,
        *,
        num_labels: int,
        from_logits: bool | None = None,
        threshold: float = 0.5,
        average: Average = "micro",
        ignore_index: int | None = None,
        sync_on_compute: bool = True,
        group: Any = None,
    ) -> None:
        self.num_labels = check_int("num_labels", num_labels, low=1)
        _check_from_logits("MultilabelAccuracy", torch.empty(0), from_logits, threshold)
        check_choice("average", average, _AVERAGES)
        self.from_logits, self.threshold, self.average = from_logits, threshold, average
        self.ignore_index = check_ignore_index(ignore_index)
        self._shape = (self.num_labels,)
        super().__init__(sync_on_compute=sync_on_compute, group=group)

    def _counts(self, preds: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
        return _multilabel_counts(
            preds, targets, self.num_labels, self.from_logits, self.threshold, self.ignore_index
        )

    def _finish(self, correct: Tensor, total: Tensor) -> Tensor:
        return _average(correct, total, self.average)


# ----------------------------------------------------------------------------- the lesson
def accuracy_as_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Binary accuracy *used as a loss*: ``1 - accuracy``, written so that the graph exists.

    The decision goes through ``round(sigmoid(logits))``, whose derivative is exactly 0 wherever it
    exists, so ``backward()`` runs and every gradient is 0: SGD never moves the weights. This is
    the lesson, not a loss to train with.

    Example:
        >>> import torch, losskit
        >>> x = torch.tensor([2.0, -1.0, 0.5], requires_grad=True)
        >>> loss = losskit.accuracy_as_loss(x, torch.tensor([1.0, 0.0, 0.0]))
        >>> loss.backward()
        >>> round(loss.item(), 4), x.grad
        (0.3333, tensor([0., 0., 0.]))
    """
    decisions = torch.round(torch.sigmoid(logits))  # 0 or 1; d round / dx = 0
    targets = targets.to(decisions.dtype)
    correct = 1 - (decisions - targets).abs()
    return 1 - correct.mean()
