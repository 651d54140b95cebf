"""The shared validation layer: check modes, shape messages, value checks, and the one policy
for a mean over nothing."""

from __future__ import annotations

import itertools
import threading

import pytest
import torch

import losskit
from losskit._checks import _state, check_option, masked_mean, read_values


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


# ----------------------------------------------------------------------------- the spot sample
def _positions_read(x: torch.Tensor) -> set[int]:
    """Flat indices of ``x`` that ``spot`` reads, found by marking every element with its index."""
    from losskit._checks import spot

    marked = torch.arange(x.numel(), dtype=torch.float64).reshape(x.shape)
    if not x.is_contiguous():
        marked = marked.t().contiguous().t()  # the same layout as x
    return {int(v) for v in spot(marked).flatten().tolist()}


@pytest.mark.parametrize("n", [4097, 100_000, 1_234_567])
def test_spot_reads_first_last_and_evenly_spread_blocks(n: int) -> None:
    read = _positions_read(torch.zeros(n))
    assert {0, n - 1} <= read
    assert 4096 <= len(read) <= 16 * (256 + 15)
    # 16 runs of consecutive indices, no gap wider than n / 15
    ordered = sorted(read)
    gaps = [b - a for a, b in itertools.pairwise(ordered) if b - a > 1]
    assert len(gaps) <= 15 and max(gaps, default=0) <= n // 15 + 1


def test_spot_of_a_small_or_debug_tensor_is_all_of_it() -> None:
    assert len(_positions_read(torch.zeros(4096))) == 4096
    with losskit.checks("debug"):
        assert len(_positions_read(torch.zeros(50_000))) == 50_000


