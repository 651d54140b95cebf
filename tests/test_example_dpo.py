"""losskit.examples.dpo runs as documented: at the start the policy is the reference, so the
DPO loss is exactly log 2 by both paths; the fused and naive gradients agree; the fused path
holds less memory; training raises the chosen-over-rejected margin."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("transformers")

from losskit.examples import dpo


@pytest.mark.filterwarnings("ignore::UserWarning:transformers")
def test_dpo_example() -> None:
    report = dpo.run(steps=6, vocab=16384, pairs=8)  # big enough that the logits dominate
    assert report.fused_loss == pytest.approx(math.log(2), abs=1e-6)  # sigmoid(0) at beta * 0
    assert report.naive_loss == pytest.approx(math.log(2), abs=1e-6)
    assert report.grad_difference < 1e-6
    assert report.fused_peak < report.naive_peak
    assert report.losses[-1] < report.losses[0]
    assert report.margins[-1] > report.margins[0]


def test_pairs_and_labels() -> None:
    batch = dpo.make_pairs(3, 50, prompt=4, answer=5)
    assert batch.chosen.shape == batch.rejected.shape == (3, 9)
    # chosen answers count up from the prompt's last token
    assert (batch.chosen[:, 4:] == (batch.chosen[:, 3:4] + dpo.torch.arange(1, 6)) % 50).all()
    # labels: the next token on the answer, ignored on the prompt and at the end
    assert (batch.chosen_labels[:, :3] == dpo.IGNORE).all()
    assert (batch.chosen_labels[:, 3:-1] == batch.chosen[:, 4:]).all()
    assert (batch.chosen_labels[:, -1] == dpo.IGNORE).all()
