"""Metrics against float64 NumPy formulas written here and against torchmetrics 1.9 itself (its
functional and accumulating classification accuracies), the refusals of ambiguous input, the
epoch counts under torch.distributed (two gloo ranks), and the reason a metric is not a loss."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torchmetrics
import torchmetrics.functional.classification as tmf
from torch import Tensor

import losskit
from losskit.metrics import (
    BinaryAccuracy,
    MulticlassAccuracy,
    MultilabelAccuracy,
    binary_accuracy,
    multiclass_accuracy,
    multilabel_accuracy,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _close(got: Tensor, want: Any) -> None:
    want = torch.as_tensor(np.asarray(want, dtype=np.float64))
    assert got.shape == want.shape and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-7, equal_nan=True)


# ----------------------------------------------------------------------------- NumPy references
def test_binary_accuracy_on_probs_and_logits_with_ignored_items() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(400, generator=gen, dtype=torch.float64)
    targets = torch.randint(0, 2, (400,), generator=gen)
    targets[::7] = -100
    x, t = logits.numpy(), targets.numpy()
    keep = t != -100
    for thr in (0.3, 0.5, 0.8):
        want = np.mean((_sigmoid(x) > thr)[keep] == (t[keep] == 1))  # float64, by hand
        kw: dict[str, Any] = {"threshold": thr, "ignore_index": -100}
        _close(binary_accuracy(logits, targets, from_logits=True, **kw), want)
        _close(binary_accuracy(torch.sigmoid(logits), targets, from_logits=False, **kw), want)
        _close(binary_accuracy(logits.float(), targets, from_logits=True, **kw), want)


def test_multiclass_top_k_and_averages() -> None:
    gen = torch.Generator().manual_seed(1)
    scores = torch.randn(60, 6, 3, generator=gen)
    labels = torch.randint(0, 6, (60, 3), generator=gen)
    labels[:5, 0] = -100
    s, y = scores.double().numpy(), labels.numpy()
    keep = y != -100
    safe = np.where(keep, y, 0)
    rank = (s > np.take_along_axis(s, safe[:, None], 1)).sum(1)  # classes scored above the label
    for k in (1, 2, 4):
        hit = (rank < k)[keep]
        recall = [hit[y[keep] == c].mean() for c in range(6)]
        kw: dict[str, Any] = {"num_classes": 6, "top_k": k, "ignore_index": -100}
        _close(multiclass_accuracy(scores, labels, **kw), hit.mean())
        _close(multiclass_accuracy(scores, labels, average="none", **kw), recall)
        _close(multiclass_accuracy(scores, labels, average="macro", **kw), np.mean(recall))
    # predicted labels give the argmax result
    _close(
        multiclass_accuracy(scores.argmax(1), labels, num_classes=6, ignore_index=-100),
        (rank < 1)[keep].mean(),
    )


def test_multilabel_micro_macro_none() -> None:
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(50, 4, 2, generator=gen, dtype=torch.float64)
    targets = torch.randint(0, 2, (50, 4, 2), generator=gen)
    targets[:20, 1] = 255  # label 1 counts fewer elements, so macro differs from micro
    right = (_sigmoid(logits.numpy()) > 0.6) == (targets.numpy() == 1)
    keep = targets.numpy() != 255
    per = [right[:, j][keep[:, j]].mean() for j in range(4)]
    kw: dict[str, Any] = {"num_labels": 4, "from_logits": True, "threshold": 0.6}
    kw["ignore_index"] = 255
    _close(multilabel_accuracy(logits, targets, **kw), right[keep].mean())
    _close(multilabel_accuracy(logits, targets, average="none", **kw), per)
    _close(multilabel_accuracy(logits, targets, average="macro", **kw), np.mean(per))
    assert abs(np.mean(per) - right[keep].mean()) > 1e-3  # the two averages really differ


def test_conventions_nothing_counted_is_nan_and_macro_uses_classes_present() -> None:
    scores = torch.tensor([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0], [0, 3.0, 0]])
    labels = torch.tensor([0, 1, 1, 1])  # class 2 is predicted once but never a target
    # recall: class 0 1/1, class 1 2/3, class 2 undefined (no target)
    _close(multiclass_accuracy(scores, labels, num_classes=3, average="none"), [1, 2 / 3, np.nan])
    _close(multiclass_accuracy(scores, labels, num_classes=3, average="macro"), (1 + 2 / 3) / 2)
    everything_ignored = torch.full((4,), -100)
    _close(
        multiclass_accuracy(scores, everything_ignored, num_classes=3, ignore_index=-100), np.nan
    )
    _close(binary_accuracy(torch.zeros(0), torch.zeros(0), from_logits=True), np.nan)
    _close(BinaryAccuracy(from_logits=False).compute(), np.nan)


# ----------------------------------------------------------------------------- torchmetrics
def test_binary_agrees_with_torchmetrics() -> None:
    gen = torch.Generator().manual_seed(3)
    logits = 2 * torch.randn(500, generator=gen)  # outside [0, 1]: torchmetrics applies sigmoid
    targets = torch.randint(0, 2, (500,), generator=gen)
    targets[::9] = -1
    for thr in (0.2, 0.5, 0.7):
        for ignore in (None, -1):
            t = targets if ignore is not None else targets.clamp(min=0)
            want = tmf.binary_accuracy(logits, t, threshold=thr, ignore_index=ignore)
            got = binary_accuracy(logits, t, from_logits=True, threshold=thr, ignore_index=ignore)
            probs = binary_accuracy(
                torch.sigmoid(logits), t, from_logits=False, threshold=thr, ignore_index=ignore
            )
            torch.testing.assert_close(got, want)
            torch.testing.assert_close(probs, want)


@pytest.mark.parametrize("average", ["micro", "macro", "none"])
def test_multiclass_agrees_with_torchmetrics(average: str) -> None:
    gen = torch.Generator().manual_seed(4)
    scores = torch.randn(400, 5, 3, generator=gen)
    labels = torch.randint(0, 5, (400, 3), generator=gen)
    labels[::11] = -100
    # every class present: torchmetrics' macro convention and losskit's then agree
    assert all(bool((labels == c).any()) for c in range(5))
    for k in (1, 2, 3):
        for ignore in (None, -100):
            y = labels if ignore is not None else labels.clamp(min=0)
            kw: dict[str, Any] = {"num_classes": 5, "top_k": k, "average": average}
            want = tmf.multiclass_accuracy(scores, y, ignore_index=ignore, **kw)
            got = multiclass_accuracy(scores, y, ignore_index=ignore, **kw)
            torch.testing.assert_close(got, want)
    want = tmf.multiclass_accuracy(
        scores.argmax(1), labels.clamp(min=0), num_classes=5, average=average
    )
    got = multiclass_accuracy(scores.argmax(1), labels.clamp(min=0), num_classes=5, average=average)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("average", ["micro", "macro", "none"])
def test_multilabel_agrees_with_torchmetrics(average: str) -> None:
    gen = torch.Generator().manual_seed(5)
    logits = 2 * torch.randn(300, 4, generator=gen)
    targets = torch.randint(0, 2, (300, 4), generator=gen)
    targets[:90, 2] = -1
    for thr in (0.35, 0.5):
        kw: dict[str, Any] = {"num_labels": 4, "threshold": thr, "average": average}
        want = tmf.multilabel_accuracy(logits, targets, ignore_index=-1, **kw)
        got = multilabel_accuracy(logits, targets, from_logits=True, ignore_index=-1, **kw)
        probs = multilabel_accuracy(
            torch.sigmoid(logits), targets, from_logits=False, ignore_index=-1, **kw
        )
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(probs, want)


def _uneven_batches(n: int, gen: torch.Generator) -> list[slice]:
    cuts = sorted(torch.randperm(n - 1, generator=gen)[:6].add(1).tolist())
    return [slice(a, b) for a, b in zip([0, *cuts], [*cuts, n], strict=True)]


def test_epoch_accumulation_agrees_with_torchmetrics_not_with_a_mean_of_batch_means() -> None:
    gen = torch.Generator().manual_seed(6)
    scores = torch.randn(240, 4, generator=gen)
    labels = torch.randint(0, 4, (240,), generator=gen)
    labels[::5] = -100
    logits, bits = scores[:, 0], torch.randint(0, 2, (240,), generator=gen)
    pairs: list[tuple[Any, Any, Tensor, Tensor]] = [
        (
            MulticlassAccuracy(num_classes=4, average="macro", ignore_index=-100),
            torchmetrics.classification.MulticlassAccuracy(4, average="macro", ignore_index=-100),
            scores,
            labels,
        ),
        (
            MulticlassAccuracy(num_classes=4, top_k=2, ignore_index=-100),
            torchmetrics.classification.MulticlassAccuracy(
                4, top_k=2, average="micro", ignore_index=-100
            ),
            scores,
            labels,
        ),
        (
            BinaryAccuracy(from_logits=True),
            torchmetrics.classification.BinaryAccuracy(),
            logits,
            bits,
        ),
        (
            MultilabelAccuracy(num_labels=4, from_logits=True, average="none"),
            torchmetrics.classification.MultilabelAccuracy(4, average="none"),
            scores,
            (scores + torch.randn(240, 4, generator=gen) > 0).long(),
        ),
    ]
    batches = _uneven_batches(240, gen)
    for ours, theirs, x, y in pairs:
        for _ in range(2):  # the second epoch after reset must not remember the first
            ours.reset()
            for b in batches:
                ours.update(x[b], y[b])
                theirs.update(x[b], y[b])
            torch.testing.assert_close(ours.compute(), theirs.compute())
            theirs.reset()
        assert ours.correct.dtype == torch.int64 and ours.total.dtype == torch.int64
    # the pitfall the accumulator avoids: a mean of batch means is another number
    acc = MulticlassAccuracy(num_classes=4, ignore_index=-100)
    means = []
    for b in batches:
        acc.update(scores[b], labels[b])
        means.append(
            float(multiclass_accuracy(scores[b], labels[b], num_classes=4, ignore_index=-100))
        )
    keep = labels != -100
    truth = float((scores.argmax(1) == labels)[keep].double().mean())
    assert float(acc.compute()) == pytest.approx(truth, abs=1e-7)
    assert abs(np.mean(means) - truth) > 1e-3


# ----------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: binary_accuracy(torch.randn(8), torch.ones(8)), r"from_logits is required"),
        (lambda: BinaryAccuracy(), r"from_logits is required"),
        (lambda: MulticlassAccuracy(num_classes=3, top_k=4), r"top_k must lie in \[1, 3\]"),
        (lambda: MultilabelAccuracy(num_labels=2), r"from_logits is required"),
        (
            lambda: multilabel_accuracy(torch.randn(4, 3), torch.ones(4, 3), num_labels=3),
            r"from_logits is required.*\[-?\d",
        ),
        (
            lambda: binary_accuracy(torch.tensor([-1.5, 0.3]), torch.ones(2), from_logits=False),
            r"probabilities in \[0, 1\] because from_logits=False, got values in \[-1\.5, 0\.3\]"
            r".*from_logits=True",
        ),
        (
            lambda: binary_accuracy(torch.randn(3), torch.tensor([1, -100, 0]), from_logits=True),
            r"targets must be 0 or 1 .*ignore_index=-100",
        ),
        (
            lambda: binary_accuracy(
                torch.randn(3), torch.tensor([0.2, 1.0, 0.0]), from_logits=True
            ),
            r"soft targets have no accuracy",
        ),
        (
            lambda: binary_accuracy(
                torch.tensor([1.0, float("nan")]), torch.ones(2), from_logits=True
            ),
            r"preds holds NaN",
        ),
        (
            lambda: binary_accuracy(torch.randn(4), torch.ones(4, 2), from_logits=True),
            r"two-column one-hot targets\? pass targets\[\.\.\., 1\]",
        ),
        (
            lambda: multiclass_accuracy(
                torch.randn(4, 3), torch.eye(3)[[0, 1, 2, 0]], num_classes=3
            ),
            r"one-hot targets or class probabilities\? pass targets\.argmax\(1\)",
        ),
        (
            lambda: multiclass_accuracy(
                torch.randn(4, 3), torch.eye(3, dtype=torch.long)[[0, 1, 2, 0]], num_classes=3
            ),
            r"targets \(4, 3\) has the shape of preds: one-hot targets",
        ),
        (
            lambda: multiclass_accuracy(
                torch.randn(4, 5, 3), torch.zeros(4, 5).long(), num_classes=3
            ),
            r"5 classes in dim 1, but num_classes=3; .*movedim\(-1, 1\)",
        ),
        (
            lambda: multiclass_accuracy(torch.rand(4), torch.zeros(4).long(), num_classes=3),
            r"predicted labels\? pass preds\.long\(\)",
        ),
        (
            lambda: multiclass_accuracy(
                torch.randn(3, 4), torch.zeros(3).long(), num_classes=4, top_k=5
            ),
            r"top_k must lie in \[1, 4\]",
        ),
        (
            lambda: multiclass_accuracy(
                torch.randn(3, 4), torch.tensor([0, 1, -100]), num_classes=4
            ),
            r"targets must lie in \[0, 4\)",
        ),
        (
            lambda: multiclass_accuracy(
                torch.randn(3, 4), torch.zeros(3).long(), num_classes=4, average="weighted"
            ),
            r"average must be one of \('micro', 'macro', 'none'\)",
        ),
        (
            lambda: losskit.accuracy(torch.randn(5), torch.ones(5)),
            r"pass logits=True \(raw scores\) or logits=False",
        ),
        (
            lambda: losskit.accuracy(torch.randn(4, 3), torch.eye(3)[[0, 1, 2, 0]], logits=True),
            r"one-hot along dim 1: .*multiclass_accuracy\(outputs, targets\.argmax\(1\)",
        ),
        (
            lambda: losskit.accuracy(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), top_k=5),
            r"top_k must lie in",
        ),
        (
            lambda: losskit.accuracy(torch.zeros(3), torch.zeros(3), top_k=2, logits=True),
            r"top_k applies to multiclass",
        ),
        (
            lambda: losskit.accuracy(torch.zeros(3, 4), torch.zeros(4)),
            r"outputs \(3, 4\) vs targets \(4,\)",
        ),
    ],
)
def test_ambiguous_or_wrong_input_is_refused(call: Any, message: str) -> None:
    with pytest.raises(losskit.LossInputError, match=message):
        call()


# ----------------------------------------------------------------------------- the older front
def test_accuracy_front_keeps_its_callers_results() -> None:
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(200, generator=gen, dtype=torch.float64)
    targets = torch.randint(0, 2, (200,), generator=gen).double()  # as train.evaluate gives them
    x, t = logits.numpy(), targets.numpy()
    _close(losskit.accuracy(logits, targets, logits=True), np.mean((x > 0) == (t == 1)))
    _close(losskit.error_rate(logits, targets, logits=True), 1 - np.mean((x > 0) == (t == 1)))
    probs = torch.from_numpy(_sigmoid(x))
    _close(
        losskit.accuracy(probs, targets, logits=False, threshold=0.7),
        np.mean((_sigmoid(x) > 0.7) == (t == 1)),
    )
    scores = torch.randn(50, 6, 3, generator=gen)
    labels = torch.randint(0, 6, (50, 3), generator=gen)
    s, y = scores.numpy(), labels.numpy()
    rank = (s > np.take_along_axis(s, y[:, None], 1)).sum(1)
    for k in (1, 2, 4):
        for logits_flag in (None, False, True):  # multiclass: the flag changes nothing
            got = losskit.accuracy(scores, labels, top_k=k, logits=logits_flag)
            _close(got, np.mean(rank < k))
        _close(losskit.error_rate(scores, labels, top_k=k), 1 - np.mean(rank < k))


def test_accuracy_as_loss_has_a_graph_and_zero_gradient() -> None:
    logits = torch.randn(100, dtype=torch.float64, requires_grad=True)
    targets = (torch.rand(100) > 0.5).double()
    loss = losskit.accuracy_as_loss(logits, targets)
    assert loss.grad_fn is not None
    want = np.mean((logits.detach().numpy() > 0) == (targets.numpy() == 1))
    assert loss.item() == pytest.approx(1 - want)
    loss.backward()
    assert logits.grad is not None and torch.count_nonzero(logits.grad) == 0


# ----------------------------------------------------------------------------- distributed
SHARDS = [slice(0, 37), slice(37, 200)]  # uneven: a mean of the ranks' means would be wrong


def _ddp_data() -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(8)
    scores = torch.randn(200, 3, generator=gen)
    labels = torch.randint(0, 3, (200,), generator=gen)
    labels[::6] = -100
    return scores, labels


def _ddp_reference() -> dict[str, float]:
    scores, labels = _ddp_data()
    y, keep = labels.numpy(), labels.numpy() != -100
    hit = (scores.numpy().argmax(1) == y)[keep]
    recall = [hit[y[keep] == c].mean() for c in range(3)]
    return {"micro": float(hit.mean()), "macro": float(np.mean(recall))}


# One rank, run as its own Python process (it imports torch and losskit only, so it starts
# fast): reads the data the test saved, updates twice on its shard, computes, reports.
RANK = r"""
import json, sys
from datetime import timedelta
from pathlib import Path
import torch
import torch.distributed as dist
from losskit.metrics import MulticlassAccuracy

