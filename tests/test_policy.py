"""What the generic suites cannot say about the policy-gradient loss: its gradient identities
(``-A grad log p`` at ``r = 1``, zero outside the clip range on the pessimistic side, CISPO's
gradient everywhere), the normalisations of each ``loss_type`` (dr_grpo's constant), masks
(equal to slicing; padding holding -inf or NaN), the exact sum of micro-batches with
``normalizer``, and the k3 KL. Every expected value is float64 NumPy written here, from the
formulas of PPO, GRPO (DeepSeekMath), DAPO, Dr. GRPO, MiniMax-M1 (CISPO) and TRL's
``GRPOTrainer``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import losskit
from losskit.distributed import normalizer as ddp_normalizer

TYPES = ("grpo", "bnpo", "dr_grpo", "dapo", "cispo")


def _rollouts(seed: int, n: int = 6, t: int = 9, spread: float = 0.4):
    gen = torch.Generator().manual_seed(seed)
    lp = -(torch.rand(n, t, generator=gen, dtype=torch.float64) * 2 + 0.05)
    old = -(lp + spread * torch.randn(n, t, generator=gen, dtype=torch.float64)).abs()
    adv = torch.randn(n, generator=gen, dtype=torch.float64)
    lengths = torch.randint(1, t + 1, (n, 1), generator=gen)
    mask = torch.arange(t) < lengths
    return lp, old, adv, mask


def _weights_and_denominator(mask: np.ndarray, loss_type: str, max_tokens: int | None = None):
    """The per-token weight and the denominator of "mean", from the definitions: grpo
    (1/N) sum_i (1/T_i) sum_t; dr_grpo sum / (N max_tokens); the others sum / sum_i T_i."""
    m = mask.astype(np.float64)
    n, t = m.shape
    if loss_type == "grpo":
        return m / np.maximum(m.sum(1, keepdims=True), 1.0), n
    if loss_type == "dr_grpo":
        return m, n * (t if max_tokens is None else max_tokens)
    return m, m.sum()


def _grad(loss: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    (g,) = torch.autograd.grad(loss, x)
    return g.numpy()


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("loss_type", TYPES)
@pytest.mark.parametrize("on_policy", [False, True])
def test_gradient_at_ratio_one_is_minus_advantage_normalised(loss_type, on_policy) -> None:
    """At r = 1 every objective's gradient is the policy gradient -A grad log p, weighted and
    normalised as the loss_type says (the clip is inactive, CISPO's weight is 1)."""
    lp, _, adv, mask = _rollouts(0)
    x = lp.clone().requires_grad_()
    old = None if on_policy else lp.clone()
    loss = losskit.policy_gradient(x, old, adv, mask, loss_type=loss_type)
    w, denom = _weights_and_denominator(mask.numpy(), loss_type)
    want = -adv.numpy()[:, None] * w / denom
    np.testing.assert_allclose(_grad(loss, x), want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("loss_type", ("grpo", "bnpo", "dr_grpo", "dapo"))
def test_clipping_zeroes_the_gradient_on_the_pessimistic_side_only(loss_type) -> None:
    """-min(r A, clip(r) A): for A > 0 above 1 + eps_high and for A < 0 below 1 - eps the
    clipped term is the minimum and constant, so the gradient is 0; on the other sides the
    unclipped r A is the minimum and the gradient is -A r (d r / d log p = r)."""
    eps, eps_high = 0.2, 0.28
    # per row: the sign of A; per column: the ratio, inside and outside the range on both sides
    ratios = np.array([0.5, 0.79, 0.95, 1.0, 1.1, 1.27, 1.29, 2.0])
    adv = torch.tensor([1.5, -0.7, 2.0, -1.2], dtype=torch.float64)
    old = torch.full((4, ratios.size), -1.5, dtype=torch.float64)
    lp = (old + torch.from_numpy(np.log(ratios))).requires_grad_()
    loss = losskit.policy_gradient(
        lp, old, adv, loss_type=loss_type, epsilon=eps, epsilon_high=eps_high
    )
    a = adv.numpy()[:, None]
    r = np.broadcast_to(ratios, (4, ratios.size))
    flat = ((a > 0) & (r > 1 + eps_high)) | ((a < 0) & (r < 1 - eps))
    w, denom = _weights_and_denominator(np.ones(r.shape, bool), loss_type)
    want = np.where(flat, 0.0, -a * r) * w / denom
    got = _grad(loss, lp)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert (got[flat] == 0).all() and (got[~flat] != 0).all()


def test_delta_caps_the_unclipped_ratio_for_negative_advantages() -> None:
    """INTELLECT-2's two-sided clip: with A < 0 the unclipped r A is the minimum above
    1 + eps_high and grows without bound; min(r, delta) stops it, so the gradient is 0 above
    delta and -A r between 1 + eps_high and delta."""
    ratios = np.array([1.1, 1.5, 2.5, 4.0])
    old = torch.full((1, 4), -2.0, dtype=torch.float64)
    lp = (old + torch.from_numpy(np.log(ratios))).requires_grad_()
    adv = torch.tensor([-1.0], dtype=torch.float64)
    loss = losskit.policy_gradient(lp, old, adv, loss_type="bnpo", delta=2.0, reduction="sum")
    want_value = -np.minimum(np.minimum(ratios, 2.0) * -1.0, np.clip(ratios, 0.8, 1.2) * -1.0)
    assert math.isclose(loss.item(), want_value.sum(), rel_tol=1e-12)
    np.testing.assert_allclose(_grad(loss, lp), [[1.1, 1.5, 0.0, 0.0]], rtol=1e-12)


def test_cispo_keeps_a_clipped_detached_weight_on_every_token() -> None:
    """MiniMax-M1: l = -sg(clip(r, 1 - eps, 1 + eps_high)) A log p. Its value is that, and its
    gradient is -clip(r) A / tokens on every token, also outside the clip range (where
    PPO-clip's is 0)."""
    lp, old, adv, mask = _rollouts(1, spread=0.8)
    x = lp.clone().requires_grad_()
    loss = losskit.policy_gradient(x, old, adv, mask, loss_type="cispo", epsilon_high=0.5)
    r = np.exp(lp.numpy() - old.numpy())
    weight = np.clip(r, 0.8, 1.5)
    m = mask.numpy().astype(np.float64)
    a = adv.numpy()[:, None]
    assert math.isclose(loss.item(), (-weight * a * lp.numpy() * m).sum() / m.sum(), rel_tol=1e-12)
    np.testing.assert_allclose(_grad(loss, x), -weight * a * m / m.sum(), rtol=1e-12, atol=1e-15)
    assert ((r < 0.8) | (r > 1.5))[mask.numpy()].any(), "the sample has clipped weights"


def test_cispo_with_trls_cap_and_no_lower_clip() -> None:
    """TRL's cispo clamps the ratio at epsilon_high = 5 from above only: epsilon=1.0 (a lower
    bound of 0, never active) and epsilon_high=4.0 here."""
    lp, old, adv, mask = _rollouts(2, spread=2.0)
    loss = losskit.policy_gradient(
        lp, old, adv, mask, loss_type="cispo", epsilon=1.0, epsilon_high=4.0
    )
    weight = np.minimum(np.exp(lp.numpy() - old.numpy()), 5.0)
    m = mask.numpy().astype(np.float64)
    want = (-weight * adv.numpy()[:, None] * lp.numpy() * m).sum() / m.sum()
    assert math.isclose(loss.item(), want, rel_tol=1e-12)


# ----------------------------------------------------------------------------- GSPO
@pytest.mark.parametrize("loss_type", TYPES)
def test_a_sequence_of_equal_token_ratios_has_that_ratio_as_its_sequence_ratio(loss_type):
    """GSPO's s_i is the geometric mean of the counted tokens' ratios: when they all equal
    exp(c_i) it is exp(c_i), and since d s_i / d log p_it = s_i / T_i spreads the sequence's
    gradient evenly over its T_i tokens, the sequence and token levels agree in value and
    gradient for every normalisation."""
    lp, _, adv, mask = _rollouts(14)
    gen = torch.Generator().manual_seed(2)
    c = torch.rand(lp.shape[0], 1, generator=gen, dtype=torch.float64) * 0.6 - 0.04
    old = lp - c  # <= 0: every lp <= -0.05
    results = []
    for level in ("token", "sequence"):
        x = lp.clone().requires_grad_()
        loss = losskit.policy_gradient(x, old, adv, mask, loss_type=loss_type, ratio_level=level)
        results.append((loss.item(), _grad(loss, x)))
    assert math.isclose(results[0][0], results[1][0], rel_tol=1e-12, abs_tol=1e-15)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-10, atol=1e-15)


def test_gspo_gradient_spreads_over_the_sequence() -> None:
    """grpo with one ratio per sequence: loss = (1/N) sum_i -min(s_i A_i, clip(s_i) A_i), and
    d s_i / d log p_it = s_i / T_i: each counted token of an unclipped sequence gets
    -A_i s_i / (N T_i), every token of a clipped (pessimistic side) sequence 0."""
    lp, old, adv, mask = _rollouts(15, spread=0.6)
    x = lp.clone().requires_grad_()
    eps = 0.05
    loss = losskit.policy_gradient(
        x, old, adv, mask, loss_type="grpo", ratio_level="sequence", epsilon=eps
    )
    m = mask.numpy().astype(np.float64)
    lengths = m.sum(1)
    s = np.exp(((lp.numpy() - old.numpy()) * m).sum(1) / lengths)
    a = adv.numpy()
    n = len(a)
    want_value = -np.minimum(s * a, np.clip(s, 1 - eps, 1 + eps) * a).sum() / n
    assert math.isclose(loss.item(), want_value, rel_tol=1e-12)
    flat = ((a > 0) & (s > 1 + eps)) | ((a < 0) & (s < 1 - eps))
    want = np.where(flat, 0.0, -a * s / (n * lengths))[:, None] * m
    np.testing.assert_allclose(_grad(loss, x), want, rtol=1e-12, atol=1e-15)
    assert flat.any() and (~flat).any(), "the sample has clipped and unclipped sequences"


# ----------------------------------------------------------------------------- normalisations
def test_hand_checked_value() -> None:
    """r = [[1.25, 1], [0.5, 1]], A = [1, -1], eps = 0.2: the per-token losses are
    -min(1.25, 1.2) = -1.2, -1, -min(-0.5, -0.8) = 0.8 and 1 (masked). dapo: (-1.2 - 1 + 0.8) / 3;
    grpo: ((-1.2 - 1) / 2 + 0.8 / 1) / 2; dr_grpo with max_tokens 4: -1.4 / (2 * 4)."""
    lp = torch.log(torch.tensor([[0.5, 0.25], [0.2, 0.4]], dtype=torch.float64))
    old = torch.log(torch.tensor([[0.4, 0.25], [0.4, 0.4]], dtype=torch.float64))
    adv = torch.tensor([1.0, -1.0], dtype=torch.float64)
    mask = torch.tensor([[True, True], [True, False]])
    got = {
        t: losskit.policy_gradient(lp, old, adv, mask, loss_type=t).item()
        for t in ("dapo", "bnpo", "grpo")
    }
    got["dr_grpo"] = losskit.policy_gradient(
        lp, old, adv, mask, loss_type="dr_grpo", max_tokens=4
    ).item()
    want = {"dapo": -1.4 / 3, "bnpo": -1.4 / 3, "grpo": (-1.1 + 0.8) / 2, "dr_grpo": -1.4 / 8}
    for key, value in want.items():
        assert math.isclose(got[key], value, rel_tol=1e-12), key


def test_dr_grpo_normalises_by_a_constant() -> None:
    """Dr. GRPO divides by N * max_tokens whatever the lengths: masking more tokens leaves the
    gradient of the others unchanged, whereas dapo's token mean rescales it by the count."""
    lp, old, adv, mask = _rollouts(3)
    fewer = mask.clone()
    fewer[:, 4:] = False
    for loss_type in ("dr_grpo", "dapo"):
        grads = []
        for m in (mask, fewer):
            x = lp.clone().requires_grad_()
            extra = {"max_tokens": 12} if loss_type == "dr_grpo" else {}
            loss = losskit.policy_gradient(x, old, adv, m, loss_type=loss_type, **extra)
            grads.append(_grad(loss, x)[:, :4])
        if loss_type == "dr_grpo":
            np.testing.assert_array_equal(grads[0], grads[1])
        else:
            ratio = fewer.sum().item() / mask.sum().item()
            np.testing.assert_allclose(grads[0], grads[1] * ratio, rtol=1e-12, atol=1e-15)
    # and the value is the masked sum over N * max_tokens
    loss = losskit.policy_gradient(lp, old, adv, mask, loss_type="dr_grpo", max_tokens=12)
    total = losskit.policy_gradient(lp, old, adv, mask, loss_type="dr_grpo", reduction="sum")
    assert math.isclose(loss.item(), total.item() / (lp.shape[0] * 12), rel_tol=1e-12)


def test_grpo_is_the_mean_of_sequence_means_and_dapo_the_token_mean() -> None:
    lp, old, adv, mask = _rollouts(4)
    per = losskit.policy_gradient(lp, old, adv, mask, loss_type="bnpo", reduction="none").numpy()
    m = mask.numpy()
    seq_means = [per[i][m[i]].mean() for i in range(len(m))]
    grpo = losskit.policy_gradient(lp, old, adv, mask, loss_type="grpo")
    assert math.isclose(grpo.item(), float(np.mean(seq_means)), rel_tol=1e-12)
    dapo = losskit.policy_gradient(lp, old, adv, mask)
    assert math.isclose(dapo.item(), float(per[m].mean()), rel_tol=1e-12)
    # dapo and bnpo differ only in dapo's order constraint on the clip range
    bnpo = losskit.policy_gradient(lp, old, adv, mask, loss_type="bnpo")
    assert dapo.item() == bnpo.item()


# ----------------------------------------------------------------------------- masks
@pytest.mark.parametrize("loss_type", TYPES)
def test_a_mask_of_trailing_tokens_equals_slicing_them_off(loss_type) -> None:
    lp, old, adv, _ = _rollouts(5)
    mask = torch.ones_like(lp, dtype=torch.bool)
    mask[:, 6:] = False
    extra = {"max_tokens": 9} if loss_type == "dr_grpo" else {}
    masked = losskit.policy_gradient(lp, old, adv, mask, loss_type=loss_type, **extra)
    sliced = losskit.policy_gradient(lp[:, :6], old[:, :6], adv, loss_type=loss_type, **extra)
    assert math.isclose(masked.item(), sliced.item(), rel_tol=1e-12)


@pytest.mark.parametrize("loss_type", TYPES)
@pytest.mark.parametrize("on_policy", [False, True])
@pytest.mark.parametrize("level", ["token", "sequence"])
def test_padding_may_hold_inf_or_nan(loss_type, on_policy, level) -> None:
    """Masked tokens are given stand-ins before any arithmetic: -inf or NaN there changes
    neither the value nor the gradient of the counted tokens, and their own gradient is 0."""
    lp, old, _, mask = _rollouts(6)
    adv = torch.randn(lp.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ref = -(lp + 0.1).abs()
    junk = ~mask
    opts = {"loss_type": loss_type, "beta": 0.1, "ratio_level": level}
    x = lp.clone().requires_grad_()
    clean = losskit.policy_gradient(x, None if on_policy else old, adv, mask, ref, **opts)
    y = torch.where(junk, -math.inf, lp).requires_grad_()
    dirty_old = None if on_policy else torch.where(junk, math.nan, old)
    dirty_adv = torch.where(junk, math.nan, adv)
    dirty_ref = torch.where(junk, -math.inf, ref)
    dirty = losskit.policy_gradient(y, dirty_old, dirty_adv, mask, dirty_ref, **opts)
    assert math.isfinite(dirty.item()) and dirty.item() == clean.item()
    g_clean, g_dirty = _grad(clean, x), _grad(dirty, y)
    np.testing.assert_array_equal(g_dirty, g_clean)
    assert (g_dirty[junk.numpy()] == 0).all()


def test_a_float_mask_equals_the_bool_mask() -> None:
    lp, old, adv, mask = _rollouts(7)
    for loss_type in TYPES:
        a = losskit.policy_gradient(lp, old, adv, mask, loss_type=loss_type)
        b = losskit.policy_gradient(lp, old, adv, mask.double(), loss_type=loss_type)
        assert a.item() == b.item(), loss_type


# ----------------------------------------------------------------------------- accumulation
@pytest.mark.parametrize("loss_type", TYPES)
@pytest.mark.parametrize("as_tensor", [False, True])
def test_micro_batches_with_the_step_normalizer_sum_to_the_batch_loss(loss_type, as_tensor):
    """Gradient accumulation: split the batch into 3 uneven micro-batches (1, 3 and 5
    sequences, uneven lengths), divide each one's sum by the denominator of the whole batch
    (the total tokens; the number of sequences for grpo; N * max_tokens for dr_grpo): the losses
    and their gradients add up to the one-batch loss's, to float64 rounding."""
    lp, old, adv, mask = _rollouts(8, n=9)
    extra = {"max_tokens": 12} if loss_type == "dr_grpo" else {}
    x = lp.clone().requires_grad_()
    full = losskit.policy_gradient(x, old, adv, mask, loss_type=loss_type, **extra)
    g_full = _grad(full, x)
    count = {"grpo": 9, "dr_grpo": 9 * 12}.get(loss_type, int(mask.sum()))
    norm = ddp_normalizer(count) if as_tensor else float(count)  # one process: the count itself
    y = lp.clone().requires_grad_()
    parts = [slice(0, 1), slice(1, 4), slice(4, 9)]
    total = sum(
        losskit.policy_gradient(
            y[p], old[p], adv[p], mask[p], loss_type=loss_type, normalizer=norm, **extra
        )
        for p in parts
    )
    assert abs(total.item() - full.item()) <= 1e-12
    np.testing.assert_allclose(_grad(total, y), g_full, rtol=1e-12, atol=1e-15)
    # without it each micro-batch divides by its own count: a different (wrong) total
    if loss_type != "dr_grpo":
        local = sum(
            losskit.policy_gradient(y[p], old[p], adv[p], mask[p], loss_type=loss_type, **extra)
            for p in parts
        )
        assert abs(local.item() / 3 - full.item()) > 1e-6


# ----------------------------------------------------------------------------- KL
def test_k3_kl_to_the_reference() -> None:
    """Schulman's k3 = exp(d) - d - 1, d = ref - log p: >= 0, 0 at ref == log p; with A = 0
    only beta k3 remains, its gradient beta (1 - exp(d)) per counted token / the count."""
    lp, old, _, mask = _rollouts(9)
    ref = -(
        lp
        + 0.5
        * torch.randn(lp.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ).abs()
    zero = torch.zeros(lp.shape[0], dtype=torch.float64)
    x = lp.clone().requires_grad_()
    loss = losskit.policy_gradient(x, old, zero, mask, ref, beta=0.3)
    d = ref.numpy() - lp.numpy()
    m = mask.numpy().astype(np.float64)
    assert math.isclose(loss.item(), 0.3 * ((np.exp(d) - d - 1) * m).sum() / m.sum(), rel_tol=1e-12)
    np.testing.assert_allclose(
        _grad(loss, x), 0.3 * (1 - np.exp(d)) * m / m.sum(), rtol=1e-12, atol=1e-15
    )
    none = losskit.policy_gradient(lp, old, zero, mask, ref, beta=0.3, reduction="none")
    assert (none >= 0).all()
    at_ref = losskit.policy_gradient(lp, old, zero, mask, lp.clone(), beta=0.3)
    assert at_ref.item() == 0.0


# ----------------------------------------------------------------------------- non-finite, dtypes
def test_nan_in_the_reference_or_a_float_mask_is_never_finite() -> None:
    lp, old, adv, mask = _rollouts(10)
    ref = lp.clone()
    ref[0, 0] = math.nan
    fmask = mask.double()
    fmask[0, 0] = math.nan
    cases = [((lp, old, adv, mask, ref), "reference_log_probs"), ((lp, old, adv, fmask), "mask")]
    for args, name in cases:
        with losskit.checks("off"):
            assert math.isnan(losskit.policy_gradient(*args).item())
        with pytest.raises(losskit.LossInputError, match=name):
            losskit.policy_gradient(*args)


def test_half_precision_is_computed_in_float32() -> None:
    lp, old, adv, mask = _rollouts(11)
    want = losskit.policy_gradient(lp, old, adv, mask, loss_type="grpo")
    got = losskit.policy_gradient(lp.half(), old.half(), adv.half(), mask, loss_type="grpo")
    assert got.dtype == torch.float16
    # the inputs rounded to float16, then the loss in float64: within float16's output rounding
    ref = losskit.policy_gradient(
        lp.half().double(), old.half().double(), adv.half().double(), mask, loss_type="grpo"
    )
    assert abs(got.item() - ref.item()) <= 1e-3 * max(1.0, abs(ref.item()))
    assert abs(ref.item() - want.item()) < 0.05


def test_module_forward_takes_the_mask_and_the_reference() -> None:
    lp, old, adv, mask = _rollouts(12)
    ref = -(lp + 0.1).abs()
    module = losskit.nn.PolicyGradientLoss(loss_type="grpo", beta=0.02, normalizer=4.0)
    want = losskit.policy_gradient(
        lp, old, adv, mask, ref, loss_type="grpo", beta=0.02, normalizer=4.0
    )
    assert module(lp, old, adv, mask, ref).item() == want.item()


def test_compiles_with_a_tensor_normalizer_and_on_policy() -> None:
    """The normalizer's check reads its value only outside tracing: fullgraph compiles."""
    torch._dynamo.reset()
    lp, _, adv, mask = _rollouts(13)
    norm = torch.tensor(float(mask.sum()) * 2, dtype=torch.float64)
    want = losskit.policy_gradient(lp, None, adv, mask, loss_type="cispo", normalizer=norm)
    compiled = torch.compile(losskit.policy_gradient, backend="eager", fullgraph=True)
    got = compiled(lp, None, adv, mask, loss_type="cispo", normalizer=norm)
    # on-policy, r = 1: the value is -sum(A log p) over the counted tokens / the normaliser
    m = mask.numpy()
    expected = -(adv.numpy()[:, None] * lp.numpy() * m).sum() / (2 * m.sum())
    assert math.isclose(got.item(), want.item(), rel_tol=1e-12)
    assert math.isclose(want.item(), expected, rel_tol=1e-12)
