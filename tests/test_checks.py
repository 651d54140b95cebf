"""The shared validation layer: check modes, shape messages, value checks, and the one policy
for a mean over nothing."""

from __future__ import annotations

import threading

import pytest
import torch

import losskit
from losskit._checks import check_option, masked_mean


def test_check_mode_as_setting_and_context_manager() -> None:
    assert losskit.get_check_mode() == "full"
    with losskit.checks("shapes"):
        assert losskit.get_check_mode() == "shapes"
        with losskit.checks("off"):
            assert losskit.get_check_mode() == "off"
        assert losskit.get_check_mode() == "shapes"
    assert losskit.get_check_mode() == "full"
    losskit.checks("off")  # as a plain call it stays set
    try:
        assert losskit.get_check_mode() == "off"
    finally:
        losskit.checks("full")


def test_check_mode_is_per_thread() -> None:
    seen: list[str] = []
    with losskit.checks("off"):
        worker = threading.Thread(target=lambda: seen.append(losskit.get_check_mode()))
        worker.start()
        worker.join()
    assert seen == ["full"]


def test_unknown_check_mode() -> None:
    with pytest.raises(losskit.LossInputError, match="mode must be one of"):
        losskit.checks("verbose")  # type: ignore[arg-type]


def test_broadcast_message_names_shapes_and_fix() -> None:
    with pytest.raises(losskit.LossInputError) as err:
        losskit.mse(torch.zeros(64, 1), torch.zeros(64))
    msg = str(err.value)
    assert "preds (64, 1) vs targets (64,)" in msg
    assert "would broadcast to (64, 64)" in msg
    assert "squeeze" in msg
    assert isinstance(err.value, ValueError)


def test_shape_mismatch_without_broadcast() -> None:
    with pytest.raises(losskit.LossInputError, match=r"give targets the shape of preds"):
        losskit.mae(torch.zeros(4), torch.zeros(5))


@pytest.mark.parametrize("mode", ["full", "shapes"])
def test_shape_checks_stay_on_in_shapes_mode(mode: str) -> None:
    with losskit.checks(mode), pytest.raises(losskit.LossInputError):  # type: ignore[arg-type]
        losskit.mse(torch.zeros(3, 1), torch.zeros(3))


def test_value_checks_only_in_full_mode() -> None:
    logits, bad = torch.zeros(3), torch.tensor([0.0, 2.0, 1.0])
    with pytest.raises(losskit.LossInputError, match=r"targets must lie in \[0, 1\]"):
        losskit.bce_with_logits(logits, bad)
    with losskit.checks("shapes"):
        losskit.bce_with_logits(logits, bad)  # not read: no error, no device sync


def test_off_mode_skips_shape_checks_too() -> None:
    with losskit.checks("off"):
        out = losskit.mnist_loss(torch.zeros(2), torch.tensor([1.0, 0.0]))
    assert out.item() == pytest.approx(0.5)


def test_non_finite_input_is_named() -> None:
    preds = torch.tensor([1.0, float("nan"), 2.0])
    with pytest.raises(
        losskit.LossInputError,
        match=r"preds holds non-finite values \(1 NaN, 0 inf; "
        r"the first at index \(1,\)",
    ):
        losskit.mse(preds, torch.zeros(3))
    with losskit.checks("shapes"):
        assert torch.isnan(losskit.mse(preds, torch.zeros(3)))


def test_finite_result_with_infinite_logits_is_kept() -> None:
    # correctly signed infinite logits give a finite loss: nothing to refuse
    out = losskit.mnist_loss(torch.tensor([float("inf"), -float("inf")]), torch.tensor([1.0, 0.0]))
    assert torch.isfinite(out)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_empty_batch_is_a_graph_connected_zero(reduction: str) -> None:
    cases = [
        (losskit.mse, torch.zeros(0, 3), torch.zeros(0, 3)),
        (losskit.mae, torch.zeros(0), torch.zeros(0)),
        (losskit.rmse, torch.zeros(0), torch.zeros(0)),
        (losskit.mnist_loss, torch.zeros(0), torch.zeros(0)),
        (losskit.bce_with_logits, torch.zeros(0), torch.zeros(0)),
        (losskit.cross_entropy, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)),
        (losskit.nll, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)),
    ]
    for fn, preds, targets in cases:
        if fn is losskit.rmse and reduction == "sum":
            continue
        preds = preds.requires_grad_()
        out = fn(preds, targets, reduction=reduction)
        assert out.shape == () and out.item() == 0.0, fn.__name__
        assert out.grad_fn is not None, f"{fn.__name__}: the zero must stay on the graph"
        out.backward()
        assert preds.grad is not None and preds.grad.shape == preds.shape


def test_all_ignored_labels_give_zero_not_nan() -> None:
    logits = torch.randn(5, 3, requires_grad=True)
    labels = torch.full((5,), -100)
    out = losskit.cross_entropy(logits, labels)
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(logits.grad, torch.zeros(5, 3))
    assert torch.isnan(torch.nn.functional.cross_entropy(logits, labels))  # what torch does


def test_all_zero_class_weights_give_zero_not_nan() -> None:
    out = losskit.cross_entropy(
        torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), weight=torch.zeros(3)
    )
    assert out.item() == 0.0


def test_masked_mean_has_no_zero_division() -> None:
    assert masked_mean(torch.tensor(6.0), torch.tensor(3.0)).item() == 2.0
    assert masked_mean(torch.tensor(0.0), torch.tensor(0.0)).item() == 0.0


def test_check_option_interval_message() -> None:
    with pytest.raises(losskit.LossInputError, match=r"delta must lie in \(0, inf\], got 0"):
        check_option("delta", 0, low=0.0, low_open=True)
    with pytest.raises(losskit.LossInputError, match="got nan"):
        check_option("q", float("nan"), low=0.0, high=1.0)
    check_option("q", 0.5, low=0.0, high=1.0)


def test_non_tensor_arguments_are_refused() -> None:
    with pytest.raises(losskit.LossInputError, match=r"targets must be a torch\.Tensor, got list"):
        losskit.mse(torch.zeros(2), [0.0, 1.0])  # type: ignore[arg-type]
    with pytest.raises(losskit.LossInputError, match=r"preds must be a torch\.Tensor"):
        losskit.mse([0.0], torch.zeros(1))  # type: ignore[arg-type]


def test_debug_mode_catches_probabilities_given_to_a_logits_loss() -> None:
    logits = torch.randn(32)
    probs, targets = torch.sigmoid(logits), (logits > 0).float()
    losskit.bce_with_logits(probs, targets)  # full mode cannot tell: accepted
    with losskit.checks("debug"):
        losskit.bce_with_logits(logits, targets)  # real logits pass
        with pytest.raises(
            losskit.LossInputError, match="look like probabilities given to a logits loss"
        ):
            losskit.bce_with_logits(probs, targets)
        with pytest.raises(losskit.LossInputError, match="look like probabilities"):
            losskit.cross_entropy(
                torch.softmax(torch.randn(8, 4), 1), torch.zeros(8, dtype=torch.long)
            )
