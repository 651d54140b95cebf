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
    "CAPTIONED_COLUMNS",
    "CSV_FIELDS",
    "ERROR_RATE_LABEL",
    "PLOT_SIZE",
    "TABLE_CAPTION",
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


# Every column the caption explains is one the tables show ("diverged" is a value of the train
# loss column, not a column of its own); tests hold the caption to the column names.
TABLE_CAPTION = (
    "train loss: the last epoch's mean, in each loss's own units (for accuracy, 1 \u2212 accuracy, "
    'the error rate); it reads "diverged" when training stopped because the outputs or the '
    "loss overflowed. weights moved: does any weight differ from its initial value?"
)
CAPTIONED_COLUMNS = ("train loss", "weights moved")


def results_table(comparison: Comparison) -> Table:
    """One row per loss: final train loss, validation accuracy before and after, whether any
    weight moved."""
    c = comparison
    table = Table(
        title=f"{c.model} model on {c.data} ({c.n_train} train / {c.n_valid} valid), "
        f"lr {c.lr:g}, batch {c.batch_size}, seed {c.seed}",
        caption=TABLE_CAPTION,
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


ERROR_RATE_LABEL = "accuracy as the loss: 1 \u2212 accuracy (error rate)"


def _curve_label(loss: str) -> str:
    # accuracy's train "loss" is 1 - accuracy, the error rate: never call that line "accuracy"
    return ERROR_RATE_LABEL if loss == "accuracy" else loss


def plot_curves(
    comparison: Comparison, path: Path, *, size: tuple[int, int] = PLOT_SIZE, dpi: int = 100
) -> None:
    """Train loss and validation accuracy per epoch, one line per loss, as a PNG of ``size``
    pixels (width, height). The loss axis turns logarithmic when the losses span more than two
    orders of magnitude; the legend lies below both panels, off the lines."""
    # Imported here: matplotlib takes a while to import and only this function needs it. The Agg
    # canvas renders without a display and without touching pyplot's global state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from losskit.audit.plots import log_scale_wanted

    width, height = size
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for r in comparison.results:
        epochs = range(1, r.epochs + 1)
        ax_loss.plot(epochs, r.train_loss, marker=".", label=_curve_label(r.loss))
        ax_acc.plot(range(r.epochs + 1), [r.initial_valid_accuracy, *r.valid_accuracy], marker=".")
    log = log_scale_wanted([r.train_loss for r in comparison.results])
    if log:
        ax_loss.set_yscale("log")
    ax_loss.set(
        title="train loss (each in its own units)",
        xlabel="epoch",
        ylabel="mean train loss over the epoch" + (" (log scale)" if log else ""),
    )
    ax_acc.set(
        title="validation accuracy",
        xlabel="epoch (0 = initial weights)",
        ylabel="fraction of validation images right",
        ylim=(0, 1.02),
    )
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
    # one legend for both panels (the colours match), outside the axes, under them
    fig.legend(loc="outside lower center", ncol=min(4, len(comparison.results)), frameon=False)
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
