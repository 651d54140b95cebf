"""The light core: ``import losskit`` (and the shipped digits) needs only torch and numpy.

Plotting, tables, progress bars and PNG reading (matplotlib, rich, tqdm, Pillow) belong to the
``cli`` extra; mlxtend, scikit-learn, pandas and scipy are no dependency at all. Each check runs
in a fresh interpreter, since this test process has imported most of them already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ("matplotlib", "rich", "tqdm", "PIL", "mlxtend", "sklearn", "pandas", "scipy")
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def run_python(code: str) -> str:
    """stdout of ``python -c code`` in a fresh interpreter; fails the test on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_losskit_loads_none_of_the_heavy_modules() -> None:
    # torch itself imports tqdm when it is installed (torch.hub's progress bar), so what counts
    # is what `import losskit` adds after `import torch`
    out = run_python(
        f"""
        import json, sys
        import torch
        before = set(sys.modules)
        import losskit, losskit.data
        print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules and m not in before)))
        """
    )
    assert json.loads(out) == []


def test_core_works_with_only_torch_and_numpy(tmp_path: Path) -> None:
    # the heavy modules made unimportable, as in an environment without the cli extra
    (tmp_path / "train" / "3").mkdir(parents=True)
    (tmp_path / "valid" / "3").mkdir(parents=True)
    out = run_python(
        f"""
        import importlib.abc, json, sys

        class Absent(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {HEAVY!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, Absent())
        import torch
        import losskit
        from losskit.data import load_dataset, load_png_folder_3_7

        data = load_dataset()
        logits = torch.zeros(4)
        loss = losskit.mnist_loss(logits, torch.tensor([1.0, 0.0, 1.0, 0.0]))
        try:
            load_png_folder_3_7({str(tmp_path)!r})
            png = "no error"
        except ImportError as exc:
            png = str(exc)
        print(json.dumps({{"train": list(data.x_train.shape), "loss": loss.item(), "png": png,
                          "loaded": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
        """
    )
    got = json.loads(out)
    assert got["train"] == [800, 784]
    assert got["loss"] == 0.5  # sigmoid(0) = 0.5 for every example, 3 or 7
    assert got["loaded"] == []
    assert "needs Pillow: pip install pillow" in got["png"]


def test_pyproject_core_is_torch_and_numpy() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    names = [req.split(">")[0].split("=")[0].split("[")[0] for req in project["dependencies"]]
    assert names == ["torch", "numpy"]
    extras = project["optional-dependencies"]
    cli = {req.split(">")[0] for req in extras["cli"]}
    assert cli == {"matplotlib", "rich", "tqdm", "pillow"}
    assert "losskit[cli]" in extras["dev"]
    everything = [req for reqs in extras.values() for req in reqs] + project["dependencies"]
    assert not any("mlxtend" in req for req in everything)
