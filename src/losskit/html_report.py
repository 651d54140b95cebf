"""``losskit compare --report``: one self-contained HTML page for a comparison.

The page holds the comparison table, the learning curves and, for every loss compared, the
audit of exactly what was trained (``losskit.train.objective(name)`` on the binary task: raw
logits for a loss on logits, ``sigmoid(outputs)`` for one on values or probabilities, and
``accuracy_as_loss`` for ``accuracy``) with its picture. Images are embedded as base64 PNG and
the style sheet is inline, so the file opens offline and can be mailed as it is. The page is
rendered from the Jinja2 template ``templates/report.html.j2`` with autoescaping; it opens with
why accuracy cannot be the loss and the seven SGD steps of ``losskit steps``.
"""

from __future__ import annotations

import base64
import io
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from losskit.audit import CAVEATS, NOT_USABLE, AuditReport, audit, plot_audit

if TYPE_CHECKING:
    from losskit.compare import Comparison

__all__ = ["KEY_SENTENCE", "audit_compared", "render_html", "steps_section", "write_html_report"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1150px; padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; }
.settings { color: #57606a; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.93rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.usable { color: #1a7f37; font-weight: 600; } .caveats { color: #9a6700; font-weight: 600; }
.not-usable { color: #b2182b; font-weight: 600; }
.status-fail { color: #b2182b; font-weight: 600; } .status-caveat { color: #9a6700; }
.status-ok { color: #1a7f37; } .status-note, .status-n\\/a { color: #57606a; }
img { max-width: 100%; border: 1px solid #d0d7de; }
.key { font-size: 1.05rem; background: #fff8c5; padding: 0.6rem 0.8rem; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; font-size: 0.85rem; }
section.loss { border-top: 2px solid #d0d7de; margin-top: 2rem; }
"""


KEY_SENTENCE = (
    "Why accuracy cannot be the loss: accuracy counts how many predictions fall on the right "
    "side of a threshold, so a small change to any weight changes no prediction's side and "
    "leaves accuracy where it was; its gradient is therefore exactly zero wherever it exists, "
    "SGD's step (weights minus lr times the gradient) leaves the weights unchanged, and "
    "training never starts. A smooth loss such as mnist_loss moves a little with every weight, "
    "so its gradient shows which way to step."
)
COLUMNS = (
    "loss",
    "train loss",
    "valid accuracy start \u2192 end",
    "weights moved",
    "seconds",
    "audit verdict",
)


def _class(verdict: str) -> str:
    return {NOT_USABLE: "not-usable", CAVEATS: "caveats"}.get(verdict, "usable")


def _b64(data: bytes | None) -> str | None:
    return base64.b64encode(data).decode("ascii") if data else None


def _environment() -> Any:
    # Jinja2 arrives with torch. Autoescape: a loss name or an audit finding holding "<" or "&"
    # shows as text, never as markup.
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("losskit", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt field fails loudly instead of printing nothing
        keep_trailing_newline=True,
    )


def steps_section(steps: Any = None) -> tuple[str, bytes]:
    """The text ``losskit steps`` prints and its figure (PNG bytes), for the top of the page."""
    from losskit.steps import format_steps, plot_steps, seven_steps

    steps = steps if steps is not None else seven_steps()
    with tempfile.TemporaryDirectory() as tmp:
        picture = plot_steps(steps, Path(tmp) / "steps.png").read_bytes()
    return format_steps(steps), picture


def audit_compared(
    comparison: Comparison, *, seed: int = 0
) -> dict[str, tuple[AuditReport, bytes | None]]:
    """The audit of each loss as ``compare`` trained it, with its picture (PNG bytes)."""
    from losskit.train import objective

    out: dict[str, tuple[AuditReport, bytes | None]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for result in comparison.results:
            name = result.loss
            kw: dict[str, Any] = {"task": "binary", "input_space": "logits", "seed": seed}
            fn = objective(name)
            report = audit(fn, label=name, **kw)
            path = plot_audit(fn, Path(tmp) / "audit.png", report=report, label=name, **kw)
            out[name] = report, path.read_bytes()
    return out


def _curves_png(comparison: Comparison) -> bytes:
    from losskit.report import plot_curves

    buffer = io.BytesIO()
    plot_curves(comparison, buffer)  # type: ignore[arg-type]  # savefig takes a file object
    return buffer.getvalue()


def _row(result: Any, audits: Mapping[str, tuple[AuditReport, bytes | None]]) -> dict[str, Any]:
    verdict = audits[result.loss][0].verdict if result.loss in audits else "not audited"
    value = result.final_train_loss
    return {
        "name": result.loss,
        "diverged": bool(getattr(result, "diverged", False)),
        "train_loss": "\u2013" if value is None else f"{value:.4f}",
        "accuracy": f"{result.initial_valid_accuracy:.3f} \u2192 {result.final_valid_accuracy:.3f}",
        "moved": result.weights_moved,
        "seconds": f"{result.seconds:.2f}",
        "verdict": verdict,
        "verdict_class": _class(verdict),
    }


def render_html(
    comparison: Comparison,
    audits: Mapping[str, tuple[AuditReport, bytes | None]],
    *,
    curves: bytes | None = None,
    steps: tuple[str, bytes | None] | None = None,
    title: str = "losskit compare",
) -> str:
    """The page as a string, rendered from ``templates/report.html.j2`` (see
    :func:`write_html_report`). ``steps`` is (text, PNG) from :func:`steps_section`."""
    from losskit.report import TABLE_CAPTION

    steps_text, steps_png = steps if steps is not None else (None, None)
    template = _environment().get_template("report.html.j2")
    return str(
        template.render(
            title=title,
            c=comparison,
            css=_CSS,
            key_sentence=KEY_SENTENCE,
            steps_text=steps_text,
            steps_png=_b64(steps_png),
            columns=COLUMNS,
            rows=[_row(r, audits) for r in comparison.results],
            caption=TABLE_CAPTION,
            curves_png=_b64(curves),
            audits=[
                {
                    "name": r.loss,
                    "report": audits[r.loss][0],
                    "verdict_class": _class(audits[r.loss][0].verdict),
                    "png": _b64(audits[r.loss][1]),
                }
                for r in comparison.results
                if r.loss in audits
            ],
        )
    )


def write_html_report(
    comparison: Comparison,
    out_dir: str | Path,
    *,
    audits: Mapping[str, tuple[AuditReport, bytes | None]] | None = None,
    filename: str = "report.html",
    seed: int = 0,
) -> Path:
    """Write ``<out_dir>/report.html`` for ``comparison`` (a :class:`losskit.compare.Comparison`)
    and return its path. ``audits`` (name -> (report, PNG bytes)) defaults to
    :func:`audit_compared`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page = render_html(
        comparison,
        audits if audits is not None else audit_compared(comparison, seed=seed),
        curves=_curves_png(comparison),
        steps=steps_section(),
    )
    path = out / filename
    path.write_text(page, encoding="utf-8")
    return path
