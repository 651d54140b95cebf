"""docs/llm.md runs as written: each ```python block executes in a fresh namespace (its own
asserts check the figures it prints), and the functions it names exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import losskit

PAGE = Path(__file__).resolve().parent.parent / "docs" / "llm.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_the_page_has_its_three_blocks() -> None:
    assert len(BLOCK.findall(PAGE.read_text())) == 3


@pytest.mark.parametrize("index", range(3))
def test_block_runs(index: int) -> None:
    code = BLOCK.findall(PAGE.read_text())[index]
    exec(compile(code, f"{PAGE}:block{index}", "exec"), {"__name__": f"docs_llm_{index}"})


def test_named_functions_exist() -> None:
    names = set(re.findall(r"`losskit\.(\w+)[`(]", PAGE.read_text()))
    assert {"linear_log_probs", "linear_distillation", "dpo", "policy_gradient"} <= names
    for name in names:
        assert callable(getattr(losskit, name)), name
