"""The integration pages run as written: every ```python block of each docs/integrations/*.md
page is executed in order in one namespace (one test per page, in a temporary working
directory), and the asserts live in the pages themselves. Plus direct tests of the Lightning
callback ``ChecksAfterFirstBatch``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import losskit

DOCS = Path(__file__).resolve().parent.parent / "docs" / "integrations"
PAGES = sorted(DOCS.glob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

# third-party warnings each page's library emits on import or use, not losskit's
PAGE_WARNINGS = {
    # Lightning imports torch.utils._pytree's old private names
    "lightning.md": ["ignore:.*_pytree.*:DeprecationWarning", "ignore::FutureWarning:lightning"],
    # fastai.layers decorates its activations with torch.jit.script on import
    "fastai.md": ["ignore:`torch.jit.script` is deprecated:DeprecationWarning"],
    # transformers warns about the default GPT-2 token ids lying outside the tiny vocabulary
    "hf_trainer.md": ["ignore::UserWarning:transformers"],
}


def blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_every_page_has_code() -> None:
    names = {page.name for page in PAGES}
    assert {"fastai.md", "lightning.md", "compile.md", "vmap.md", "hf_trainer.md"} <= names
    for page in PAGES:
        if page.name != "README.md":
            assert blocks(page), f"{page.name} has no python block"


def page_params() -> list[object]:
    return [
        pytest.param(
            page,
            id=page.name,
            marks=[pytest.mark.filterwarnings(f) for f in PAGE_WARNINGS.get(page.name, [])],
        )
        for page in PAGES
    ]


@pytest.mark.parametrize("page", page_params())
def test_page_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the pages must not need the network
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    mode = losskit.get_check_mode()
    for code in blocks(page):
        exec(compile(code, str(page), "exec"), namespace)
    assert losskit.get_check_mode() == mode  # no page leaves the check mode changed


@pytest.mark.filterwarnings("ignore:.*_pytree.*:DeprecationWarning")
def test_lightning_callback_restores_the_mode_after_an_exception() -> None:
    from losskit.integrations.lightning import ChecksAfterFirstBatch

    with pytest.raises(ValueError, match="full_batches"):
        ChecksAfterFirstBatch(full_batches=0)
    callback = ChecksAfterFirstBatch(after="off", full_batches=2)
    with losskit.checks("full"):
        callback.on_fit_start(None, None)
        callback.on_train_batch_end(None, None, None, None, 0)
        assert losskit.get_check_mode() == "full"  # one batch of two seen
        callback.on_train_batch_end(None, None, None, None, 1)
        assert losskit.get_check_mode() == "off"
        callback.on_exception(None, None, RuntimeError("interrupted"))
        assert losskit.get_check_mode() == "full"
