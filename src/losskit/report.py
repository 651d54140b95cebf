"""Show and save a :class:`~losskit.compare.Comparison`: a rich table in the terminal, and
``results.json``, ``results.csv`` and ``curves.png`` in an output folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from losskit.compare import Comparison

__all__ = [
    "CSV_FIELDS",
    "PLOT_SIZE",
    "plot_curves",
    "print_table",
    "results_table",
    "write_csv",
    "write_json",
    "write_report",
]

PLOT_SIZE = (1000, 400)  # width, height of curves.png in pixels
CSV_FIELDS = (
    "loss",
    "final_train_loss",
    "initial_valid_accuracy",
    "final_valid_accuracy",
    "weights_moved",
    "diverged",
    "epochs",
    "seconds",
    "model",
    "data",
    "lr",
    "batch_size",
    "seed",
)


def results_table(comparison: Comparison) -> Table:
    """One row per loss: final train loss, validation accuracy before and after, whether any
    weight moved."""
    c = comparison
    table = Table(
        title=f"{c.model} model on {c.data} ({c.n_train} train / {c.n_valid} valid), "
        f"lr {c.lr:g}, batch {c.batch_size}, seed {c.seed}",
        caption="train loss: the last epoch's mean, in each loss's own units (for accuracy, "
        "1 - accuracy); diverged: stopped when outputs or loss overflowed, showing the epochs "
        "before. weights moved: does any weight differ from its initial value?",
    )
    table.add_column("loss", no_wrap=True)
    table.add_column("train loss", justify="right")
    table.add_column("valid acc\nstart -> end", justify="right", no_wrap=True)
    table.add_column("epochs", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("weights\nmoved")
    for r in c.results:
        train = "-" if r.final_train_loss is None else f"{r.final_train_loss:.4f}"  # no epoch
        table.add_row(
            Text(r.loss),
            Text("diverged", style="bold red") if r.diverged else train,
            f"{r.initial_valid_accuracy:.3f} -> {r.final_valid_accuracy:.3f}",
            str(r.epochs),
            f"{r.seconds:.2f}",
            Text("yes") if r.weights_moved else Text("no", style="bold red"),
        )
    return table


def print_table(comparison: Comparison, console: Console | None = None) -> None:
    (console or Console()).print(results_table(comparison))


def write_json(comparison: Comparison, path: Path) -> None:
    """Settings and, per loss, the full history (train loss and validation accuracy per epoch)."""
    text = json.dumps(comparison.to_dict(), indent=2, allow_nan=False)  # strict JSON: no NaN
    path.write_text(text + "\n", encoding="utf-8")


def write_csv(comparison: Comparison, path: Path) -> None:
    """One row per loss with its final values and the shared settings (see :data:`CSV_FIELDS`)."""
    settings = comparison.to_dict()
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for result in comparison.results:
            writer.writerow({**settings, **result.to_dict()})


def plot_curves(
    comparison: Comparison, path: Path, *, size: tuple[int, int] = PLOT_SIZE, dpi: int = 100
) -> None:
    """Train loss and validation accuracy per epoch, one line per loss, as a PNG of ``size``
    pixels (width, height)."""
    # Imported here: matplotlib takes a while to import and only this function needs it. The Agg
    # canvas renders without a display and without touching pyplot's global state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    width, height = size
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for r in comparison.results:
        epochs = range(1, r.epochs + 1)
        ax_loss.plot(epochs, r.train_loss, marker=".", label=r.loss)
        ax_acc.plot(range(r.epochs + 1), [r.initial_valid_accuracy, *r.valid_accuracy], marker=".")
    ax_loss.set(title="train loss (each in its own units)", xlabel="epoch")
    ax_acc.set(title="validation accuracy", xlabel="epoch (0 = initial weights)", ylim=(0, 1.02))
    ax_loss.legend()
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    fig.suptitle(f"{comparison.model} model on {comparison.data}")
    fig.savefig(path, dpi=dpi)


def write_report(comparison: Comparison, out: str | Path) -> dict[str, Path]:
    """Write ``results.json``, ``results.csv`` and ``curves.png`` into ``out`` (created if
    needed); return their paths by kind."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "csv": out / "results.csv", "png": out / "curves.png"}
    write_json(comparison, paths["json"])
    write_csv(comparison, paths["csv"])
    plot_curves(comparison, paths["png"])
    return paths
