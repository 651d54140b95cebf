"""The shared validation layer: check modes, shape messages, value checks, and the one policy
for a mean over nothing."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading

import pytest
import torch

import losskit
from losskit._checks import (
    check_bool,
    check_ignore_index,
    check_int,
    check_option,
    masked_mean,
    reads,
)
from losskit._validate import check_class_weight, check_normalizer


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
    with pytest.raises(losskit.LossInputError, match=r"delta must lie in \(0, inf\), got 0"):
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


# ----------------------------------------------------------------------------- deterministic reads
def _mask_with_one_object(value: float) -> torch.Tensor:
    """An (8, 1, 128, 128) float mask, 0 everywhere but one 24x24 object of ``value`` in the
    last image, far from the first and last elements."""
    mask = torch.zeros(8, 1, 128, 128)
    mask[7, 0, 50:74, 60:84] = value
    return mask


def test_a_0_255_mask_is_refused_on_the_first_call_wherever_the_object_is() -> None:
    mask = _mask_with_one_object(255.0)
    logits = torch.randn(8, 1, 128, 128)
    for loss in (losskit.bce_with_logits, losskit.sigmoid_focal):
        with pytest.raises(losskit.LossInputError, match=r"\[0, 255\]; a 0/255 mask"):
            loss(logits, mask)
    with pytest.raises(losskit.LossInputError, match=r"255"):
        losskit.dice(logits, mask, normalize="sigmoid")


def test_every_call_is_read_whatever_came_before() -> None:
    # The same argument, shape and dtype 40 times, then bad values: still refused, in another
    # loss too (no schedule, no count per signature).
    n = 100_000
    logits, good = torch.randn(n), torch.randint(0, 2, (n,)).float()
    for _ in range(40):
        losskit.bce_with_logits(logits, good)
    bad = good.clone()
    bad[54_321] = 255.0
    for loss in (losskit.bce_with_logits, losskit.sigmoid_focal):
        with pytest.raises(losskit.LossInputError, match="must lie in"):
            loss(logits, bad)
    probs = torch.rand(n)
    for _ in range(39):
        losskit.bce(probs, good)
    with pytest.raises(losskit.LossInputError, match="probabilities in"):
        losskit.bce(probs * 2, good)  # call 40, probabilities in [0, 2]


def test_full_mode_reads_every_value_of_a_large_tensor() -> None:
    n = 100_000
    for at in (0, 4_099, 54_321, n - 1):
        probs = torch.full((n,), 0.5)
        probs[at] = 1.5
        with pytest.raises(losskit.LossInputError, match="probabilities"):
            losskit.brier(probs, torch.ones(n))
        soft = torch.ones(n)
        soft[at] = 0.5
        with pytest.raises(losskit.LossInputError, match="0 or 1"):
            losskit.hinge(torch.randn(n), soft)
    row = torch.log_softmax(torch.randn(1000, 10), 1)
    row[500] -= 1.0  # one unnormalised row
    with pytest.raises(losskit.LossInputError, match="summing to 1"):
        losskit.kl_div(row, torch.softmax(torch.randn(1000, 10), 1))


def test_full_mode_catches_systematic_errors_in_large_tensors() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(100_000, generator=g)
    targets = torch.randint(0, 2, (100_000,), generator=g).float()
    with pytest.raises(losskit.LossInputError, match="probabilities in"):
        losskit.bce(logits, targets)  # logits where probabilities belong
    with pytest.raises(losskit.LossInputError, match=r"must be 0 or 1|lie in"):
        losskit.hinge(logits, targets * 255)  # a 0/255 mask
    with pytest.raises(losskit.LossInputError, match="-1 or \\+1"):
        losskit.margin_ranking(logits, logits.flip(0), targets)  # 0/1 where -1/+1 belong
    log_probs = torch.log_softmax(torch.randn(1000, 100, generator=g), 0)  # the wrong dim
    with pytest.raises(losskit.LossInputError, match="summing to 1"):
        losskit.kl_div(log_probs, torch.softmax(torch.randn(1000, 100, generator=g), 1))
    with pytest.raises(losskit.LossInputError, match="log-probabilities"):
        losskit.nll(torch.randn(1000, 100, generator=g), torch.zeros(1000, dtype=torch.long))


def test_the_read_predicate() -> None:
    x = torch.zeros(5000)
    assert reads(x) and not reads(torch.zeros(0))
    with losskit.checks("debug"):
        assert reads(x)
    for mode in ("shapes", "off"):
        with losskit.checks(mode):
            assert not reads(x)
    assert not reads(torch.zeros(3, device="meta"))
    seen: list[bool] = []

    def probe(v: torch.Tensor) -> torch.Tensor:
        seen.append(reads(v))
        return v.sum()

    torch.func.vmap(probe)(torch.zeros(2, 3))
    torch.func.grad(probe)(torch.zeros(3))
    assert seen == [False, False]


def test_the_process_default_comes_from_the_environment() -> None:
    code = "import losskit; print(losskit.get_check_mode())"
    for value, expected in (("shapes", "shapes"), ("", "full"), ("OFF", "off")):
        env = {**os.environ, "LOSSKIT_CHECKS": value}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected
    env = {**os.environ, "LOSSKIT_CHECKS": "sometimes"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "LOSSKIT_CHECKS must be one of" in out.stderr


def test_labels_and_non_finite_inputs_are_checked_on_every_call() -> None:
    logits = torch.randn(20_000, 5)
    labels = torch.zeros(20_000, dtype=torch.long)
    bad_labels = labels.clone()
    bad_labels[12_345] = 5
    for loss in (losskit.cross_entropy, losskit.softmax_focal):
        for _ in range(40):
            loss(logits, labels)
        with pytest.raises(losskit.LossInputError, match=r"\[0, 5\)"):
            loss(logits, bad_labels)
    probs, targets = torch.full((100_000,), 0.3), torch.ones(100_000)
    nan_probs = probs.clone()
    nan_probs[77_777] = float("nan")
    for _ in range(40):
        losskit.brier(probs, targets)
    with pytest.raises(losskit.LossInputError, match="NaN"):
        losskit.brier(nan_probs, targets)


def test_a_compiled_loss_compiles_whole_and_never_recompiles() -> None:
    # Under torch.compile the value reads skip themselves: one graph, no guard on data.
    torch._dynamo.reset()
    probs, targets = torch.full((50_000,), 0.3), torch.ones(50_000)
    compiled = torch.compile(losskit.brier, backend="aot_eager", fullgraph=True)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(5):
            torch.testing.assert_close(compiled(probs, targets), losskit.brier(probs, targets))
    # shape checks are static: a compiled call (graph breaks allowed) still raises them
    loose = torch.compile(losskit.brier, backend="aot_eager")
    with pytest.raises(losskit.LossInputError, match="shapes must match"):
        loose(probs, targets[:-1])


def test_integer_labels_are_read_whole_in_full_mode() -> None:
    labels = torch.zeros(100_000, dtype=torch.long)
    labels[54_321] = 7
    with pytest.raises(losskit.LossInputError, match=r"\[0, 5\)"):
        losskit.cross_entropy(torch.randn(100_000, 5), labels)
    with pytest.raises(losskit.LossInputError, match=r"\[0, 5\)"):
        losskit.softmax_focal(torch.randn(100_000, 5), labels)


# ----------------------------------------------------------------------------- cheap diagnosis
def test_all_finite_survives_an_overflowing_sum() -> None:
    from losskit._checks import all_finite

    big = torch.full((100_000,), 60_000.0, dtype=torch.float16)  # finite; the fp16 sum is inf
    assert torch.isinf(big.sum())
    assert all_finite(big)
    for bad in (float("inf"), float("-inf"), float("nan")):
        x = torch.zeros(1000)
        x[123] = bad
        assert not all_finite(x)
    pair = torch.zeros(1000)
    pair[1], pair[2] = float("inf"), float("-inf")  # sums to NaN, still non-finite
    assert not all_finite(pair)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mape_zero_targets_refused_after_the_fact(reduction: str) -> None:
    preds = torch.tensor([1.0, 0.0, 2.0, 3.0])
    targets = torch.tensor([1.0, 0.0, 0.0, 3.0])
    with pytest.raises(losskit.LossInputError, match=r"2 zero\(s\) \(the first at index \(1,\)\)"):
        losskit.mape(preds, targets, reduction=reduction)
    with losskit.checks("off"):
        out = losskit.mape(preds, targets, reduction=reduction)
    assert not torch.isfinite(out).all()
    # with eps the denominator is clamped and the result finite: nothing to refuse
    assert torch.isfinite(losskit.mape(preds, targets, eps=1e-3, reduction=reduction)).all()


def test_kernel_label_errors_become_clear_messages() -> None:
    logits = torch.randn(4, 3)
    bad = torch.tensor([0, 1, 2, 3])
    for call in (
        lambda: losskit.cross_entropy(logits, bad),
        lambda: losskit.cross_entropy(logits, bad, reduction="none"),
        lambda: losskit.cross_entropy(logits, bad, label_smoothing=0.1, weight=torch.ones(3)),
        lambda: losskit.nll(torch.log_softmax(logits, 1), bad),
    ):
        with pytest.raises(losskit.LossInputError, match=r"must lie in \[0, 3\)") as info:
            call()
        assert info.value.__suppress_context__  # the kernel's terser error is not chained
    with losskit.checks("shapes"), pytest.raises(IndexError, match="out of bounds"):
        losskit.cross_entropy(logits, bad)  # raw PyTorch behaviour below "full"


# ----------------------------------------------------------------------------- option validators
def test_numbers_include_numpy_scalars_and_one_element_tensors() -> None:
    import numpy as np

    for value in (2, 2.0, np.float32(2.0), np.int64(2), torch.tensor(2.0), torch.tensor([2.0])):
        got = check_option("gamma", value, low=0.0)
        assert type(got) is float and got == 2.0
    assert check_int("p", np.int32(3), low=1) == 3 and check_int("p", torch.tensor(3)) == 3


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("2", r"gamma must be a number, got str '2'"),
        (None, r"gamma must be a number, got NoneType None"),
        ([2.0], r"gamma must be a number, got list \[2.0\]"),
        (True, r"gamma must be a number, got bool True"),
        (1 + 2j, r"gamma must be a number, got complex"),
        (torch.ones(2), r"gamma must be a number \(or a one-element tensor\), got a torch.float32"),
        (float("nan"), r"gamma must lie in \[0, inf\), got nan"),
        (float("inf"), r"gamma must lie in \[0, inf\), got inf"),
        (-1.0, r"gamma must lie in \[0, inf\), got -1.0"),
    ],
)
def test_bad_options_are_refused_by_name(value: object, match: str) -> None:
    with pytest.raises(losskit.LossInputError, match=match):
        check_option("gamma", value, low=0.0)


def test_an_infinite_option_only_where_it_is_documented() -> None:
    assert check_option("delta", float("inf"), low=0.0, low_open=True, finite=False) == math.inf
    with pytest.raises(losskit.LossInputError, match=r"delta must lie in \(0, inf\]"):
        check_option("delta", float("nan"), low=0.0, low_open=True, finite=False)


def test_integer_flag_and_ignore_index_options() -> None:
    with pytest.raises(losskit.LossInputError, match=r"p must be an integer, got float 2\.5"):
        check_int("p", 2.5)
    with pytest.raises(losskit.LossInputError, match=r"p must lie in \[1, inf\), got 0"):
        check_int("p", 0, low=1)
    assert check_bool("swap", True) is True
    for bad in (1, "yes", None):
        with pytest.raises(losskit.LossInputError, match="swap must be True or False"):
            check_bool("swap", bad)
    assert check_ignore_index(None) is None and check_ignore_index(-100) == -100
    with pytest.raises(losskit.LossInputError, match="ignore_index must be an integer"):
        check_ignore_index(1.5)


def test_the_one_normalizer_check() -> None:
    for good in (6, 6.0, torch.tensor(6.0), torch.tensor([6])):
        check_normalizer(good, "mean")
    for bad, match in (
        (float("nan"), "normalizer must lie in"),
        (-3, "normalizer must lie in"),
        ([6.0], "normalizer must be a number"),
        (torch.tensor([6.0, 1.0]), "one-element tensor"),
        (torch.tensor(-1.0), "finite and >= 0"),
    ):
        with pytest.raises(losskit.LossInputError, match=match):
            check_normalizer(bad, "mean")
    with pytest.raises(losskit.LossInputError, match="reduction='mean' only"):
        check_normalizer(6, "sum")


def test_the_one_class_weight_validator() -> None:
    check_class_weight(torch.tensor([1.0, 0.0, 2.0]), 3)
    for bad, match in (
        (torch.tensor([1.0, -0.5, 2.0]), r"weight must be >= 0 .* got a minimum of -0.5"),
        (torch.tensor([1.0, float("nan"), 2.0]), "non-finite"),
        (torch.tensor([1.0, float("inf"), 2.0]), "non-finite"),
        (torch.ones(4), r"weight must have shape \(3,\)"),
    ):
        with pytest.raises(losskit.LossInputError, match=match):
            check_class_weight(bad, 3)
    with losskit.checks("shapes"):
        check_class_weight(torch.tensor([1.0, -0.5, 2.0]), 3)  # values are not read there
