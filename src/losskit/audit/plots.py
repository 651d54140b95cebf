"""Pictures of the audit: a loss and its gradient against the prediction, next to the flat steps
of the 0-1 error that accuracy counts; and several losses on one figure (``losskit plot``).

Figures are drawn on matplotlib's Agg canvas without pyplot: no display, no global state.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from losskit._checks import LossInputError, checks
from losskit.audit.problems import DTYPE, Problem, Slice
from losskit.audit.report import CAVEATS, NOT_USABLE, AuditReport
from losskit.audit.run import audit, problem_for, single_thread
from losskit.audit.subjects import Subject

__all__ = [
    "legend_below",
    "line_curve",
    "log_scale_wanted",
    "plot_audit",
    "plot_losses",
    "slice_curve",
]

_COLOURS = {NOT_USABLE: "#b2182b", CAVEATS: "#d98c00"}
_GREEN = "#1a7f37"
_STEP = "#7f7f7f"


def _figure(width: float, height: float, rows: int) -> Any:
    """A figure with fixed margins: a layout engine (and legends placed "best") cost more than
    the drawing itself, several seconds a figure on a busy machine."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    # in inches: 0.85 above (the title); below each row, its axis label and its legend (which
    # lies under the axes, off the curves): 1.45 below the last row and 1.75 between rows
    gap = 1.75
    axes_height = (height - 2.3 - gap * (rows - 1)) / rows
    fig.subplots_adjust(
        left=0.75 / width,
        right=1 - 0.2 / width,
        bottom=1.45 / height,
        top=1 - 0.85 / height,
        wspace=0.22,
        hspace=gap / axes_height,
    )
    return fig


def legend_below(ax: Any, size: int = 8, ncol: int = 2) -> None:
    """The legend under the axes (below the x label), never on the curves it names."""
    if not ax.get_legend_handles_labels()[0]:
        return
    ax.legend(
        fontsize=size,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        ncol=ncol,
        frameon=False,
    )


def log_scale_wanted(curves: Sequence[Any]) -> bool:
    """A log y axis when the positive finite values span more than two orders of magnitude, so
    that one spike (or one loss in larger units) does not flatten every other curve.

    The span is measured from the lower quartile, not the minimum: a loss drawn against its
    argument dips to nearly zero at its minimum (mse at a zero residual), and a log axis would
    spend most of its height on that one dip. No log axis where a value is zero or negative,
    which it cannot show.
    """
    import numpy as np

    arrays = [np.asarray(c, dtype=float).ravel() for c in curves]
    values = np.concatenate(arrays) if arrays else np.array([])
    values = values[np.isfinite(values)]
    if values.size == 0 or values.min() <= 0:
        return False
    return bool(values.max() / np.percentile(values, 25) > 100)


def _finite(x: Tensor) -> Any:
    x = x.detach().to(DTYPE)
    return torch.where(torch.isfinite(x), x, torch.nan).numpy()


@single_thread()
def slice_curve(problem: Problem, sl: Slice) -> tuple[Tensor, Tensor]:
    """The loss of each point along ``sl`` (each on its own) and its derivative with respect to
    the axis; a gradient that does not exist (no graph) is drawn as zero."""
    with checks("full"), torch.enable_grad():
        leaf = sl.values.clone().requires_grad_(True)
        preds, others = sl.make(leaf)
        losses = problem.per_point(preds, others)
        if not losses.requires_grad:
            return losses.detach(), torch.zeros_like(sl.values)
        (grad,) = torch.autograd.grad(losses.sum(), leaf, allow_unused=True)
    return losses.detach(), torch.zeros_like(sl.values) if grad is None else grad


@single_thread()
def line_curve(problem: Problem, seed: int = 0) -> tuple[str, Tensor, Tensor, Tensor]:
    """For problems without 1-D slices: the (mean) loss along a line from sampled predictions
    (0) toward the target (1), or against the gradient, with its derivative along the line."""
    gen = torch.Generator().manual_seed(seed)
    latent, others = problem.draw(gen, problem.fixed_n or 32)
    if problem.target_latent is not None:
        d, axis = (
            problem.target_latent(others) - latent,
            "from sampled predictions (0) to the target (1)",
        )
    elif problem.confident is not None:
        d, axis = 4.0 * problem.confident(others), "step toward more confidence in the true class"
    else:
        with torch.enable_grad():
            leaf = latent.clone().requires_grad_(True)
            out = problem.call(problem.to_input(leaf), others)
            g = torch.autograd.grad(out, leaf, allow_unused=True)[0] if out.requires_grad else None
        g = torch.zeros_like(latent) if g is None else g
        scale = float(latent.std()) if latent.numel() > 1 else 1.0
        d = -g / max(float(g.norm()), 1e-30) * scale * latent.numel() ** 0.5
        axis = "step against the gradient (in units of the predictions' spread)"
    s = torch.linspace(-0.5, 1.5, 81, dtype=DTYPE)
    values, grads = [], []
    with checks("full"), torch.enable_grad():
        for t in s:
            leaf = t.clone().requires_grad_(True)
            out = problem.call(problem.to_input(latent + leaf * d), others)
            values.append(out.detach().to(DTYPE))
            if out.requires_grad:
                (g1,) = torch.autograd.grad(out, leaf, allow_unused=True)
                grads.append(torch.zeros((), dtype=DTYPE) if g1 is None else g1.to(DTYPE))
            else:
                grads.append(torch.zeros((), dtype=DTYPE))
    return axis, s, torch.stack(values), torch.stack(grads)


