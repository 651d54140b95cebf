"""The ``losskit`` command: ``list``, ``explain NAME``, ``compare``, ``audit``, ``plot``.

Each subcommand is two functions: ``add_<name>(subparsers)`` builds its parser and sets
``run=run_<name>``; ``run_<name>(args) -> int`` does the work. To add one, write the pair and
append ``add_<name>`` to :data:`SUBCOMMANDS`.

Bad input never ends in a traceback: a library error (any ``ValueError``, such as an unknown
loss name or a missing dataset, or an ``OSError``) and a usage error (an unknown option, a value
argparse cannot parse) each print one line, ``losskit: error: ...``, on stderr and exit with 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TextIO, TypeAlias

from rich.console import Console
from rich.table import Table
from rich.text import Text

import losskit
from losskit._checks import LossInputError
from losskit._spec import Family, get_spec, list_specs
from losskit.audit import audit, plot_audit, plot_losses
from losskit.compare import DEFAULT_LOSSES, DEFAULTS, compare
from losskit.nn import MODULES
from losskit.report import print_table, write_report
from losskit.train import MODELS

__all__ = ["SUBCOMMANDS", "audit_command", "build_parser", "main", "plot_command"]


class UsageError(Exception):
    """The command line itself is wrong (raised instead of argparse's exit)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


# What add_subparsers() returns; each add_<name> adds its parser to it.
Subparsers: TypeAlias = "argparse._SubParsersAction[_Parser]"


def _cell(value: str) -> Text:
    """Registry text as a table cell, never read as rich markup (``[0, 1]`` stays as it is)."""
    return Text(value)


# ----------------------------------------------------------------------------- list
def add_list(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("list", help="the registered losses, as a table")
    p.add_argument("--family", help=f"only this family: {', '.join(map(str, Family))}")
    p.set_defaults(run=run_list)


def run_list(args: argparse.Namespace) -> int:
    specs = list_specs(args.family)
    table = Table(title=f"{len(specs)} losses" + (f" ({args.family})" if args.family else ""))
    table.add_column("name", no_wrap=True)
    for column in ("family", "input space", "target space", "activation"):
        table.add_column(column, max_width=20)
    table.add_column("summary", ratio=1)  # takes the width the others leave
    for s in specs:
        table.add_row(
            *map(
                _cell,
                (s.name, s.family, s.input_space, s.targets.description, s.activation, s.summary),
            )
        )
    Console().print(table)
    return 0


# ----------------------------------------------------------------------------- explain
def add_explain(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("explain", help="everything losskit knows about one loss")
    p.add_argument("name", help="a loss name or alias, e.g. mse")
    p.set_defaults(run=run_explain)


_CHECKS = (
    "shapes, dtypes and options on every call; in the default 'full' mode also the values of "
    "the constrained inputs, read whole, and a non-finite input named; under torch.compile, "
    "torch.func (vmap, grad) and meta tensors the data reads skip themselves "
    "(losskit.checks or LOSSKIT_CHECKS set the mode)"
)


def run_explain(args: argparse.Namespace) -> int:
    if args.name == "accuracy":  # compare accepts it, so people will ask
        raise LossInputError(
            "accuracy is a metric, not a loss: a small change of the weights almost never flips "
            "a decision, so its gradient is zero and SGD cannot step (losskit.accuracy_as_loss "
            "shows it; `losskit compare` trains with it to prove it); use mnist_loss or "
            "bce_with_logits"
        )
    s = get_spec(args.name)
    module = MODULES.get(s.name)
    fn = s.function
    public = getattr(losskit, fn.__name__, None) is fn
    properties = "\n".join(f"{p}: {p.description}" for p in sorted(s.properties))
    rows = {
        "summary": s.summary,
        "family": s.family,
        "formula": s.formula,
        "input space": s.input_space,
        "target space": s.targets.description,
        "shapes": s.shapes or "see the docstring",
        "activation": s.activation,
        "decode": s.decode,
        "properties": properties or "none",
        "mean over": s.mean_over.description,
        "reductions": ", ".join(s.reductions),
        "metrics": ", ".join(s.metrics) or "none",
        "aliases": ", ".join(s.aliases) or "none",
        "function": f"losskit.{fn.__name__}" if public else f"{fn.__module__}.{fn.__name__}",
        "module": f"losskit.nn.{module.__name__}" if module else "none",
        "references": "\n".join(s.references) or "none",
        "checks": _CHECKS,
        "when to use": s.when_to_use,
    }
    table = Table(title=s.name, show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, _cell(value))
    Console().print(table)
    return 0


# ----------------------------------------------------------------------------- compare
def add_compare(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="train one model with several losses on MNIST 3s and 7s",
        description="Train the same initial model, on the same data order, with each loss; "
        "print a table and write results.json, results.csv and curves.png.",
    )
    p.add_argument(
        "--data",
        default="mnist-3-7",
        help="'mnist-3-7' (shipped) or a folder: train/3, train/7, valid/3, valid/7 of PNG "
        "files, or MNIST IDX files (default: %(default)s)",
    )
    p.add_argument(
        "--model", choices=MODELS, default=DEFAULTS["model"], help="(default: %(default)s)"
    )
    p.add_argument(
        "--losses",
        default=",".join(DEFAULT_LOSSES),
        help="comma-separated loss names; 'accuracy' is the metric tried as a loss "
        "(default: %(default)s)",
    )
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"], help="(default: %(default)s)")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="(default: %(default)s)")
    p.add_argument(
        "--batch-size", type=int, default=DEFAULTS["batch_size"], help="(default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="(default: %(default)s)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads while training; one is fastest for these small models "
        "(default: %(default)s)",
    )
    p.add_argument("--out", default="losskit-out", help="output folder (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--report",
        action="store_true",
        help="also write report.html: one self-contained page with the table, the learning "
        "curves and the audit of each loss (opens offline)",
    )
    p.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    losses = [name.strip() for name in args.losses.split(",") if name.strip()]
    comparison = compare(
        args.data,
        args.model,
        losses,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=not args.no_progress,
        threads=args.threads,
    )
    console = Console()
    print_table(comparison, console)
    paths = write_report(comparison, args.out)
    if args.report:
        from losskit.html_report import write_html_report

        paths["html"] = write_html_report(comparison, args.out, seed=args.seed)
    console.print(Text(f"wrote {', '.join(str(p) for p in paths.values())}"))
    return 0


# ----------------------------------------------------------------------------- audit
def add_audit(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "audit",
        help="can a function serve as a loss? a verdict, the reasons, and plots",
        description="Audit a registered loss, a metric (accuracy, error_rate, accuracy_as_loss) "
        "or your own function (module:function or path/file.py:function) as a loss: gradient "
        "statistics, minimum at the target, proper scoring, convexity, outliers, extreme "
        "inputs. Prints the report and writes audit_<name>.png.",
    )
    p.add_argument("name", help="a loss name or alias, a metric, or module:function")
    p.add_argument(
        "--task",
        choices=("regression", "binary", "multiclass"),
        help="for a metric or your own function (default: read from its argument names)",
    )
    p.add_argument(
        "--input",
        dest="input_space",
        choices=("values", "logits", "probs", "log_probs"),
        help="what the predictions are (default: from the spec, or logits / values)",
    )
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.add_argument("--out", default="losskit-out", help="output folder (default: %(default)s)")
    p.add_argument("--no-plots", action="store_true", help="print the report only")
    p.set_defaults(run=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    return audit_command(
        args.name,
        args.out,
        task=args.task,
        input_space=args.input_space,
        seed=args.seed,
        plots=not args.no_plots,
    )


def _file_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name).strip("_") or "loss"


def audit_command(
    name_or_path: str,
    out_dir: str | Path = "losskit-out",
    *,
    task: str | None = None,
    input_space: str | None = None,
    seed: int = 0,
    plots: bool = True,
    stream: TextIO | None = None,
) -> int:
    """``losskit audit NAME_OR_PATH``: print the report and write
    ``<out_dir>/audit_<name>.png``. Returns 0 once the report is printed, whatever the verdict.

    Raises:
        LossInputError: an unknown name, a ``module:function`` that cannot be imported, or a
            function the audit cannot call (the CLI prints it as one line and exits with 1).
    """
    stream = stream or sys.stdout
    report = audit(name_or_path, task=task, input_space=input_space, seed=seed)
    print(report, file=stream)
    if plots:
        path = Path(out_dir) / f"audit_{_file_name(report.name)}.png"
        plot_audit(name_or_path, path, report=report, task=task, input_space=input_space, seed=seed)
        print(f"\nwrote {path}", file=stream)
    return 0


# ----------------------------------------------------------------------------- plot
def add_plot(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "plot",
        help="several losses and their gradients on one figure",
        description="Draw losses against the residual (regression) or the logit of the true "
        "class (classification), with their gradients: how MSE, MAE, Huber and log-cosh treat "
        "outliers, how BCE, focal and hinge treat confident mistakes.",
    )
    p.add_argument("names", nargs="+", help="loss names (or accuracy), e.g. mse mae huber")
    p.add_argument(
        "--out", default="losskit-out/losses.png", help="PNG file (default: %(default)s)"
    )
    p.set_defaults(run=run_plot)


def run_plot(args: argparse.Namespace) -> int:
    return plot_command(args.names, args.out)


def plot_command(
    names: Sequence[str], out: str | Path = "losses.png", *, stream: TextIO | None = None
) -> int:
    """``losskit plot NAME [NAME ...]``: the curves of several losses on one figure, written to
    ``out``; returns 0. Raises :class:`LossInputError` for a name it cannot resolve."""
    path = plot_losses(names, out)
    print(f"wrote {path}", file=stream or sys.stdout)
    return 0


# ----------------------------------------------------------------------------- the command
SUBCOMMANDS: list[Callable[[Subparsers], None]] = [
    add_list,
    add_explain,
    add_compare,
    add_audit,
    add_plot,
]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="losskit",
        description="Loss functions for PyTorch that explain themselves.",
    )
    parser.add_argument("--version", action="version", version=f"losskit {losskit.__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``losskit`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args))
    except UsageError as exc:  # bad options: one line and exit 1, like any other bad input
        return _fail(exc, 1)
    except (ValueError, OSError) as exc:  # library errors: one line, no traceback
        return _fail(exc, 1)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def _fail(error: object, code: int) -> int:
    message = " ".join(str(error).split())  # one line, whatever the message holds
    print(f"losskit: error: {message}", file=sys.stderr)
    return code
