"""Preference losses: a policy's log-probabilities of a chosen and a rejected response.

Every input is **one log-probability per sequence**, a 1-D tensor ``(N,)``: the log-probability
the model gives a whole response (the sum of its per-token log-probabilities over the response's
tokens), or that sum divided by the response's length where a loss says so (IPO, SimPO, ORPO).
Per-token log-probabilities ``(N, T)`` are refused with the fix (sum them over the tokens);
they come from :func:`losskit.linear_cross_entropy`-style heads or ``log_softmax(logits)``
gathered at the labels. Row ``n`` of every input is the same prompt's pair.

``"mean"`` averages over the pairs (the sequences for :func:`kto`), ``"sum"`` adds them, and
``"none"`` returns one loss per pair. Inputs of different floating dtypes promote as
``torch.result_type``; float16 and bfloat16 are computed, and returned, in float32.

Non-finite input: a log-probability of ``-inf`` or ``+inf``, or NaN, makes that pair's loss
NaN (the guard ``0 * margin`` added to each pair's loss), so a NaN or an infinity never becomes
a finite loss; in ``"full"`` mode :func:`losskit._checks.finish` then names the input.
"""

from __future__ import annotations

import difflib
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
    _shapes_on,
    check_choice,
    check_floating,
    check_log_probs,
    check_option,
    check_real,
    check_reduction,
    check_same_shape,
    check_tensor,
    ensure_float,
    finish,
    reads,
    reduce,
)
from losskit._spec import Family, MeanOver, Prop, Space, Targets, register
from losskit._validate import scalar_hyper
from losskit.losses._examples import Example

__all__ = ["cpo", "dpo", "kto", "orpo", "simpo"]