def _robust_ylim(ax: Any, curves: list[Any]) -> None:
    """Keep a spike (the -1/p of a log loss at p -> 0) from flattening every other curve."""
    import numpy as np

    values = np.concatenate([c[np.isfinite(c)] for c in curves]) if curves else np.array([])
    if values.size < 10:
        return
    lo, hi = np.percentile(values, [5, 95])
    if max(abs(values.min()), abs(values.max())) > 10 * max(abs(lo), abs(hi), 1e-12):
        pad = 0.1 * (hi - lo or 1.0)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(ax.get_title() + " (y clipped)")


def _scale(ax: Any, curves: list[Any]) -> None:
    """Log y where the range calls for it (see :func:`log_scale_wanted`), else clip a spike."""
    if log_scale_wanted(curves):
        ax.set_yscale("log")
        ax.set_ylabel(ax.get_ylabel() + " (log scale)")
    else:
        _robust_ylim(ax, curves)


def _title(fig: Any, report: AuditReport) -> None:
    colour = _COLOURS.get(report.verdict, _GREEN)
    fig.suptitle(
        f"{report.name} ({report.task}, {report.input_space}): {report.verdict}",
        color=colour,
        fontsize=13,
        fontweight="bold",
    )


def plot_audit(
    fn: Any,
    path: str | Path,
    *,
    report: AuditReport | None = None,
    task: str | None = None,
    input_space: str | None = None,
    seed: int = 0,
    label: str | None = None,
) -> Path:
    """Write the audit's picture of ``fn`` to ``path`` (PNG): the loss (top) and its gradient
    (bottom) against the prediction, one curve per target value (binary: over logits and over
    probabilities), with the 0-1 error accuracy counts as a dashed grey step."""
    subject, problem = problem_for(fn, task=task, input_space=input_space, seed=seed)
    report = report or audit(fn, task=task, input_space=input_space, seed=seed, label=label)
    slices = problem.slices()
    absent = report.check("zero gradient").detail.startswith("absent")
    grad_note = " (absent: drawn as 0)" if absent else ""
    if slices:
        axes_names = list(dict.fromkeys(sl.axis for sl in slices))
        if len(axes_names) == 1:  # loss and gradient side by side
            fig = _figure(11.0, 4.6, 1)
            grid = [[ax] for ax in fig.subplots(1, 2)]
        else:
            fig = _figure(5.2 * len(axes_names), 8.4, 2)
            grid = [list(row) for row in fig.subplots(2, len(axes_names), squeeze=False)]
        for col, axis in enumerate(axes_names):
            top, bottom = grid[0][col], grid[1][col]
            drawn: dict[Any, list[Any]] = {top: [], bottom: []}
            for i, sl in enumerate(s for s in slices if s.axis == axis):
                losses, grads = slice_curve(problem, sl)
                x = sl.values.numpy()
                line = top.plot(x, _finite(losses), lw=2, label=sl.label)[0]
                bottom.plot(x, _finite(grads), lw=2, color=line.get_color(), label=sl.label)
                drawn[top].append(_finite(losses))
                drawn[bottom].append(_finite(grads))
                if sl.step is not None and not subject.is_metric:
                    step = sl.step(sl.values).numpy()
                    what = "|error| > 0.5" if problem.task == "regression" else "0-1 error"
                    top.plot(
                        x,
                        step,
                        ls="--",
                        lw=1.2,
                        color=line.get_color(),
                        alpha=0.55,
                        label=f"{what} ({sl.label})",
                    )
                    if i == 0:
                        bottom.plot(
                            x,
                            0 * step,
                            ls="--",
                            lw=1.2,
                            color=_STEP,
                            label=f"gradient of the {what}: 0",
                        )
            # accuracy trained as a loss is 1 - accuracy: name the error rate, not "accuracy"
            what_loss = "1 \u2212 accuracy (error rate)" if report.name == "accuracy" else "loss"
            top.set(
                title=f"{what_loss} over the {axis}",
                ylabel=what_loss,
                xlabel=_axis_label(problem, axis),
            )
            bottom.set(
                title=f"gradient d loss / d {axis}{grad_note}",
                xlabel=_axis_label(problem, axis),
                ylabel="gradient",
            )
            for ax in (top, bottom):
                _scale(ax, drawn[ax])
                ax.grid(alpha=0.3)
                legend_below(ax)
    else:
        axis, s, values, grads = line_curve(problem, seed)
        fig = _figure(11.0, 4.6, 1)
        left, right = fig.subplots(1, 2)
        left.plot(s.numpy(), _finite(values), lw=2)
        right.plot(s.numpy(), _finite(grads), lw=2)
        left.set(title="mean loss along a line", xlabel=axis, ylabel="loss")
        right.set(
            title=f"its derivative along the line{grad_note}", xlabel=axis, ylabel="d loss / d step"
        )
        for ax, curve in ((left, values), (right, grads)):
            _scale(ax, [_finite(curve)])
            ax.grid(alpha=0.3)
    _title(fig, report)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _axis_label(problem: Problem, axis: str) -> str:
    if problem.task == "regression":
        return "prediction"
    if problem.task == "multiclass":
        return f"{axis} of the varied class (other logits 0, {problem.classes} classes)"
    return f"{axis} of the positive class"


