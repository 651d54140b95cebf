"""Edge cases of CTC: impossible targets, zero_infinity, the exact log_probs gradient, empty
and unbatched inputs, a brute-force check over every alignment, the traced path (the forward
recursion in torch ops, under vmap, torch.compile and meta tensors) and option validation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import losskit
from losskit.losses._sequence import ctc
from tests.infos.sequence import _ctc_ref, _ctc_samples, ctc_nll

D64 = torch.float64


def _brute_force_nll(probs: torch.Tensor, target: list[int], blank: int) -> float:
    """-log of the summed probability of every frame path that collapses to ``target``."""
    frames, classes = probs.shape
    total = 0.0
    for path in itertools.product(range(classes), repeat=frames):
        collapsed = [c for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        if [c for c in collapsed if c != blank] == target:
            total += math.prod(float(probs[t, c]) for t, c in enumerate(path))
    return -math.log(total)


def test_hand_value_with_a_repeat() -> None:
    # target (1, 1) in 3 frames has one alignment, 1 blank 1: 0.7 * 0.6 * 0.8
    probs = torch.tensor([[0.3, 0.7], [0.6, 0.4], [0.2, 0.8]], dtype=D64)
    out = ctc(probs.log(), torch.tensor([1, 1]), 3, 2, reduction="sum")
    assert out.item() == pytest.approx(-math.log(0.7 * 0.6 * 0.8))


@pytest.mark.parametrize(
    ("target", "blank"), [([1, 2], 0), ([2, 2], 0), ([1], 0), ([], 0), ([0, 1], 2)]
)
def test_matches_brute_force_over_every_alignment(target: list[int], blank: int) -> None:
    probs = torch.softmax(torch.randn(4, 3, dtype=D64), dim=-1)
    want = _brute_force_nll(probs, target, blank)
    got = ctc(
        probs.log(),
        torch.tensor(target, dtype=torch.long),
        4,
        len(target),
        blank=blank,
        reduction="sum",
    )
    assert got.item() == pytest.approx(want, rel=1e-12)
    assert ctc_nll(probs.log().numpy(), torch.tensor(target).numpy(), blank) == pytest.approx(
        want, rel=1e-12
    )


def test_a_target_that_cannot_fit_is_an_error_naming_the_example() -> None:
    lp = torch.randn(4, 3, 5).log_softmax(-1)
    targets = torch.tensor([[1, 2, 3], [1, 1, 2], [4, 4, 4]])
    # need: 3, 3 + 1 repeat = 4, 3 + 2 repeats = 5 > 4
    with pytest.raises(
        losskit.LossInputError, match=r"target 2 cannot fit.*at least 5 frames.*= 4"
    ):
        ctc(lp, targets, [4, 4, 4], [3, 3, 3])
    # the boundary (need == input length) is allowed and finite
    out = ctc(lp[:, :2], targets[:2], [3, 4], [3, 3], reduction="none")
    assert torch.isfinite(out).all()
    # torch says nothing and returns inf
    assert torch.isinf(F.ctc_loss(lp, targets, [4, 4, 4], [3, 3, 3], reduction="none")[2])


def test_zero_infinity_zeroes_impossible_examples_and_their_gradient_only() -> None:
    logits = torch.randn(4, 3, 5, dtype=D64, requires_grad=True)
    targets, lengths = torch.tensor([[1, 2, 3], [1, 1, 2], [4, 4, 4]]), [3, 3, 3]
    out = ctc(
        logits.log_softmax(-1), targets, [4, 4, 4], lengths, zero_infinity=True, reduction="none"
    )
    assert out[2].item() == 0.0 and torch.isfinite(out).all()
    g = torch.autograd.grad(out.sum(), logits)[0]
    assert torch.count_nonzero(g[:, 2]) == 0 and torch.count_nonzero(g[:, :2]) > 0
    alone = ctc(logits.log_softmax(-1)[:, :2], targets[:2], [4, 4], [3, 3], reduction="none")
    torch.testing.assert_close(torch.autograd.grad(alone.sum(), logits)[0], g)


def test_gradient_is_exact_for_log_probs_and_unchanged_through_log_softmax() -> None:
    logits = torch.randn(6, 2, 4, dtype=D64, requires_grad=True)
    targets, il, tl = (
        torch.tensor([[1, 2, 2], [3, 1, 0]]),
        torch.tensor([6, 5]),
        torch.tensor([3, 2]),
    )
    lp = logits.log_softmax(-1)
    ours = torch.autograd.grad(ctc(lp, targets, il, tl), logits)[0]
    torchs = torch.autograd.grad(F.ctc_loss(logits.log_softmax(-1), targets, il, tl), logits)[0]
    torch.testing.assert_close(ours, torchs)  # what a model trained through log_softmax sees
    # in log_probs themselves, torch's gradient is off by exp(log_probs) on the used frames
    leaf = lp.detach().requires_grad_()
    g_ours = torch.autograd.grad(ctc(leaf, targets, il, tl, reduction="sum"), leaf)[0]
    g_torch = torch.autograd.grad(F.ctc_loss(leaf, targets, il, tl, reduction="sum"), leaf)[0]
    used = (torch.arange(6)[:, None] < il[None, :])[..., None]
    torch.testing.assert_close(g_torch - g_ours, leaf.detach().exp() * used)
    assert torch.autograd.gradcheck(lambda x: ctc(x, targets, il, tl, reduction="sum"), (leaf,))


def test_mean_divides_by_target_lengths_at_least_one() -> None:
    lp = torch.randn(5, 3, 4, dtype=D64).log_softmax(-1)
    targets, tl = torch.tensor([[1, 2], [3, 0], [1, 1]]), torch.tensor([2, 0, 1])
    none = ctc(lp, targets, [5, 5, 5], tl, reduction="none")
    torch.testing.assert_close(
        ctc(lp, targets, [5, 5, 5], tl), (none / torch.tensor([2.0, 1.0, 1.0], dtype=D64)).mean()
    )
    # a target of length 0: only blanks, -sum_t log p_t(blank)
    torch.testing.assert_close(none[1], -lp[:, 1, 0].sum())


def test_empty_batch_gives_a_connected_zero() -> None:
    lp = torch.zeros(5, 0, 4, requires_grad=True)
    empty = torch.zeros(0, dtype=torch.long)
    for reduction in ("mean", "sum"):
        out = ctc(lp, torch.zeros(0, 3, dtype=torch.long), empty, empty, reduction=reduction)
        assert out.item() == 0.0 and out.grad_fn is not None  # torch refuses empty log_probs
        out.backward()
    assert ctc(lp, empty, empty, empty, reduction="none").shape == (0,)


def test_unbatched_equals_a_batch_of_one_and_lengths_may_be_ints() -> None:
    lp = torch.randn(6, 4, dtype=D64).log_softmax(-1)
    target = torch.tensor([1, 3, 3])
    single = ctc(lp, target, 6, 3, reduction="none")
    assert single.shape == ()
    batch = ctc(lp[:, None], target[None], (6,), [3], reduction="none")
    torch.testing.assert_close(single, batch[0])
    torch.testing.assert_close(
        single, F.ctc_loss(lp, target, torch.tensor(6), torch.tensor(3), reduction="none")
    )


def test_strided_concatenated_targets_are_read_right() -> None:
    # torch's CPU kernel misreads a non-contiguous 1-D target tensor after the first sequence
    lp = torch.randn(5, 2, 4, dtype=D64).log_softmax(-1)
    wide = torch.tensor([[1, 0], [2, 0], [3, 0], [3, 0]])
    strided = wide[:, 0]
    assert not strided.is_contiguous()
    got = ctc(lp, strided, [5, 4], [3, 1], reduction="none")
    torch.testing.assert_close(got, ctc(lp, strided.contiguous(), [5, 4], [3, 1], reduction="none"))
    torch.testing.assert_close(
        got, F.ctc_loss(lp, strided.contiguous(), [5, 4], [3, 1], reduction="none")
    )


def test_clear_errors_for_layout_mistakes() -> None:
    lp = torch.randn(8, 2, 5).log_softmax(-1)
    targets = torch.tensor([[1, 2], [3, 4]])
    with pytest.raises(losskit.LossInputError, match=r"batch-first.*transpose\(0, 1\)"):
        ctc(lp.transpose(0, 1), targets, [8, 8], [2, 2])
    with pytest.raises(losskit.LossInputError, match="blank label"):
        ctc(lp, torch.tensor([[1, 0], [3, 4]]), [8, 8], [2, 2])
    # the padding after target_lengths is not checked: any value is fine there
    ctc(lp, torch.tensor([[1, -1], [3, 4]]), [8, 8], [1, 2])
    with pytest.raises(losskit.LossInputError, match="log-probabilities"):
        ctc(torch.randn(8, 2, 5) + 3, targets, [8, 8], [2, 2])
    with pytest.raises(losskit.LossInputError, match="time-major"):
        ctc(torch.randn(2, 8, 5, 1), targets, [8, 8], [2, 2])


def test_shapes_mode_skips_value_checks_and_returns_torchs_inf() -> None:
    lp = torch.randn(3, 1, 4).log_softmax(-1)
    with losskit.checks("shapes"):
        out = ctc(lp, torch.tensor([[1, 1, 1]]), [3], [3], reduction="none")
    assert torch.isinf(out).all()


def test_half_precision_is_computed_in_float32() -> None:
    lp = torch.randn(6, 2, 4).log_softmax(-1)
    targets, il, tl = torch.tensor([[1, 2], [3, 3]]), [6, 6], [2, 2]
    out = ctc(lp.half(), targets, il, tl)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ctc(lp.half().float(), targets, il, tl))


# ----------------------------------------------------------------------------- issue 14
def _vmapped(lp: torch.Tensor, *rest: object, **kw: object) -> torch.Tensor:
    """One call under vmap (a batch of one): the traced path, the forward recursion."""
    return torch.func.vmap(lambda x: ctc(x, *rest, **kw))(lp[None])[0]


def _numpy(x: object) -> object:
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _cases() -> list[tuple[tuple, dict]]:
    samples = _ctc_samples(torch.Generator().manual_seed(7), D64)
    cases = [(s.args, s.kwargs) for s in samples]
    lp = torch.randn(5, 3, 4, dtype=D64).log_softmax(-1)
    lp[2, 1, 1] = -math.inf  # a zero probability: finite loss, finite gradient
    cases.append(((lp, torch.tensor([[1, 2], [1, 1], [0, 0]]), [5, 4, 0], [2, 2, 0]), {}))
    return cases


@pytest.mark.parametrize("case", range(len(_cases())))
def test_traced_recursion_matches_the_numpy_reference_and_the_exact_gradient(case: int) -> None:
    args, kw = _cases()[case]
    for reduction in ("none", "sum", "mean"):
        got = _vmapped(*args, **kw, reduction=reduction)
        want = _ctc_ref(*map(_numpy, args), **kw, reduction=reduction)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
    grad = torch.func.grad(lambda x: ctc(x, *args[1:], **kw, reduction="sum"))
    leaf = args[0].clone().requires_grad_()
    (eager,) = torch.autograd.grad(ctc(leaf, *args[1:], **kw, reduction="sum"), leaf)
    traced = torch.func.vmap(grad)(args[0][None])[0]
    assert torch.isfinite(traced).all()
    # at an exact zero probability the occupancy, so the exact gradient, is 0; torch's eager
    # kernel gives NaN there (its backward divides by the probability)
    zero = args[0] == -math.inf
    assert (traced[zero] == 0).all()
    torch.testing.assert_close(traced[~zero], eager[~zero])


def test_compiles_with_fullgraph_and_gives_meta_shapes() -> None:
    lp = torch.randn(6, 2, 4, dtype=D64).log_softmax(-1)
    args = (lp, torch.tensor([1, 2, 3, 3]), torch.tensor([6, 5]), torch.tensor([3, 1]))
    torch._dynamo.reset()
    compiled = torch.compile(ctc, backend="eager", fullgraph=True)
    want = _ctc_ref(*map(_numpy, args), reduction="none", blank=0)
    np.testing.assert_allclose(compiled(*args, reduction="none").numpy(), want, rtol=1e-10)
    meta = ctc(*(a.to("meta") for a in args), reduction="none")
    assert meta.is_meta and meta.shape == (2,) and meta.dtype == D64


def test_options_are_validated_by_name() -> None:
    lp = torch.randn(5, 1, 4, dtype=D64).log_softmax(-1)
    args = (lp, torch.tensor([[1, 2]]), [5], [2])
    torch.testing.assert_close(ctc(*args, blank=np.int64(3)), ctc(*args, blank=3))
    ctc(*args, zero_infinity=np.bool_(True))
    with pytest.raises(losskit.LossInputError, match="blank must be an integer"):
        ctc(*args, blank="0")
    with pytest.raises(losskit.LossInputError, match="blank must be an integer"):
        ctc(*args, blank=1.0)
    with pytest.raises(losskit.LossInputError, match="zero_infinity must be True or False"):
        ctc(*args, zero_infinity=1)
    with pytest.raises(losskit.LossInputError, match="reduction must be one of"):
        ctc(*args, reduction="batchmean")