DPO_LOSS_TYPES = (
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
# the types whose formula reads label_smoothing: any other refuses a non-zero value (TRL's
# users found it silently dropped where the maths was duplicated)
_SMOOTHED = ("sigmoid", "robust", "exo_pair", "aot", "aot_pair")
# EXO's epsilon when label_smoothing is 0: its formula takes log(epsilon) (TRL's substitute)
_EXO_EPSILON = 1e-3


# ----------------------------------------------------------------------------- checks
def _sequence_logps(name: str, x: Tensor) -> None:
    """One log-probability per sequence: a real floating 1-D tensor (its values are read by
    :func:`_below_zero`)."""
    check_tensor(name, x)
    check_real(name, x)
    check_floating(name, x)
    if _shapes_on() and x.dim() != 1:
        hint = (
            f"; per-token log-probabilities? sum them over the tokens, e.g. "
            f"({name} * mask).sum(-1) (or divide by mask.sum(-1) for a length average)"
            if x.dim() == 2
            else f"; for one pair use {name}.reshape(1)"
            if x.dim() == 0
            else ""
        )
        raise LossInputError(
            f"{name} must have shape (N,), one log-probability per sequence, got "
            f"{tuple(x.shape)}{hint}"
        )


def _below_zero(items: list[tuple[str, Tensor]]) -> None:
    """Every value <= 0 (:func:`losskit._checks.check_log_probs`, where
    :func:`losskit._checks.reads`), in one host read for all the inputs: the largest of their
    maxima. Only a failure (or a NaN, which passes) pays for the check of each, which names it."""
    readable = [(name, x) for name, x in items if reads(x)]
    if not readable:
        return
    tops = torch.stack([x.detach().amax().float() for _, x in readable])
    if float(tops.amax()) <= 1e-4:  # the tolerance of check_log_probs; false for NaN
        return
    for name, x in readable:
        try:
            check_log_probs(name, x)
        except LossInputError as exc:  # the shared check, with the fix of this family
            what = str(exc).split(";")[0]
            raise LossInputError(
                f"{what}; rewards or logits? pass each sequence's log-probability, the sum over "
                "its tokens of log_softmax(logits, -1) gathered at the labels"
            ) from None


def _inputs(**named: Tensor) -> list[Tensor]:
    """Check every named input as :func:`_sequence_logps`, each against the first's shape, and
    their values (:func:`_below_zero`); return them in their common compute dtype (half
    precision in float32)."""
    items = list(named.items())
    first_name, first = items[0]
    for name, x in items:
        _sequence_logps(name, x)
        if x is not first:
            check_same_shape(first_name, first, name, x)
    _below_zero(items)
    dtype = first.dtype
    for _, x in items[1:]:
        dtype = torch.promote_types(dtype, x.dtype)  # result_type's rule, traceable
    return [ensure_float(x.to(dtype)) for _, x in items]


def _beta(value: float) -> float:
    return check_option("beta", value, low=0.0, low_open=True)


def _label_smoothing(value: float, *, high: float = 0.5, high_open: bool = False) -> float:
    return check_option("label_smoothing", value, low=0.0, high=high, high_open=high_open)


def _smoothed_sigmoid(z: Tensor, eps: float) -> Tensor:
    """``-(1 - eps) log sigmoid(z) - eps log sigmoid(-z)``: the logistic loss of a margin whose
    label is flipped with probability ``eps`` (conservative DPO); logsigmoid is stable at any z."""
    loss = -F.logsigmoid(z)
    if eps:
        loss = loss * (1 - eps) - eps * F.logsigmoid(-z)
    return loss


# ----------------------------------------------------------------------------- examples
def _sequence_sums(n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Summed log-probabilities of ``n`` sequences (about -1 to -21) under a reference, and a
    policy's close to them; every value < 0."""
    base = torch.rand((n,), generator=g) * 20 + 1
    return -base, -base * torch.exp(0.05 * torch.randn((n,), generator=g))


def _pairs(n: int, g: torch.Generator) -> Example:
    """Policy and reference log-probabilities of ``n`` chosen and ``n`` rejected sequences (sums
    over their tokens): ``(policy_chosen, policy_rejected, reference_chosen, reference_rejected)``,
    ``(n,)`` each; the policy's carry a gradient."""
    rc, pc = _sequence_sums(n, g)
    rr, pr = _sequence_sums(n, g)
    return Example((pc, pr, rc, rr), grad=(0, 1))


def _average_pairs(n: int, g: torch.Generator) -> Example:
    """Length-averaged log-probabilities of ``n`` chosen and ``n`` rejected sequences under the
    policy (about -0.05 to -2), ``(n,)`` each, both with a gradient."""
    chosen = -(torch.rand((n,), generator=g) * 2 + 0.05)
    rejected = -(torch.rand((n,), generator=g) * 2 + 0.05)
    return Example((chosen, rejected), grad=(0, 1))


def _unpaired(n: int, g: torch.Generator) -> Example:
    """Policy and reference log-probabilities of ``n`` sequences (sums over tokens) and a bool
    label per sequence (True: desirable), with a KL baseline of 0.1."""
    ref, policy = _sequence_sums(n, g)
    desirable = torch.rand((n,), generator=g) < 0.5
    return Example((policy, ref, desirable), {"kl": 0.1})


# ----------------------------------------------------------------------------- DPO
def _dpo_terms(
    pc: Tensor,
    pr: Tensor,
    rc: Tensor,
    rr: Tensor,
    *,
    beta: float,
    loss_type: str,
    eps: float,
    bco_delta: float | Tensor,
    tau: float,
) -> Tensor:
    """The per-pair loss of ``loss_type`` (the formulas of :func:`dpo`'s docstring)."""
    a = pc - rc  # chosen log-ratio against the reference
    b = pr - rr  # rejected log-ratio
    h = a - b  # the DPO margin (before beta)
    if loss_type == "sigmoid":
        return _smoothed_sigmoid(beta * h, eps)
    if loss_type == "hinge":
        return F.relu(1 - beta * h)
    if loss_type == "ipo":
        return (h - 1 / (2 * beta)) ** 2
    if loss_type == "robust":
        z = beta * h
        return (-(1 - eps) * F.logsigmoid(z) + eps * F.logsigmoid(-z)) / (1 - 2 * eps)
    if loss_type == "exo_pair":
        z = beta * h
        e = eps or _EXO_EPSILON
        # KL(sigmoid(z) || (1 - e)): the model's preference probability against the smoothed label
        return torch.sigmoid(z) * (F.logsigmoid(z) - math.log1p(-e)) + torch.sigmoid(-z) * (
            F.logsigmoid(-z) - math.log(e)
        )
    if loss_type == "nca_pair":
        za, zb = beta * a, beta * b
        return -F.logsigmoid(za) - 0.5 * F.logsigmoid(-za) - 0.5 * F.logsigmoid(-zb)
    if loss_type == "bco_pair":
        return -F.logsigmoid(beta * a - bco_delta) - F.logsigmoid(bco_delta - beta * b)
    if loss_type == "sppo_hard":
        return (a - 1 / (2 * beta)) ** 2 + (b + 1 / (2 * beta)) ** 2
    if loss_type == "aot":
        # the sorted policy margins against the sorted reference margins (over the batch)
        delta = torch.sort(pc - pr, dim=0).values - torch.sort(rc - rr, dim=0).values
        return _smoothed_sigmoid(beta * delta, eps)
    if loss_type == "aot_pair":
        delta = torch.sort(a, dim=0).values - torch.sort(b, dim=0).values
        return _smoothed_sigmoid(beta * delta, eps)
    if loss_type == "apo_zero":
        return 1 - torch.sigmoid(beta * a) + torch.sigmoid(beta * b)
    if loss_type == "apo_down":
        return torch.sigmoid(beta * a) + 1 - torch.sigmoid(beta * h)
    # discopop: a blend of the logistic and the exponential loss, weighted by sigmoid(z / tau)
    z = beta * h
    # exp(-z) * sigmoid(z / tau) as one exp: the product overflows to inf * 0 = NaN at very
    # negative z, the sum of logs does not (it tends to -inf for tau < 1)
    return -F.logsigmoid(z) * torch.sigmoid(-z / tau) + torch.exp(F.logsigmoid(z / tau) - z)


@register(
    family=Family.PREFERENCE,
    inputs=Space.LOG_PROBS,
    targets=Targets.REFERENCE_LOG_PROBS,
    mean_over=MeanOver.SEQUENCE,
    metrics=("preference_accuracy",),
    aliases=("dpo_loss",),
    example=_pairs,
)
def dpo(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    reference_chosen_logps: Tensor,
    reference_rejected_logps: Tensor,
    *,
    beta: float = 0.1,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
    bco_delta: float | Tensor = 0.0,
    discopop_tau: float = 0.05,
    reduction: str = "mean",
) -> Tensor:
    """Direct Preference Optimization and its variants (``loss_type``), against a reference model.

    With the log-ratios ``a_n = pc_n - rc_n`` (chosen: policy minus reference), ``b_n = pr_n -
    rr_n`` (rejected), the margin ``h_n = a_n - b_n``, ``z_n = beta h_n``, ``ls = log sigmoid``
    and ``e = label_smoothing``, the loss of pair ``n`` is, by ``loss_type``: ``sigmoid``
    (DPO; cDPO for e > 0) ``-(1 - e) ls(z) - e ls(-z)``; ``hinge`` (SLiC) ``max(0, 1 - z)``;
    ``ipo`` ``(h - 1/(2 beta))^2``; ``robust`` (rDPO) ``(-(1 - e) ls(z) + e ls(-z)) / (1 - 2e)``;
    ``exo_pair`` ``s(z) (ls(z) - log(1 - e)) + s(-z) (ls(-z) - log e)`` (``s`` the sigmoid, e = 1e-3
    when label_smoothing is 0); ``nca_pair`` ``-ls(beta a) - ls(-beta a)/2 - ls(-beta b)/2``;
    ``bco_pair`` ``-ls(beta a - delta) - ls(delta - beta b)``; ``sppo_hard``
    ``(a - 1/(2 beta))^2 + (b + 1/(2 beta))^2``; ``aot`` the sigmoid loss of
    ``beta (sort(pc - pr) - sort(rc - rr))``; ``aot_pair`` that of ``beta (sort(a) - sort(b))``
    (sorted over the batch, so pair n of ``"none"`` is the n-th smallest); ``apo_zero``
    ``1 - s(beta a) + s(beta b)``; ``apo_down`` ``s(beta a) + 1 - s(z)``; ``discopop``
    ``-ls(z) (1 - m) + exp(-z) m`` with ``m = s(z / tau)``. ``"mean"`` averages over the pairs.

    Input: ``policy_chosen_logps``, ``policy_rejected_logps``, floating ``(N,)``, one
    log-probability (<= 0) per sequence. Target: ``reference_chosen_logps``,
    ``reference_rejected_logps``, the same shape, the frozen reference model's (pass them
    detached). Sums over each response's tokens for every type as in TRL, except ``ipo``, whose
    paper and TRL use length-averaged log-probabilities (the sum divided by the response's
    length): its target margin ``1/(2 beta)`` is on that scale.

    When to use:
        Aligning a language model to pairwise human or AI preferences with a reference model
        (offline RLHF): ``sigmoid`` is the standard; ``ipo`` when the preferences are nearly
        deterministic and DPO overfits; ``robust`` or ``label_smoothing`` for noisy labels.

    Args:
        policy_chosen_logps: the trained model's log-probability of each chosen response.
        policy_rejected_logps: its log-probability of each rejected response.
        reference_chosen_logps: the reference model's log-probability of each chosen response.
        reference_rejected_logps: the reference model's of each rejected response.
        beta: > 0, the inverse temperature (the strength of the KL tie to the reference); IPO's
            regulariser tau.
        loss_type: one of the types above (TRL's ``DPOConfig.loss_type`` names).
        label_smoothing: the probability that a preference label is flipped, in [0, 0.5]
            (``robust``: [0, 0.5)); read by ``sigmoid``, ``robust``, ``exo_pair``, ``aot``,
            ``aot_pair`` and refused (when not 0) by the other types, which do not use it.
        bco_delta: ``bco_pair``'s reward baseline ``delta`` (a number or a one-element tensor,
            detached): TRL keeps a running mean over training steps of the batch mean of
            ``beta * cat([a, b])``; keep it yourself and pass it, 0 (the default) is no baseline.
        discopop_tau: > 0, DiscoPOP's temperature of the blend (0.05, as its paper).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``. Only the loss: the implicit rewards that trainers
        log are ``beta * (policy_chosen_logps - reference_chosen_logps).detach()`` (chosen) and
        the same of the rejected; the preference accuracy is the fraction of pairs whose chosen
        reward exceeds the rejected one.

    Raises:
        LossInputError: inputs not floating ``(N,)`` or of different shapes, log-probabilities
            above 0 (in ``"full"`` mode), ``beta <= 0``, an unknown ``loss_type``, a
            ``label_smoothing`` outside its interval or given to a type that does not read it.

    Example:
        >>> import torch, losskit
        >>> pc, pr = torch.tensor([-10.0, -12.0]), torch.tensor([-14.0, -11.0])
        >>> rc, rr = torch.tensor([-11.0, -12.0]), torch.tensor([-13.0, -12.0])
        >>> losskit.dpo(pc, pr, rc, rr, beta=0.5)
        tensor(0.6437)

    References:
        Rafailov et al., Direct Preference Optimization: your language model is secretly a reward
        model (NeurIPS 2023); Mitchell, A note on DPO with noisy preferences (cDPO, 2023); Zhao et
        al., SLiC-HF (2023); Azar et al., A general theoretical paradigm to understand learning
        from human preferences (IPO, AISTATS 2024); Chowdhury et al., Provably robust DPO (ICML
        2024); Ji et al., Towards efficient exact optimization of language model alignment (EXO,
        ICML 2024); Chen et al., Noise contrastive alignment of language models (NCA, NeurIPS
        2024); Jung et al., Binary classifier optimization for LLM alignment (BCO, 2024); Wu et
        al., Self-play preference optimization (SPPO, 2024); Melnyk et al., Distributional
        preference alignment of LLMs via optimal transport (AOT, NeurIPS 2024); D'Oosterlinck et
        al., Anchored preference optimization (APO, 2024); Lu et al., Discovering preference
        optimization algorithms with and for large language models (DiscoPOP, NeurIPS 2024);
        TRL ``DPOTrainer`` documentation (loss_type).
    """
    check_reduction(reduction)
    beta = _beta(beta)
    if loss_type not in DPO_LOSS_TYPES:  # the did-you-mean only on the error path
        close = difflib.get_close_matches(str(loss_type), DPO_LOSS_TYPES, n=2)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        check_choice("loss_type", loss_type, DPO_LOSS_TYPES, hint=hint)
    robust = loss_type == "robust"
    eps = _label_smoothing(label_smoothing, high_open=robust)
    if eps and loss_type not in _SMOOTHED:
        raise LossInputError(
            f"label_smoothing applies to loss_type in {_SMOOTHED}, got label_smoothing={eps:g} "
            f"with loss_type={loss_type!r}, which would ignore it; pass label_smoothing=0"
        )
    delta = scalar_hyper("bco_delta", bco_delta, positive=False)
    if isinstance(delta, Tensor):
        delta = delta.detach()
    tau = check_option("discopop_tau", discopop_tau, low=0.0, low_open=True)
    pc, pr, rc, rr = _inputs(
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        reference_chosen_logps=reference_chosen_logps,
        reference_rejected_logps=reference_rejected_logps,
    )
    loss = _dpo_terms(
        pc, pr, rc, rr, beta=beta, loss_type=loss_type, eps=eps, bco_delta=delta, tau=tau
    )
    # the non-finite guard: an infinite log-probability makes h infinite (or NaN), and 0 * h NaN;
    # a saturating type (sigmoid at h = +inf) would otherwise turn it into a finite 0
    loss = loss + 0 * ((pc - rc) - (pr - rr))
    return finish(
        reduce(loss, reduction),
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        reference_chosen_logps=reference_chosen_logps,
        reference_rejected_logps=reference_rejected_logps,
    )


# ----------------------------------------------------------------------------- reference-free
@register(
    family=Family.PREFERENCE,
    inputs=Space.LOG_PROBS,
    targets=Targets.NONE,
    mean_over=MeanOver.SEQUENCE,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE},
    metrics=("preference_accuracy",),
    aliases=("simpo_loss",),
    example=_average_pairs,
)
def simpo(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    *,
    beta: float = 2.0,
    gamma: float = 0.5,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Tensor:
    """SimPO: a margin between length-normalised log-probabilities, with no reference model.

    ``l_n = -(1 - e) log sigmoid(z_n) - e log sigmoid(-z_n)``, ``z_n = beta (pc_n - pr_n) -
    gamma``, with ``pc``, ``pr`` the length-averaged log-probabilities and ``e =
    label_smoothing``. ``"mean"`` averages over the pairs.

    Input: ``policy_chosen_logps``, floating ``(N,)``, each chosen response's log-probability
    averaged over its tokens (the sum divided by the length: SimPO's reward is length
    normalised), <= 0. Target: none; ``policy_rejected_logps``, the same shape, the rejected's.

    When to use:
        Reference-free preference optimisation (no second model in memory), with the length
        normalisation that keeps it from favouring long responses.

    Args:
        policy_chosen_logps: average per-token log-probability of each chosen response.
        policy_rejected_logps: that of each rejected response.
        beta: > 0, the reward scale (the SimPO paper tunes it in about [2, 10]).
        gamma: >= 0, the target reward margin (TRL's ``simpo_gamma``, 0.5 by default there).
        label_smoothing: in [0, 0.5], as in :func:`dpo`.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``. The rewards are ``beta * policy_chosen_logps``
        and ``beta * policy_rejected_logps`` (detached).

    Raises:
        LossInputError: inputs not floating ``(N,)`` or of different shapes, log-probabilities
            above 0 (``"full"`` mode), ``beta <= 0``, ``gamma < 0``, ``label_smoothing`` outside
            [0, 0.5].

    Example:
        >>> import torch, losskit
        >>> losskit.simpo(torch.tensor([-0.8, -1.2]), torch.tensor([-1.5, -1.0]))
        tensor(0.7912)

    References:
        Meng, Xia & Chen, SimPO: simple preference optimization with a reference-free reward
        (NeurIPS 2024); TRL ``CPOTrainer`` documentation (loss_type="simpo").
    """
    check_reduction(reduction)
    beta = _beta(beta)
    gamma = check_option("gamma", gamma, low=0.0)
    eps = _label_smoothing(label_smoothing)
    pc, pr = _inputs(
        policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps
    )
    d = pc - pr
    loss = _smoothed_sigmoid(beta * d - gamma, eps) + 0 * d  # the non-finite guard of dpo
    return finish(
        reduce(loss, reduction),
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
    )


@register(
    family=Family.PREFERENCE,
    inputs=Space.LOG_PROBS,
    targets=Targets.NONE,
    mean_over=MeanOver.SEQUENCE,
    properties={Prop.CONVEX, Prop.SMOOTH, Prop.NONNEGATIVE},
    metrics=("preference_accuracy",),
    aliases=("cpo_loss",),
    example=_average_pairs,
)
def cpo(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    *,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
    alpha: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """Contrastive Preference Optimization: reference-free DPO plus the chosen response's NLL.

    ``l_n = -(1 - e) log sigmoid(z_n) - e log sigmoid(-z_n) - alpha pc_n``, ``z_n = beta (pc_n -
    pr_n)``, ``e = label_smoothing``: the preference term plus ``alpha`` times the chosen
    sequence's NLL ``-pc_n``. ``"mean"`` averages over the pairs.

    Input: ``policy_chosen_logps``, floating ``(N,)``, each chosen response's log-probability
    (<= 0): the sum over its tokens, as TRL's preference term. Target: none;
    ``policy_rejected_logps``, the same shape, the rejected's. The NLL term is of the same
    ``pc``: TRL's ``CPOTrainer`` instead averages the chosen tokens' NLL over the batch's
    tokens; for that scale pass ``alpha=0`` and add your token-mean NLL (or pass length-averaged
    log-probabilities, which rescales both terms).

    When to use:
        Reference-free preference tuning that also keeps the model close to the preferred data
        (the CPO paper's machine-translation setting); cheaper than DPO (one model).

    Args:
        policy_chosen_logps: log-probability of each chosen response.
        policy_rejected_logps: log-probability of each rejected response.
        beta: > 0, the inverse temperature of the preference term.
        label_smoothing: in [0, 0.5], as in :func:`dpo`.
        alpha: >= 0, the weight of the NLL term (TRL's ``cpo_alpha``); 0 leaves the
            reference-free DPO loss.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``. The rewards are ``beta * policy_chosen_logps``
        and ``beta * policy_rejected_logps`` (detached).

    Raises:
        LossInputError: inputs not floating ``(N,)`` or of different shapes, log-probabilities
            above 0 (``"full"`` mode), ``beta <= 0``, ``alpha < 0``, ``label_smoothing`` outside
            [0, 0.5].

    Example:
        >>> import torch, losskit
        >>> losskit.cpo(torch.tensor([-8.0, -12.0]), torch.tensor([-15.0, -11.0]), alpha=0.1)
        tensor(1.5738)

    References:
        Xu et al., Contrastive preference optimization: pushing the boundaries of LLM performance
        in machine translation (ICML 2024); TRL ``CPOTrainer`` documentation.
    """
    check_reduction(reduction)
    beta = _beta(beta)
    eps = _label_smoothing(label_smoothing)
    alpha = check_option("alpha", alpha, low=0.0)
    pc, pr = _inputs(
        policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps
    )
    d = pc - pr
    loss = _smoothed_sigmoid(beta * d, eps) - alpha * pc + 0 * d  # + the non-finite guard
    return finish(
        reduce(loss, reduction),
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
    )


def _log_odds(x: Tensor) -> Tensor:
    """``log(p / (1 - p))`` of ``p = exp(x)``: ``x - log(1 - exp(x))`` with ``1 - exp(x)`` as
    ``-expm1(x)`` (exact near x = 0, where ``1 - exp(x)`` cancels). Values above 0 (rounding,
    within the 1e-4 the check allows) are read as 0: odds of +inf."""
    x = x.clamp(max=0.0)
    return x - torch.log(-torch.expm1(x))


@register(
    family=Family.PREFERENCE,
    inputs=Space.LOG_PROBS,
    targets=Targets.NONE,
    mean_over=MeanOver.SEQUENCE,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE},
    metrics=("preference_accuracy",),
    aliases=("orpo_loss",),
    example=_average_pairs,
)
def orpo(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    *,
    beta: float = 0.1,
    reduction: str = "mean",
) -> Tensor:
    """Odds Ratio Preference Optimization: the chosen response's NLL plus an odds-ratio penalty.

    ``l_n = -pc_n - beta log sigmoid(log odds(pc_n) - log odds(pr_n))``, ``log odds(x) = x -
    log(1 - exp(x))``, with ``pc``, ``pr`` the length-averaged log-probabilities: the chosen
    response's per-token NLL plus ``beta`` (the paper's lambda) times the log odds-ratio term.
    ``"mean"`` averages over the pairs.

    Input: ``policy_chosen_logps``, floating ``(N,)``, each chosen response's log-probability
    averaged over its tokens (as the paper and TRL's ``ORPOTrainer``), <= 0. Target: none;
    ``policy_rejected_logps``, the same shape, the rejected's. An average of exactly 0 (a
    certain response) has infinite odds: a rejected one gives an infinite loss.

    When to use:
        Preference alignment folded into supervised fine-tuning (no SFT stage, no reference
        model).

    Args:
        policy_chosen_logps: average per-token log-probability of each chosen response.
        policy_rejected_logps: that of each rejected response.
        beta: > 0, the weight of the odds-ratio term (lambda in the paper; TRL's ``beta``).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``. The rewards TRL logs are
        ``beta * policy_chosen_logps`` and ``beta * policy_rejected_logps`` (detached).

    Raises:
        LossInputError: inputs not floating ``(N,)`` or of different shapes, log-probabilities
            above 0 (``"full"`` mode), ``beta <= 0``.

    Example:
        >>> import torch, losskit
        >>> losskit.orpo(torch.tensor([-0.5, -1.0]), torch.tensor([-1.5, -0.8]))
        tensor(0.8024)

    References:
        Hong, Lee & Thorne, ORPO: monolithic preference optimization without reference model
        (EMNLP 2024); TRL ``ORPOTrainer`` documentation.
    """
    check_reduction(reduction)
    beta = _beta(beta)
    pc, pr = _inputs(
        policy_chosen_logps=policy_chosen_logps, policy_rejected_logps=policy_rejected_logps
    )
    ratio = _log_odds(pc) - _log_odds(pr)
    # the guard reads the inputs, not the ratio: a log-probability of exactly 0 is a valid
    # input whose odds (and so the ratio) are infinite
    loss = -pc - beta * F.logsigmoid(ratio) + 0 * (pc - pr)
    return finish(
        reduce(loss, reduction),
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
    )


# ----------------------------------------------------------------------------- unpaired
@register(
    family=Family.PREFERENCE,
    inputs=Space.LOG_PROBS,
    targets=Targets.REFERENCE_LOG_PROBS,
    mean_over=MeanOver.SEQUENCE,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE, Prop.BOUNDED},
    metrics=("preference_accuracy",),
    aliases=("kto_loss",),
    example=_unpaired,
)
def kto(
    policy_logps: Tensor,
    reference_logps: Tensor,
    desirable: Tensor,
    *,
    kl: float | Tensor = 0.0,
    beta: float = 0.1,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """Kahneman-Tversky Optimization: unpaired desirable and undesirable responses, a KL baseline.

    With the reward ``r_n = policy_logps_n - reference_logps_n`` and the baseline ``z =
    max(kl, 0)`` (detached): ``l_n = w_d (1 - sigmoid(beta (r_n - z)))`` where ``desirable_n``,
    else ``w_u (1 - sigmoid(beta (z - r_n)))``. ``"mean"`` averages over all N sequences (each
    counted once, as TRL's loss over the concatenated desirable and undesirable ones).

    Input: ``policy_logps``, floating ``(N,)``, one log-probability (<= 0) per sequence, the
    sum over its tokens. Target: ``reference_logps``, the same shape, the reference model's;
    ``desirable``, bool ``(N,)``, True for a desirable response. A batch may hold only desirable
    or only undesirable responses.

    When to use:
        Alignment from binary feedback (thumbs up / down) instead of preference pairs, or with
        imbalanced good and bad data (set the weights so that ``w_d n_d / (w_u n_u)`` lies in
        about [1, 4/3], as the KTO paper advises).

    Args:
        policy_logps: the trained model's log-probability of each response.
        reference_logps: the reference model's log-probability of each response.
        desirable: bool, True where the response is desirable.
        kl: the KL baseline ``z_ref``, a number or a one-element tensor, detached and clamped
            at 0: TRL estimates it per batch as the mean of ``policy - reference``
            log-probabilities of mismatched (prompt, response) pairs, gathered over devices;
            compute it so and pass it (0 is no baseline).
        beta: > 0, the inverse temperature.
        desirable_weight: >= 0, ``w_d``, the weight of a desirable response's loss.
        undesirable_weight: >= 0, ``w_u``, that of an undesirable one.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``. The rewards are ``beta * r_n`` (detached).

    Raises:
        LossInputError: log-probabilities not floating ``(N,)`` or of different shapes, above 0
            (``"full"`` mode), ``desirable`` not bool or of another shape, ``beta <= 0``, a
            negative weight, a non-finite ``kl``.

    Example:
        >>> import torch, losskit
        >>> policy, reference = torch.tensor([-10.0, -12.0, -9.0]), torch.tensor([-11.0, -11.0, -9.5])
        >>> losskit.kto(policy, reference, torch.tensor([True, False, False]), kl=0.2, beta=0.5)
        tensor(0.4310)

    References:
        Ethayarajh et al., KTO: model alignment as prospect theoretic optimization (ICML 2024);
        TRL ``KTOTrainer`` documentation.
    """
    check_reduction(reduction)
    beta = _beta(beta)
    w_d = check_option("desirable_weight", desirable_weight, low=0.0)
    w_u = check_option("undesirable_weight", undesirable_weight, low=0.0)
    z = scalar_hyper("kl", kl, positive=False)
    z = z.detach().clamp(min=0.0) if isinstance(z, Tensor) else max(z, 0.0)
    p, ref = _inputs(policy_logps=policy_logps, reference_logps=reference_logps)
    check_same_shape("policy_logps", policy_logps, "desirable", desirable)
    if _shapes_on() and desirable.dtype != torch.bool:
        raise LossInputError(
            f"desirable must be a bool tensor (True for a desirable response), got dtype "
            f"{desirable.dtype}; for 0/1 or -1/+1 labels use desirable > 0"
        )
    r = p - ref
    u = beta * (r - z)
    # 1 - sigmoid(x) = sigmoid(-x): no cancellation when the sigmoid is near 1
    loss = torch.where(desirable, w_d * torch.sigmoid(-u), w_u * torch.sigmoid(u)) + 0 * r
    return finish(
        reduce(loss, reduction), policy_logps=policy_logps, reference_logps=reference_logps
    )
