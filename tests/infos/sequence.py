"""LossInfo entries of the sequence losses. References are float64 NumPy, written here: CTC by
the log-space forward recursion of Graves et al. (2006), never by calling a torch loss."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tests.lossinfo import ErrorCase, LossInfo, Sample, add, randn


def ctc_nll(lp: np.ndarray, target: np.ndarray, blank: int) -> float:
    """-log p(target | lp) for one sequence: ``lp`` (T, C) log-probabilities of the used frames."""
    ext = np.full(2 * len(target) + 1, blank)
    ext[1::2] = target  # blank, y1, blank, y2, ..., blank
    if lp.shape[0] == 0:
        return 0.0 if len(target) == 0 else np.inf
    # a state may skip the blank before it unless it is a blank or repeats the label two back
    skip = np.zeros(len(ext), dtype=bool)
    skip[2:] = (ext[2:] != blank) & (ext[2:] != ext[:-2])
    alpha = np.full(len(ext), -np.inf)
    alpha[: min(2, len(ext))] = lp[0, ext[:2]]
    for t in range(1, lp.shape[0]):
        step, jump = np.full(len(ext), -np.inf), np.full(len(ext), -np.inf)
        step[1:] = alpha[:-1]  # from the previous state
        jump[2:] = np.where(skip[2:], alpha[:-2], -np.inf)  # over a blank
        alpha = np.logaddexp(np.logaddexp(alpha, step), jump) + lp[t, ext]
    return -(alpha[-1] if len(ext) == 1 else np.logaddexp(alpha[-1], alpha[-2]))


def _ctc_ref(
    lp, targets, input_lengths, target_lengths, *, reduction, blank=0, zero_infinity=False
):
    unbatched = lp.ndim == 2
    if unbatched:
        lp, targets = lp[:, None, :], targets[None, :]
    input_lengths = np.asarray(input_lengths).reshape(-1)
    target_lengths = np.asarray(target_lengths).reshape(-1)
    offsets = np.concatenate([[0], np.cumsum(target_lengths)])
    nll = np.zeros(lp.shape[1])
    for n in range(lp.shape[1]):
        if targets.ndim == 2:
            target = targets[n, : target_lengths[n]]
        else:
            target = targets[offsets[n] : offsets[n + 1]]
        nll[n] = ctc_nll(lp[: input_lengths[n], n], target, blank)
    if zero_infinity:
        nll = np.where(np.isinf(nll), 0.0, nll)
    if reduction == "none":
        return nll[0] if unbatched else nll
    if reduction == "sum":
        return nll.sum()
    return (nll / np.maximum(target_lengths, 1)).mean() if nll.size else 0.0


def _log_probs(gen: torch.Generator, t: int, n: int | None, c: int, dtype: torch.dtype):
    shape = (t, c) if n is None else (t, n, c)
    return torch.log_softmax(2 * randn(gen, *shape), dim=-1).to(dtype)


def _ctc_samples(gen: torch.Generator, dtype: torch.dtype) -> list[Sample]:
    long = torch.long
    out = [
        # padded targets, a repeat (2, 2) and a target of length 0
        Sample(
            (
                _log_probs(gen, 6, 3, 4, dtype),
                torch.tensor([[1, 2, 2], [3, 1, 0], [1, 1, 1]]),
                torch.tensor([6, 5, 4]),
                torch.tensor([3, 2, 0]),
            ),
            desc="padded (T=6, N=3, C=4)",
        ),
        # concatenated targets, blank in the middle of the alphabet
        Sample(
            (
                _log_probs(gen, 5, 2, 4, dtype),
                torch.tensor([0, 1, 3, 3]),
                torch.tensor([5, 4], dtype=torch.int32),
                torch.tensor([3, 1], dtype=torch.int32),
            ),
            {"blank": 2},
            desc="concatenated, blank=2",
        ),
        # one sequence, time-major (T, C)
        Sample(
            (
                _log_probs(gen, 7, None, 3, dtype),
                torch.tensor([1, 2, 1]),
                torch.tensor(7),
                torch.tensor(3),
            ),
            desc="unbatched (T=7, C=3)",
        ),
        # example 1 cannot fit (2 labels + 1 repeat > 2 frames): zero_infinity gives it 0
        Sample(
            (
                _log_probs(gen, 4, 2, 3, dtype),
                torch.tensor([[1, 2], [2, 2]], dtype=long),
                torch.tensor([4, 2]),
                torch.tensor([2, 2]),
            ),
            {"zero_infinity": True},
            desc="zero_infinity with an impossible example",
        ),
        # a longer batch, every length at its boundary (target + repeats == input)
        Sample(
            (
                _log_probs(gen, 7, 4, 4, dtype),
                torch.tensor([[1, 1, 2, 2, 3], [3, 3, 3, 0, 0], [1, 2, 3, 1, 2], [2, 0, 0, 0, 0]]),
                torch.tensor([7, 5, 6, 1]),
                torch.tensor([5, 3, 5, 1]),
            ),
            {"blank": 0, "zero_infinity": False},
            desc="boundary lengths (T=7, N=4, C=4)",
        ),
    ]
    return out


def _ctc_errors() -> list[ErrorCase]:
    lp = torch.log_softmax(torch.zeros(5, 2, 4), dim=-1)
    ok = (torch.tensor([[1, 2], [3, 3]]), torch.tensor([5, 5]), torch.tensor([2, 2]))
    return [
        ErrorCase(
            (lp, torch.tensor([[1, 1], [2, 3]]), torch.tensor([5, 1]), torch.tensor([2, 2])),
            {},
            r"target 1 cannot fit its input: 2 labels with 0 repeated.*need at least 2 frames.*"
            r"input_lengths\[1\] = 1",
            "too short an input",
        ),
        ErrorCase(
            (lp, torch.tensor([[1, 1], [2, 3]]), torch.tensor([2, 5]), torch.tensor([2, 2])),
            {},
            r"target 0 cannot fit.*1 repeated neighbours need at least 3 frames.*zero_infinity",
            "a repeat needs a blank between",
        ),
        ErrorCase(
            (lp, torch.tensor([[0, 2], [3, 3]]), *ok[1:]), {}, "blank label", "blank in target"
        ),
        ErrorCase((lp, torch.tensor([[1, 4], [3, 3]]), *ok[1:]), {}, r"\[0, 4\)", "label >= C"),
        ErrorCase(
            (lp.transpose(0, 1), *ok),
            {},
            r"batch-first \(N, T, C\).*transpose\(0, 1\)",
            "batch-first",
        ),
        ErrorCase((lp, *ok[:2], torch.tensor([2, 3])), {}, r"target_lengths must be <= S = 2", "S"),
        ErrorCase(
            (lp, ok[0], torch.tensor([6, 5]), ok[2]), {}, r"input_lengths must be <= T = 5", "T"
        ),
        ErrorCase(
            (lp, torch.tensor([1, 2, 3]), *ok[1:]), {}, r"sum\(target_lengths\) = 4", "concat"
        ),
        ErrorCase((lp, ok[0].float(), *ok[1:]), {}, "targets must be an integer tensor", "float"),
        ErrorCase((lp.exp(), *ok), {}, "must be log-probabilities", "probabilities, not logs"),
        ErrorCase((lp, *ok), {"blank": 4}, r"blank must lie in \[0, 4\)", "blank"),
    ]


add(
    LossInfo(
        "ctc",
        _ctc_samples,
        _ctc_ref,
        peer=F.ctc_loss,
        errors=_ctc_errors,
        dtypes=(torch.float32, torch.float64),  # PyTorch's CTC kernel has no half precision
        gradgrad=False,  # PyTorch's CTC backward has no derivative
        empty_ok=False,  # time-major: dim 0 is time; the empty batch is tested in test_sequence.py
        permutation_invariant=False,  # the batch is dim 1 of log_probs
    )
)
