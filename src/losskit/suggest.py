"""Which loss for my data? :func:`suggest` reads a sample of targets (and, optionally, the
model's predictions), infers the task, notices what matters for the choice of loss (class
imbalance, outliers, skew, ties, zero inflation, one-hot targets, probabilities given where
logits are expected) and recommends losses from the registry, each with its reason.

The inference is a set of plain rules on the values, stated in :data:`RULES` and in each
finding's text; when a rule guesses wrong, pass ``task=`` to say what the data is. Nothing here
trains a model: ``losskit compare`` does that for the shipped digits.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from losskit._checks import LossInputError
from losskit._spec import UnknownLossError, get_spec

__all__ = ["RULES", "TASKS", "Candidate", "Suggestion", "load_targets", "suggest"]

TASKS = (
    "regression",
    "counts",
    "binary",
    "multiclass",
    "multilabel",
    "distributions",
    "masks",
    "boxes",
    "ranking",
)

RULES = """\
task, from the targets (and the predictions' shape when given):
  boxes          (N, 4) floats with x2 >= x1 and y2 >= y1 in every row
  masks          3 or more dims of integers or 0/1 (segmentation labels or masks)
  distributions  (N, C) floats in [0, 1], every row summing to 1 (soft labels, a teacher)
  multilabel     (N, C) of 0/1 (one-hot rows, each summing to 1, are multiclass labels)
  ranking        (N, L) integers in [0, 4] beyond 0/1 (graded relevance per list)
  binary         1-D values that are all 0/1, bool, or -1/+1
  multiclass     1-D integers >= 0, at most 100 distinct values, contiguous from 0 or 1
                 (unless the predictions have the targets' shape), or any integers >= 0
                 with predictions (N, C), C above the largest label
  counts         other 1-D integers >= 0 of integer dtype, or integer-valued floats from 0
  regression     anything else of real values
findings:
  imbalance      the rarest class below 20 % of the mean class share (binary: below 20 %)
  outliers       more than 1 % of values beyond 5 scaled median absolute deviations
  skew           positive values whose largest is over 100 times their median
  zeros          more than 30 % of non-negative targets exactly 0
  ties           fewer distinct values than half the number of values (real targets)
  small masks    foreground under 10 % of the pixels"""


@dataclass(frozen=True)
class Candidate:
    """A recommended loss and why."""

    name: str
    reason: str

    @property
    def properties(self) -> str:
        """The loss's mathematical properties, from its spec."""
        spec = get_spec(self.name)
        return ", ".join(sorted(str(p) for p in spec.properties))


@dataclass(frozen=True)
class Suggestion:
    """What :func:`suggest` found: the task, the findings behind the choice, the candidates
    best first."""

    task: str
    shape: tuple[int, ...]
    findings: tuple[str, ...] = ()
    candidates: tuple[Candidate, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.candidates]

    def __str__(self) -> str:
        lines = [f"task: {self.task} (targets of shape {self.shape})"]
        for f in self.findings or ("nothing unusual",):
            lines += textwrap.wrap(
                f"noticed: {f}", 80, initial_indent="  ", subsequent_indent=" " * 4
            )
        lines.append("suggested losses, best first:")
        for i, c in enumerate(self.candidates, 1):
            lines.append(f"  {i}. {c.name}")
            lines += textwrap.wrap(c.reason, 80, initial_indent=" " * 6, subsequent_indent=" " * 6)
        for n in self.notes:
            lines += textwrap.wrap(f"note: {n}", 80, subsequent_indent="  ")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- reading data
def _as_array(x: Any, name: str) -> np.ndarray:
    if x is None:
        raise LossInputError(f"{name} is None; pass an array, a tensor or a list of values")
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise LossInputError(f"{name} could not be read as an array: {exc}") from None
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise LossInputError(
            f"{name} must hold numbers or booleans, got dtype {a.dtype}; "
            "encode text labels as integers first (e.g. numpy.unique(labels, return_inverse=True))"
        )
    if a.size == 0:
        raise LossInputError(f"{name} is empty; pass at least a few values")
    return a


def load_targets(path: str | Path, *, column: str | None = None) -> np.ndarray:
    """Targets from a file: ``.npy`` (the array), ``.npz`` (the array ``targets``, ``y`` or
    ``labels``, or the only one), ``.csv``/``.tsv`` (the column named ``column``, by default the
    last, with a header row), or ``mnist-3-7`` for the shipped digits' labels."""
    if str(path) == "mnist-3-7":
        from losskit.data import load_mnist_3_7

        return load_mnist_3_7().y_train.numpy()
    p = Path(path)
    if not p.exists():
        raise LossInputError(f"no file {str(p)!r}; pass a .npy, .npz or .csv file, or mnist-3-7")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return np.asarray(np.load(p, allow_pickle=False))
    if suffix == ".npz":
        with np.load(p, allow_pickle=False) as archive:
            keys = list(archive.keys())
            for key in (column, "targets", "y", "labels"):
                if key is not None and key in keys:
                    return np.asarray(archive[key])
            if len(keys) == 1:
                return np.asarray(archive[keys[0]])
            raise LossInputError(
                f"{p.name} holds {keys}; name the targets' array with --column (or save it as "
                "'targets')"
            )
    if suffix in (".csv", ".tsv"):
        import csv

        with p.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter="\t" if suffix == ".tsv" else ","))
        if len(rows) < 2:
            raise LossInputError(f"{p.name} needs a header row and at least one row of values")
        header = [h.strip() for h in rows[0]]
        if column is None:
            index = len(header) - 1
        elif column in header:
            index = header.index(column)
        else:
            raise LossInputError(f"{p.name} has no column {column!r}; its columns: {header}")
        try:
            return np.array([float(r[index]) for r in rows[1:] if r])
        except ValueError as exc:
            raise LossInputError(
                f"column {header[index]!r} of {p.name} is not numeric ({exc}); encode labels as "
                "integers first"
            ) from None
    raise LossInputError(f"{p.name}: unknown file type {suffix!r}; use .npy, .npz or .csv")


