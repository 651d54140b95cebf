"""Three multi-task weightings on one synthetic two-task problem, and their weights over training.

    python -m losskit.examples.multitask                    # prints each method's final weights
    python -m losskit.examples.multitask --plot weights.png # and draws them (needs matplotlib)

A shared layer ``h = tanh(W x)`` feeds two linear regression heads. Both targets are a smooth
function of ``x`` plus Gaussian noise, of standard deviation 1 for task ``"a"`` and 3 for task
``"b"``; each head's loss is the mean squared error. The same data, model and initialisation
are trained three times with Adam on mini-batches, the two losses weighted by
:class:`losskit.multitask.UncertaintyWeighting`, :class:`~losskit.multitask.DynamicWeightAverage`
and :class:`~losskit.multitask.GradNorm` (on ``W``), and every step's weights are recorded.

What to expect: uncertainty weighting learns ``exp(s_i)``, the task's residual mean squared
error, close to ``sigma_i^2`` (1 and 9), so its weights ``exp(-s_i)`` approach 1 and 1/9;
dynamic weight averaging keeps both near 1 and moves them epoch by epoch towards the task whose
loss falls more slowly; GradNorm lowers the noisier task's weight, whose gradient at ``W`` is
the larger, until the weighted gradient norms follow the tasks' training rates.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from losskit.multitask import DynamicWeightAverage, GradNorm, UncertaintyWeighting

TASKS = ("a", "b")
SIGMAS = (1.0, 3.0)  # the targets' noise: the residual variances a perfect model leaves
METHODS = ("uncertainty", "dwa", "gradnorm")


def make_data(n: int = 512, features: int = 4, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``x`` of shape ``(n, features)`` and targets ``(n, 2)``: ``2 tanh(a_i . x)`` plus noise
    of standard deviation ``SIGMAS[i]``."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=gen)
    directions = torch.randn(len(TASKS), features, generator=gen) / features**0.5
    noise = torch.randn(n, len(TASKS), generator=gen) * torch.tensor(SIGMAS)
    return x, 2.0 * torch.tanh(x @ directions.T) + noise


class TwoHeads(nn.Module):
    """A shared tanh layer and one linear head per task."""

    def __init__(self, features: int = 4, hidden: int = 16, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)  # every method starts from the same network
        self.shared = nn.Linear(features, hidden)
        self.heads = nn.Linear(hidden, len(TASKS))

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.heads(torch.tanh(self.shared(x)))
        return out


def task_losses(model: TwoHeads, x: Tensor, y: Tensor) -> dict[str, Tensor]:
    """Each task's mean squared error."""
    residual = model(x) - y  # (batch, tasks)
    return {name: residual[:, i].pow(2).mean() for i, name in enumerate(TASKS)}


@dataclass
class History:
    """One method's run: the weights and the unweighted losses at every step, the step at
    which each epoch ended, and the residual mean squared errors on the whole data after
    training."""

    weights: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TASKS})
    losses: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TASKS})
    epoch_ends: list[int] = field(default_factory=list)
    final_mse: dict[str, float] = field(default_factory=dict)
    learned_variance: dict[str, float] = field(default_factory=dict)