def test_spot_of_a_non_contiguous_tensor_spans_both_dims() -> None:
    from losskit._checks import spot

    x = torch.arange(1000 * 300, dtype=torch.float64).reshape(300, 1000).t()  # (1000, 300)
    s = spot(x)
    assert 1000 <= s.numel() <= 8192
    rows = {int(v) % 1000 for v in s.flatten().tolist()}  # x[i, j] = j * 1000 + i
    cols = {int(v) // 1000 for v in s.flatten().tolist()}
    assert min(rows) == 0 and max(rows) > 900 and min(cols) == 0 and max(cols) > 250


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


def test_a_lone_bad_value_outside_the_sample_needs_debug_mode() -> None:
    # The documented price of the sample: one bad value between the blocks of a large floating
    # tensor passes "full" and is refused by "debug", which reads every value.
    n = 100_000
    probs = torch.full((n,), 0.5)
    targets = torch.ones(n)
    middle = 16 * 256 // 2 + n // 30  # between block 0 and block 1 (blocks start n/15 apart)
    assert middle not in _positions_read(probs)
    probs[middle] = 1.5
    losskit.brier(probs, targets)  # full: not seen
    with losskit.checks("debug"), pytest.raises(losskit.LossInputError, match="probabilities"):
        losskit.brier(probs, targets)
    soft = torch.ones(n)
    soft[middle] = 0.5
    logits = torch.randn(n, generator=torch.Generator().manual_seed(0))
    losskit.hinge(logits, soft)
    with losskit.checks("debug"), pytest.raises(losskit.LossInputError, match="0 or 1"):
        losskit.hinge(logits, soft)
    row = torch.log_softmax(torch.randn(1000, 10), 1)
    row[500] -= 1.0  # one unnormalised row, not among the 4 sampled
    target = torch.softmax(torch.randn(1000, 10), 1)
    losskit.kl_div(row, target)
    with losskit.checks("debug"), pytest.raises(losskit.LossInputError, match="summing to 1"):
        losskit.kl_div(row, target)


# ----------------------------------------------------------------------------- reads in time
def _calls_until_refused(loss, good: tuple, bad: tuple, *, warm: int, limit: int = 60) -> int:
    """Call ``loss(*good)`` ``warm`` times, then ``loss(*bad)`` until it is refused; the number
    of bad calls that passed (``limit`` if none was refused)."""
    for _ in range(warm):
        loss(*good)
    for passed in range(limit):
        try:
            loss(*bad)
        except losskit.LossInputError:
            return passed
    return limit


def test_large_values_are_read_on_the_first_31_calls_then_every_31st() -> None:
    n = 100_000
    targets = torch.randint(0, 2, (n,), generator=torch.Generator().manual_seed(0)).float()
    good, bad = (torch.full((n,), 0.3), targets), (torch.full((n,), 3.0), targets)
    # calls 0-30 of a signature are read: a bad 31st call (index 30) is refused at once
    assert _calls_until_refused(losskit.brier, good, bad, warm=30) == 0
    # after 32 calls (0-31) the next read is call 62: calls 32-61 pass unread
    _state.reads.clear()
    assert _calls_until_refused(losskit.brier, good, bad, warm=32) == 30
    with losskit.checks("debug"):  # debug reads every call
        assert _calls_until_refused(losskit.brier, good, bad, warm=40) == 0
    # the same schedule, independently: read at count c iff c < 31 or c % 31 == 0
    _state.reads.clear()
    big = torch.zeros(5000)
    got = [read_values("x", big) for _ in range(150)]
    assert got == [c < 31 or c % 31 == 0 for c in range(150)]
    assert all(read_values("x", torch.zeros(4096)) for _ in range(40))  # small: every call
    with losskit.checks("shapes"):
        assert not any(read_values("x", big) for _ in range(5))
    with losskit.checks("off"):
        assert not read_values("x", big)
    assert not read_values("x", torch.zeros(0))


def test_a_new_signature_is_read_from_its_first_call() -> None:
    n = 50_000
    for _ in range(40):
        losskit.brier(torch.full((n,), 0.3), torch.ones(n))
    # another shape, another dtype, another argument name: read at once
    with pytest.raises(losskit.LossInputError, match="probabilities"):
        losskit.brier(torch.full((n + 1,), 3.0), torch.ones(n + 1))
    with pytest.raises(losskit.LossInputError, match="probabilities"):
        losskit.brier(
            torch.full((n,), 3.0, dtype=torch.float64), torch.ones(n, dtype=torch.float64)
        )
    big = torch.zeros(n)
    for _ in range(40):
        read_values("a", big)
    assert read_values("b", big)


def test_losses_taking_turns_on_one_signature_are_each_read() -> None:
    # Checks taking turns on one signature advance a shared count; 31 is prime, so each still
    # gets a read every 31 of its own calls after the first 31.
    for k in (2, 3, 5):
        _state.reads.clear()
        big = torch.zeros(5000)
        reads = [[read_values("probs", big) for _ in range(k)] for _ in range(31 * 12)]
        for j in range(k):
            later = [r[j] for r in reads[31:]]  # past the warm-up of every caller
            assert 10 <= sum(later) <= 12  # about one in 31 of 341 calls


def test_labels_and_non_finite_inputs_are_checked_on_every_call() -> None:
    logits = torch.randn(20_000, 5)  # 1e5 elements: thinned if they had a value check
    labels = torch.zeros(20_000, dtype=torch.long)
    bad_labels = labels.clone()
    bad_labels[12_345] = 5
    for loss in (losskit.cross_entropy, losskit.softmax_focal):
        assert _calls_until_refused(loss, (logits, labels), (logits, bad_labels), warm=40) == 0
    probs, targets = torch.full((100_000,), 0.3), torch.ones(100_000)
    nan_probs = probs.clone()
    nan_probs[77_777] = float("nan")  # outside the spot sample, found after the fact
    assert _calls_until_refused(losskit.brier, (probs, targets), (nan_probs, targets), warm=40) == 0


def test_a_compiled_loss_reads_every_call_and_never_recompiles() -> None:
    # A count that changes on every call, seen by torch.compile, would be a guard that fails on
    # every call: a recompilation each time, until dynamo gives up on the function.
    torch._dynamo.reset()
    probs, targets = torch.full((50_000,), 0.3), torch.ones(50_000)
    compiled = torch.compile(losskit.brier, backend="aot_eager")
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(35):
            compiled(probs, targets)
    with pytest.raises(losskit.LossInputError, match="probabilities"):
        compiled(torch.full((50_000,), 3.0), targets)  # past the first 31: still read


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