# ----------------------------------------------------------------------------- several losses
def _group(problem: Problem) -> str:
    if problem.slices() and problem.task == "regression":
        return "regression"
    if problem.slices():
        return "classification"
    return "other"


_GROUP_AXES = {
    "regression": "residual: prediction - target",
    "classification": "logit of the true class (binary: target 1; multiclass: others at 0)",
}


def plot_losses(names: Sequence[str], out: str | Path) -> Path:
    """Several losses on one figure: one row per kind (regression losses against the residual,
    classification losses against the logit of the true class, others along a line to the
    target), the loss on the left and its gradient on the right. Returns the path written."""
    if not names:
        raise LossInputError("name at least one loss to plot, e.g. mse mae huber")
    rows: dict[str, list[tuple[str, Callable[[], tuple[Any, Any, Any]]]]] = {}
    for name in names:
        subject, problem = problem_for(name)
        rows.setdefault(_group(problem), []).append((name, _curve(subject, problem)))
    order = [g for g in ("regression", "classification", "other") if g in rows]
    fig = _figure(11.0, 0.6 + 4.0 * len(order), len(order))
    grid = fig.subplots(len(order), 2, squeeze=False)
    for r, group in enumerate(order):
        left, right = grid[r]
        xlabel = _GROUP_AXES.get(
            group, "along a line from sampled predictions (0) to the target (1), or downhill"
        )
        drawn: dict[Any, list[Any]] = {left: [], right: []}
        for i, (name, curve) in enumerate(rows[group]):
            x, values, grads = curve()
            # a different dash per loss, so curves that coincide (mae and rmse on one point)
            # stay visible
            style = ("-", "--", ":", "-.")[i % 4]
            # accuracy is drawn as 1 - accuracy, the error rate: say so in the legend
            label = "1 \u2212 accuracy (error rate)" if name == "accuracy" else name
            line = left.plot(x, _finite(values), lw=2, ls=style, label=label)[0]
            right.plot(x, _finite(grads), lw=2, ls=style, color=line.get_color(), label=label)
            drawn[left].append(_finite(values))
            drawn[right].append(_finite(grads))
        left.set(title=f"{group}: loss", xlabel=xlabel, ylabel="loss")
        right.set(title=f"{group}: gradient", xlabel=xlabel, ylabel="gradient")
        for ax in (left, right):
            _scale(ax, drawn[ax])
            ax.grid(alpha=0.3)
            legend_below(ax, 9, ncol=3)
    title = textwrap.shorten("losskit plot: " + ", ".join(names), width=110, placeholder=" ...")
    fig.suptitle(title, fontsize=13, fontweight="bold")
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _curve(subject: Subject, problem: Problem) -> Callable[[], tuple[Any, Any, Any]]:
    def regression() -> tuple[Any, Any, Any]:
        sl = problem.slices()[0]
        losses, grads = slice_curve(problem, sl)
        return (sl.values - sl.center).numpy(), losses, grads

    def classification() -> tuple[Any, Any, Any]:
        sl = next(s for s in problem.slices() if s.axis == "logit")
        losses, grads = slice_curve(problem, sl)
        return sl.values.numpy(), losses, grads

    def other() -> tuple[Any, Any, Any]:
        _, s, values, grads = line_curve(problem)
        return s.numpy(), values, grads

    return {"regression": regression, "classification": classification}.get(_group(problem), other)
