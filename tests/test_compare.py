"""compare(): one model, several losses, the same start and data order; and the report files."""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

import pytest
from rich.console import Console

import losskit
from losskit.compare import DEFAULT_LOSSES, Comparison, compare
from losskit.data import DataError, load_mnist_3_7
from losskit.report import CSV_FIELDS, PLOT_SIZE, plot_curves, print_table, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (bytes 16 to 24, big-endian)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.fixture(scope="module")
def default_run() -> Comparison:
    """The default comparison (linear model, 20 epochs, lr 1.0, batch 256) on the shipped data."""
    return compare(progress=False)


def test_default_comparison_tells_the_story(default_run: Comparison) -> None:
    c = default_run
    assert [r.loss for r in c.results] == list(DEFAULT_LOSSES)
    assert (c.model, c.epochs, c.lr, c.batch_size, c.data) == ("linear", 20, 1.0, 256, "mnist-3-7")
    by_loss = {r.loss: r for r in c.results}
    # the same initial weights for every loss
    assert len({r.initial_valid_accuracy for r in c.results}) == 1
    # accuracy as a loss: tried, and nothing moved
    acc = by_loss["accuracy"]
    assert not acc.weights_moved
    assert acc.valid_accuracy == [acc.initial_valid_accuracy] * c.epochs
    # the smooth losses learn
    assert by_loss["mnist_loss"].final_valid_accuracy >= 0.95
    for name in ("mnist_loss", "bce_with_logits", "mse"):
        assert by_loss[name].weights_moved
        assert by_loss[name].final_valid_accuracy >= 0.95


def test_compare_checks_everything_before_training() -> None:
    with pytest.raises(losskit.UnknownLossError, match=r"no loss named 'mnist_los'"):
        compare(losses=["mnist_loss", "mnist_los"], data="/no/such/folder")
    with pytest.raises(losskit.LossInputError, match=r"epochs must lie in \[1, inf\), got -1"):
        compare(epochs=-1, data="/no/such/folder")
    with pytest.raises(ValueError, match=r"losses is empty"):
        compare(losses=[])
    with pytest.raises(DataError, match=r"no dataset at '/no/such/folder'"):
        compare(losses=["mse"], data="/no/such/folder")


def test_compare_takes_a_dataset_and_an_mlp() -> None:
    c = compare(load_mnist_3_7(), "mlp", ["accuracy", "bce_with_logits"], epochs=2, progress=False)
    assert c.model == "mlp" and [r.weights_moved for r in c.results] == [False, True]


# ----------------------------------------------------------------------------- report
def test_report_files(default_run: Comparison, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "out"
    paths = write_report(default_run, out)
    assert set(paths) == {"json", "csv", "png"}

    results = json.loads(paths["json"].read_text())
    assert results["model"] == "linear" and results["epochs"] == 20
    assert [r["loss"] for r in results["results"]] == list(DEFAULT_LOSSES)
    assert all(len(r["valid_accuracy"]) == 20 for r in results["results"])

    with paths["csv"].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["loss"] for row in rows] == list(DEFAULT_LOSSES)
    assert tuple(rows[0]) == CSV_FIELDS
    assert rows[0]["weights_moved"] == "False" and rows[1]["weights_moved"] == "True"
    assert float(rows[1]["final_valid_accuracy"]) >= 0.95

    assert png_size(paths["png"]) == PLOT_SIZE


def test_report_of_a_diverged_run(tmp_path: Path) -> None:
    c = compare(losses=["mnist_loss", "bce_with_logits"], epochs=2, lr=1e38, progress=False)
    assert [r.diverged for r in c.results] == [True, True]
    paths = write_report(c, tmp_path)
    assert json.loads(paths["json"].read_text())["results"][0]["final_train_loss"] is None
    with paths["csv"].open(newline="") as f:
        assert [row["diverged"] for row in csv.DictReader(f)] == ["True", "True"]
    console = Console(record=True, width=120)
    print_table(c, console)
    assert "diverged" in console.export_text()


def test_plot_size(default_run: Comparison, tmp_path: Path) -> None:
    plot_curves(default_run, tmp_path / "small.png", size=(640, 320))
    assert png_size(tmp_path / "small.png") == (640, 320)


def test_table(default_run: Comparison) -> None:
    console = Console(record=True, width=120)
    print_table(default_run, console)
    text = console.export_text()
    for expected in ("accuracy", "mnist_loss", "bce_with_logits", "mse", "weights", "moved"):
        assert expected in text
    accuracy_row = next(line for line in text.splitlines() if line.startswith("│ accuracy "))
    assert accuracy_row.rstrip("│ ").endswith("no")
