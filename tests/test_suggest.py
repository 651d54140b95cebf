"""losskit.suggest: the task and the findings on real data sets that ship with packages
(scikit-learn's, and losskit's own digits) and on synthetic data of every task, whose right
answer is known by construction; the figures in the findings are recomputed here with NumPy."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import losskit
from losskit.cli import main
from losskit.suggest import RULES, TASKS, load_targets, suggest

sklearn_datasets = pytest.importorskip("sklearn.datasets")
RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------------- real data
def test_breast_cancer_is_balanced_binary() -> None:
    y = sklearn_datasets.load_breast_cancer().target  # 212 malignant, 357 benign
    s = suggest(y)
    assert s.task == "binary" and s.names[0] == "bce_with_logits"
    assert not any("imbalanced" in f for f in s.findings)  # 37 % positives: not below 20 %
    assert np.mean(y == 0) == pytest.approx(212 / 569)


def test_diabetes_is_regression_with_ties() -> None:
    y = sklearn_datasets.load_diabetes().target  # integer-valued floats, 25 to 346
    s = suggest(y)
    assert s.task == "regression" and s.names[0] == "mse"
    distinct = len(np.unique(y))
    assert distinct < len(y) / 2
    assert any(f"ties: {distinct} distinct values among {len(y)}" in f for f in s.findings)


def test_iris_is_three_balanced_classes() -> None:
    s = suggest(sklearn_datasets.load_iris().target)
    assert s.task == "multiclass" and s.names[0] == "cross_entropy"
    assert s.findings == ()


def test_linnerud_is_multi_output_regression() -> None:
    s = suggest(sklearn_datasets.load_linnerud().target)  # (20, 3) physiological measures
    assert s.task == "regression" and s.shape == (20, 3)
    assert any("several target columns" in n for n in s.notes)


def test_shipped_digits() -> None:
    y = load_targets("mnist-3-7")
    assert y.shape == (800,) and set(np.unique(y).tolist()) == {0.0, 1.0}
    assert suggest(y).task == "binary"


# ----------------------------------------------------------------------------- synthetic
def test_imbalanced_binary_gives_focal_and_pos_weight() -> None:
    y = np.zeros(1000, dtype=int)
    y[:40] = 1
    s = suggest(y)
    assert s.names[:2] == ["sigmoid_focal", "bce_with_logits"]
    assert "4.0% positives" in s.findings[0] and "pos_weight = 24" in s.findings[0]  # 960/40


def test_signs_are_binary() -> None:
    s = suggest(np.where(RNG.random(50) < 0.5, -1, 1))
    assert s.task == "binary" and "soft_margin" in s.names


def test_imbalanced_classes() -> None:
    y = np.repeat([0, 1, 2, 3], [500, 300, 190, 10])
    s = suggest(torch.from_numpy(y))
    assert s.task == "multiclass" and s.names[0] == "logit_adjusted_cross_entropy"
    assert "1.0% of the targets against 50.0%" in s.findings[0]  # 10/1000 and 500/1000


def test_predictions_tell_classes_from_counts() -> None:
    y = np.minimum(RNG.poisson(3, 400), 6)
    assert set(np.unique(y).tolist()) == set(range(7))  # contiguous from 0
    assert suggest(y).task == "multiclass"  # contiguous small integers: labels, with a note
    assert any("task='counts'" in n for n in suggest(y).notes)
    assert suggest(y, RNG.random(400)).task == "counts"  # one output per target
    assert suggest(y, RNG.random((400, 20))).task == "multiclass"  # one score per class


def test_zero_inflated_overdispersed_counts() -> None:
    y = RNG.poisson(30, 1000) * RNG.integers(0, 2, 1000) * 5  # gaps: not class labels
    s = suggest(y)
    assert s.task == "counts" and s.names[0] == "tweedie_deviance"
    zeros = np.mean(y == 0)
    assert any(f"{zeros:.0%} of the targets are exactly 0" in f for f in s.findings)
    assert any(f"variance {y.var():.3g} against mean {y.mean():.3g}" in f for f in s.findings)


def test_outliers_and_skew() -> None:
    clean = RNG.normal(size=1000)
    assert suggest(clean).names[0] == "mse" and suggest(clean).findings == ()
    dirty = clean.copy()
    dirty[:30] = 100.0  # 3 % far beyond 5 MADs
    s = suggest(dirty)
    assert s.names[0] == "huber" and "3.0% of the targets" in s.findings[0]
    skewed = RNG.lognormal(0, 2.5, 2000)
    ratio = skewed.max() / np.median(skewed)
    s = suggest(skewed)
    assert s.names[0] == "msle" and any(f"{ratio:.3g} times" in f for f in s.findings)


def test_multilabel_one_hot_and_distributions() -> None:
    multi = (RNG.random((60, 30)) < 0.04).astype(np.float32)
    s = suggest(multi)
    assert s.task == "multilabel" and s.names[0] == "asymmetric_loss"
    one_hot = np.eye(5)[RNG.integers(0, 5, 40)]
    s = suggest(one_hot)
    assert s.task == "multiclass" and any("argmax(1)" in f for f in s.findings)
    assert suggest(RNG.dirichlet(np.ones(6), 30)).task == "distributions"


def test_masks_boxes_rankings() -> None:
    masks = np.zeros((2, 64, 64), dtype=np.int64)
    masks[:, 10:14, 10:14] = 1  # 16 of 4096 pixels: 0.4 %
    s = suggest(masks)
    assert s.task == "masks" and s.names[0] == "focal_tversky"
    assert "0.4% of the pixels" in s.findings[0]
    labels2d = RNG.integers(0, 3, (4, 16))
    assert suggest(labels2d, RNG.normal(size=(4, 3, 16))).task == "masks"  # (N, C, L) scores
    corner = RNG.random((20, 2))
    assert suggest(np.c_[corner, corner + RNG.random((20, 2))]).names[0] == "ciou"
    assert suggest(RNG.integers(0, 5, (8, 10))).task == "ranking"


def test_probabilities_given_as_predictions_are_noticed() -> None:
    s = suggest(RNG.integers(0, 2, 100), RNG.random(100))
    assert any("probabilities?" in f for f in s.findings) and "bce" in s.names


def test_task_override_and_every_task_recommends_registered_losses() -> None:
    for task in TASKS:
        s = suggest(RNG.random((10, 4)), task=task, top=10)
        assert s.task == task and s.candidates
        for c in s.candidates:
            assert losskit.get_spec(c.name).name == c.name  # every suggestion is registered
            assert c.reason


@pytest.mark.parametrize(
    ("targets", "match"),
    [
        (None, "targets is None"),
        ([], "targets is empty"),
        (["cat", "dog"], "must hold numbers"),
        ([1.0, float("nan")], "NaN or inf"),
    ],
)
def test_bad_input(targets: object, match: str) -> None:
    with pytest.raises(losskit.LossInputError, match=match):
        suggest(targets)


def test_bad_options() -> None:
    with pytest.raises(losskit.LossInputError, match="task must be one of"):
        suggest([0, 1], task="classification")
    with pytest.raises(losskit.LossInputError, match="top must be an integer >= 1"):
        suggest([0, 1], top=0)


# ----------------------------------------------------------------------------- files and CLI
def test_files(tmp_path: Path) -> None:
    y = RNG.integers(0, 2, 30)
    np.save(tmp_path / "y.npy", y)
    np.savez(tmp_path / "d.npz", x=RNG.random((30, 3)), targets=y)
    (tmp_path / "d.csv").write_text(
        "a,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(y)), encoding="utf-8"
    )
    for name in ("y.npy", "d.npz", "d.csv"):
        np.testing.assert_array_equal(load_targets(tmp_path / name), y)
    np.testing.assert_array_equal(load_targets(tmp_path / "d.csv", column="a"), np.arange(30))
    with pytest.raises(losskit.LossInputError, match="no column 'b'"):
        load_targets(tmp_path / "d.csv", column="b")
    (tmp_path / "d.txt").write_text("1\n", encoding="utf-8")
    with pytest.raises(losskit.LossInputError, match="unknown file type"):
        load_targets(tmp_path / "d.txt")


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "y.npy", np.repeat([0, 1], [95, 5]))
    assert main(["suggest", str(tmp_path / "y.npy"), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "task: binary" in out and "5.0% positives" in out
    assert re.findall(r"^  \d\. (\w+)$", out, re.M) == ["sigmoid_focal", "bce_with_logits"]
    assert max(len(line) for line in out.splitlines()) <= 80
    assert main(["suggest", "--rules"]) == 0
    assert capsys.readouterr().out.strip() == RULES.strip()
    assert main(["suggest"]) == 1
    assert "name a data file" in capsys.readouterr().err


def test_docs_page_runs(capsys: pytest.CaptureFixture[str]) -> None:
    page = Path(__file__).resolve().parent.parent / "docs" / "suggest.md"
    blocks = re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)
    assert blocks
    namespace: dict[str, object] = {}
    for code in blocks:
        exec(compile(code, str(page), "exec"), namespace)
    assert "sigmoid_focal" in capsys.readouterr().out
