"""``losskit compare --report``: one self-contained HTML page for a comparison.

The page holds the comparison table, the learning curves and, for every loss compared, the
audit of exactly what was trained (``losskit.train.objective(name)`` on the binary task: raw
logits for a loss on logits, ``sigmoid(outputs)`` for one on values or probabilities, and
``accuracy_as_loss`` for ``accuracy``) with its picture. Images are embedded as base64 PNG and
the style sheet is inline, so the file opens offline and can be mailed as it is.
"""

from __future__ import annotations

import base64
import html
import io
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from losskit.audit import CAVEATS, NOT_USABLE, AuditReport, audit, plot_audit

if TYPE_CHECKING:
    from losskit.compare import Comparison

__all__ = ["audit_compared", "render_html", "write_html_report"]

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
section.loss { border-top: 2px solid #d0d7de; margin-top: 2rem; }
"""


def _class(verdict: str) -> str:
    return {NOT_USABLE: "not-usable", CAVEATS: "caveats"}.get(verdict, "usable")


def _png(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


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


def _train_loss(result: Any) -> str:
    if getattr(result, "diverged", False):
        return '<span class="not-usable">diverged</span>'
    value = result.final_train_loss
    return "&ndash;" if value is None else f"{value:.4f}"


def render_html(
    comparison: Comparison,
    audits: Mapping[str, tuple[AuditReport, bytes | None]],
    *,
    curves: bytes | None = None,
    title: str = "losskit compare",
) -> str:
    """The page as a string (see :func:`write_html_report`)."""
    c = comparison
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}: {e(c.data)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="settings">{e(c.model)} model on {e(c.data)} ({c.n_train} train / '
        f"{c.n_valid} valid images), {c.epochs} epochs, lr {c.lr:g}, batch {c.batch_size}, "
        f"seed {c.seed}. Every loss starts from the same weights and sees the data in the same "
        "order, so the only difference between two rows is the loss.</p>",
        "<h2>Comparison</h2>",
        "<table><tr><th>loss</th><th>final train loss</th><th>valid accuracy<br>start &rarr; "
        "end</th><th>weights moved</th><th>seconds</th><th>audit verdict</th></tr>",
    ]
    for r in c.results:
        verdict = audits[r.loss][0].verdict if r.loss in audits else "not audited"
        parts.append(
            f'<tr><td><a href="#loss-{e(r.loss)}">{e(r.loss)}</a></td>'
            f'<td class="num">{_train_loss(r)}</td>'
            f'<td class="num">{r.initial_valid_accuracy:.3f} &rarr; '
            f"{r.final_valid_accuracy:.3f}</td>"
            f"<td>{'yes' if r.weights_moved else '<b>no</b>'}</td>"
            f'<td class="num">{r.seconds:.2f}</td>'
            f'<td class="{_class(verdict)}">{e(verdict)}</td></tr>'
        )
    parts.append(
        "</table><p class=\"settings\">train loss: the final epoch's mean, in each loss's own "
        "units (for accuracy, 1 - accuracy); diverged: training stopped when the outputs or the "
        "loss overflowed. weights moved: does any weight differ from its initial value?</p>"
    )
    if curves:
        parts += ["<h2>Learning curves</h2>", _png(curves, "train loss and validation accuracy")]
    parts.append("<h2>Audit of each loss, as it was trained here</h2>")
    for r in c.results:
        if r.loss not in audits:
            continue
        report, picture = audits[r.loss]
        parts += [
            f'<section class="loss" id="loss-{e(r.loss)}">',
            f'<h3>{e(r.loss)}: <span class="{_class(report.verdict)}">'
            f"{e(report.verdict)}</span></h3>",
            f'<p class="settings">{e(report.task)} task, {e(report.input_space)}; sampled: '
            f"{e(report.sampled)}; seed {report.seed}</p>",
            "<ul>" + "".join(f"<li>{e(reason)}</li>" for reason in report.reasons) + "</ul>",
            "<table><tr><th>check</th><th>status</th><th>finding</th></tr>",
        ]
        parts += [
            f'<tr><td>{e(k.name)}</td><td class="status-{e(k.status)}">{e(k.status)}</td>'
            f"<td>{e(k.detail)}</td></tr>"
            for k in report.checks
        ]
        parts.append("</table>")
        parts += [f'<p class="settings">note: {e(n)}</p>' for n in report.notes]
        if picture:
            parts.append(_png(picture, f"{r.loss}: loss and gradient against the prediction"))
        parts.append("</section>")
    parts.append(
        '<p class="settings">Written by losskit. Dashed steps: the 0-1 error accuracy counts; '
        "its gradient is zero wherever it exists, which is why accuracy cannot be trained "
        "directly.</p></body></html>"
    )
    return "\n".join(parts) + "\n"


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
    )
    path = out / filename
    path.write_text(page, encoding="utf-8")
    return path