# ----------------------------------------------------------------------------- the rules
def _integer_valued(a: np.ndarray) -> bool:
    if a.dtype.kind in "biu":
        return True
    finite = a[np.isfinite(a)]
    return bool(finite.size) and bool(np.all(finite == np.round(finite)))


def _is_boxes(a: np.ndarray) -> bool:
    return (
        a.ndim == 2
        and a.shape[1] == 4
        and a.dtype.kind == "f"
        and bool(np.all(a[:, 2] >= a[:, 0]))
        and bool(np.all(a[:, 3] >= a[:, 1]))
        and not _integer_valued(a)
    )


def _zero_one(a: np.ndarray) -> bool:
    return a.dtype == bool or bool(np.all((a == 0) | (a == 1)))


def _infer_task(y: np.ndarray, preds: np.ndarray | None) -> str:
    if not np.all(np.isfinite(y.astype(np.float64))):
        raise LossInputError(
            "targets hold NaN or inf; drop or impute those rows first (a loss of a NaN target "
            "is NaN)"
        )
    col = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    if _is_boxes(col):
        return "boxes"
    integer = _integer_valued(col)
    if col.ndim >= 3 or (preds is not None and preds.ndim == col.ndim + 1 and col.ndim >= 2):
        if integer or _zero_one(col):
            return "masks"
    if col.ndim == 2:
        if col.dtype.kind == "f" and not integer:
            if np.all((col >= 0) & (col <= 1)) and np.allclose(col.sum(1), 1.0, atol=1e-3):
                return "distributions"
            return "regression"
        if _zero_one(col):
            return "multiclass" if np.all(col.sum(1) == 1) else "multilabel"
        if integer and col.min() >= 0 and col.max() <= 4:
            return "ranking"
        return "regression"
    if col.ndim != 1:
        return "regression"
    values = np.unique(col)
    if _zero_one(col) or set(values.tolist()) <= {-1, 1}:
        return "binary"
    if integer and values.min() >= 0:
        if preds is not None and preds.ndim == 2 and preds.shape[1] > values.max():
            return "multiclass"  # one score per class
        one_output = preds is not None and preds.shape == col.shape
        contiguous = values.min() <= 1 and len(values) == values.max() - values.min() + 1
        if len(values) <= 100 and contiguous and not one_output:
            return "multiclass"
        if col.dtype.kind in "iu" or values.min() == 0:
            return "counts"
    return "regression"


