"""Train one model with several losses, from the same start, and compare what each learned.

Every loss gets a copy of the same initial weights and sees the training images in the same
order, so the only difference between two rows is the loss. The default line-up tells the story
of fastai's chapter 4 on real MNIST 3s and 7s:

``accuracy``
    the metric tried as a loss (:func:`losskit.metrics.accuracy_as_loss`): its gradient is zero,
    so the weights never move and validation accuracy stays where the random start put it;
``mnist_loss``
    the smallest smooth stand-in for accuracy: it learns;
``bce_with_logits``
    what one uses in practice;
``mse``
    the squared error on ``sigmoid(outputs)``: learns too, a regression loss on probabilities.

The defaults (linear model, 20 epochs, ``lr=1.0``, batches of 256) are fastai's for this task;
on the shipped 800 training images the four runs train in about half a second together (one
thread, 2 cores); `losskit compare` takes about 5 s, mostly importing torch and matplotlib.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from losskit.data import SHIPPED, BinaryDataset, load_dataset
from losskit.train import (
    TrainResult,
    check_settings,
    fit,
    make_model,
    objective,
    torch_threads,
)

__all__ = ["DEFAULTS", "DEFAULT_LOSSES", "Comparison", "compare"]

DEFAULT_LOSSES = ("accuracy", "mnist_loss", "bce_with_logits", "mse")
DEFAULTS: dict[str, Any] = {
    "model": "linear",
    "epochs": 20,
    "lr": 1.0,
    "batch_size": 256,
    "seed": 0,
}


@dataclass
class Comparison:
    """The settings shared by every run, and one :class:`TrainResult` per loss."""

    data: str
    n_train: int
    n_valid: int
    model: str
    epochs: int
    lr: float
    batch_size: int
    seed: int
    results: list[TrainResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        settings = {k: v for k, v in vars(self).items() if k != "results"}
        return {**settings, "results": [r.to_dict() for r in self.results]}


def compare(
    data: str | Path | BinaryDataset = SHIPPED,
    model: str = DEFAULTS["model"],
    losses: Sequence[str] = DEFAULT_LOSSES,
    *,
    epochs: int = DEFAULTS["epochs"],
    lr: float = DEFAULTS["lr"],
    batch_size: int = DEFAULTS["batch_size"],
    seed: int = DEFAULTS["seed"],
    progress: bool = True,
    threads: int | None = 1,
) -> Comparison:
    """Train ``model`` once per loss in ``losses`` from the same initial weights and data order.

    ``data`` is a :class:`~losskit.data.BinaryDataset` or anything :func:`load_dataset` takes
    (``"mnist-3-7"`` or a folder). Settings and loss names are checked before any data is loaded
    or any model trained, so a typo fails at once. ``threads``: torch's intra-op threads while
    training (None keeps torch's setting); one is fastest for these small models.

    Example:
        >>> c = compare(losses=["accuracy", "mnist_loss"], epochs=3, progress=False)
        >>> [(r.loss, r.weights_moved) for r in c.results]
        [('accuracy', False), ('mnist_loss', True)]
    """
    check_settings(epochs=epochs, lr=lr, batch_size=batch_size, threads=threads)
    losses = list(losses)
    if not losses:
        raise ValueError("losses is empty: name at least one loss, e.g. mnist_loss")
    for name in losses:
        objective(name)  # raises for an unknown or unsuitable loss
    dataset = data if isinstance(data, BinaryDataset) else load_dataset(data)
    initial = make_model(model, seed=seed, n_in=dataset.x_train.shape[1])

    comparison = Comparison(
        data=dataset.name,
        n_train=len(dataset.x_train),
        n_valid=len(dataset.x_valid),
        model=model,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
    )
    with torch_threads(threads):
        for name in losses:
            result = fit(
                copy.deepcopy(initial),  # the same start for every loss
                dataset,
                name,
                epochs=epochs,
                lr=lr,
                batch_size=batch_size,
                seed=seed,  # the same data order for every loss
                progress=progress,
            )
            comparison.results.append(result)
    return comparison
