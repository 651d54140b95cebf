"""Metrics against float64 NumPy references, and the reason they are not losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import losskit


def test_binary_accuracy_on_probs_and_logits() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(200, generator=gen, dtype=torch.float64)
    targets = torch.randint(0, 2, (200,), generator=gen)
    probs = 1 / (1 + np.exp(-logits.numpy()))
    for thr in (0.3, 0.5, 0.8):
        want = np.mean((probs > thr) == (targets.numpy() == 1))
        got_logits = losskit.accuracy(logits, targets, logits=True, threshold=thr).item()
        got_probs = losskit.accuracy(torch.from_numpy(probs), targets, threshold=thr).item()
        assert got_logits == pytest.approx(want) and got_probs == pytest.approx(want)


def test_multiclass_argmax_and_top_k() -> None:
    gen = torch.Generator().manual_seed(1)
    scores = torch.randn(50, 6, 3, generator=gen)
    labels = torch.randint(0, 6, (50, 3), generator=gen)
    s, y = scores.numpy(), labels.numpy()
    assert losskit.accuracy(scores, labels).item() == pytest.approx(np.mean(s.argmax(1) == y))
    rank = (s > np.take_along_axis(s, y[:, None], 1)).sum(1)  # classes scored above the label
    for k in (1, 2, 4):
        assert losskit.accuracy(scores, labels, top_k=k).item() == pytest.approx(np.mean(rank < k))
        assert losskit.error_rate(scores, labels, top_k=k).item() == pytest.approx(
            1 - np.mean(rank < k)
        )


def test_metric_input_errors() -> None:
    with pytest.raises(losskit.LossInputError, match="top_k must lie in"):
        losskit.accuracy(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long), top_k=5)
    with pytest.raises(losskit.LossInputError, match="top_k applies to multiclass"):
        losskit.accuracy(torch.zeros(3), torch.zeros(3), top_k=2)
    with pytest.raises(losskit.LossInputError, match=r"outputs \(3, 4\) vs targets \(4,\)"):
        losskit.accuracy(torch.zeros(3, 4), torch.zeros(4))


def test_accuracy_as_loss_has_a_graph_and_zero_gradient() -> None:
    logits = torch.randn(100, dtype=torch.float64, requires_grad=True)
    targets = (torch.rand(100) > 0.5).double()
    loss = losskit.accuracy_as_loss(logits, targets)
    assert loss.grad_fn is not None
    assert loss.item() == pytest.approx(1 - losskit.accuracy(logits, targets, logits=True).item())
    loss.backward()
    assert torch.count_nonzero(logits.grad) == 0