def _share(counts: np.ndarray) -> np.ndarray:
    share: np.ndarray = counts / max(1, int(counts.sum()))
    return share


def _findings(task: str, y: np.ndarray, preds: np.ndarray | None) -> dict[str, str]:
    """Each finding: its key and its sentence (with the figure that triggered it)."""
    found: dict[str, str] = {}
    col = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 and task != "multilabel" else y
    if task == "binary":
        pos = float(np.mean(col > 0))
        if min(pos, 1 - pos) < 0.2:
            rare = "positives" if pos < 0.5 else "negatives"
            found["imbalance"] = (
                f"imbalanced: {min(pos, 1 - pos):.1%} {rare} (pos_weight = {(1 - pos) / pos:.2g}"
                " balances them)"
                if pos > 0
                else "imbalanced: no positive at all in this sample"
            )
        if set(np.unique(col).tolist()) == {-1, 1}:
            found["signs"] = "labels are -1/+1 (margin losses take them as they are)"
    if task == "multiclass":
        labels = col.argmax(1) if col.ndim == 2 else col.astype(np.int64)
        if col.ndim == 2:
            found["one_hot"] = (
                "one-hot targets: pass the labels (targets.argmax(1)) to a label loss; "
                "cross_entropy takes integer labels"
            )
        classes = int(preds.shape[1]) if preds is not None and preds.ndim == 2 else None
        counts = np.bincount(labels, minlength=classes or 0)
        if classes is None:
            counts = counts[counts > 0]  # without predictions, the classes are those present
        share = _share(counts)
        mean_share = 1.0 / len(counts)
        if share.min() < 0.2 * mean_share:
            found["imbalance"] = (
                f"imbalanced: the rarest class holds {share.min():.1%} of the targets against "
                f"{share.max():.1%} for the commonest ({len(counts)} classes)"
            )
    if task in ("regression", "counts"):
        v = col.astype(np.float64).ravel()
        median = float(np.median(v))
        mad = float(np.median(np.abs(v - median))) * 1.4826
        if mad > 0:
            far = float(np.mean(np.abs(v - median) > 5 * mad))
            if far > 0.01:
                found["outliers"] = (
                    f"outliers: {far:.1%} of the targets lie beyond 5 scaled MADs of the median"
                )
        positive = v[v > 0]
        if v.min() >= 0 and positive.size and positive.max() > 100 * np.median(positive):
            found["skew"] = (
                f"skewed: the largest target is {positive.max() / np.median(positive):.3g} "
                "times the median of the positive ones"
            )
        if v.min() >= 0 and np.mean(v == 0) > 0.3:
            found["zeros"] = f"zero-inflated: {np.mean(v == 0):.0%} of the targets are exactly 0"
        if task == "regression" and len(np.unique(v)) < 0.5 * v.size:
            found["ties"] = (
                f"ties: {len(np.unique(v))} distinct values among {v.size} (discretised or "
                "rounded targets)"
            )
        if task == "counts" and v.size > 1 and v.var() > 2 * v.mean():
            found["overdispersed"] = (
                f"overdispersed counts: variance {v.var():.3g} against mean {v.mean():.3g}"
            )
    if task == "multilabel":
        density = float(np.mean(col))
        found["cardinality"] = (
            f"{col.sum(1).mean():.2g} labels per row of {col.shape[1]} ({density:.1%} positives)"
        )
        if density < 0.1:
            found["imbalance"] = f"sparse labels: {density:.1%} of the entries are positive"
    if task == "masks":
        flat = col.ravel()
        fg = float(np.mean(flat > 0))
        if fg < 0.1:
            found["small"] = f"small structures: foreground is {fg:.1%} of the pixels"
        found["classes"] = f"{len(np.unique(flat))} distinct mask values"
    if preds is not None and task in ("binary", "multiclass", "multilabel", "masks"):
        if preds.dtype.kind == "f" and preds.min() >= 0 and preds.max() <= 1:
            found["probs"] = (
                "the predictions all lie in [0, 1]: probabilities? the logits losses want raw "
                "scores (drop the final sigmoid/softmax); the probability forms are bce and brier"
            )
    return found


