"""The SGD loop on the shipped 3s and 7s: a smooth loss learns, accuracy used as a loss leaves
every weight exactly where it was, and the same seed repeats a run exactly."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import torch

import losskit
from losskit.data import BinaryDataset, load_mnist_3_7
from losskit.train import evaluate, fit, make_model, objective, torch_threads


@pytest.fixture(scope="module")
def data() -> BinaryDataset:
    return load_mnist_3_7()


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):  # these models are too small to gain from more
        yield


def test_torch_threads_restores_the_setting() -> None:
    before = torch.get_num_threads()
    with torch_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(losskit.LossInputError, match=r"threads must lie in \[1, inf\), got 0"):
        with torch_threads(0):
            pass
    assert torch.get_num_threads() == before


def weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


# ----------------------------------------------------------------------------- models
def test_make_model_shapes_seed_and_global_rng() -> None:
    x = torch.rand(5, 784)
    for name in ("linear", "mlp"):
        assert tuple(make_model(name)(x).shape) == (5, 1)
    assert [tuple(p.shape) for p in make_model("mlp").parameters()] == [
        (30, 784),
        (30,),
        (1, 30),
        (1,),
    ]

    state = torch.get_rng_state()
    a, b, c = (
        make_model("linear", seed=3),
        make_model("linear", seed=3),
        make_model("linear", seed=4),
    )
    assert torch.equal(torch.get_rng_state(), state)  # the global random state is untouched
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.weight, c.weight)
    with pytest.raises(ValueError, match=r"model must be one of \('linear', 'mlp'\), got 'cnn'"):
        make_model("cnn")


# ----------------------------------------------------------------------------- objectives
def test_objective_maps_names_to_losses_on_the_right_space() -> None:
    logits = torch.tensor([2.0, -1.0, 0.5])
    targets = torch.tensor([1.0, 0.0, 0.0])
    assert objective("mnist_loss") is losskit.mnist_loss  # on logits: the raw outputs
    assert objective("bce_with_logits") is losskit.bce_with_logits
    assert objective("accuracy") is losskit.accuracy_as_loss
    # on values or probabilities: sigmoid first
    torch.testing.assert_close(
        objective("mse")(logits, targets), losskit.mse(torch.sigmoid(logits), targets)
    )
    torch.testing.assert_close(
        objective("bce")(logits, targets), losskit.bce_with_logits(logits, targets)
    )


def test_objective_errors() -> None:
    with pytest.raises(losskit.UnknownLossError, match=r"no loss named 'msee'; did you mean mse"):
        objective("msee")
    with pytest.raises(losskit.LossInputError, match=r"cross_entropy is a multiclass loss"):
        objective("cross_entropy")


# ----------------------------------------------------------------------------- training
def test_mnist_loss_learns_and_accuracy_as_a_loss_does_not(data: BinaryDataset) -> None:
    learner = make_model("linear")
    learned = fit(learner, data, "mnist_loss", progress=False)
    assert learned.final_valid_accuracy >= 0.95
    assert learned.weights_moved
    assert learned.train_loss[-1] < learned.train_loss[0]
    assert len(learned.train_loss) == len(learned.valid_accuracy) == learned.epochs == 20

    stuck = make_model("linear")
    before = weights(stuck)
    result = fit(stuck, data, "accuracy", progress=False)
    # backward ran (every gradient exists and is exactly zero) and SGD never moved a weight
    assert all(torch.equal(p, q) for p, q in zip(stuck.parameters(), before, strict=True))
    assert not result.weights_moved
    assert result.valid_accuracy == [result.initial_valid_accuracy] * 20
    assert result.initial_valid_accuracy == learned.initial_valid_accuracy  # same start
    assert result.initial_valid_accuracy < 0.75


@pytest.mark.parametrize("loss", ["bce_with_logits", "mse"])
def test_other_default_losses_learn(data: BinaryDataset, loss: str) -> None:
    result = fit(make_model("linear"), data, loss, epochs=5, progress=False)
    assert result.weights_moved and result.final_valid_accuracy >= 0.9


def test_mlp_learns(data: BinaryDataset) -> None:
    model = make_model("mlp")
    result = fit(model, data, "bce_with_logits", epochs=5, lr=0.5, progress=True)
    assert result.final_valid_accuracy >= 0.9
    assert evaluate(model, data.x_valid, data.y_valid) == result.final_valid_accuracy


def test_hand_written_step_equals_torch_optim_sgd(data: BinaryDataset) -> None:
    # fit's `p -= lr * p.grad` is plain SGD: bit for bit what torch.optim.SGD does, given the
    # same start and the same order (one randperm per epoch from a generator seeded with 0)
    ours = make_model("linear")
    fit(ours, data, "mnist_loss", epochs=2, progress=False)
    theirs = make_model("linear")
    optimizer = torch.optim.SGD(theirs.parameters(), lr=1.0)
    generator = torch.Generator().manual_seed(0)
    for _ in range(2):
        order = torch.randperm(len(data.x_train), generator=generator)
        for idx in order.split(256):
            logits = theirs(data.x_train[idx]).squeeze(-1)
            losskit.mnist_loss(logits, data.y_train[idx]).backward()
            optimizer.step()
            optimizer.zero_grad()
    assert all(
        torch.equal(p, q) for p, q in zip(ours.parameters(), theirs.parameters(), strict=True)
    )


def test_same_seed_repeats_exactly(data: BinaryDataset) -> None:
    runs = []
    for i, seed in enumerate((0, 0, 1)):
        torch.manual_seed(100 + i)  # a different global state each time: it must not matter
        model = make_model("mlp", seed=seed)
        result = fit(
            model, data, "mnist_loss", epochs=2, lr=0.5, batch_size=128, seed=seed, progress=False
        )
        runs.append((result, weights(model)))
    (a, wa), (b, wb), (c, _) = runs
    assert a.train_loss == b.train_loss and a.valid_accuracy == b.valid_accuracy
    assert all(torch.equal(p, q) for p, q in zip(wa, wb, strict=True))
    assert a.train_loss != c.train_loss


def test_data_order_depends_on_the_seed_only(data: BinaryDataset) -> None:
    # the same initial weights, shuffled by two seeds: different paths
    a = fit(
        make_model("linear"), data, "mnist_loss", epochs=1, batch_size=16, seed=0, progress=False
    )
    b = fit(
        make_model("linear"), data, "mnist_loss", epochs=1, batch_size=16, seed=1, progress=False
    )
    assert a.train_loss != b.train_loss


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epochs": 0}, r"epochs must lie in \[1, inf\), got 0"),
        ({"epochs": -3}, r"epochs must lie in \[1, inf\), got -3"),
        ({"lr": 0.0}, r"lr must lie in \(0, inf\), got 0.0"),
        ({"batch_size": 0}, r"batch_size must lie in \[1, inf\), got 0"),
    ],
)
def test_bad_settings(data: BinaryDataset, settings: dict[str, float], message: str) -> None:
    with pytest.raises(losskit.LossInputError, match=message):
        model = make_model("linear")
        fit(model, data, "mnist_loss", progress=False, **settings)  # type: ignore[arg-type]


def test_a_diverging_run_stops_and_says_so(data: BinaryDataset) -> None:
    # lr 1e38: after one step the weights are ~1e37, so 784 pixels overflow the logits
    result = fit(make_model("linear"), data, "bce_with_logits", lr=1e38, progress=False)
    assert result.diverged and result.weights_moved
    assert result.epochs == 0 and result.train_loss == [] and result.final_train_loss is None
    assert result.final_valid_accuracy == result.initial_valid_accuracy
    assert json.loads(json.dumps(result.to_dict(), allow_nan=False))["diverged"] is True

    calm = fit(make_model("linear"), data, "bce_with_logits", epochs=1, progress=False)
    assert not calm.diverged and calm.epochs == 1


def test_result_to_dict(data: BinaryDataset) -> None:
    result = fit(make_model("linear"), data, "mse", epochs=2, progress=False)
    d = result.to_dict()
    assert d["loss"] == "mse" and d["epochs"] == 2 and len(d["train_loss"]) == 2
    assert d["final_valid_accuracy"] == result.valid_accuracy[-1]
    assert d["weights_moved"] is True and d["seconds"] > 0