rank, tmp = int(sys.argv[1]), Path(sys.argv[2])
torch.set_num_threads(1)
scores, labels = torch.load(tmp / "shards.pt")[rank]
dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=2)
out = {}
for average in ("micro", "macro"):
    acc = MulticlassAccuracy(num_classes=3, average=average, ignore_index=-100)
    acc.update(scores[:10], labels[:10])
    acc.update(scores[10:], labels[10:])
    out[average] = float(acc.compute())
    out[f"{average} local"] = float(acc._finish(acc.correct, acc.total))
dist.barrier()
# leave through a file, so that no rank closes its sockets while a slower peer still reads
store = dist.FileStore(str(tmp / "teardown"), 2)
store.set(f"left {rank}", "1")
store.wait([f"left {r}" for r in range(2)], timedelta(seconds=120))
dist.destroy_process_group()
(tmp / f"rank{rank}.json").write_text(json.dumps(out))
"""


@pytest.mark.slow
def test_compute_sums_the_counts_of_two_gloo_ranks(tmp_path: Path) -> None:
    scores, labels = _ddp_data()
    torch.save([(scores[s], labels[s]) for s in SHARDS], tmp_path / "shards.pt")
    ranks = [
        subprocess.Popen(
            [sys.executable, "-c", RANK, str(r), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(2)
    ]
    try:
        logs = [p.communicate(timeout=240)[0] for p in ranks]  # a hang fails, not blocks
    finally:
        for p in ranks:
            if p.poll() is None:
                p.kill()
            p.wait()
    assert [p.returncode for p in ranks] == [0, 0], "\n".join(logs)
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    for res in results:
        for average, value in _ddp_reference().items():
            assert res[average] == pytest.approx(value, abs=1e-7)
    # each rank alone sees another accuracy: summing the counts is what made them equal
    assert abs(results[0]["micro local"] - _ddp_reference()["micro"]) > 1e-3


def test_compute_sums_the_counts_of_a_fake_two_rank_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reduction logic without processes: ``all_reduce`` adds the other rank's counts."""
    scores, labels = _ddp_data()
    reference = _ddp_reference()
    for average in ("micro", "macro"):
        accs = [
            MulticlassAccuracy(num_classes=3, average=average, ignore_index=-100) for _ in SHARDS
        ]
        for acc, shard in zip(accs, SHARDS, strict=True):
            acc.update(scores[shard], labels[shard])
        for me, other in ((0, 1), (1, 0)):
            peer = torch.stack([accs[other].correct, accs[other].total])

            def all_reduce(
                t: Tensor, op: Any = None, group: Any = None, peer: Tensor = peer
            ) -> None:
                assert op == dist.ReduceOp.SUM and t.dtype == torch.int64
                t += peer

            monkeypatch.setattr(dist, "is_initialized", lambda: True)
            monkeypatch.setattr(dist, "get_world_size", lambda group=None: 2)
            monkeypatch.setattr(dist, "get_backend", lambda group=None: "gloo")
            monkeypatch.setattr(dist, "all_reduce", all_reduce)
            before = accs[me].correct.clone()
            assert float(accs[me].compute()) == pytest.approx(reference[average], abs=1e-7)
            assert torch.equal(accs[me].correct, before)  # the local counts are untouched
            monkeypatch.undo()
            assert float(accs[me].compute()) != pytest.approx(reference[average], abs=1e-3)


def test_without_a_process_group_compute_is_local() -> None:
    acc = BinaryAccuracy(from_logits=True)
    acc.update(torch.tensor([1.0, -1.0, 2.0]), torch.tensor([1, 1, 1]))
    assert not dist.is_initialized()
    correct, total = acc.counts()
    assert (int(correct), int(total)) == (2, 3)
    _close(acc.compute(), 2 / 3)


# ----------------------------------------------------------------------------- the page
def test_the_docs_page_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), {})  # each block asserts its own numbers
