"""Figures a reader understands: labelled axes, a log scale only where the range calls for it,
legends off the data, the error rate named as such; and the HTML report from its template."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure
from rich.console import Console

from losskit.audit.plots import log_scale_wanted, plot_audit, plot_losses
from losskit.compare import Comparison
from losskit.html_report import COLUMNS, KEY_SENTENCE, render_html, steps_section
from losskit.report import CAPTIONED_COLUMNS, TABLE_CAPTION, plot_curves, results_table
from losskit.train import TrainResult, objective


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Every figure saved while the test runs (losskit draws on the Agg canvas, no pyplot)."""
    saved: list[Figure] = []
    original = Figure.savefig

    def record(self: Figure, *args: Any, **kwargs: Any) -> None:
        saved.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return saved


def _result(loss: str, train_loss: list[float], diverged: bool = False) -> TrainResult:
    n = len(train_loss)
    return TrainResult(
        loss=loss,
        epochs=n,
        train_loss=train_loss,
        valid_accuracy=[0.5 + 0.4 * (i + 1) / n for i in range(n)],
        initial_valid_accuracy=0.5,
        seconds=0.1,
        weights_moved=True,
        diverged=diverged,
    )


def _comparison(*results: TrainResult) -> Comparison:
    return Comparison("mnist-3-7", 800, 200, "linear", 5, 1.0, 256, 0, list(results))


CALM = (  # losses within one order of magnitude
    _result("accuracy", [0.57] * 5),
    _result("mnist_loss", [0.27, 0.09, 0.07, 0.05, 0.04]),
)
SPIKY = (  # one loss spikes to 79 while the others sit near 0.02
    _result("mnist_loss", [0.27, 0.09, 0.07, 0.05, 0.04]),
    _result("mse", [0.11, 79.0, 0.03, 0.02, 0.02]),
    _result("bce_with_logits", [0.31, 0.10, 0.05, 0.03, 0.02]),
)


def _axes(fig: Figure) -> list[Any]:
    return [ax for ax in fig.axes if ax.get_visible()]


def _assert_labelled(fig: Figure) -> None:
    for ax in _axes(fig):
        assert ax.get_xlabel().strip(), f"no x label on {ax.get_title()!r}"
        assert ax.get_ylabel().strip(), f"no y label on {ax.get_title()!r}"


def _overlaps(a: Any, b: Any) -> bool:
    return bool(a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1)


def _assert_legends_off_the_data(fig: Figure) -> None:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    legends = [*fig.legends, *(ax.get_legend() for ax in _axes(fig) if ax.get_legend())]
    assert legends, "expected at least one legend"
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in _axes(fig):
            assert not _overlaps(box, ax.get_window_extent(renderer)), ax.get_title()


# ----------------------------------------------------------------------------- the log rule
@pytest.mark.parametrize(
    ("curves", "expected"),
    [
        ([[0.27, 0.09, 0.04], [0.57, 0.57, 0.57]], False),  # within a factor of 15
        ([[0.02, 0.03, 0.02, 0.03], [0.03, 79.0, 0.03, 0.02]], True),  # a spike 4000 times up
        ([[1e-1, 2e-1], [1e3, 2e3]], True),  # two losses in units four orders apart
        ([[0.0, 5.0, 1e4]], False),  # a zero: a log axis cannot show it
        ([[-1.0, 1e-3, 1e3]], False),  # a negative value: same
        ([np.linspace(-4, 4, 81) ** 2 + 1e-30], False),  # mse's dip to ~0 at its minimum
        ([[np.inf, 1.0, 2.0]], False),  # non-finite values are ignored
    ],
)
def test_log_scale_exactly_when_the_range_calls_for_it(curves: Any, expected: bool) -> None:
    assert log_scale_wanted(curves) is expected


# ----------------------------------------------------------------------------- curves.png
@pytest.mark.parametrize(("results", "scale"), [(CALM, "linear"), (SPIKY, "log")])
def test_curves(results: Any, scale: str, figures: list[Figure], tmp_path: Path) -> None:
    plot_curves(_comparison(*results), tmp_path / "curves.png")
    (fig,) = figures
    _assert_labelled(fig)
    _assert_legends_off_the_data(fig)
    loss_ax, acc_ax = _axes(fig)
    assert loss_ax.get_yscale() == scale
    assert acc_ax.get_yscale() == "linear"  # accuracy lies in [0, 1]
    assert ("log" in loss_ax.get_ylabel()) is (scale == "log")
    # the loss panel is never titled "accuracy"; the accuracy line in it is the error rate
    assert "accuracy" not in loss_ax.get_title()
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    for label in labels:
        if "accuracy" in label:
            assert "1 \u2212 accuracy" in label and "error rate" in label