def train(
    method: str,
    *,
    epochs: int = 40,
    batch_size: int = 64,
    lr: float = 0.02,
    weighting_lr: float = 0.05,
    alpha: float = 1.0,
    temperature: float = 2.0,
    seed: int = 0,
) -> History:
    """Train the two-head model with one weighting and record its weights at every step."""
    x, y = make_data(seed=seed)
    model = TwoHeads(seed=seed)
    weighting: UncertaintyWeighting | DynamicWeightAverage | GradNorm
    if method == "uncertainty":
        weighting = UncertaintyWeighting(TASKS)
    elif method == "dwa":
        weighting = DynamicWeightAverage(TASKS, temperature=temperature)
    elif method == "gradnorm":
        weighting = GradNorm(TASKS, model.shared.weight, alpha=alpha)
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    # the weighting's own parameters (log-variances, GradNorm's weights) train with the model,
    # at a higher rate: they have a target to follow, not a fit to make
    optimizer = torch.optim.Adam(
        [
            {"params": list(model.parameters()), "lr": lr},
            {"params": list(weighting.parameters()), "lr": weighting_lr},
        ]
    )
    order = torch.Generator().manual_seed(seed + 1)
    history = History()
    for _ in range(epochs):
        for rows in torch.split(torch.randperm(len(x), generator=order), batch_size):
            # forward: the tasks' losses, weighted
            total, logs = weighting(task_losses(model, x[rows], y[rows]))
            # backward: the model's gradient and the weighting's in one pass
            optimizer.zero_grad()
            total.backward()
            # update
            optimizer.step()
            for name in TASKS:
                history.weights[name].append(float(logs[f"weight/{name}"]))
                history.losses[name].append(float(logs[name]))
        if isinstance(weighting, DynamicWeightAverage):
            weighting.end_epoch()  # the next epoch's weights, from this epoch's mean losses
        history.epoch_ends.append(len(history.weights[TASKS[0]]))
    with torch.no_grad():
        history.final_mse = {k: float(v) for k, v in task_losses(model, x, y).items()}
    if isinstance(weighting, UncertaintyWeighting):
        variances = weighting.log_vars.detach().exp().tolist()
        history.learned_variance = dict(zip(TASKS, variances, strict=True))
    return history


def run(*, epochs: int = 40, seed: int = 0) -> dict[str, History]:
    torch.set_num_threads(1)  # a tiny model: threads only add their start-up
    return {method: train(method, epochs=epochs, seed=seed) for method in METHODS}


TITLES = {
    "uncertainty": "uncertainty weighting: exp(-s_i)",
    "dwa": "dynamic weight average (T = 2)",
    "gradnorm": "GradNorm (alpha = 1, on the shared layer)",
}


def plot(histories: dict[str, History], path: str) -> None:
    """The weights of every method over the training steps, one panel per method."""
    import matplotlib

    matplotlib.use("Agg")  # a file, no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(histories), figsize=(4.2 * len(histories), 3.4))
    for ax, (method, history) in zip(axes, histories.items(), strict=True):
        for name, sigma in zip(TASKS, SIGMAS, strict=True):
            ax.plot(history.weights[name], label=f"task {name} (noise sigma {sigma:g})")
        if method == "uncertainty":
            for i, sigma in enumerate(SIGMAS):  # where exp(-s_i) heads: 1 / sigma_i^2
                label = "1 / sigma_i^2" if i == 0 else None
                ax.axhline(1.0 / sigma**2, color="grey", linestyle=":", linewidth=1, label=label)
        ax.set_title(TITLES[method], fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylim(bottom=0.0)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("task weight")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m losskit.examples.multitask", description=__doc__
    )
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", metavar="PATH", help="draw the weights into this PNG")
    args = parser.parse_args(argv)
    histories = run(epochs=args.epochs, seed=args.seed)
    print(f"two regression tasks, noise sigma {SIGMAS}; {args.epochs} epochs of Adam")
    for method, history in histories.items():
        weights = ", ".join(f"{n} {history.weights[n][-1]:.3f}" for n in TASKS)
        mse = ", ".join(f"{n} {history.final_mse[n]:.3f}" for n in TASKS)
        print(f"{method:12s} final weights: {weights}; residual MSE: {mse}")
    variances = histories["uncertainty"].learned_variance
    print(
        "uncertainty weighting's learned variances exp(s_i): "
        + ", ".join(
            f"{n} {variances[n]:.3f} (sigma^2 = {s**2:g})"
            for n, s in zip(TASKS, SIGMAS, strict=True)
        )
    )
    if args.plot:
        try:
            plot(histories, args.plot)
        except ModuleNotFoundError as exc:
            print(f"--plot needs {exc.name}: pip install matplotlib", file=sys.stderr)
            return 1
        print(f"weights over training drawn in {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
