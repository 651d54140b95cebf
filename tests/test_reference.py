"""The generated API reference (docs/reference.md) is current and complete."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import losskit
from losskit import reference

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference.md"


def test_committed_page_is_current() -> None:
    written = reference.markdown()
    assert PAGE.read_text() == written, (
        "docs/reference.md is stale: run `python -m losskit.reference > docs/reference.md`"
    )


def test_module_entry_point_writes_the_page() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "losskit.reference"], capture_output=True, text=True, check=True
    ).stdout
    assert out == PAGE.read_text()


def test_every_loss_has_its_section_with_options_and_example() -> None:
    text = PAGE.read_text()
    headings = re.findall(r"^### `(\w+)`$", text, flags=re.M)
    names = [s.name for s in losskit.list_specs()]
    assert sorted(headings) == sorted(names) and len(headings) == len(set(headings))
    sections = dict(zip(headings, re.split(r"^### `\w+`$", text, flags=re.M)[1:], strict=True))
    for spec in losskit.list_specs():
        body = sections[spec.name]
        assert spec.summary in body
        params = inspect.signature(spec.function).parameters.values()
        for p in params:
            if p.kind is inspect.Parameter.KEYWORD_ONLY:
                assert f"{p.name}=" in body, f"{spec.name}: option {p.name} missing"
        if ">>>" in spec.doc:  # the docstring's doctested example is shown
            assert f"losskit.{spec.name}(" in body.split("```python", 2)[-1]
        module = losskit.nn.module_for(spec.name).__name__
        assert f"losskit.nn.{module}(" in body


def test_index_links_point_at_headings() -> None:
    text = PAGE.read_text()
    anchors = set(re.findall(r"^### `(\w+)`$", text, flags=re.M))
    links = re.findall(r"\]\(#(\w+)\)", text)
    assert links and set(links) == anchors
