"""The API reference of every registered loss, written from the registry and the docstrings.

``python -m losskit.reference > docs/reference.md`` regenerates the page; a test keeps the
committed page equal to what this module writes, so the reference cannot drift from the code.
Each entry has the formula, the input and target spaces, the signature with its options and
their defaults, the options' descriptions, the docstring's example and the references.
"""

from __future__ import annotations

import inspect
import re

from losskit._spec import Choice, Family, LossSpec, doc_section, list_specs
from losskit.nn import module_for

__all__ = ["entry", "markdown"]


def _anchor(name: str) -> str:
    return name  # a heading "### `a_b`" has the anchor "a_b" on GitHub and in most renderers


def _described(choice: Choice) -> str:
    text = choice.description
    return str(choice) if text == str(choice) else f"{choice} ({text})"


def _signature(spec: LossSpec) -> str:
    sig = inspect.signature(spec.function)
    parts: list[str] = []
    star = False
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            continue  # ``**removed``: the old keywords a loss refuses with a message
        if p.kind is inspect.Parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}")
    return f"losskit.{spec.name}({', '.join(parts)})"


def _example(spec: LossSpec) -> str:
    """The docstring's ``Example:`` section (doctested by the test suite), as a code block."""
    body = doc_section(spec.doc, "Example")
    return f"```python\n{body}\n```" if body else ""


def _args(spec: LossSpec) -> str:
    """The docstring's ``Args:`` section as a list, one option per item."""
    body = doc_section(spec.doc, "Args")
    items: list[str] = []
    for line in body.splitlines():
        head = re.match(r"^(\*{0,2}\w+): (.*)$", line)
        if head and not line.startswith(" "):
            items.append(f"- `{head.group(1)}`: {head.group(2).strip()}")
        elif items and line.strip():
            items[-1] += " " + line.strip()
    return "\n".join(items)


def entry(spec: LossSpec) -> str:
    """One loss's section of the reference, in markdown."""
    lines = [f"### `{spec.name}`", "", spec.summary, ""]
    if spec.formula:
        lines += [spec.formula, ""]
    table = [
        ("predictions", _described(spec.input_space)),
        ("targets", _described(spec.targets)),
        ("module", f"`losskit.nn.{module_for(spec.name).__name__}(**options)`"),
        ("activation / decode", f"{spec.activation} / {spec.decode}"),
        ("mean over", _described(spec.mean_over)),
        ("reductions", ", ".join(spec.reductions)),
        ("properties", ", ".join(sorted(str(p) for p in spec.properties)) or "none stated"),
    ]
    if spec.aliases:
        table.append(("aliases", ", ".join(f"`{a}`" for a in spec.aliases)))
    if spec.metrics:
        table.append(("metrics it stands in for", ", ".join(spec.metrics)))
    lines += [
        "| | |",
        "|---|---|",
        *(f"| {k} | {v.replace('|', '&#124;')} |" for k, v in table),
        "",
    ]
    if spec.shapes:
        lines += [spec.shapes, ""]
    lines += ["```python", _signature(spec), "```", ""]
    args = _args(spec)
    if args:
        lines += ["Options:", "", args, ""]
    if spec.when_to_use:
        lines += [f"When to use: {spec.when_to_use}", ""]
    example = _example(spec)
    if example:
        lines += [example, ""]
    if spec.references:
        lines += ["References: " + "; ".join(spec.references) + ".", ""]
    return "\n".join(lines)


def markdown() -> str:
    """The whole reference page: an index by family, then one section per loss."""
    specs = list_specs()
    out = [
        "# API reference",
        "",
        "Written by `python -m losskit.reference` from the registry and the docstrings; a test",
        "keeps this page current. Every loss is a function and a `torch.nn.Module` (its options",
        "given to the constructor), and explains itself with `losskit explain NAME`.",
        f"{len(specs)} losses.",
        "",
    ]
    for family in Family:
        names = [s.name for s in specs if s.family == family]
        if names:
            links = ", ".join(f"[`{n}`](#{_anchor(n)})" for n in names)
            out.append(f"- **{family}**: {links}")
    out.append("")
    for family in Family:
        members = [s for s in specs if s.family == family]
        if not members:
            continue
        out += [f"## {family}", ""]
        out += [entry(s) for s in members]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