# ----------------------------------------------------------------------------- audit figures
def test_audit_of_accuracy_names_the_error_rate(figures: list[Figure], tmp_path: Path) -> None:
    kw: dict[str, Any] = {"task": "binary", "input_space": "logits", "label": "accuracy"}
    plot_audit(objective("accuracy"), tmp_path / "a.png", **kw)
    (fig,) = figures
    _assert_labelled(fig)
    _assert_legends_off_the_data(fig)
    loss_titles = [ax.get_title() for ax in _axes(fig) if "gradient" not in ax.get_title()]
    assert loss_titles
    for title in loss_titles:
        assert title.startswith("1 \u2212 accuracy (error rate)"), title


def test_audit_of_a_log_loss_uses_a_log_axis(figures: list[Figure], tmp_path: Path) -> None:
    kw: dict[str, Any] = {"task": "binary", "input_space": "logits", "label": "bce_with_logits"}
    plot_audit(objective("bce_with_logits"), tmp_path / "b.png", **kw)
    (fig,) = figures
    _assert_labelled(fig)
    _assert_legends_off_the_data(fig)
    by_title = {ax.get_title(): ax for ax in _axes(fig)}
    # -log(sigmoid(x)) over x in [-8, 8] runs from about 3e-4 to 8: four orders of magnitude
    assert by_title["loss over the logit"].get_yscale() == "log"
    assert all(ax.get_yscale() == "linear" for t, ax in by_title.items() if "gradient" in t)
    for title in by_title:
        assert not title.startswith("accuracy")


def test_plot_losses(figures: list[Figure], tmp_path: Path) -> None:
    plot_losses(["mse", "mae", "huber"], tmp_path / "p.png")
    (fig,) = figures
    _assert_labelled(fig)
    _assert_legends_off_the_data(fig)
    # losses that touch zero at the target keep a linear axis
    assert all(ax.get_yscale() == "linear" for ax in _axes(fig))


# ----------------------------------------------------------------------------- captions
def _described(caption: str) -> set[str]:
    """The names a caption explains: each "name:" at the start of a sentence."""
    return {m.strip() for m in re.findall(r"(?:^|[.;] )([a-z][a-z ]*):", caption)}


def test_captions_name_only_columns_the_tables_have() -> None:
    described = _described(TABLE_CAPTION)
    assert described == set(CAPTIONED_COLUMNS)
    table = results_table(_comparison(*CALM))
    rich_headers = {" ".join(str(col.header).split()) for col in table.columns}
    assert described <= rich_headers
    assert described <= set(COLUMNS)
    assert "diverged" not in described  # a value of the train loss column, not a column


def test_table_shows_diverged_where_the_caption_says() -> None:
    c = _comparison(_result("mse", [0.1], diverged=True), *CALM)
    console = Console(record=True, width=140)
    console.print(results_table(c))
    text = console.export_text()
    assert '"diverged"' in " ".join(text.split())  # the caption quotes the value...
    mse_row = next(line for line in text.splitlines() if line.startswith("│ mse "))
    assert "diverged" in mse_row  # ...and the row shows it, in the train loss column


# ----------------------------------------------------------------------------- HTML report
def test_html_from_the_template_escapes_and_puts_steps_first() -> None:
    steps = ("1. initialise  w <- random & small", None)
    c = _comparison(_result("<b>evil</b>", [0.3, 0.2]), *CALM)
    page = render_html(c, {}, steps=steps)
    assert "<b>evil</b>" not in page
    assert "&lt;b&gt;evil&lt;/b&gt;" in page
    assert "w &lt;- random &amp; small" in page
    text = html.unescape(page)  # the reference: the sentence as written, whatever the entities
    key = text.index(KEY_SENTENCE)
    assert key < text.index('id="seven-steps"') < text.index('id="comparison"')
    assert text.index('id="comparison"') < text.index("Written by losskit")
    # the style sheet is markup of ours: not escaped, or the page would lose its fonts
    assert '"Segoe UI"' in page
    for column in COLUMNS:
        assert f"<th>{html.escape(column)}</th>" in page


def test_html_shows_the_numbers_losskit_steps_prints() -> None:
    from losskit.steps import format_steps, seven_steps

    steps = seven_steps(epochs=2)
    text, picture = steps_section(steps)
    assert text == format_steps(steps)
    assert picture[:8] == b"\x89PNG\r\n\x1a\n"
    page = render_html(_comparison(*CALM), {}, steps=(text, picture))
    assert format_steps(steps) in html.unescape(page)
    assert "gradient" in KEY_SENTENCE and "zero" in KEY_SENTENCE
