"""How the audit samples predictions and targets: one :class:`Problem` per task.

A problem draws a batch of *latent* predictions (unconstrained numbers) and the targets; the
loss sees ``to_input(latent)`` (the identity for values and logits, a sigmoid or softmax for
probabilities, a log-softmax for log-probabilities, a box parametrisation for boxes), so every
step the audit takes stays a valid input. It also says what "better" means: the latent point
of the target where it is reachable (regression, probabilities of a distribution, boxes), or a
direction of growing confidence in the true class where it is not (logits).

Which problem a registered loss gets is read from its spec (family, input space, activation,
target kind). A loss whose family has no built-in problem (embeddings, sequences, large
vocabularies, ...) is drawn from its declared example factory (``spec.example``), with the
checks that need a target marked not applicable; the factory also gives the required options a
task problem does not draw (``alpha``, ``df``, ``class_priors``). Docstring examples are never
run: editing one does not change the audit.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._spec import Activation, LossSpec, Targets
from losskit.losses._examples import Example, ExampleFactory

__all__ = ["DTYPE", "EXAMPLE_N", "Others", "Problem", "Slice", "as_loss_value", "candidates"]

DTYPE = torch.float64
Others = tuple[Any, ...]


def as_loss_value(out: Any) -> Tensor:
    """Whatever a function returned, as one scalar tensor (a sum when it returned several
    values). Python numbers and NumPy values become tensors without a graph."""
    value = out if isinstance(out, Tensor) else torch.as_tensor(float(out), dtype=DTYPE)
    return value if value.numel() == 1 else value.sum()


@dataclass
class Problem:
    """A sampled task for one function ``fn(preds, *others, **options)``."""

    task: str
    input_space: str
    fn: Callable[..., Any]
    describe: str
    draw: Callable[[torch.Generator, int], tuple[Tensor, Others]]
    to_input: Callable[[Tensor], Tensor]
    options: dict[str, Any] = field(default_factory=dict)
    # the latent point that predicts the targets exactly, where one exists
    target_latent: Callable[[Others], Tensor] | None = None
    # where none exists: the direction of more confidence in the true class
    confident: Callable[[Others], Tensor] | None = None
    # per point (index of dim 0): is the prediction still wrong?
    wrong: Callable[[Tensor, Others], Tensor] | None = None
    # 1: binary probabilistic predictions; C >= 2: over C classes; 0: no scoring-rule check
    classes: int = 0
    # the loss accepts reduction="none" and returns one value per point (or more)
    none_ok: bool = False
    # a point far from right, where the default of `far` does not fit (boxes)
    far_from_target: Callable[[Tensor, Others, float, Tensor], Tensor] | None = None
    # how far "extreme" is, in latent units (logits and residuals of 1e4; less in log space)
    extreme: float = 1e4
    # fixed batch size (an example factory's), or None when any size can be drawn
    fixed_n: int | None = None
    # make targets: binary -> (value,) ; multiclass -> (label,) ; used by the scoring rule check
    constant_targets: Callable[[int, float], Others] | None = None
    # 1-D slices for the pictures: (label, axis name, axis values, axis -> (preds, others))
    slices: Callable[[], list[Slice]] = list

    def call(self, preds: Tensor, others: Others, **extra: Any) -> Tensor:
        return as_loss_value(self.fn(preds, *others, **{**self.options, **extra}))

    def far(self, latent: Tensor, others: Others, scale: float, sign: Tensor) -> Tensor:
        """A point ``scale`` away from right: an outlier or a confident mistake."""
        if self.far_from_target is not None:
            return self.far_from_target(latent, others, scale, sign)
        if self.target_latent is not None:
            return self.target_latent(others) + scale * sign
        if self.confident is not None:
            return -scale * self.confident(others)
        return latent * scale

    def per_point(self, preds: Tensor, others: Others, *, loop: bool = True) -> Tensor:
        """The loss of each point (index of dim 0) on its own: from ``reduction="none"`` where
        the loss has it, else one call per point (``loop``)."""
        n = preds.shape[0]
        if self.none_ok:
            out = self.fn(preds, *others, **{**self.options, "reduction": "none"})
            if isinstance(out, Tensor) and out.dim() >= 1 and out.shape[0] == n:
                return out.reshape(n, -1).sum(1)
        if not loop:
            raise ValueError("no per-point losses without a loop")
        values = [self.call(preds[i : i + 1], _rows(others, n, i, i + 1)) for i in range(n)]
        return torch.stack([v.to(DTYPE) for v in values])


@dataclass(frozen=True)
class Slice:
    label: str
    axis: str
    values: Tensor
    make: Callable[[Tensor], tuple[Tensor, Others]]
    # the 0-1 error a metric would count along the same axis (None where there is none)
    step: Callable[[Tensor], Tensor] | None = None
    # the axis value of the target (regression), so a plot can show the residual
    center: float = 0.0


def _rows(others: Others, n: int, lo: int, hi: int) -> Others:
    return tuple(
        o[lo:hi] if isinstance(o, Tensor) and o.dim() >= 1 and o.shape[0] == n else o
        for o in others
    )


def _randn(gen: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(shape, generator=gen, dtype=DTYPE)


def _bits(gen: torch.Generator, *shape: int) -> Tensor:
    return torch.randint(0, 2, shape, generator=gen).to(DTYPE)


def _onehot(labels: Tensor, num_classes: int, dim: int = 1) -> Tensor:
    # one_hot appends the class dim last; move it to `dim`
    return F.one_hot(labels, num_classes).to(DTYPE).movedim(-1, dim)


# ----------------------------------------------------------------------------- regression
def _regression(fn: Callable[..., Any], options: dict[str, Any], kind: str) -> Problem:
    """``kind``: "real" (any targets), "positive" (positive targets and predictions), "log"
    (positive targets, predictions are their logs: activation exp)."""
    positive = kind != "real"

    def draw(gen: torch.Generator, n: int) -> tuple[Tensor, Others]:
        if positive:
            targets = torch.exp(0.5 * _randn(gen, n))
            return targets.log() + 0.7 * _randn(gen, n), (targets,)
        targets = _randn(gen, n)
        return targets + 1.5 * _randn(gen, n), (targets,)

    to_input = torch.exp if kind == "positive" else (lambda z: z)

    def target_latent(others: Others) -> Tensor:
        targets: Tensor = others[0]
        return targets.log() if positive else targets

    def slices() -> list[Slice]:
        if positive:
            values = torch.linspace(0.05, 5.0, 200, dtype=DTYPE)
            latent = values.log() if kind == "positive" else values
            axis = "prediction" if kind == "positive" else "prediction (log of the mean)"
            pairs = [(1.0, "target 1"), (3.0, "target 3")]
        else:
            values = torch.linspace(-4.0, 4.0, 241, dtype=DTYPE)
            latent, axis, pairs = values, "prediction", [(0.0, "target 0"), (2.0, "target 2")]
        out = []
        for t, label in pairs:

            def make(v: Tensor, t: float = t) -> tuple[Tensor, Others]:
                z = v.log() if kind == "positive" else v
                return to_input(z), (torch.full_like(v, t),)

            def step(v: Tensor, t: float = t) -> Tensor:
                pred = v.exp() if kind == "log" else v
                return ((pred - t).abs() > 0.5).to(DTYPE)

            out.append(Slice(label, axis, values, make, step, center=t))
        del latent
        return out

    return Problem(
        task="regression",
        input_space="values",
        fn=fn,
        options=options,
        describe={
            "real": "predictions and targets ~ N(0, 1), residuals ~ N(0, 1.5^2)",
            "positive": "positive targets (log-normal) and positive predictions",
            "log": "positive targets; predictions are log-means (the loss applies exp)",
        }[kind],
        draw=draw,
        to_input=to_input,
        target_latent=target_latent,
        wrong=lambda z, o: (z - target_latent(o)).abs() > 1e-12,
        slices=slices,
        # exp(1e4) overflows in any dtype: in log space, an error of 30 is e^30 ~ 1e13 times off
        extreme=30.0 if kind == "log" else 1e4,
    )


# ----------------------------------------------------------------------------- binary
def _binary(
    fn: Callable[..., Any],
    options: dict[str, Any],
    input_space: str,
    *,
    task: str = "binary",
    tail: tuple[int, ...] = (),
) -> Problem:
    """0/1 targets, one logit (or probability) per element; ``tail`` is the shape after the
    batch dimension (labels of a multilabel problem, pixels of a mask)."""
    to_input = torch.sigmoid if input_space == "probs" else (lambda z: z)

    def draw(gen: torch.Generator, n: int) -> tuple[Tensor, Others]:
        return 3.0 * _randn(gen, n, *tail), (_bits(gen, n, *tail),)

    def wrong(z: Tensor, o: Others) -> Tensor:
        targets: Tensor = o[0]
        return ((z > 0).to(DTYPE) != targets).reshape(z.shape[0], -1).any(1)

    def slices() -> list[Slice]:
        logits = torch.linspace(-8.0, 8.0, 241, dtype=DTYPE)
        probs = torch.linspace(0.002, 0.998, 200, dtype=DTYPE)
        out = []
        for axis, values, latent in (
            ("logit", logits, lambda v: v),
            ("probability", probs, torch.logit),
        ):
            for t in (1.0, 0.0):

                def make(v: Tensor, t: float = t, latent: Any = latent) -> tuple[Tensor, Others]:
                    z = latent(v).reshape(-1, *([1] * len(tail))).expand(-1, *tail)
                    return to_input(z), (torch.full(z.shape, t, dtype=DTYPE),)

                cut = 0.0 if axis == "logit" else 0.5

                def step(v: Tensor, t: float = t, cut: float = cut) -> Tensor:
                    return ((v > cut).to(DTYPE) != t).to(DTYPE)

                out.append(Slice(f"target {t:g}", axis, values, make, step))
        return out

    def constant(n: int, t: float) -> Others:
        return (torch.full((n, *tail), t, dtype=DTYPE),)

    shape = "".join(f", {s}" for s in tail)
    return Problem(
        task=task,
        input_space=input_space,
        fn=fn,
        options=options,
        describe=f"{input_space} (N{shape}) from logits ~ N(0, 3^2), targets 0/1",
        draw=draw,
        to_input=to_input,
        confident=lambda o: 2.0 * o[0] - 1.0,
        wrong=wrong,
        classes=1 if not tail else 0,
        constant_targets=constant if not tail else None,
        slices=slices if not tail else list,
    )


# ----------------------------------------------------------------------------- multiclass
def _multiclass(
    fn: Callable[..., Any],
    options: dict[str, Any],
    input_space: str,
    *,
    task: str = "multiclass",
    num_classes: int = 3,
    soft_targets: bool = False,
    tail: tuple[int, ...] = (),
) -> Problem:
    """Scores over C classes in dim 1; integer labels (or one-hot targets of the same shape)."""
    c = num_classes
    to_input: Callable[[Tensor], Tensor] = {
        "probs": lambda z: torch.softmax(z, 1),
        "log_probs": lambda z: torch.log_softmax(z, 1),
    }.get(input_space, lambda z: z)

    def labels_of(o: Others) -> Tensor:
        targets: Tensor = o[0]
        return targets.argmax(1) if soft_targets else targets

    def make_targets(labels: Tensor) -> Others:
        return (_onehot(labels, c) if soft_targets else labels,)

    def draw(gen: torch.Generator, n: int) -> tuple[Tensor, Others]:
        z = 3.0 * _randn(gen, n, c, *tail)
        return z, make_targets(torch.randint(0, c, (n, *tail), generator=gen))

    def confident(o: Others) -> Tensor:
        return _onehot(labels_of(o), c) - 1.0 / c

    def wrong(z: Tensor, o: Others) -> Tensor:
        return (z.argmax(1) != labels_of(o)).reshape(z.shape[0], -1).any(1)

    def slices() -> list[Slice]:
        logits = torch.linspace(-8.0, 8.0, 241, dtype=DTYPE)
        probs = torch.linspace(0.002, 0.998, 200, dtype=DTYPE)

        def as_true_logit(p: Tensor) -> Tensor:
            # the true class has probability p when its logit is log(p (C-1) / (1-p)), others 0
            return torch.log(p * (c - 1) / (1 - p))

        out = []
        for axis, values, latent in (
            ("logit", logits, lambda v: v),
            ("probability", probs, as_true_logit),
        ):
            for cls, label in ((0, "true class"), (1, "a wrong class")):
                if axis == "probability" and cls:
                    continue

                def make(v: Tensor, cls: int = cls, latent: Any = latent) -> tuple[Tensor, Others]:
                    z = torch.zeros(len(v), c, dtype=DTYPE)
                    z = z + _onehot(torch.full((len(v),), cls), c) * latent(v)[:, None]
                    return to_input(z), make_targets(torch.zeros(len(v), dtype=torch.long))

                def step(v: Tensor, cls: int = cls, axis: str = axis) -> Tensor:
                    cut = 0.0 if axis == "logit" else 1.0 / c
                    right = v > cut if cls == 0 else v <= 0.0
                    return (~right).to(DTYPE)

                out.append(Slice(f"{label}'s {axis} varies", axis, values, make, step))
        return out

    def constant(n: int, k: float) -> Others:
        return make_targets(torch.full((n, *tail), int(k), dtype=torch.long))

    what = "one-hot targets" if soft_targets else "integer labels"
    return Problem(
        task=task,
        input_space=input_space,
        fn=fn,
        options=options,
        describe=f"{input_space} (N, {c}) from logits ~ N(0, 3^2), {what}",
        draw=draw,
        to_input=to_input,
        confident=confident,
        wrong=wrong,
        classes=c if not tail else 0,
        constant_targets=constant if not tail else None,
        slices=slices if not tail else list,
    )


# ----------------------------------------------------------------------------- distributions
def _divergence(
    fn: Callable[..., Any], options: dict[str, Any], input_space: str, *, log_targets: bool
) -> Problem:
    """Predicted distributions over C = 5 in dim 1 against target distributions."""
    to_input: Callable[[Tensor], Tensor] = {
        "probs": lambda z: torch.softmax(z, 1),
        "log_probs": lambda z: torch.log_softmax(z, 1),
    }.get(input_space, lambda z: z)

    def draw(gen: torch.Generator, n: int) -> tuple[Tensor, Others]:
        q = torch.softmax(_randn(gen, n, 5), 1)
        return 2.0 * _randn(gen, n, 5), (q.log() if log_targets else q,)

    def target_latent(o: Others) -> Tensor:
        targets: Tensor = o[0]
        return targets if log_targets else targets.log()

    def wrong(z: Tensor, o: Others) -> Tensor:
        return (torch.softmax(z, 1) - torch.softmax(target_latent(o), 1)).abs().amax(1) > 1e-9

    return Problem(
        task="divergence",
        input_space=input_space,
        fn=fn,
        options=options,
        describe=f"{input_space} (N, 5) against target distributions"
        + (" given as log-probabilities" if log_targets else ""),
        draw=draw,
        to_input=to_input,
        target_latent=target_latent,
        wrong=wrong,
    )


# ----------------------------------------------------------------------------- boxes
def _boxes_of(latent: Tensor) -> Tensor:
    """(cx, cy, log w, log h) -> (x1, y1, x2, y2): every latent point is a valid box."""
    cx, cy, lw, lh = latent.unbind(-1)
    w, h = lw.exp(), lh.exp()
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), -1)


def _latent_of(boxes: Tensor) -> Tensor:
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1).log(), (y2 - y1).log()), -1)


def _boxes(fn: Callable[..., Any], options: dict[str, Any]) -> Problem:
    def draw(gen: torch.Generator, n: int) -> tuple[Tensor, Others]:
        t = torch.cat((3.0 * _randn(gen, n, 2), 0.5 * _randn(gen, n, 2) + 1.0), 1)
        return t + torch.cat((_randn(gen, n, 2), 0.4 * _randn(gen, n, 2)), 1), (_boxes_of(t),)

    def far(latent: Tensor, o: Others, scale: float, sign: Tensor) -> Tensor:
        # far away = moved, not blown up: exp of a huge log-size would overflow
        shift = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=DTYPE)
        return _latent_of(o[0]) + scale * sign * shift

    return Problem(
        task="boxes",
        input_space="boxes",
        fn=fn,
        options=options,
        describe="(x1, y1, x2, y2) boxes near target boxes (sizes ~ e^1)",
        draw=draw,
        to_input=_boxes_of,
        target_latent=lambda o: _latent_of(o[0]),
        wrong=lambda z, o: (z - _latent_of(o[0])).abs().amax(1) > 1e-9,
        far_from_target=far,
    )


# ----------------------------------------------------------------------------- example factory
# The size the audit asks a loss's example factory for: the main tensor has about this many
# elements (a few rows of a batch), small enough for the hundreds of calls the audit makes.
EXAMPLE_N = 64


def _f64(x: Any) -> Any:
    return x.to(DTYPE) if isinstance(x, Tensor) and x.is_floating_point() else x


def _sums_to_one(x: Tensor) -> int | None:
    for dim in range(x.dim()):
        if x.shape[dim] > 1 and torch.allclose(
            x.sum(dim), torch.ones((), dtype=x.dtype), atol=1e-4
        ):
            return dim
    return None


def _sampled(
    fn: Callable[..., Any],
    options: dict[str, Any],
    spec_input: str,
    task: str,
    make: ExampleFactory,
    seed: int,
) -> Problem | None:
    """Sample from the loss's example factory: each draw asks the factory for fresh inputs
    (targets, labels, the other tensors of a pair or triplet) and draws the predictions afresh
    in a latent space that keeps them valid (a softmax or log-softmax where the example's
    predictions are distributions, exp where they are non-negative)."""
    probe = make(EXAMPLE_N, torch.Generator().manual_seed(seed))
    args = probe.args
    if not args or not isinstance(args[0], Tensor) or not args[0].is_floating_point():
        return None
    x0 = args[0].detach().to(DTYPE)
    shape = tuple(x0.shape)
    dim = _sums_to_one(x0.exp() if spec_input == "log_probs" else x0)
    to_input: Callable[[Tensor], Tensor]
    if spec_input == "boxes" and shape and shape[-1] == 4:
        to_input = _boxes_of
    elif spec_input == "probs":
        to_input = (lambda z: torch.softmax(z, dim)) if dim is not None else torch.sigmoid
    elif spec_input == "log_probs":
        to_input = (lambda z: torch.log_softmax(z, dim)) if dim is not None else F.logsigmoid
    elif x0.numel() and bool((x0 >= 0).all()):
        to_input = torch.exp  # non-negative in the example (distances): kept non-negative
    else:
        to_input = lambda z: z  # noqa: E731
    scale = max(float(x0.std()) if x0.numel() > 1 else 1.0, 1.0)

    def draw(gen: torch.Generator, n: int) -> tuple[Tensor, Others]:
        # the factory's size, not the audit's batch size: every draw has the same shape
        example = make(EXAMPLE_N, gen)
        latent = scale * _randn(gen, *shape)
        return latent, tuple(_f64(a) for a in example.args[1:])

    return Problem(
        task=task,
        input_space=spec_input,
        fn=fn,
        options={**{k: _f64(v) for k, v in probe.kwargs.items()}, **options},
        describe=f"{spec_input} of shape {shape} drawn with the loss's example factory "
        f"({getattr(make, '__name__', 'example')})",
        draw=draw,
        to_input=to_input,
        fixed_n=shape[0] if shape else 1,
        extreme=30.0 if to_input is torch.exp else 1e4,
    )


_SCALES = ("var", "variance", "std", "scale", "sigma")


@dataclass(frozen=True)
class _Completed:
    fn: Callable[..., Any]
    options: dict[str, Any]
    note: str
    # the classes of the example a tensor option was taken from (class priors): 0 when none
    classes: int = 0


def _completed(
    fn: Callable[..., Any], example: Example | None, opts: dict[str, Any]
) -> _Completed | None:
    """``fn`` with what a task problem does not draw filled in: required keyword-only options
    from the loss's example factory, a scale argument (``var``, ``std``, ``scale``, ...) of
    ones. None when it needs something else (or takes no targets): then only the example fits."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return _Completed(fn, opts, "")
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p for p in params if p.kind in kinds]
    if len(positional) < 2 or positional[1].default is not inspect.Parameter.empty:
        return None  # no required targets: a regulariser, not a task problem
    extra = [p.name for p in positional[2:] if p.default is inspect.Parameter.empty]
    if any(name not in _SCALES for name in extra):
        return None
    required = [
        p.name
        for p in params
        if p.kind is inspect.Parameter.KEYWORD_ONLY
        and p.default is inspect.Parameter.empty
        and p.name not in opts
    ]
    opts = dict(opts)
    classes = 0
    if required:
        if example is None or any(name not in example.kwargs for name in required):
            return None
        opts.update({name: _f64(example.kwargs[name]) for name in required})
        tensors = [name for name in required if isinstance(opts[name], Tensor)]
        x0 = example.args[0] if example.args else None
        if tensors and isinstance(x0, Tensor) and x0.dim() >= 2:
            classes = x0.shape[1]  # a per-class option fits the example's classes only
    note = "; ".join(
        [f"{name} = 1" for name in extra]
        + [
            f"{name} from the example factory"
            if isinstance(opts[name], Tensor)
            else f"{name} = {opts[name]!r}"
            for name in required
        ]
    )
    if not extra:
        return _Completed(fn, opts, note, classes)

    def with_scales(preds: Tensor, *others: Any, **kw: Any) -> Any:
        return fn(preds, *others, *(torch.ones_like(preds) for _ in extra), **kw)

    return _Completed(with_scales, opts, note, classes)


