"""Train a 3-vs-7 classifier with plain SGD: the seven steps of fastai's chapter 4, in one loop.

1. initialise the weights, 2. predict, 3. compute the loss, 4. compute the gradient, 5. step the
weights, 6. repeat, 7. stop. :func:`fit` spells them out as commented stanzas; :func:`evaluate`
measures validation accuracy without building a graph.

The step is written by hand, ``p -= lr * p.grad``, rather than with ``torch.optim.SGD``: for
plain SGD (no momentum, no weight decay) the two give the same weights bit for bit (a test
checks it), and the hand-written line *is* the update rule ``w <- w - lr * dL/dw`` that the
seven steps teach, where an optimizer object would hide it behind ``.step()``. It also makes
the seed lesson visible: with accuracy as the loss every ``p.grad`` is exactly zero, so
``p -= lr * 0`` leaves every weight as it was.

Runs repeat exactly: the initial weights come from :func:`make_model` (seeded, without touching
the global random state) and the data order from a seeded ``torch.Generator``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TextIO

import torch
from torch import Tensor, nn

from losskit._checks import LossInputError, check_option, checks, get_check_mode
from losskit._spec import get_spec
from losskit._threads import torch_threads
from losskit.data import BinaryDataset
from losskit.metrics import accuracy, accuracy_as_loss

__all__ = [
    "MODELS",
    "TrainResult",
    "check_settings",
    "evaluate",
    "fit",
    "log_line",
    "make_model",
    "objective",
    "torch_threads",
]

MODELS = ("linear", "mlp")
ACCURACY = "accuracy"  # not a registered loss: the metric, tried as a loss to show that it fails


def make_model(name: str, *, seed: int = 0, n_in: int = 784, hidden: int = 30) -> nn.Module:
    """A fresh model with one output (a logit) per image, initialised from ``seed``.

    ``linear``: ``n_in -> 1``; ``mlp``: ``n_in -> hidden -> ReLU -> 1``. PyTorch's default
    initialisation, drawn in a forked random state: the same ``seed`` gives the same weights and
    the global random state is left as it was.
    """
    if name not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {name!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "linear":
            return nn.Linear(n_in, 1)
        return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, 1))


def objective(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The training loss ``f(logits, targets)`` for the loss called ``name``, on this binary task.

    A registered loss on logits (``mnist_loss``, ``bce_with_logits``) gets the model's raw
    outputs; one on values or probabilities (``mse``, ``mae``, ``rmse``, ``bce``) gets
    ``sigmoid(outputs)``, so its predictions live in [0, 1] like the 0/1 targets. ``"accuracy"``
    is :func:`losskit.metrics.accuracy_as_loss`.

    The loss is tried once on two items, so one that needs more than predictions and targets
    (a variance, a required option) is refused here rather than in the middle of training.

    Raises:
        UnknownLossError: no loss of that name.
        LossInputError: a loss that does not fit one logit per image and 0/1 targets.
    """
    if name == ACCURACY:
        return accuracy_as_loss
    spec = get_spec(name)
    if spec.family not in ("binary", "regression") or spec.input_space not in (
        "logits",
        "values",
        "probs",
    ):
        raise LossInputError(
            f"{spec.name} is a {spec.family} loss on {spec.input_space}; this task has one "
            "logit per image and 0/1 targets, so it takes binary or regression losses "
            "(mnist_loss, bce_with_logits, mse, ...) or 'accuracy'"
        )
    if spec.input_space == "logits":
        loss_fn = spec.function
    else:

        def loss_fn(logits: Tensor, targets: Tensor) -> Tensor:
            return spec.function(torch.sigmoid(logits), targets)

    try:  # a loss that needs more than (predictions, targets) fails here, not mid-comparison
        loss_fn(torch.zeros(2), torch.tensor([1.0, 0.0]))
    except (TypeError, ValueError) as exc:
        raise LossInputError(
            f"{spec.name} cannot train this task as {spec.name}(predictions, targets) with its "
            f"default options: {exc}"
        ) from exc
    return loss_fn


def check_settings(*, epochs: int, lr: float, batch_size: int, threads: int | None = 1) -> None:
    """Refuse settings SGD cannot use, before any data is loaded."""
    check_option("epochs", epochs, low=1)
    check_option("lr", lr, low=0, low_open=True)
    check_option("batch_size", batch_size, low=1)
    if threads is not None:
        check_option("threads", threads, low=1)


