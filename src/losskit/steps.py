"""``losskit steps``: the seven steps of SGD on real MNIST 3s and 7s, each with its numbers.

1. initialise, 2. predict, 3. loss, 4. gradient, 5. step, 6. repeat, 7. stop: the loop of
:func:`losskit.train.fit`, taken apart. :func:`seven_steps` runs it twice from the same initial
weights and the same data order, once with ``mnist_loss`` and once with accuracy as the loss
(:func:`losskit.metrics.accuracy_as_loss`), and records what each step did: steps 1 to 5 in
detail on the first batch, then the loss and the size of the weights' change at every step,
and the loss per epoch until the stopping rule ends the loop.

The lesson is computed, not written down: with accuracy the gradient of step 4 is exactly zero
in every entry and step 5 leaves every weight as it was; :func:`walk` checks both (and stops with
an error if either ever failed) before :func:`format_steps` prints them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from losskit.data import SHIPPED, BinaryDataset, load_dataset
from losskit.train import ACCURACY, check_settings, evaluate, make_model, objective, torch_threads

__all__ = [
    "LOSSES",
    "STEP_NAMES",
    "FirstBatch",
    "Steps",
    "Walk",
    "format_steps",
    "plot_steps",
    "seven_steps",
    "walk",
]

STEP_NAMES = ("initialise", "predict", "loss", "gradient", "step", "repeat", "stop")
LOSSES = ("mnist_loss", ACCURACY)
FORMULAS = {
    "mnist_loss": "mean of where(target == 1, 1 - sigmoid(x), sigmoid(x))",
    ACCURACY: "1 - accuracy = mean of |round(sigmoid(x)) - target|",
}
SIDE = 28  # pixels a side: weight 28 * row + column belongs to that pixel
SHOWN = tuple(SIDE * 14 + c for c in range(14, 18))  # the middle of the image, where digits ink
PREVIEW = 4  # predictions shown from the first batch


@dataclass(frozen=True)
class FirstBatch:
    """Steps 1 to 5 on the first batch of the first epoch. Weight lists hold the weights of the
    :data:`SHOWN` pixels, then the bias."""

    batch: list[int]  # the batch's images, as indices into the training set
    weights: list[float]  # before the step
    logits: list[float]  # the first PREVIEW images' outputs
    targets: list[float]  # and their labels (1 = a 3, 0 = a 7)
    loss: float
    gradient: list[float]
    gradient_norm: float  # over every parameter
    gradient_zero: bool  # every entry of the gradient exactly 0.0
    new_weights: list[float]  # after the step
    change_norm: float  # ||w_after - w_before|| over every parameter
    unchanged: bool  # every parameter bit for bit as before


@dataclass(frozen=True)
class Walk:
    """One run of the seven steps with one loss."""

    loss: str
    first: FirstBatch
    step_loss: list[float]  # the batch loss at every SGD step
    step_change: list[float]  # ||w_after - w_before|| at every SGD step
    epoch_loss: list[float]  # mean training loss of each epoch
    valid_accuracy: list[float]  # after each epoch
    distance: list[float]  # ||w - w_initial|| after each epoch
    initial_valid_accuracy: float
    stopped_early: bool  # the stopping rule fired before the epoch budget was spent
    initial_weights: Tensor  # (785,): the 784 weights, then the bias
    final_weights: Tensor  # (785,)


@dataclass(frozen=True)
class Steps:
    """Both walks and the settings they share."""

    data: str
    n_train: int
    n_valid: int
    epochs: int
    lr: float
    batch_size: int
    seed: int
    patience: int
    min_delta: float
    walks: tuple[Walk, ...]


def _flat(params: list[Tensor]) -> Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params])  # (785,)


def _shown(flat: Tensor) -> list[float]:
    return [*flat[list(SHOWN)].tolist(), float(flat[-1])]


def walk(
    data: BinaryDataset,
    loss: str,
    *,
    epochs: int = 20,
    lr: float = 1.0,
    batch_size: int = 256,
    seed: int = 0,
    patience: int = 3,
    min_delta: float = 1e-4,
) -> Walk:
    """The seven steps with ``loss`` on a linear model: SGD as :func:`losskit.train.fit` does it,
    recorded step by step. Stops after ``epochs`` epochs, or earlier once the epoch's training
    loss has fallen by less than ``min_delta`` in ``patience`` epochs in a row.

    Raises:
        RuntimeError: with ``loss="accuracy"``, if the gradient were not exactly zero or a
            weight moved (the fact this walk exists to show).
    """
    check_settings(epochs=epochs, lr=lr, batch_size=batch_size)
    loss_fn = objective(loss)
    x, y = data.x_train, data.y_train  # (N, 784), (N,)
    n = len(x)

    # 1. initialise: PyTorch's default for nn.Linear, drawn from the seed
    model = make_model("linear", seed=seed, n_in=x.shape[1])
    params: list[Tensor] = list(model.parameters())  # weight (1, 784), bias (1,)
    initial = _flat(params)
    initial_accuracy = evaluate(model, data.x_valid, data.y_valid)
    generator = torch.Generator().manual_seed(seed)  # the data order

    first: FirstBatch | None = None
    step_loss: list[float] = []
    step_change: list[float] = []
    epoch_loss: list[float] = []
    valid_accuracy: list[float] = []
    distance: list[float] = []
    stalled = 0
    for _ in range(epochs):  # 6. repeat: steps 2 to 5 for every batch, epoch after epoch
        model.train()
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            xb, yb = x[idx], y[idx]  # (B, 784), (B,)
            before = _flat(params)

            # 2. predict: one logit per image
            logits = model(xb).squeeze(-1)  # (B, 1) -> (B,)
            # 3. loss: one number for the batch
            batch_loss = loss_fn(logits, yb)
            # 4. gradient: d(loss)/d(parameter) for all 785 parameters
            batch_loss.backward()  # type: ignore[no-untyped-call]
            gradient = torch.cat(
                [
                    (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1)
                    for p in params
                ]
            )  # (785,)
            # 5. step: w <- w - lr * dL/dw, then forget the gradient
            with torch.no_grad():
                for p in params:
                    if p.grad is not None:
                        p -= lr * p.grad
                    p.grad = None
            after = _flat(params)

            step_loss.append(batch_loss.item())
            step_change.append(float((after - before).norm()))
            total += batch_loss.item() * len(idx)
            if first is None:
                first = _first_batch(idx, before, logits, yb, batch_loss, gradient, after)
                if loss == ACCURACY and not (first.gradient_zero and first.unchanged):
                    raise RuntimeError(
                        "accuracy as a loss gave a gradient that is not exactly zero or moved a "
                        "weight; round(sigmoid(x)) should have a zero derivative everywhere"
                    )
        epoch_loss.append(total / n)
        valid_accuracy.append(evaluate(model, data.x_valid, data.y_valid))
        distance.append(float((_flat(params) - initial).norm()))

        # 7. stop: at the epoch budget, or once the loss has stopped falling
        fell = epoch_loss[-2] - epoch_loss[-1] if len(epoch_loss) > 1 else math.inf
        stalled = stalled + 1 if fell < min_delta else 0
        if stalled >= patience:
            break

    assert first is not None  # epochs >= 1 and the training set is never empty
    return Walk(
        loss=loss,
        first=first,
        step_loss=step_loss,
        step_change=step_change,
        epoch_loss=epoch_loss,
        valid_accuracy=valid_accuracy,
        distance=distance,
        initial_valid_accuracy=initial_accuracy,
        stopped_early=stalled >= patience,
        initial_weights=initial,
        final_weights=_flat(params),
    )


def _first_batch(
    idx: Tensor,
    before: Tensor,
    logits: Tensor,
    targets: Tensor,
    loss: Tensor,
    gradient: Tensor,
    after: Tensor,
) -> FirstBatch:
    return FirstBatch(
        batch=idx.tolist(),
        weights=_shown(before),
        logits=logits[:PREVIEW].tolist(),
        targets=targets[:PREVIEW].tolist(),
        loss=loss.item(),
        gradient=_shown(gradient),
        gradient_norm=float(gradient.norm()),
        gradient_zero=bool((gradient == 0).all()),
        new_weights=_shown(after),
        change_norm=float((after - before).norm()),
        unchanged=torch.equal(before, after),
    )


def seven_steps(
    data: str | Path | BinaryDataset = SHIPPED,
    *,
    losses: tuple[str, ...] = LOSSES,
    epochs: int = 20,
    lr: float = 1.0,
    batch_size: int = 256,
    seed: int = 0,
    patience: int = 3,
    min_delta: float = 1e-4,
) -> Steps:
    """Walk the seven steps once per loss in ``losses``, from the same initial weights and in the
    same data order (on one thread, so that runs repeat bit for bit).

    Example:
        >>> s = seven_steps(epochs=5)
        >>> [(w.loss, w.first.gradient_zero, w.first.unchanged) for w in s.walks]
        [('mnist_loss', False, False), ('accuracy', True, True)]
    """
    check_settings(epochs=epochs, lr=lr, batch_size=batch_size)
    dataset = data if isinstance(data, BinaryDataset) else load_dataset(data)
    with torch_threads(1):
        walks = tuple(
            walk(
                dataset,
                name,
                epochs=epochs,
                lr=lr,
                batch_size=batch_size,
                seed=seed,
                patience=patience,
                min_delta=min_delta,
            )
            for name in losses
        )
    return Steps(
        data=dataset.name,
        n_train=len(dataset.x_train),
        n_valid=len(dataset.x_valid),
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        patience=patience,
        min_delta=min_delta,
        walks=walks,
    )


# ----------------------------------------------------------------------------- the text
_INDENT = " " * 15


def _numbers(values: list[float]) -> str:
    return " ".join(f"{v:+.4f}" for v in values[:-1]) + f"; bias {values[-1]:+.4f}"


def _step(number: int, lines: list[str]) -> list[str]:
    head = f"{number}. {STEP_NAMES[number - 1]}".ljust(len(_INDENT))
    return [head + lines[0], *(_INDENT + line for line in lines[1:])]


def format_steps(steps: Steps) -> str:
    """The walks as text, one block per loss, at most 80 characters a line."""
    n_params = steps.walks[0].initial_weights.numel()
    n_batches = math.ceil(steps.n_train / steps.batch_size)
    shown = f"w[{SHOWN[0]}..{SHOWN[-1]}]"
    out = [
        f"The seven steps of SGD on {steps.data}: {steps.n_train} training and "
        f"{steps.n_valid} validation images",
        f"(label 1 = a 3, 0 = a 7); a linear model x = w . pixels + bias, {n_params - 1} weights;",
        f"lr {steps.lr:g}, batches of {steps.batch_size} ({n_batches} an epoch), "
        f"seed {steps.seed}. {shown} are the weights of",
        f"pixels {SHOWN[0] % SIDE} to {SHOWN[-1] % SIDE} of row {SHOWN[0] // SIDE}, "
        "the middle of the image.",
    ]
    bound = 1 / math.sqrt(n_params - 1)
    for w in steps.walks:
        f = w.first
        title = "accuracy as the loss" if w.loss == ACCURACY else w.loss
        out += ["", f"=== {title}: {FORMULAS.get(w.loss, w.loss)}", ""]
        out += _step(
            1,
            [
                f"{n_params} parameters drawn from U(-{bound:.4f}, +{bound:.4f}), nn.Linear's own",
                f"{shown} = {_numbers(f.weights)}",
                f"validation accuracy of these random weights: {w.initial_valid_accuracy:.3f}",
            ],
        )
        predictions = [
            f"{len(f.batch)} images of a shuffled batch; the first {len(f.logits)}:",
            "  digit  target    logit x  sigmoid(x)  decision",
        ]
        for x, t in zip(f.logits, f.targets, strict=True):
            p = 1 / (1 + math.exp(-x))
            predictions.append(
                f"  {3 if t == 1 else 7:>5}  {t:>6.0f}  {x:>+9.4f}  {p:>10.4f}  "
                f"{'3' if p > 0.5 else '7':>8}"
            )
        out += _step(2, predictions)
        named = "1 - accuracy" if w.loss == ACCURACY else w.loss
        out += _step(3, [f"{named} on this batch: L = {f.loss:.4f}"])
        if f.gradient_zero:
            gradient = [
                f"dL/dw is exactly zero: all {n_params} entries are 0.0 (norm {f.gradient_norm:g})",
                "round() has a zero derivative wherever it has one: nothing moves",
            ]
        else:
            gradient = [
                f"||dL/dw|| = {f.gradient_norm:.4f} over all {n_params} parameters",
                f"at {shown}: {_numbers(f.gradient)}",
            ]
        out += _step(4, gradient)
        step = [f"w <- w - {steps.lr:g} * dL/dw", f"{shown} = {_numbers(f.new_weights)}"]
        if f.unchanged:
            step.append("every weight is bit for bit what it was: nothing moved")
        else:
            step.append(f"the weights moved by ||delta w|| = {f.change_norm:.4f}")
        out += _step(5, step)
        repeat = [
            "steps 2-5 on every batch, epoch after epoch:",
            "  epoch  train loss  valid acc  ||w - w0||",
        ]
        for e, (loss, acc, dist) in enumerate(
            zip(w.epoch_loss, w.valid_accuracy, w.distance, strict=True), 1
        ):
            repeat.append(f"  {e:>5}  {loss:>10.4f}  {acc:>9.3f}  {dist:>10.4f}")
        out += _step(6, repeat)
        rule = (
            f"rule: {steps.epochs} epochs at most; sooner once the epoch loss has",
            f"fallen by less than {steps.min_delta:g} in {steps.patience} epochs in a row",
        )
        done = len(w.epoch_loss)
        if w.stopped_early:
            why = [f"stopped after epoch {done}: the loss stalled"]
            if not any(w.step_change):
                why[-1] += "; it never changed at all,"
                why.append(f"because no weight moved in {len(w.step_change)} steps")
        else:
            why = [f"stopped after epoch {done}, the budget"]
            if done > 1:
                why[-1] += f"; the loss still fell by {w.epoch_loss[-2] - w.epoch_loss[-1]:.4f}"
            why.append(
                f"validation accuracy {w.initial_valid_accuracy:.3f} -> {w.valid_accuracy[-1]:.3f}"
            )
        out += _step(7, [*rule, *why])
    return "\n".join(out)


# ----------------------------------------------------------------------------- the figure
def plot_steps(steps: Steps, path: str | Path) -> Path:
    """The batch loss and the size of each step's weight change, over the SGD steps of every
    walk, as a PNG at ``path``; returns the path."""
    # Imported here: matplotlib is slow to import and only the figure needs it. The Agg canvas
    # draws without pyplot, so no display and no global state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 4.3), dpi=100)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.07, right=0.985, top=0.85, bottom=0.24, wspace=0.22)
    left, right = fig.subplots(1, 2)
    n_batches = math.ceil(steps.n_train / steps.batch_size)
    labels = {
        "mnist_loss": "mnist_loss",
        ACCURACY: "accuracy as the loss: 1 \u2212 accuracy (error rate)",
    }
    for i, w in enumerate(steps.walks):
        x = range(1, len(w.step_loss) + 1)
        style = ("-", "--", ":", "-.")[i % 4]
        label = labels.get(w.loss, w.loss)
        if not any(w.step_change):
            label += (
                f": gradient exactly 0, no weight moves (stopped after epoch {len(w.epoch_loss)})"
            )
        left.plot(x, w.step_loss, ls=style, lw=2, label=label)
        right.plot(x, w.step_change, ls=style, lw=2.5, zorder=3)
    last = max(len(w.step_loss) for w in steps.walks)
    tops = (
        max(max(w.step_loss) for w in steps.walks),
        max(max(w.step_change) for w in steps.walks) or 1.0,
    )
    for ax, top in zip((left, right), tops, strict=True):
        for epoch_end in range(n_batches, last, n_batches):
            ax.axvline(epoch_end + 0.5, color="0.85", lw=0.8, zorder=0)
        ax.set_xlim(0.5, last + 0.5)
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(-0.04 * top, 1.08 * top)  # room below 0, so a line at exactly 0 shows
    left.set(
        title="3. loss on each batch",
        xlabel=f"SGD step (grey lines: epochs of {n_batches} batches)",
        ylabel="batch loss",
    )
    right.set(
        title="5. how far each step moved the weights",
        xlabel=f"SGD step (grey lines: epochs of {n_batches} batches)",
        ylabel=f"||w_after - w_before|| = {steps.lr:g} * ||dL/dw||",
    )
    fig.legend(loc="lower center", ncol=len(steps.walks), fontsize=10, frameon=False)
    fig.suptitle(
        f"losskit steps: SGD on {steps.data}, a linear model, lr {steps.lr:g}, "
        f"batches of {steps.batch_size}, seed {steps.seed}",
        fontsize=12,
        fontweight="bold",
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