def _order(task: str, found: dict[str, str]) -> list[tuple[str, str]]:
    """The candidates, best first, each with the reason that puts it there."""
    if task == "binary":
        out = [("bce_with_logits", "the default for 0/1 targets, stable on raw logits")]
        if "imbalance" in found:
            out.insert(
                0,
                (
                    "sigmoid_focal",
                    "down-weights the many easy examples of the common class (imbalance)",
                ),
            )
            out[1] = (
                "bce_with_logits",
                "with pos_weight = negatives / positives, the calibrated choice under imbalance",
            )
        if "probs" in found:
            out.append(("bce", "takes probabilities, if the model must end in a sigmoid"))
        out += [
            ("brier", "bounded: a mislabelled example costs at most 1"),
            ("squared_hinge", "a margin loss, for scores rather than probabilities"),
        ]
        if "signs" in found:
            out.insert(1, ("soft_margin", "the logistic loss on -1/+1 labels as they are"))
        return out
    if task == "multiclass":
        out = [("cross_entropy", "the default for class labels, on raw logits")]
        if "imbalance" in found:
            out = [
                (
                    "logit_adjusted_cross_entropy",
                    "subtracts the log class priors: balanced error under imbalance",
                ),
                ("softmax_focal", "down-weights the easy, common classes"),
                ("cross_entropy", "with weight= inverse class frequencies, or as it is"),
            ]
        out += [
            ("poly1_cross_entropy", "cross-entropy with a tunable first polynomial term"),
            ("generalized_cross_entropy", "bounded: robust to noisy labels"),
        ]
        return out
    if task == "multilabel":
        out = [
            ("multilabel_soft_margin", "independent logistic losses per label, averaged per row"),
            ("bce_with_logits", "the same per label, averaged over every entry"),
        ]
        if "imbalance" in found:
            out.insert(0, ("asymmetric_loss", "focuses on the rare positives of sparse labels"))
        return out
    if task == "distributions":
        return [
            ("soft_cross_entropy", "cross-entropy against soft labels (logits in)"),
            ("kl_div", "the divergence itself, for log-probabilities (0 at the target)"),
            ("distillation", "a teacher's distribution, with a temperature"),
            ("js_div", "symmetric and bounded, finite where the supports differ"),
        ]
    if task == "masks":
        out = [
            ("dice_cross_entropy", "Dice for overlap plus cross-entropy for stable gradients"),
            ("dice", "overlap directly: insensitive to the background's size"),
        ]
        if "small" in found:
            out = [
                ("focal_tversky", "weights false negatives: small structures are not missed"),
                *out,
            ]
        out += [("lovasz_softmax", "optimises the Jaccard index (IoU) through its extension")]
        return out
    if task == "boxes":
        return [
            ("ciou", "overlap, centre distance and aspect ratio"),
            ("diou", "overlap and centre distance: gradients for boxes that do not overlap"),
            ("giou", "overlap with the enclosing box"),
        ]
    if task == "ranking":
        return [
            ("ranking_softmax", "a listwise softmax over each list's scores"),
            ("margin_ranking", "pairwise margins between two scores"),
        ]
    if task == "counts":
        out = [("poisson_nll", "the likelihood of counts: variance equal to the mean")]
        if "overdispersed" in found or "zeros" in found:
            out.insert(
                0, ("tweedie_deviance", "counts with extra zeros or variance beyond the mean")
            )
        out += [("mse", "if the counts are large and roughly symmetric")]
        return out
    # regression
    out = [("mse", "the default for real targets: its minimiser is the conditional mean")]
    if "outliers" in found:
        out = [
            ("huber", "quadratic near the target, linear beyond delta: outliers pull less"),
            ("pseudo_huber", "Huber's robustness with a smooth gradient"),
            ("mae", "the median: outliers pull no harder than a typical point"),
            ("mse", "only if the outliers are real signal"),
        ]
    if "skew" in found:
        out.insert(0, ("msle", "squared error of log(1 + y): relative errors for skewed values"))
    if "zeros" in found:
        out.insert(0, ("tweedie_deviance", "zero-inflated non-negative values"))
    out += [
        ("gaussian_nll", "if the model also predicts a variance (uncertainty)"),
        ("quantile", "for a quantile (prediction intervals) instead of the mean"),
    ]
    return out


