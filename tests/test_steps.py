"""``losskit steps``: the seven steps' numbers, checked against independent computations.

The references here are written in the test: float64 NumPy for ``mnist_loss`` and its gradient
(sigmoid' = s (1 - s)), and torch.autograd on a hand-built linear model for accuracy as a loss.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from losskit import steps as steps_module
from losskit.cli import main
from losskit.data import BinaryDataset, load_dataset
from losskit.steps import SHOWN, STEP_NAMES, Steps, Walk, format_steps, seven_steps
from losskit.train import objective

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data() -> BinaryDataset:
    return load_dataset("mnist-3-7")


@pytest.fixture(scope="module")
def steps(data: BinaryDataset) -> Steps:
    return seven_steps(data)  # the defaults `losskit steps` runs with


def _walk(steps: Steps, loss: str) -> Walk:
    return next(w for w in steps.walks if w.loss == loss)


def _np_mnist_loss(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """mean(where(y == 1, 1 - s, s)), s = sigmoid(x @ w[:-1] + w[-1]), and its gradient in w,
    in float64: d/dz = where(y == 1, -s (1 - s), s (1 - s)) / B."""
    z = x @ w[:-1] + w[-1]
    s = 1 / (1 + np.exp(-z))
    loss = np.where(y == 1, 1 - s, s).mean()
    dz = np.where(y == 1, -1.0, 1.0) * s * (1 - s) / len(y)
    return float(loss), np.concatenate([x.T @ dz, [dz.sum()]])


def test_accuracy_gradient_is_exactly_zero_and_no_weight_moves(
    steps: Steps, data: BinaryDataset
) -> None:
    walk = _walk(steps, "accuracy")
    first = walk.first
    assert first.gradient_zero and first.gradient_norm == 0.0 and first.unchanged
    assert all(change == 0.0 for change in walk.step_change)
    assert torch.equal(walk.final_weights, walk.initial_weights)  # bit for bit, after every step

    # independently: autograd through 1 - accuracy on the same batch and initial weights
    w = walk.initial_weights[:-1].clone().double().requires_grad_(True)
    b = walk.initial_weights[-1:].clone().double().requires_grad_(True)
    x = data.x_train[first.batch].double()  # (256, 784)
    y = data.y_train[first.batch].double()
    loss = (torch.round(torch.sigmoid(x @ w + b)) - y).abs().mean()
    loss.backward()  # type: ignore[no-untyped-call]
    assert w.grad is not None and b.grad is not None
    assert torch.count_nonzero(w.grad) == 0 and torch.count_nonzero(b.grad) == 0
    assert first.loss == pytest.approx(loss.item(), abs=1e-6)
    # and the loss never moves: every epoch's mean is the same error rate
    assert max(walk.epoch_loss) - min(walk.epoch_loss) < 1e-6
    assert walk.valid_accuracy == [walk.initial_valid_accuracy] * len(walk.valid_accuracy)


def test_mnist_loss_first_step_against_numpy(steps: Steps, data: BinaryDataset) -> None:
    walk = _walk(steps, "mnist_loss")
    first = walk.first
    w0 = walk.initial_weights.double().numpy()
    x = data.x_train[first.batch].double().numpy()
    y = data.y_train[first.batch].double().numpy()
    loss, grad = _np_mnist_loss(w0, x, y)
    assert first.loss == pytest.approx(loss, rel=1e-5)
    assert first.gradient_norm == pytest.approx(float(np.linalg.norm(grad)), rel=1e-4)
    assert not first.gradient_zero and not first.unchanged
    shown = [*SHOWN, -1]
    np.testing.assert_allclose(first.gradient, grad[shown], rtol=1e-4, atol=1e-7)
    # step 5 is w - lr * grad
    np.testing.assert_allclose(first.new_weights, (w0 - steps.lr * grad)[shown], atol=1e-6)
    assert first.change_norm == pytest.approx(steps.lr * float(np.linalg.norm(grad)), rel=1e-4)


def test_mnist_loss_decreases_and_learns(steps: Steps, data: BinaryDataset) -> None:
    walk = _walk(steps, "mnist_loss")
    assert len(walk.epoch_loss) == steps.epochs and not walk.stopped_early
    assert all(b < a for a, b in zip(walk.epoch_loss, walk.epoch_loss[1:], strict=False))
    x, y = data.x_train.double().numpy(), data.y_train.double().numpy()
    before, _ = _np_mnist_loss(walk.initial_weights.double().numpy(), x, y)
    after, _ = _np_mnist_loss(walk.final_weights.double().numpy(), x, y)
    assert after < before / 5  # on the whole training set, recomputed from the weights
    xv, yv = data.x_valid.double().numpy(), data.y_valid.double().numpy()
    w = walk.final_weights.double().numpy()
    accuracy = float(((xv @ w[:-1] + w[-1] > 0) == (yv == 1)).mean())
    assert accuracy == pytest.approx(walk.valid_accuracy[-1]) and accuracy > 0.95


def test_initialisation_and_the_stopping_rule(steps: Steps) -> None:
    bound = 1 / math.sqrt(784)  # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    for walk in steps.walks:
        assert walk.initial_weights.shape == (785,)
        assert float(walk.initial_weights.abs().max()) <= bound
    assert torch.equal(steps.walks[0].initial_weights, steps.walks[1].initial_weights)
    acc = _walk(steps, "accuracy")  # a flat loss: stopped once it stalled `patience` epochs
    assert acc.stopped_early and len(acc.epoch_loss) == steps.patience + 1


def test_the_printed_walk(steps: Steps) -> None:
    text = format_steps(steps)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    for walk in steps.walks:  # the seven steps, in order, once per loss
        block = text.split(
            f"=== {'accuracy as the loss' if walk.loss == 'accuracy' else walk.loss}"
        )[1]
        block = block.split("===")[0]
        heads = [line.split()[1] for line in block.splitlines() if line[:2].rstrip(".").isdigit()]
        assert heads == list(STEP_NAMES)
        assert f"L = {walk.first.loss:.4f}" in block
    assert "dL/dw is exactly zero: all 785 entries are 0.0" in text
    assert "every weight is bit for bit what it was" in text
    assert f"||dL/dw|| = {_walk(steps, 'mnist_loss').first.gradient_norm:.4f}" in text


def test_seeded_and_deterministic(steps: Steps, data: BinaryDataset) -> None:
    again = seven_steps(data)
    assert format_steps(again) == format_steps(steps)
    other = seven_steps(data, seed=1, epochs=1)
    assert not torch.equal(other.walks[0].initial_weights, steps.walks[0].initial_weights)


def test_the_accuracy_fact_is_checked_in_code(
    data: BinaryDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    # were accuracy's gradient ever non-zero, the walk would stop instead of printing a claim
    monkeypatch.setattr("losskit.steps.objective", lambda name: objective("mnist_loss"))
    with pytest.raises(RuntimeError, match="not exactly zero"):
        steps_module.walk(data, "accuracy", epochs=1)


def test_the_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code = main(["steps", "--epochs", "2", "--plot", str(tmp_path / "s.png")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "7. stop" in out and f"wrote {tmp_path / 's.png'}" in out
    png = (tmp_path / "s.png").read_bytes()
    assert png[:8] == PNG_SIGNATURE
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1100, 430)
    code = main(["steps", "--lr", "0"])
    assert code == 1 and "lr must lie in (0, inf)" in capsys.readouterr().err


def test_the_docs_page_shows_the_real_output(steps: Steps) -> None:
    # docs/steps.md pastes `losskit steps`; its numbers must still be the command's (to the
    # printed digits, give or take one in the last place for another CPU's rounding)
    page = (Path(__file__).parents[1] / "docs" / "steps.md").read_text()
    pasted = page.split("```text\n", 1)[1].split("```", 1)[0].split()
    printed = format_steps(steps).split()
    assert len(pasted) == len(printed), "docs/steps.md: regenerate with `losskit steps`"
    for old, new in zip(pasted, printed, strict=True):
        try:
            assert float(old.rstrip(";,")) == pytest.approx(float(new.rstrip(";,")), abs=2e-4)
        except ValueError:
            assert old == new, "docs/steps.md: regenerate its output with `losskit steps`"
