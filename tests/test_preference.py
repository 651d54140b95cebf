"""Identities, limits and hand-derived values of the preference losses that the generic suites
cannot state. Every expected value is a float64 NumPy formula written here (or a closed form
derived in the comment); none is the code's own output."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import losskit

DPO_TYPES = (
    "sigmoid",
    "hinge",
    "ipo",
    "robust",
    "exo_pair",
    "nca_pair",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_pair",
    "apo_zero",
    "apo_down",
    "discopop",
)


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _pairs(n: int = 8, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Summed log-probabilities (all < 0) of n chosen and rejected sequences, policy and
    reference, float64."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(4):
        out.append(-(torch.rand(n, generator=g, dtype=torch.float64) * 20 + 1))
    return tuple(out)


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().double().numpy()


# ----------------------------------------------------------------------------- dpo: limits
def test_sigmoid_at_small_beta_is_log2_minus_half_the_margin() -> None:
    # -log sigmoid(z) = log 2 - z/2 + z^2/8 - z^4/192 + z^6/2880 - ...: at z = beta h with
    # beta = 1e-3 and |h| < 40 the first term left out is below 0.04^6 / 2880 < 2e-12
    pc, pr, rc, rr = _pairs()
    beta = 1e-3
    z = beta * ((_np(pc) - _np(rc)) - (_np(pr) - _np(rr)))
    got = losskit.dpo(pc, pr, rc, rr, beta=beta, reduction="none")
    np.testing.assert_allclose(
        _np(got), math.log(2) - z / 2 + z**2 / 8 - z**4 / 192, rtol=0, atol=1e-11
    )


def test_ipo_is_zero_with_zero_gradient_at_margin_one_over_two_beta() -> None:
    beta = 0.25  # the target margin 1 / (2 beta) = 2
    rc, rr = torch.tensor([-5.0, -9.0], dtype=torch.float64), torch.tensor([-7.0, -3.0]).double()
    pr = torch.tensor([-6.0, -4.0], dtype=torch.float64)
    # h = (pc - rc) - (pr - rr) = 2  <=>  pc = rc + pr - rr + 2
    pc = (rc + pr - rr + 2).requires_grad_()
    loss = losskit.dpo(pc, pr, rc, rr, beta=beta, loss_type="ipo", reduction="sum")
    assert loss.item() == 0.0
    (grad,) = torch.autograd.grad(loss, pc)
    assert torch.count_nonzero(grad) == 0
    # off the target, the loss is (h - 2)^2 on either side
    for step in (-0.5, 0.5):
        moved = losskit.dpo(pc + step, pr, rc, rr, beta=beta, loss_type="ipo", reduction="none")
        np.testing.assert_allclose(_np(moved), [step**2, step**2], rtol=1e-12)


def test_hinge_is_zero_once_the_scaled_margin_reaches_one() -> None:
    pc, pr, rc, rr = _pairs()
    beta = 0.5
    h = (_np(pc) - _np(rc)) - (_np(pr) - _np(rr))
    got = losskit.dpo(pc, pr, rc, rr, beta=beta, loss_type="hinge", reduction="none")
    np.testing.assert_allclose(_np(got), np.maximum(0.0, 1 - beta * h), rtol=1e-12)
    assert (_np(got)[beta * h >= 1] == 0).all() and (beta * h >= 1).any()


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3, 0.5])
def test_label_smoothing_swapped_pairs_sum_to_the_symmetric_logistic_loss(eps: float) -> None:
    # l_e(h) + l_e(-h) = -(1-e) ls(z) - e ls(-z) - (1-e) ls(-z) - e ls(z) = -ls(z) - ls(-z),
    # whatever e; at e = 0.5 the loss itself is symmetric: l(h) = l(-h)
    pc, pr, rc, rr = _pairs()
    kw = {"beta": 0.3, "label_smoothing": eps, "reduction": "none"}
    forward = losskit.dpo(pc, pr, rc, rr, **kw)
    swapped = losskit.dpo(pr, pc, rr, rc, **kw)  # chosen and rejected exchanged: h -> -h
    z = 0.3 * ((_np(pc) - _np(rc)) - (_np(pr) - _np(rr)))
    np.testing.assert_allclose(
        _np(forward + swapped), -_log_sigmoid(z) - _log_sigmoid(-z), rtol=1e-12
    )
    if eps == 0.5:
        np.testing.assert_allclose(_np(forward), _np(swapped), rtol=1e-12)


@pytest.mark.parametrize("eps", [0.05, 0.2, 0.4])
def test_robust_dpo_is_unbiased_under_label_flips(eps: float) -> None:
    # rDPO (Chowdhury et al. 2024, Lemma 3.1): a label flipped with probability e gives the
    # clean loss in expectation: (1-e) l_r(h) + e l_r(-h) = -log sigmoid(beta h)
    pc, pr, rc, rr = _pairs()
    kw = {"beta": 0.2, "loss_type": "robust", "label_smoothing": eps, "reduction": "none"}
    mix = (1 - eps) * losskit.dpo(pc, pr, rc, rr, **kw) + eps * losskit.dpo(pr, pc, rr, rc, **kw)
    z = 0.2 * ((_np(pc) - _np(rc)) - (_np(pr) - _np(rr)))
    np.testing.assert_allclose(_np(mix), -_log_sigmoid(z), rtol=1e-12)


def test_aot_pair_equals_sigmoid_when_the_log_ratios_are_already_in_order() -> None:
    # sort(a) - sort(b) = a - b when a and b are both increasing along the batch
    a = torch.tensor([-3.0, -1.0, 0.5, 2.0], dtype=torch.float64)
    b = torch.tensor([-2.0, -1.5, 1.0, 4.0], dtype=torch.float64)
    rc, rr = -torch.full((4,), 10.0, dtype=torch.float64), -torch.full((4,), 12.0).double()
    pc, pr = rc + a, rr + b
    got = losskit.dpo(pc, pr, rc, rr, loss_type="aot_pair", beta=0.5, reduction="none")
    np.testing.assert_allclose(_np(got), -_log_sigmoid(0.5 * (_np(a) - _np(b))), rtol=1e-12)
    # a permutation of the pairs changes none of the sorted terms
    perm = torch.tensor([2, 0, 3, 1])
    again = losskit.dpo(
        pc[perm], pr[perm], rc, rr, loss_type="aot_pair", beta=0.5, reduction="none"
    )
    np.testing.assert_allclose(_np(again), _np(got), rtol=1e-12)


def test_discopop_stays_finite_at_very_negative_margins_in_float32() -> None:
    # z = beta h = -200: the exponential term exp(200) sigmoid(-4000) is e^(200 - 4000) ~ 0, and
    # -log sigmoid(-200) (1 - sigmoid(-4000)) = 200 + log(1 + e^-200) = 200 (float64: 200)
    rc = rr = torch.tensor([-1.0])
    pc, pr = torch.tensor([-1000.0]), torch.tensor([-1.0 + 1e-7])
    pc = pc.requires_grad_()
    loss = losskit.dpo(pc, pr, rc, rr, beta=0.2, loss_type="discopop")
    (grad,) = torch.autograd.grad(loss, pc)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    np.testing.assert_allclose(loss.item(), 0.2 * 999.0, rtol=1e-5)


@pytest.mark.parametrize("loss_type", DPO_TYPES)
def test_each_type_at_zero_log_ratios_has_its_closed_form_value(loss_type: str) -> None:
    # TRL's DPOTrainer documentation (https://huggingface.co/docs/trl/dpo_trainer, "Loss
    # functions"), read as: the margin is (policy - reference) of chosen minus that of
    # rejected; beta multiplies it, except IPO's target 1/(2 beta) and SPPO's +-1/(2 beta); BCO
    # subtracts a running reward mean; APO and NCA use the chosen and rejected log-ratios
    # apart. With every policy log-prob equal to its reference (a = b = h = 0, s(0) = 1/2):
    beta, e, tau = 0.25, 0.1, 0.05
    log2 = math.log(2)
    expected = {
        "sigmoid": log2,  # -(1-e) ls(0) - e ls(0) = log 2
        "hinge": 1.0,  # max(0, 1 - 0)
        "ipo": (1 / (2 * beta)) ** 2,  # (0 - 1/(2 beta))^2 = 4
        "robust": log2,  # (-(1-e) + e) ls(0) / (1 - 2e) = log 2
        "exo_pair": -log2 - 0.5 * math.log(e * (1 - e)),  # 1/2 (ls0 - log(1-e) + ls0 - log e)
        "nca_pair": 2 * log2,  # log 2 + log2 / 2 + log 2 / 2
        "bco_pair": 2 * log2,  # delta = 0
        "sppo_hard": 2 * (1 / (2 * beta)) ** 2,  # (0 - 2)^2 + (0 + 2)^2 = 8
        "aot": log2,
        "aot_pair": log2,
        "apo_zero": 1.0,  # 1 - 1/2 + 1/2
        "apo_down": 1.0,  # 1/2 + 1 - 1/2
        "discopop": 0.5 * log2 + 0.5,  # m = 1/2: log 2 / 2 + e^0 / 2
    }[loss_type]
    ref = -torch.tensor([3.0, 7.0, 11.0], dtype=torch.float64)
    smoothing = e if loss_type in ("sigmoid", "robust", "exo_pair", "aot", "aot_pair") else 0.0
    got = losskit.dpo(
        ref, ref - 1, ref, ref - 1, beta=beta, loss_type=loss_type, label_smoothing=smoothing,
        discopop_tau=tau, reduction="none",
    )  # fmt: skip
    np.testing.assert_allclose(_np(got), [expected] * 3, rtol=1e-12)


def test_exo_pair_without_label_smoothing_uses_epsilon_1e_3() -> None:
    pc, pr, rc, rr = _pairs()
    z = 0.1 * ((_np(pc) - _np(rc)) - (_np(pr) - _np(rr)))
    p = 1 / (1 + np.exp(-z))
    want = p * (np.log(p) - np.log(1 - 1e-3)) + (1 - p) * (np.log(1 - p) - np.log(1e-3))
    got = losskit.dpo(pc, pr, rc, rr, loss_type="exo_pair", reduction="none")
    np.testing.assert_allclose(_np(got), want, rtol=1e-10)


# ----------------------------------------------------------------------------- identities
def test_cpo_without_nll_is_dpo_against_a_flat_reference_and_simpo_without_margin() -> None:
    pc, pr, _, _ = _pairs()
    zero = torch.zeros_like(pc)  # log 1: a reference that is certain of every sequence
    cpo = losskit.cpo(pc, pr, beta=0.2, alpha=0.0, reduction="none")
    dpo = losskit.dpo(pc, pr, zero, zero, beta=0.2, reduction="none")
    simpo = losskit.simpo(pc, pr, beta=0.2, gamma=0.0, reduction="none")
    want = -_log_sigmoid(0.2 * (_np(pc) - _np(pr)))
    for got in (cpo, dpo, simpo):
        np.testing.assert_allclose(_np(got), want, rtol=1e-12)
    # alpha adds alpha times the chosen NLL
    np.testing.assert_allclose(
        _np(losskit.cpo(pc, pr, beta=0.2, alpha=0.7, reduction="none")),
        want - 0.7 * _np(pc),
        rtol=1e-12,
    )


def test_orpo_at_equal_log_probs_is_the_nll_plus_beta_log2() -> None:
    # equal odds: log sigmoid(0) = -log 2
    pc = -torch.tensor([0.3, 1.0, 2.5], dtype=torch.float64)
    got = losskit.orpo(pc, pc.clone(), beta=0.4, reduction="none")
    np.testing.assert_allclose(_np(got), -_np(pc) + 0.4 * math.log(2), rtol=1e-12)


def test_orpo_log_odds_are_exact_near_zero() -> None:
    # log odds of p = e^x at x = -1e-9: x - log(1 - e^x) = -1e-9 - log(1e-9 - 5e-19 + ...) where
    # 1 - exp(x) computed naively in float64 would lose 7 digits
    x = -1e-9
    odds = x - math.log(-math.expm1(x))
    pc = torch.tensor([x], dtype=torch.float64)
    pr = torch.tensor([-1.0], dtype=torch.float64)
    log_odds_pr = -1.0 - math.log(-math.expm1(-1.0))
    want = -x - 0.1 * -math.log1p(math.exp(-(odds - log_odds_pr)))
    np.testing.assert_allclose(losskit.orpo(pc, pr).item(), want, rtol=1e-12)


# ----------------------------------------------------------------------------- kto
def _kto_np(p, ref, desirable, *, kl, beta, w_d=1.0, w_u=1.0):
    r, z = p - ref, max(kl, 0.0)
    return np.where(
        desirable,
        w_d * (1 - 1 / (1 + np.exp(-beta * (r - z)))),
        w_u * (1 - 1 / (1 + np.exp(-beta * (z - r)))),
    )


@pytest.mark.parametrize("label", [True, False])
def test_kto_with_only_one_kind_of_response(label: bool) -> None:
    p, ref, _, _ = _pairs(6)
    desirable = torch.full((6,), label)
    got = losskit.kto(
        p, ref, desirable, kl=0.3, beta=0.5, desirable_weight=1.5, undesirable_weight=0.7
    )
    want = _kto_np(_np(p), _np(ref), label, kl=0.3, beta=0.5, w_d=1.5, w_u=0.7).mean()
    np.testing.assert_allclose(got.item(), want, rtol=1e-12)


def test_kto_mean_is_over_every_sequence_and_kl_is_clamped_detached() -> None:
    p, ref, _, _ = _pairs(7, seed=3)
    desirable = torch.tensor([True, False, False, True, True, False, True])
    parts = [
        losskit.kto(p[m], ref[m], desirable[m], kl=0.2, reduction="sum")
        for m in (desirable, ~desirable)
    ]
    whole = losskit.kto(p, ref, desirable, kl=0.2)
    torch.testing.assert_close(whole, (parts[0] + parts[1]) / 7)  # each sequence counted once
    # a negative estimate counts as 0 (TRL clamps it); a tensor baseline carries no gradient
    kl = torch.tensor(-0.4, dtype=torch.float64, requires_grad=True)
    clamped = losskit.kto(p, ref, desirable, kl=kl, reduction="none")
    np.testing.assert_allclose(
        _np(clamped), _kto_np(_np(p), _np(ref), _np(desirable), kl=0.0, beta=0.1), rtol=1e-12
    )
    assert not clamped.requires_grad


def test_kto_compiles_with_a_tensor_baseline() -> None:
    torch._dynamo.reset()
    p, ref, _, _ = _pairs(5)
    desirable = torch.tensor([True, False, True, True, False])
    kl = torch.tensor(0.25, dtype=torch.float64)
    fn = torch.compile(losskit.kto, backend="eager", fullgraph=True)
    want = _kto_np(_np(p), _np(ref), _np(desirable), kl=0.25, beta=0.1).mean()
    np.testing.assert_allclose(fn(p, ref, desirable, kl=kl).item(), want, rtol=1e-12)


# ----------------------------------------------------------------------------- bad input
MODES_THAT_READ = ("full", "debug")
MODES_THAT_CHECK_SHAPES = ("full", "debug", "shapes")


def test_positive_log_probs_are_refused_where_values_are_read() -> None:
    pc, pr, rc, rr = _pairs(4)
    bad = pc.clone()
    bad[2] = 0.5
    for mode in MODES_THAT_READ:
        with losskit.checks(mode):
            for call in (
                lambda: losskit.dpo(bad, pr, rc, rr),
                lambda: losskit.simpo(bad, pr),
                lambda: losskit.cpo(bad, pr),
                lambda: losskit.orpo(bad, pr),
                lambda: losskit.kto(bad, rr, pr < rr),
            ):
                with pytest.raises(losskit.LossInputError, match="must be log-probabilities"):
                    call()
    for mode in ("shapes", "off"):  # no value read there: a number comes back
        with losskit.checks(mode):
            assert torch.isfinite(losskit.dpo(bad, pr, rc, rr))


def test_shape_errors_in_every_mode_that_checks_shapes() -> None:
    pc, pr, rc, rr = _pairs(4)
    for mode in MODES_THAT_CHECK_SHAPES:
        with losskit.checks(mode):
            with pytest.raises(losskit.LossInputError, match=r"\(4,\) vs policy_rejected"):
                losskit.dpo(pc, pr[:3], rc, rr)
            with pytest.raises(losskit.LossInputError, match=r"\(4,\) vs reference_rejected"):
                losskit.dpo(pc, pr, rc, rr[:2])
            with pytest.raises(losskit.LossInputError, match="desirable must be a bool"):
                losskit.kto(pc, rc, torch.ones(4))
            with pytest.raises(losskit.LossInputError, match=r"must have shape \(N,\)"):
                losskit.simpo(pc.reshape(2, 2), pr.reshape(2, 2))
    for mode in ("full", "shapes", "off"):  # options are checked in every mode: they are free
        with losskit.checks(mode):
            with pytest.raises(losskit.LossInputError, match="beta must lie in"):
                losskit.dpo(pc, pr, rc, rr, beta=-1.0)
            with pytest.raises(losskit.LossInputError, match="did you mean 'hinge'"):
                losskit.dpo(pc, pr, rc, rr, loss_type="hinje")


@pytest.mark.parametrize("loss_type", DPO_TYPES)
@pytest.mark.parametrize("bad", [math.nan, -math.inf])
@pytest.mark.parametrize("where", [0, 1, 2, 3])
def test_a_non_finite_log_prob_never_gives_a_finite_dpo_loss(
    loss_type: str, bad: float, where: int
) -> None:
    # -inf is a legitimate-looking log-probability (probability 0) that the generic suite does
    # not try: a saturating type (sigmoid at h = +inf) would give a finite 0 without the guard
    args = [x.clone() for x in _pairs(5)]
    args[where][1] = bad
    with losskit.checks("off"):
        out = losskit.dpo(*args, loss_type=loss_type, reduction="none")
    assert not torch.isfinite(out).all()
    names = ("policy_chosen", "policy_rejected", "reference_chosen", "reference_rejected")
    with pytest.raises(losskit.LossInputError, match=f"{names[where]}_logps holds non-finite"):
        losskit.dpo(*args, loss_type=loss_type)
