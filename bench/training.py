"""The training loop's own overhead: ``losskit.train.fit`` (what ``losskit compare`` runs for
each loss) against a hand-written PyTorch loop doing the same steps on the same data: the same
model and start, the same batches in the same order, forward, loss, backward, the SGD update,
the epoch's mean loss and the validation accuracy after each epoch."""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F

from bench.measure import time_interleaved


def _hand_loop(model: torch.nn.Module, data: Any, *, epochs: int, lr: float, batch: int) -> None:
    x, y = data.x_train, data.y_train
    params = list(model.parameters())
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        (model(data.x_valid).squeeze(-1) > 0).float().eq(data.y_valid).float().mean().item()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            loss = F.binary_cross_entropy_with_logits(model(x[idx]).squeeze(-1), y[idx])
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p -= lr * p.grad
                    p.grad = None
            total += loss.item() * len(idx)
        with torch.no_grad():
            (model(data.x_valid).squeeze(-1) > 0).float().eq(data.y_valid).float().mean().item()


def run(*, epochs: int, rounds: int) -> dict[str, Any]:
    try:
        from losskit.data import SHIPPED, load_dataset
        from losskit.train import fit, make_model, torch_threads
    except ImportError as exc:  # the loop is written by another issue
        return {"pending": f"losskit.train is not available yet ({exc})"}
    data = load_dataset(SHIPPED)
    start = make_model("linear", seed=0, n_in=data.x_train.shape[1])
    settings = {"epochs": epochs, "lr": 1.0, "batch": 256}

    def losskit_fit() -> None:
        fit(copy.deepcopy(start), data, "bce_with_logits", epochs=epochs, lr=1.0,
            batch_size=256, progress=False)  # fmt: skip

    def hand_written() -> None:
        _hand_loop(copy.deepcopy(start), data, **settings)

    with torch_threads(1):  # what `losskit compare` uses
        times = time_interleaved(
            {"losskit_fit": losskit_fit, "hand_written": hand_written},
            rounds=rounds,
            target_s=0.0,
        )
    fit_s, hand_s = times["losskit_fit"]["median_s"], times["hand_written"]["median_s"]
    return {
        "data": data.name,
        "n_train": len(data.x_train),
        "model": "linear",
        "loss": "bce_with_logits",
        "epochs": epochs,
        "batch_size": 256,
        "threads": 1,
        "losskit_fit_s_per_epoch": fit_s / epochs,
        "hand_written_s_per_epoch": hand_s / epochs,
        "ratio": fit_s / hand_s,
    }
