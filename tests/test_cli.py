"""The ``losskit`` command end to end: list, explain, compare, one-line errors, did-you-mean,
every ``--help`` example, 80 columns, and progress on a terminal and in a log."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import losskit
from losskit.cli import build_parser, examples, main
from losskit.data import load_dataset
from losskit.report import PLOT_SIZE
from losskit.train import fit, make_model
from tests.test_data import write_png_folder

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables unwrapped, so rows can be matched


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_end_to_end(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, "compare", "--epochs", "2", "--out", str(out_dir))
    assert code == 0, err
    # not a terminal (a log): one line per loss on stderr, no progress bar redrawn
    logged = err.splitlines()
    assert [line.split()[0] for line in logged] == [
        "accuracy",
        "mnist_loss",
        "bce_with_logits",
        "mse",
    ]
    assert all("2 epochs" in line and "\r" not in line for line in logged)
    for column in ("loss", "train loss", "valid acc", "start -> end", "epochs", "weights", "moved"):
        assert column in out
    lines = [line for line in out.splitlines() if line.startswith("│")]  # the table's rows
    rows = {line.split("│")[1].strip(): line for line in lines}
    assert set(rows) >= {"accuracy", "mnist_loss", "bce_with_logits", "mse"}
    assert rows["accuracy"].rstrip("│ ").endswith("no")
    assert rows["mnist_loss"].rstrip("│ ").endswith("yes")
    assert f"wrote {out_dir / 'results.json'}" in out

    results = json.loads((out_dir / "results.json").read_text())
    assert results["epochs"] == 2 and len(results["results"]) == 4
    with (out_dir / "results.csv").open(newline="") as f:
        assert [row["loss"] for row in csv.DictReader(f)] == [
            "accuracy",
            "mnist_loss",
            "bce_with_logits",
            "mse",
        ]
    png = (out_dir / "curves.png").read_bytes()
    assert png[:8] == PNG_SIGNATURE
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == PLOT_SIZE


def test_compare_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(
        capsys,
        "compare",
        "--model=mlp",
        "--losses",
        " bce_with_logits, accuracy ,",
        "--epochs=1",
        "--lr=0.5",
        "--batch-size=100",
        "--seed=3",
        "--threads=2",
        f"--out={tmp_path}",
        "--no-progress",
    )
    assert code == 0, err
    assert err == ""  # no progress bars
    results = json.loads((tmp_path / "results.json").read_text())
    assert (results["model"], results["lr"], results["batch_size"], results["seed"]) == (
        "mlp",
        0.5,
        100,
        3,
    )
    assert [r["loss"] for r in results["results"]] == ["bce_with_logits", "accuracy"]


def test_compare_on_a_png_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    root = write_png_folder(
        tmp_path / "mnist_sample", {(s, d): 3 for s in ("train", "valid") for d in (3, 7)}
    )
    code, out, err = run(
        capsys,
        "compare",
        "--data",
        str(root),
        "--epochs=1",
        "--no-progress",
        f"--out={tmp_path / 'o'}",
    )
    assert code == 0, err
    assert "mnist_sample (3s, 7s) (6 train / 6 valid)" in out
    assert json.loads((tmp_path / "o" / "results.json").read_text())["n_train"] == 6


def test_list(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80  # every line fits an 80-column terminal
    names = {s.name for s in losskit.list_specs()}
    rows = {line.split()[0]: line for line in lines if line.startswith("  ")}
    assert set(rows) == names  # one line per loss, none lost
    assert rows["mse"].split()[1] == "values" and rows["bce_with_logits"].split()[1] == "logits"
    assert "binary:" in lines and "regression:" in lines  # a heading per family
    assert len(lines) < 2 * len(names)

    code, out, _ = run(capsys, "list", "--family", "binary")
    firsts = [line.split()[0] for line in out.splitlines()[3:]]
    assert code == 0 and "mnist_loss" in firsts and "mse" not in firsts


def test_list_wide(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "list", "--wide")
    assert code == 0
    for column in ("name", "family", "input space", "target space", "activation", "aliases"):
        assert column in out
    specs = {s.name: s for s in losskit.list_specs()}
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()[:1] != []}
    for name in ("mse", "bce_with_logits", "sigmoid_focal", "cross_entropy"):
        row, spec = rows[name], specs[name]  # every column of a loss on its one line, in full
        for cell in (spec.family, spec.targets.description, *spec.aliases, spec.summary):
            assert str(cell) in row
    assert max(map(len, out.splitlines())) > 80  # wider than the terminal, as asked


@pytest.mark.parametrize(
    "argv",
    [
        ["explain", "focal"],
        ["plot", "focal"],
        ["audit", "focal", "--no-plots"],
        ["compare", "--losses", "mnist_loss,focal"],
        ["explain", "focl"],
    ],
)
def test_did_you_mean_wherever_a_loss_is_named(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "did you mean sigmoid_focal, softmax_focal" in err


def test_aliases_wherever_a_loss_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    alias = "sigmoid_binary_cross_entropy"  # bce_with_logits's alias
    code, out, _ = run(capsys, "audit", alias, "--no-plots")
    assert code == 0 and "bce_with_logits" in out
    code, _, err = run(capsys, "plot", "binary_focal", "--out", str(tmp_path / "p.png"))
    assert code == 0, err
    code, _, err = run(
        capsys, "compare", "--losses", alias, "--epochs=1", "--no-progress", f"--out={tmp_path}"
    )
    assert code == 0, err
    assert [r["loss"] for r in json.loads((tmp_path / "results.json").read_text())["results"]] == [
        "bce_with_logits"
    ]


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {"": parser, **action.choices}


def test_every_help_example_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write their files into the working folder
    commands = {name: examples(p) for name, p in _subparsers().items()}
    assert all(commands.values()), commands  # every command shows at least one example
    for name, lines in commands.items():
        _, out, _ = run(capsys, *([name] if name else []), "--help")
        assert all(line in out for line in lines), name  # what --help shows is what runs here
    for line in dict.fromkeys(line for lines in commands.values() for line in lines):
        argv = shlex.split(line)  # each distinct example once (the top level repeats some)
        assert argv[0] == "losskit"
        code, _, err = run(capsys, *argv[1:])
        assert code == 0, f"{line}: {err}"


def test_help_fits_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for name in _subparsers():
        code, out, _ = run(capsys, *([name] if name else []), "--help")
        assert code == 0 and max(map(len, out.splitlines())) <= 80, name


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_and_in_a_log() -> None:
    data = load_dataset("mnist-3-7")
    batches = 3 * math.ceil(len(data.x_train) / 256)  # 3 epochs of batches of 256
    terminal = _Terminal()
    fit(make_model("linear"), data, "mnist_loss", epochs=3, stream=terminal)
    drawn = terminal.getvalue()
    assert f"{batches}/{batches} batches" in drawn  # the bar counts batches, not epochs
    assert drawn.count("\r") > 2  # redrawn in place as it moves
    assert "epoch 3, loss" in drawn

    log = io.StringIO()  # not a terminal: one line for the run, nothing redrawn
    result = fit(make_model("linear"), data, "mnist_loss", epochs=3, stream=log)
    assert log.getvalue().count("\n") == 1 and "\r" not in log.getvalue()
    line = log.getvalue()
    assert line.split()[:3] == ["mnist_loss", "3", "epochs"]
    assert f"loss {result.train_loss[0]:.4f} -> {result.train_loss[-1]:.4f}" in line

    quiet = io.StringIO()
    fit(make_model("linear"), data, "mnist_loss", epochs=1, stream=quiet, progress=False)
    assert quiet.getvalue() == ""


def test_explain_mse(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "mse")
    assert code == 0
    for expected in (
        "formula",
        "(preds_n - targets_n) ** 2",
        "input space",
        "values",
        "target space",
        "activation",
        "decode",
        "convex: convex in its predictions",  # a property with its meaning
        "mean over",
        "every element",
        "reductions",
        "mean, sum, none",
        "metrics",
        "aliases",
        "references",
        "when to use",
        "losskit.nn.MSELoss",
        "losskit.mse",
    ):
        assert expected in out, expected


def test_explain_an_alias(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "sigmoid_binary_cross_entropy")
    assert code == 0 and "bce_with_logits" in out and "losskit.nn.BCEWithLogitsLoss" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "--losses", "mnist_loss,nosuch"], "no loss named 'nosuch'"),
        (["compare", "--epochs", "-2"], "epochs must lie in [1, inf), got -2"),
        (["compare", "--lr", "0"], "lr must lie in (0, inf), got 0.0"),
        (["compare", "--data", "/no/such/mnist"], "no dataset at '/no/such/mnist'"),
        (["compare", "--losses", "cross_entropy"], "cross_entropy is a multiclass loss"),
        (["compare", "--losses", ","], "losses is empty"),
        (["compare", "--threads", "0"], "threads must lie in [1, inf), got 0"),
        (["explain", "msee"], "no loss named 'msee'; did you mean mse"),
        (["explain", "accuracy"], "accuracy is a metric, not a loss"),
        (["list", "--family", "nope"], "family must be one of"),
    ],
)
def test_library_errors_are_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv, *(["--out", str(tmp_path)] if argv[0] == "compare" else []))
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("losskit: error: ")
    assert message in err
    assert "Traceback" not in err and out == ""


def test_bad_data_folder_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "data" / "train" / "3").mkdir(parents=True)
    code, _, err = run(capsys, "compare", "--data", str(tmp_path / "data"), "--out", str(tmp_path))
    assert code == 1 and err.count("\n") == 1 and "no valid or testing or test folder" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "--model", "cnn"], "argument --model: invalid choice: 'cnn'"),
        (["compare", "--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
        (["compare", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["explain"], "the following arguments are required: name"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_are_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("losskit: error: ") and message in err
    assert out == ""


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(c in out for c in ("list", "explain", "compare", "steps"))
    code, out, _ = run(capsys, "compare", "--help")
    assert code == 0 and "--batch-size" in out and "--no-progress" in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("losskit ")


def test_python_dash_m(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # what `python -m losskit explain nosuch` runs, without paying for a second interpreter
    monkeypatch.setattr(sys, "argv", ["losskit", "explain", "nosuch"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(Path(losskit.__file__).parent / "__main__.py"), run_name="__main__")
    assert exit_info.value.code == 1
    assert (
        capsys.readouterr().err
        == "losskit: error: no loss named 'nosuch'; `losskit list` shows them all\n"
    )


def test_audit_plot_and_html_report_commands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "audit", "accuracy", "--out", str(tmp_path))
    assert code == 0 and "NOT USABLE" in out
    code, out, _ = run(capsys, "audit", "mnist_loss", "--out", str(tmp_path))
    assert code == 0 and "USABLE AS A LOSS" in out and "NOT USABLE" not in out
    for png in ("audit_accuracy.png", "audit_mnist_loss.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, _ = run(capsys, "plot", "mse", "mae", "huber", "--out", str(tmp_path / "p.png"))
    assert code == 0 and (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, _ = run(
        capsys,
        "compare",
        "--epochs",
        "2",
        "--losses",
        "accuracy,mnist_loss",
        "--report",
        "--no-progress",
        "--out",
        str(tmp_path / "cmp"),
    )
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert code == 0 and "mnist_loss" in html and "data:image/png;base64," in html
    code, _, err = run(capsys, "audit", "no_such_loss", "--out", str(tmp_path))
    assert code == 1 and err.startswith("losskit: error: no loss named")


_BLOCK_EXTRA = """
import sys

class _NoCliExtra:  # as if losskit were installed without its cli extra
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"matplotlib", "rich", "tqdm", "PIL"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoCliExtra())
from losskit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_the_cli_extra_a_command_says_how_to_install_it(tmp_path: Path) -> None:
    run = [sys.executable, "-c", _BLOCK_EXTRA]
    done = subprocess.run(
        [*run, "compare", "--epochs", "1", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1  # one line, no traceback
    assert "cli extra" in done.stderr and 'pip install "losskit[cli]"' in done.stderr
    # listing the losses needs none of it
    listed = subprocess.run(
        [*run, "list"], capture_output=True, text=True, timeout=300, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert "mse" in listed.stdout