@dataclass
class TrainResult:
    """What one training run did, epoch by epoch."""

    loss: str
    epochs: int  # epochs completed: fewer than asked when the run diverged
    train_loss: list[float]  # mean training loss of each epoch, in the loss's own units
    valid_accuracy: list[float]  # validation accuracy after each epoch
    initial_valid_accuracy: float  # validation accuracy of the initial weights
    seconds: float  # wall time of the training loop
    weights_moved: bool  # whether any weight differs from its initial value
    diverged: bool = False  # stopped early: outputs or loss no longer finite

    @property
    def final_train_loss(self) -> float | None:
        return self.train_loss[-1] if self.train_loss else None

    @property
    def final_valid_accuracy(self) -> float:
        return self.valid_accuracy[-1] if self.valid_accuracy else self.initial_valid_accuracy

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "final_train_loss": self.final_train_loss,
            "final_valid_accuracy": self.final_valid_accuracy,
        }


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Accuracy of ``model`` on ``x`` ``(N, 784)`` against 0/1 labels ``y`` ``(N,)``: an image
    counts as a 3 when its logit is above 0 (its sigmoid above 0.5)."""
    model.eval()
    logits = model(x).squeeze(-1)  # (N, 1) -> (N,)
    if not bool(torch.isfinite(logits).all()):
        return math.nan  # the model has overflowed: no accuracy to speak of
    return float(accuracy(logits, y, logits=True))


def fit(
    model: nn.Module,
    data: BinaryDataset,
    loss: str = "mnist_loss",
    *,
    epochs: int = 20,
    lr: float = 1.0,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = True,
    stream: TextIO | None = None,
) -> TrainResult:
    """Train ``model`` in place with plain mini-batch SGD on ``loss``; return its history.

    Each epoch visits the training set once in an order drawn from ``seed``; the loss's mean
    over the epoch and the validation accuracy after it are recorded. Training stops early, with
    ``diverged=True``, when the outputs or the loss stop being finite (the learning rate is too
    large for this loss); the result then holds the epochs completed before.

    ``progress`` reports on ``stream`` (default: ``sys.stderr``): on a terminal, a tqdm bar that
    moves once per batch; anywhere else (a log, a pipe), one line when the run ends, so a log
    holds one line per loss. Small models train faster on one thread: see :func:`torch_threads`.
    """
    check_settings(epochs=epochs, lr=lr, batch_size=batch_size)
    loss_fn = objective(loss)
    x, y = data.x_train, data.y_train  # (N, 784), (N,)
    n = len(x)

    # 1. initialise: the weights arrive initialised (make_model); keep a copy to compare at the end
    params: list[Tensor] = list(model.parameters())
    initial = [p.detach().clone() for p in params]
    initial_accuracy = evaluate(model, data.x_valid, data.y_valid)
    generator = torch.Generator().manual_seed(seed)  # the data order, independent of global RNG
    train_loss: list[float] = []
    valid_accuracy: list[float] = []
    start = time.perf_counter()

    diverged = False
    hot_mode = "shapes" if get_check_mode() in ("full", "debug") else get_check_mode()
    stream = stream or sys.stderr
    bar = _bar(loss, epochs * math.ceil(n / batch_size), stream) if progress else None
    for _ in range(epochs):  # 6. repeat: one pass over the shuffled training set per epoch
        model.train()
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            xb, yb = x[idx], y[idx]  # (B, 784), (B,)

            # 2. predict: one logit per image
            logits = model(xb).squeeze(-1)  # (B, 1) -> (B,)
            # 3. loss: how far the predictions are from the targets (inputs fully checked on
            # the first batch, shapes only after it: the checks cost nothing in the hot loop)
            with checks(hot_mode if i or train_loss else get_check_mode()):  # type: ignore[arg-type]
                batch_loss = loss_fn(logits, yb)
            # 4. gradient: d(loss)/d(weight) for every weight, into p.grad
            batch_loss.backward()  # type: ignore[no-untyped-call]
            # 5. step: move each weight a little against its gradient, then forget the gradient
            with torch.no_grad():
                for p in params:
                    if p.grad is not None:
                        p -= lr * p.grad
                    p.grad = None

            total += batch_loss.item() * len(idx)
            if bar is not None:
                bar.update(1)
        # 7. stop: early if the loss or the outputs overflowed (a learning rate too large for this
        # loss; evaluate gives NaN for non-finite outputs), else after the last epoch; the
        # validation curve says whether that was enough
        accuracy_now = evaluate(model, data.x_valid, data.y_valid)
        diverged = not (math.isfinite(total) and math.isfinite(accuracy_now))
        if diverged:
            break
        train_loss.append(total / n)
        valid_accuracy.append(accuracy_now)
        if bar is not None:
            bar.set_postfix_str(
                f"epoch {len(train_loss)}, loss {train_loss[-1]:.4f}, acc {valid_accuracy[-1]:.3f}"
            )

    seconds = time.perf_counter() - start
    moved = any(not torch.equal(p.detach(), p0) for p, p0 in zip(params, initial, strict=True))
    result = TrainResult(
        loss=loss,
        epochs=len(train_loss),
        train_loss=train_loss,
        valid_accuracy=valid_accuracy,
        initial_valid_accuracy=initial_accuracy,
        seconds=seconds,
        weights_moved=moved,
        diverged=diverged,
    )
    if bar is not None:
        bar.close()
    elif progress:  # not a terminal: one line for the whole run
        print(log_line(result), file=stream, flush=True)
    return result


def _bar(loss: str, total: int, stream: TextIO) -> Any:
    """A tqdm bar over every batch of the run on a terminal; None elsewhere (a log gets one
    line at the end instead of tqdm's redrawn lines) or when tqdm is not installed."""
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()):
        return None
    try:
        from tqdm import tqdm  # imported here: only a terminal needs it
    except ImportError:  # the core without the cli extra: the one line instead
        return None

    return tqdm(
        total=total,
        desc=f"{loss:>16}",
        file=stream,
        dynamic_ncols=True,  # the terminal's width, even when it changes
        bar_format="{desc} {bar} {n_fmt}/{total_fmt} batches {elapsed}{postfix}",
        postfix="epoch 0",
    )


def log_line(result: TrainResult) -> str:
    """One line that sums up a run, as :func:`fit` writes it where there is no terminal: the
    loss, the epochs, the training loss and validation accuracy from first to last epoch."""
    line = f"{result.loss:>16}  {result.epochs} epoch{'s' if result.epochs != 1 else ''}"
    if result.train_loss:
        line += f"  loss {result.train_loss[0]:.4f} -> {result.train_loss[-1]:.4f}"
    line += f"  acc {result.initial_valid_accuracy:.3f} -> {result.final_valid_accuracy:.3f}"
    return line + ("  diverged" if result.diverged else "") + f"  {result.seconds:.1f} s"
