"""The ``losskit`` command: ``list``, ``explain NAME``, ``compare``, ``audit``, ``plot``, ``steps``,
``suggest DATA``.

Each subcommand is two functions: ``add_<name>(subparsers)`` builds its parser (with
:func:`_command`, which takes the examples its ``--help`` shows; a test runs every one of them)
and sets ``run=run_<name>``; ``run_<name>(args) -> int`` does the work. To add one, write the
pair and append ``add_<name>`` to :data:`SUBCOMMANDS`.

Bad input never ends in a traceback: a library error (any ``ValueError``, such as an unknown
loss name or a missing dataset, or an ``OSError``) and a usage error (an unknown option, a value
argparse cannot parse) each print one line, ``losskit: error: ...``, on stderr and exit with 1.
Every loss name the command takes goes through :func:`loss_name`: aliases work, and a name it
does not know gets a did-you-mean (``focal`` -> ``sigmoid_focal``, ``softmax_focal``, ...).

Output fits the terminal (80 columns when there is none). rich, matplotlib and tqdm are imported
inside the functions that draw, so ``losskit --help`` and ``losskit explain`` stay quick.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeAlias

import losskit
from losskit._checks import LossInputError
from losskit._spec import Family, LossSpec, UnknownLossError, get_spec, list_specs
from losskit.audit import audit, plot_audit, plot_losses
from losskit.compare import DEFAULT_LOSSES, DEFAULTS, compare
from losskit.nn import MODULES
from losskit.train import ACCURACY, MODELS

if TYPE_CHECKING:
    from rich.text import Text

__all__ = [
    "SUBCOMMANDS",
    "audit_command",
    "build_parser",
    "examples",
    "loss_name",
    "main",
    "plot_command",
    "steps_command",
]

METRICS = ("accuracy", "error_rate", "accuracy_as_loss")  # what audit and plot take besides losses


class UsageError(Exception):
    """The command line itself is wrong (raised instead of argparse's exit)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


# What add_subparsers() returns; each add_<name> adds its parser to it.
Subparsers: TypeAlias = "argparse._SubParsersAction[_Parser]"


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, but an epilog that starts with "examples:" keeps its lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(_EXAMPLES):
            return text
        return super()._fill_text(text, width, indent)


_EXAMPLES = "examples:"


def _command(
    subparsers: Subparsers, name: str, *, help: str, examples: Sequence[str], **kwargs: Any
) -> _Parser:
    """A subcommand's parser, whose ``--help`` ends with ``examples`` (each a full command)."""
    epilog = "\n".join([_EXAMPLES, *(f"  {line}" for line in examples)])
    return subparsers.add_parser(
        name, help=help, epilog=epilog, formatter_class=_Formatter, **kwargs
    )


def examples(parser: argparse.ArgumentParser) -> list[str]:
    """The example commands of a parser's ``--help`` epilog (``losskit ...`` lines)."""
    lines = (parser.epilog or "").splitlines()
    if not lines or lines[0] != _EXAMPLES:
        return []
    return [line.strip() for line in lines[1:] if line.strip().startswith("losskit")]


def _cell(value: str) -> Text:
    """Registry text as a table cell, never read as rich markup (``[0, 1]`` stays as it is)."""
    from rich.text import Text

    return Text(value)


# ----------------------------------------------------------------------------- loss names
def loss_name(name: str, *, also: Sequence[str] = ()) -> str:
    """The registered name of the loss ``name`` (a name or an alias), or ``name`` itself when it
    is one of ``also`` (the metrics a command takes besides losses).

    Raises:
        UnknownLossError: no such loss; the message suggests the names closest in spelling and
            those that contain ``name`` (``focal`` -> ``sigmoid_focal``, ``softmax_focal``, ...).
    """
    if name in also:
        return name
    try:
        return get_spec(name).name
    except UnknownLossError:
        pass
    close = suggestions(name, also=also)
    hint = f"; did you mean {_either(close)}?" if close else "; `losskit list` shows them all"
    raise UnknownLossError(f"no loss named {name!r}{hint}") from None


def suggestions(name: str, *, also: Sequence[str] = (), n: int = 5) -> list[str]:
    """Registered names (an alias stands for its loss) close to ``name``: those difflib finds
    close in spelling first, then those with ``name`` (3 letters or more) inside them or close
    to one of their ``_``-separated parts."""
    specs = list_specs()
    canonical = {s.name: s.name for s in specs}
    canonical.update({alias: s.name for s in specs for alias in s.aliases})
    canonical.update({m: m for m in also})
    key = name.strip().lower()
    found = [canonical[c] for c in difflib.get_close_matches(key, list(canonical), n=n)]
    if len(key) >= 3:  # a part of a name, even misspelt: focal, focl -> sigmoid_focal, ...
        found += [
            canonical[c]
            for c in canonical
            if key in c or difflib.get_close_matches(key, c.split("_"), n=1, cutoff=0.75)
        ]
    return list(dict.fromkeys(found))[:n]  # unique, in order


def _either(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


# ----------------------------------------------------------------------------- list
def add_list(subparsers: Subparsers) -> None:
    p = _command(
        subparsers,
        "list",
        help="the registered losses, as a table",
        description="The registered losses: by default one line each (name, input space and "
        "summary, by family), cut to the terminal's width; --wide shows every column in full.",
        examples=["losskit list", "losskit list --family binary", "losskit list --wide"],
    )
    p.add_argument("--family", help=f"only this family: {', '.join(map(str, Family))}")
    p.add_argument(
        "--wide",
        action="store_true",
        help="every column (family, target space, activation, aliases), each row on one line "
        "however wide (pipe it to `less -S`)",
    )
    p.set_defaults(run=run_list)


def run_list(args: argparse.Namespace) -> int:
    specs = list_specs(args.family)
    title = f"{len(specs)} losses" + (f" ({args.family})" if args.family else "")
    if args.wide:
        from rich import box
        from rich.console import Console
        from rich.table import Table

        console = Console()
        table = Table(title=title, box=box.SIMPLE_HEAD)
        columns = ("name", "family", "input space", "target space", "activation", "aliases")
        for column in (*columns, "summary"):
            table.add_column(column, no_wrap=True)
        for s in specs:
            cells = (s.name, s.family, s.input_space, s.targets.description, s.activation)
            table.add_row(*map(_cell, (*cells, ", ".join(s.aliases), s.summary)))
        width = console.measure(table, options=console.options.update_width(10_000)).maximum
        Console(width=max(width, console.width)).print(table)
        return 0
    print("\n".join(compact_list(specs, title, width=shutil.get_terminal_size().columns)))
    return 0


def compact_list(specs: Sequence[LossSpec], title: str, *, width: int = 80) -> list[str]:
    """``losskit list``: one line per loss, name, input space and summary, under a heading per
    family (none when only one family is listed), each line cut to ``width`` characters."""
    width = max(width, 40)
    families = list(dict.fromkeys(s.family for s in specs))
    indent = "  " if len(families) > 1 else ""
    name_w = max(len(indent + s.name) for s in specs) if specs else 4
    input_w = max([len("input"), *(len(s.input_space) for s in specs)])
    lines = [
        _cut(f"{title}; losskit list --wide: every column; losskit explain NAME: all", width),
        "",
        f"{'name':<{name_w}}  {'input':<{input_w}}  summary",
    ]
    for family in families:
        if indent:
            lines.append(f"{family}:")
        for s in (s for s in specs if s.family == family):
            summary = s.summary.replace("``", "")  # rst literals, plain on a terminal
            lines.append(
                _cut(f"{indent + s.name:<{name_w}}  {s.input_space:<{input_w}}  {summary}", width)
            )
    return lines


def _cut(line: str, width: int) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


# ----------------------------------------------------------------------------- explain
def add_explain(subparsers: Subparsers) -> None:
    p = _command(
        subparsers,
        "explain",
        help="everything losskit knows about one loss",
        examples=[
            "losskit explain mse",
            "losskit explain sigmoid_focal",
            "losskit explain sigmoid_binary_cross_entropy",
        ],
    )
    p.add_argument("name", help="a loss name or alias, e.g. mse")
    p.set_defaults(run=run_explain)


_CHECKS = (
    "shapes, dtypes and options on every call; in the default 'full' mode also the values of "
    "the constrained inputs, read whole, and a non-finite input named; under torch.compile, "
    "torch.func (vmap, grad) and meta tensors the data reads skip themselves "
    "(losskit.checks or LOSSKIT_CHECKS set the mode)"
)


def run_explain(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    if args.name == "accuracy":  # compare accepts it, so people will ask
        raise LossInputError(
            "accuracy is a metric, not a loss: a small change of the weights almost never flips "
            "a decision, so its gradient is zero and SGD cannot step (losskit.accuracy_as_loss "
            "shows it; `losskit compare` trains with it to prove it); use mnist_loss or "
            "bce_with_logits"
        )
    s = get_spec(loss_name(args.name))
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
    p = _command(
        subparsers,
        "compare",
        help="train one model with several losses on MNIST 3s and 7s",
        description="Train the same initial model, on the same data order, with each loss; "
        "print a table and write results.json, results.csv and curves.png. On a terminal a "
        "progress bar moves once per batch; in a log, each loss writes one line.",
        examples=[
            "losskit compare --epochs 3 --losses accuracy,mnist_loss",
            "losskit compare --model mlp --epochs 2 --losses mnist_loss,sigmoid_focal",
        ],
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar or log lines")
    p.add_argument(
        "--report",
        action="store_true",
        help="also write report.html: one self-contained page with the table, the learning "
        "curves and the audit of each loss (opens offline)",
    )
    p.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.text import Text

    from losskit.report import print_table, write_report

    names = [name.strip() for name in args.losses.split(",") if name.strip()]
    losses = [loss_name(name, also=(ACCURACY,)) for name in names]
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
    p = _command(
        subparsers,
        "audit",
        help="can a function serve as a loss? a verdict, the reasons, and plots",
        examples=["losskit audit accuracy --no-plots", "losskit audit mse"],
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
    if ":" not in name_or_path:  # module:function and path/file.py:function go as they are
        name_or_path = loss_name(name_or_path, also=METRICS)
    report = audit(name_or_path, task=task, input_space=input_space, seed=seed)
    print(report, file=stream)
    if plots:
        path = Path(out_dir) / f"audit_{_file_name(report.name)}.png"
        plot_audit(name_or_path, path, report=report, task=task, input_space=input_space, seed=seed)
        print(f"\nwrote {path}", file=stream)
    return 0


# ----------------------------------------------------------------------------- plot
def add_plot(subparsers: Subparsers) -> None:
    p = _command(
        subparsers,
        "plot",
        help="several losses and their gradients on one figure",
        examples=["losskit plot bce_with_logits sigmoid_focal hinge --out focal.png"],
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
    path = plot_losses([loss_name(name, also=METRICS) for name in names], out)
    print(f"wrote {path}", file=stream or sys.stdout)
    return 0


# ----------------------------------------------------------------------------- steps
def add_steps(subparsers: Subparsers) -> None:
    p = _command(
        subparsers,
        "steps",
        help="the seven steps of SGD, with their numbers, on MNIST 3s and 7s",
        description="Initialise, predict, loss, gradient, step, repeat, stop: a linear model "
        "trained with SGD on real MNIST 3s and 7s, each step printed with its numbers; once "
        "with mnist_loss, which learns, and once with accuracy as the loss, whose gradient is "
        "exactly zero, so the step leaves every weight where it was.",
        examples=["losskit steps", "losskit steps --epochs 5 --plot steps.png"],
    )
    p.add_argument(
        "--data",
        default="mnist-3-7",
        help="'mnist-3-7' (shipped) or a folder, as for compare (default: %(default)s)",
    )
    p.add_argument("--epochs", type=int, default=20, help="at most (default: %(default)s)")
    p.add_argument("--lr", type=float, default=1.0, help="(default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=256, help="(default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.add_argument("--plot", metavar="PNG", help="also draw the loss and the step sizes there")
    p.set_defaults(run=run_steps)


def run_steps(args: argparse.Namespace) -> int:
    return steps_command(
        args.data,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        plot=args.plot,
    )


def steps_command(
    data: str | Path = "mnist-3-7",
    *,
    epochs: int = 20,
    lr: float = 1.0,
    batch_size: int = 256,
    seed: int = 0,
    plot: str | Path | None = None,
    stream: TextIO | None = None,
) -> int:
    """``losskit steps``: print :func:`losskit.steps.format_steps` of both walks, and draw them
    to ``plot`` when given; returns 0."""
    from losskit.steps import format_steps, plot_steps, seven_steps

    stream = stream or sys.stdout
    steps = seven_steps(data, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    print(format_steps(steps), file=stream)
    if plot is not None:
        print(f"\nwrote {plot_steps(steps, plot)}", file=stream)
    return 0


# ----------------------------------------------------------------------------- suggest
def add_suggest(subparsers: Subparsers) -> None:
    from losskit.suggest import TASKS

    p = _command(
        subparsers,
        "suggest",
        help="which loss for my data? the task, what stands out, and losses with reasons",
        description="Read the targets of a data set (a .npy, .npz or .csv file, or the shipped "
        "mnist-3-7), infer the task (regression, counts, binary, classes, multilabel, "
        "distributions, masks, boxes, rankings), notice imbalance, outliers, skew, zeros and "
        "ties, and recommend losses from the registry with the reason for each. --rules prints "
        "the rules it applies.",
        examples=[
            "losskit suggest mnist-3-7",
            "losskit suggest mnist-3-7 --task binary --top 3",
            "losskit suggest --rules",
        ],
    )
    p.add_argument("data", nargs="?", help="a .npy, .npz or .csv file, or mnist-3-7")
    p.add_argument(
        "--column", help="the .csv column (default: the last) or the .npz array of the targets"
    )
    p.add_argument(
        "--task",
        choices=TASKS,
        metavar="TASK",
        help=f"skip the inference: the data is this task ({', '.join(TASKS)})",
    )
    p.add_argument("--top", type=int, default=5, help="how many losses (default: %(default)s)")
    p.add_argument("--rules", action="store_true", help="print the inference rules and exit")
    p.set_defaults(run=run_suggest)


def run_suggest(args: argparse.Namespace) -> int:
    from losskit.suggest import RULES, load_targets, suggest

    if args.rules:
        print(RULES)
        return 0
    if args.data is None:
        raise UsageError("name a data file (or mnist-3-7), or pass --rules")
    targets = load_targets(args.data, column=args.column)
    print(suggest(targets, task=args.task, top=args.top))
    return 0


# ----------------------------------------------------------------------------- the command
SUBCOMMANDS: list[Callable[[Subparsers], None]] = [
    add_list,
    add_explain,
    add_compare,
    add_audit,
    add_plot,
    add_steps,
    add_suggest,
]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="losskit",
        description="Loss functions for PyTorch that explain themselves.",
        epilog="\n".join(
            [
                _EXAMPLES,
                "  losskit list",
                "  losskit explain mnist_loss",
                "  losskit steps",
                "  losskit compare --epochs 3 --losses accuracy,mnist_loss",
                "  losskit suggest mnist-3-7",
                "(losskit COMMAND --help: each command's options and examples)",
            ]
        ),
        formatter_class=_Formatter,
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
    except ModuleNotFoundError as exc:  # the core installed without the cli extra
        if exc.name is None or exc.name.split(".")[0] not in _CLI_EXTRA:
            raise
        return _fail(
            f"this command needs {exc.name.split('.')[0]}, part of losskit's cli extra, which is "
            'not installed; install it with: pip install "losskit[cli]" (or -e ".[cli]" in a '
            "clone)",
            1,
        )
    except (ValueError, OSError) as exc:  # library errors: one line, no traceback
        return _fail(exc, 1)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


# the top-level modules of the cli extra (pyproject's optional-dependencies "cli")
_CLI_EXTRA = frozenset({"matplotlib", "rich", "tqdm", "PIL"})


def _fail(error: object, code: int) -> int:
    message = " ".join(str(error).split())  # one line, whatever the message holds
    print(f"losskit: error: {message}", file=sys.stderr)
    return code