def suggest(
    targets: Any,
    preds: Any = None,
    *,
    task: str | None = None,
    top: int = 5,
) -> Suggestion:
    """Infer the task from ``targets`` (and ``preds``' shape), notice what matters for the
    loss, and recommend up to ``top`` losses from the registry, best first, each with a reason.

    Args:
        targets: the targets of a sample of the data (array, tensor or list).
        preds: optional model outputs for the same sample (their shape tells classes from
            counts, and values in [0, 1] are noticed as probabilities).
        task: one of :data:`TASKS` to skip the inference (the findings still run).
        top: how many candidates to return.

    Returns:
        A :class:`Suggestion` (``print`` it for a readable report).

    Raises:
        LossInputError: targets that are not numbers, empty, or hold NaN; an unknown task.

    Example:
        >>> import losskit
        >>> losskit.suggest([0, 1, 0, 0, 1, 1, 0, 1]).names[0]
        'bce_with_logits'
    """
    y = _as_array(targets, "targets")
    p = _as_array(preds, "preds") if preds is not None else None
    inferred = task is None
    if task is None:
        task = _infer_task(y, p)
    elif task not in TASKS:
        raise LossInputError(f"task must be one of {TASKS}, got {task!r}")
    if not isinstance(top, int) or top < 1:
        raise LossInputError(f"top must be an integer >= 1, got {top!r}")
    found = _findings(task, y, p)
    candidates: list[Candidate] = []
    for name, why in _order(task, found):
        try:
            spec = get_spec(name)
        except UnknownLossError:
            continue
        if spec.name in (c.name for c in candidates):
            continue
        # the spec's properties, after the task's reason: what the loss is, from the registry
        props = sorted(str(p).replace("_", " ") for p in spec.properties)
        reason = f"{why} ({', '.join(props)})" if props else why
        candidates.append(Candidate(spec.name, reason))
    notes: tuple[str, ...] = ()
    if task == "regression" and y.ndim == 2 and y.shape[1] > 1:
        notes = ("several target columns: each loss averages over all of them (scale them alike)",)
    if inferred and task == "multiclass" and y.ndim == 1 and p is None:
        notes = (
            "integer targets read as class labels; if they are counts, pass task='counts' (or "
            "predictions of the targets' shape)",
        )
    return Suggestion(
        task=task,
        shape=tuple(int(s) for s in y.shape),
        findings=tuple(found.values()),
        candidates=tuple(candidates[:top]),
        notes=notes,
    )