# ----------------------------------------------------------------------------- choosing
def candidates(
    fn: Callable[..., Any],
    task: str,
    input_space: str,
    *,
    spec: LossSpec | None = None,
    options: dict[str, Any] | None = None,
    seed: int = 0,
) -> list[Callable[[], Problem | None]]:
    """The problems to try, in order, for ``fn`` on ``task``: the audit uses the first whose
    call succeeds with a finite value. A registered loss's last resort is its example factory
    (``spec.example``), which is also where its required options come from."""
    opts = dict(options or {})
    activation = spec.activation if spec else Activation.IDENTITY
    make = spec.example if spec is not None else None
    example = make(EXAMPLE_N, torch.Generator().manual_seed(seed)) if make else None
    # the last resort: the loss's example factory (none for a user's own function)
    last: list[Callable[[], Problem | None]] = (
        [partial(_sampled, fn, opts, input_space, spec.family, make, seed)]
        if spec is not None and make is not None
        else []
    )
    out: list[Callable[[], Problem | None]] = []
    done = _completed(fn, example, opts)
    if done is None:
        return last  # no task problem fits
    f, o = done.fn, done.options
    if task == "regression":
        kinds: Sequence[str] = (
            ("log",) if activation == Activation.EXP else ("real", "positive", "log")
        )
        out += [partial(_regression, f, o, k) for k in kinds]
    elif task == "binary":
        out.append(partial(_binary, f, o, input_space))
    elif task in ("multiclass", "large_vocab") and input_space != "hidden":
        soft = spec is not None and spec.targets == Targets.CLASS_PROBS
        c = done.classes or 3
        out += [
            partial(_multiclass, f, o, input_space, num_classes=c, soft_targets=s)
            for s in (soft, not soft)
        ]
    elif task == "multilabel":
        out.append(partial(_binary, f, o, input_space, task=task, tail=(5,)))
    elif task == "overlap":
        sig = partial(_binary, f, o, input_space, task=task, tail=(1, 6, 6))
        by_label = [
            partial(_multiclass, f, o, input_space, task=task, soft_targets=s, tail=(6, 6))
            for s in (False, True)
        ]
        out += [*by_label, sig] if activation == Activation.SOFTMAX else [sig, *by_label]
    elif task == "divergence":
        # the registered divergences all accept log-probability targets: try those first
        order = (True, False) if spec is not None else (False, True)
        out += [partial(_divergence, f, o, input_space, log_targets=lt) for lt in order]
    elif task == "boxes":
        out.append(partial(_boxes, fn, opts))
    if done.note:
        out = [partial(_noted, make_problem, done.note) for make_problem in out]
    return out + last


def _noted(make: Callable[[], Problem | None], note: str) -> Problem | None:
    problem = make()
    if problem is not None:
        problem.describe += f" ({note})"
    return problem
