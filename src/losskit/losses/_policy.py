"""Policy-gradient losses of reinforcement learning for language models: PPO-clip and the GRPO
variants (grpo, bnpo, dr_grpo, dapo, cispo), from per-token log-probabilities.

Every tensor is ``(N, T)``: N sampled sequences (completions) of T tokens, padded; a ``mask``
marks the tokens that count. The losses differ in the per-token objective (a clipped importance
ratio, or a clipped and detached importance weight) and in how the token terms are normalised;
each normalisation is a weight per token and one denominator, so ``"sum"`` adds the weighted
terms and ``"mean"`` divides that sum by the denominator, which ``normalizer=`` replaces with
the denominator of the whole accumulated or distributed batch (exact under gradient
accumulation and DDP: see :mod:`losskit.distributed`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_binary_targets,
    check_choice,
    check_floating,
    check_int,
    check_option,
    check_reduction,
    check_same_shape,
    check_tensor,
    finish,
    log_probs_below_zero,
    masked_mean,
    reads,
)
from losskit._spec import Activation, Family, MeanOver, Space, Targets, register
from losskit._validate import check_normalizer
from losskit.losses._examples import Example

__all__ = ["policy_gradient"]

LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo", "cispo")


def _rollouts(n: int, g: torch.Generator) -> Example:
    """Sampled sequences: current and sampling-policy log-probabilities ``(N, T)`` (the current
    policy a small step away), one advantage per sequence ``(N,)`` and a padding mask whose
    sequences end at random lengths; ``n`` counts the tokens."""
    tokens = 16 if n < 10_000 else 128
    rows = max(2, n // tokens)
    log_probs = -(torch.rand((rows, tokens), generator=g) * 2 + 0.05)
    old = -(log_probs + 0.3 * torch.randn((rows, tokens), generator=g)).abs()
    advantages = torch.randn((rows,), generator=g)
    lengths = torch.randint(1, tokens + 1, (rows, 1), generator=g)
    mask = torch.arange(tokens) < lengths
    return Example((log_probs, old, advantages, mask))


def _check_log_probs(name: str, x: Tensor, keep: Tensor | None) -> None:
    """``x`` holds log-probabilities (<= 0) at the tokens that count (padding may hold
    anything), read where :func:`losskit._checks.reads`."""
    if not reads(x):
        return
    x = x.detach()
    if keep is not None:
        if float(x.amax()) <= 1e-4:  # padding is usually valid too: one read decides
            return
        x = x.masked_fill(~keep, 0)
    log_probs_below_zero(name, x)


def _check_advantages(advantages: Tensor, log_probs: Tensor) -> None:
    check_floating("advantages", advantages)
    n, t = log_probs.shape
    if tuple(advantages.shape) not in ((n,), (n, t)):
        hint = (
            "; did you forget `advantages.squeeze(1)`?" if tuple(advantages.shape) == (n, 1) else ""
        )
        raise LossInputError(
            f"advantages must have shape ({n},) (one per sequence) or ({n}, {t}) (one per token, "
            f"the shape of log_probs), got {tuple(advantages.shape)}{hint}"
        )


def _clip_range(
    loss_type: str, epsilon: float, epsilon_high: float | None, delta: float | None
) -> tuple[float, float, float | None]:
    """The checked ``(1 - epsilon, 1 + epsilon_high, delta)``."""
    low = check_option("epsilon", epsilon, low=0.0, high=1.0, low_open=True)
    high = low
    if epsilon_high is not None:
        high = check_option("epsilon_high", epsilon_high, low=0.0, low_open=True)
    if loss_type == "dapo" and high < low:
        raise LossInputError(
            f"clip ranges out of order: loss_type='dapo' clips higher (epsilon_high >= epsilon), "
            f"got epsilon={low:g} and epsilon_high={high:g}; the DAPO paper uses epsilon=0.2, "
            "epsilon_high=0.28 (use loss_type='bnpo' for a narrower upper clip)"
        )
    cap = None
    if delta is not None:
        if loss_type == "cispo":
            raise LossInputError(
                "delta caps the ratio of the clipped surrogate; loss_type='cispo' has none (its "
                "weight is clipped by epsilon and epsilon_high): drop delta"
            )
        cap = check_option("delta", delta, low=0.0, low_open=True)
        if cap <= 1 + high:
            raise LossInputError(
                f"clip ranges out of order: delta must be > 1 + epsilon_high = {1 + high:g} (it "
                f"caps the ratio above the clip range), got delta={cap:g}"
            )
    return 1 - low, 1 + high, cap


@register(
    family=Family.POLICY,
    inputs=Space.LOG_PROBS,
    targets=Targets.ADVANTAGES,
    activation=Activation.EXP,
    mean_over=MeanOver.TOKEN,
    aliases=("grpo_loss", "ppo_clip"),
    example=_rollouts,
)
def policy_gradient(
    log_probs: Tensor,
    old_log_probs: Tensor | None,
    advantages: Tensor,
    mask: Tensor | None = None,
    reference_log_probs: Tensor | None = None,
    *,
    loss_type: str = "dapo",
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    delta: float | None = None,
    ratio_level: str = "token",
    beta: float = 0.0,
    max_tokens: int | None = None,
    normalizer: float | Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """PPO-clip policy-gradient loss with the GRPO family's normalisations and the k3 KL penalty.

    Per token ``(i, t)``: ``r = exp(log_probs - old_log_probs)``, the clipped surrogate
    ``l = -min(min(r, delta) A, clip(r, 1 - epsilon, 1 + epsilon_high) A)`` (PPO-clip; ``delta``
    is optional), or for ``"cispo"`` ``l = -sg(clip(r, 1 - epsilon, 1 + epsilon_high)) A
    log_probs`` (a detached, clipped importance weight: every token keeps a gradient); with
    ``ratio_level="sequence"`` (GSPO) every token of sequence i takes ``r_i = exp((1/T_i) sum_t
    (log_probs - old_log_probs))``, the geometric mean of its ratios; plus ``beta k3`` with ``k3 = exp(d) - d - 1``, ``d = reference_log_probs - log_probs`` when a
    reference is given. Masked tokens add 0. ``"mean"`` per ``loss_type``: ``"grpo"``
    ``(1/N) sum_i (1/T_i) sum_t l_it`` (each sequence's mean over its ``T_i >= 1`` tokens, then
    over sequences); ``"bnpo"``, ``"dapo"`` and ``"cispo"`` ``sum_it l_it / sum_i T_i`` (over
    the tokens of the batch); ``"dr_grpo"`` ``sum_it l_it / (N max_tokens)`` (a constant). So
    ``"none"`` is ``l_it / T_i`` for grpo and ``l_it`` otherwise, ``"sum"`` adds it, and
    ``"mean"`` divides that sum by ``N``, ``sum_i T_i`` or ``N max_tokens``, or by
    ``normalizer``.

    Input: ``log_probs`` ``(N, T)``, the current policy's log-probabilities of the sampled
    tokens, <= 0 where counted. Target: ``advantages`` ``(N,)`` (one per sequence, GRPO's group
    advantage) or ``(N, T)`` (per token, PPO's GAE); ``old_log_probs`` ``(N, T)`` (the sampling
    policy's; ``None`` is on-policy, the detached ``log_probs``: ``r = 1``); ``mask`` ``(N, T)``,
    bool or 0/1, true where a token counts (padding may hold any value, ``-inf`` included);
    ``reference_log_probs`` ``(N, T)``, a frozen reference policy's. Half precision is computed
    in float32 and returned in the inputs' dtype.

    The variants (TRL's ``GRPOConfig.loss_type``): ``"grpo"`` is DeepSeekMath's length-normalised
    objective (biased towards short correct and long wrong answers); ``"dr_grpo"`` removes that
    bias with the constant ``N max_tokens`` (``max_tokens``: the generation's maximum length, by
    default T); ``"dapo"`` (the default, as in TRL) normalises over every token of the batch and
    clips higher (DAPO uses ``epsilon_high=0.28``; ``epsilon_high < epsilon`` is refused);
    ``"bnpo"`` is the same token mean without that constraint, which is also PPO's masked token
    mean (pass per-token advantages for PPO); ``"cispo"`` is MiniMax-M1's (TRL's
    ``epsilon_high=5`` cap with no lower clip is ``epsilon=1.0, epsilon_high=4.0`` here). TRL
    tells bnpo (local tokens) from dapo (the tokens of the accumulated global batch) by
    the count it divides by; here ``normalizer`` decides that for every loss_type.

    Exact under gradient accumulation and DDP: the micro-batches' losses, each with
    ``normalizer`` = the denominator of the whole step (the total counted tokens for the token
    means, the number of sequences for grpo, ``N max_tokens`` over all sequences for dr_grpo),
    sum to the loss of the whole batch; under DDP pass
    ``losskit.distributed.normalizer(count)`` (that total divided by the world size).

    When to use:
        RL fine-tuning of a language model from sampled completions and their advantages
        (GRPO from verifiable rewards, PPO with a value model); the log-probabilities come from
        the policy's forward pass (e.g. the per-token log-probs from hidden states).

    Args:
        log_probs: the current policy's log-probabilities of the sampled tokens ``(N, T)``.
        old_log_probs: the sampling policy's, ``(N, T)``, no gradient needed; ``None`` for a
            single update per batch (on-policy).
        advantages: ``(N,)`` per sequence or ``(N, T)`` per token.
        mask: ``(N, T)``, bool or 0/1: the tokens that count (``None``: all).
        reference_log_probs: ``(N, T)``, the reference policy's, for the KL penalty.
        loss_type: ``"dapo"`` | ``"grpo"`` | ``"bnpo"`` | ``"dr_grpo"`` | ``"cispo"``.
        epsilon: the lower clip, ``r >= 1 - epsilon``, in (0, 1].
        epsilon_high: the upper clip, ``r <= 1 + epsilon_high``, > 0; ``None`` is ``epsilon``.
        delta: a cap on the unclipped ratio (INTELLECT-2's two-sided clip), > 1 +
            epsilon_high; ``None`` for none.
        ratio_level: ``"token"`` (one ratio per token) | ``"sequence"`` (GSPO's one ratio per
            sequence; TRL's ``importance_sampling_level``; GSPO clips it with epsilon 3e-4 to
            4e-4).
        beta: the weight of the k3 KL to the reference, >= 0 (needs ``reference_log_probs``
            when > 0).
        max_tokens: dr_grpo's constant (the generation's maximum length), >= T; ``None`` is T.
        normalizer: with ``reduction="mean"``, the denominator instead of the batch's own (the
            whole step's or global batch's; see above).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N, T)`` for ``"none"`` (0 at masked tokens).

    Raises:
        LossInputError: ``log_probs`` not floating or not 2-D; ``old_log_probs``, ``mask`` or
            ``reference_log_probs`` of another shape; ``advantages`` not ``(N,)`` or ``(N, T)``;
            a ``mask`` not 0/1; log-probabilities > 0 at counted tokens (logits given); epsilon
            outside (0, 1]; epsilon_high <= 0; clip ranges out of order (dapo's epsilon_high <
            epsilon, delta <= 1 + epsilon_high); beta < 0, or > 0 without
            ``reference_log_probs``; an unknown ``loss_type`` or ``ratio_level``; ``max_tokens`` for another
            loss_type or below T; a ``normalizer`` that is not a number >= 0 or with another
            reduction; in full mode, a non-finite loss names the non-finite input.

    Example:
        >>> import torch, losskit
        >>> log_probs = torch.log(torch.tensor([[0.5, 0.25], [0.2, 0.4]]))
        >>> old = torch.log(torch.tensor([[0.4, 0.25], [0.4, 0.4]]))
        >>> advantages = torch.tensor([1.0, -1.0])
        >>> mask = torch.tensor([[True, True], [True, False]])
        >>> # r = [[1.25, 1], [0.5, 1]]: l = [[-1.2, -1], [0.8, masked]]
        >>> losskit.policy_gradient(log_probs, old, advantages, mask)  # -1.4 / 3 tokens
        tensor(-0.4667)
        >>> losskit.policy_gradient(log_probs, old, advantages, mask, loss_type="grpo")
        tensor(-0.1500)

    References:
        Schulman et al., Proximal Policy Optimization Algorithms (arXiv 2017); Shao et al.,
        DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open Language Models
        (arXiv 2024); Yu et al., DAPO: An Open-Source LLM Reinforcement Learning System at
        Scale (arXiv 2025); Liu et al., Understanding R1-Zero-Like Training: A Critical
        Perspective (COLM 2025); MiniMax, MiniMax-M1: Scaling Test-Time Compute Efficiently with
        Lightning Attention (arXiv 2025); Zheng et al., Group Sequence Policy Optimization
        (arXiv 2025); Prime Intellect, INTELLECT-2 (arXiv 2025); Schulman,
        Approximating KL Divergence (blog 2020); Hugging Face TRL, GRPOConfig.loss_type (2025).
    """
    check_reduction(reduction)
    check_choice("loss_type", loss_type, LOSS_TYPES)
    check_choice("ratio_level", ratio_level, ("token", "sequence"))
    low, high, cap = _clip_range(loss_type, epsilon, epsilon_high, delta)
    beta = check_option("beta", beta, low=0.0)
    check_normalizer(normalizer, reduction)

    # ---- shapes: every tensor (N, T), advantages (N,) or (N, T)
    check_floating("log_probs", log_probs)
    if log_probs.dim() != 2:
        hint = "; for one sequence use log_probs.unsqueeze(0)" if log_probs.dim() == 1 else ""
        raise LossInputError(
            f"log_probs must have shape (N, T), N sequences of T tokens, got "
            f"{tuple(log_probs.shape)}{hint}"
        )
    n, t = log_probs.shape
    if old_log_probs is not None:
        check_floating("old_log_probs", old_log_probs)
        check_same_shape("log_probs", log_probs, "old_log_probs", old_log_probs)
    _check_advantages(advantages, log_probs)
    if mask is not None:
        check_tensor("mask", mask)
        check_same_shape("log_probs", log_probs, "mask", mask)
        check_binary_targets("mask", mask, soft=False)
    if reference_log_probs is not None:
        check_floating("reference_log_probs", reference_log_probs)
        check_same_shape("log_probs", log_probs, "reference_log_probs", reference_log_probs)
    elif beta > 0:
        raise LossInputError(
            f"beta={beta:g} weights the KL to a reference policy, but reference_log_probs is "
            "None; pass the reference model's log-probabilities, or beta=0.0"
        )
    max_len = t
    if max_tokens is not None:
        if loss_type != "dr_grpo":
            raise LossInputError(
                f"max_tokens is dr_grpo's constant denominator; loss_type={loss_type!r} does not "
                "use it: drop max_tokens, or pass loss_type='dr_grpo'"
            )
        max_len = check_int("max_tokens", max_tokens, low=1)
        if max_len < t:
            raise LossInputError(
                f"max_tokens={max_len} is below the padded length T={t} of log_probs: it must be "
                "the generation's maximum length (at least T)"
            )

    # the counted tokens: the bool mask itself, or where a 0/1 mask is not 0 (NaN counts)
    keep = mask if mask is None or mask.dtype == torch.bool else mask != 0
    _check_log_probs("log_probs", log_probs, keep)
    if old_log_probs is not None:
        _check_log_probs("old_log_probs", old_log_probs, keep)
    if reference_log_probs is not None:
        _check_log_probs("reference_log_probs", reference_log_probs, keep)

    # ---- the per-token terms, in the promoted dtype (float32 for half precision)
    tensors = [
        x for x in (log_probs, old_log_probs, advantages, reference_log_probs) if x is not None
    ]
    out_dtype = tensors[0].dtype
    for x in tensors[1:]:
        out_dtype = torch.promote_types(out_dtype, x.dtype)
    dtype = torch.float32 if out_dtype in (torch.float16, torch.bfloat16) else out_dtype

    def cast(x: Tensor) -> Tensor:
        return x if x.dtype == dtype else x.to(dtype)

    def counted(x: Tensor) -> Tensor:
        # 0 at padding, which may hold anything (-inf, NaN): applied to differences, whose
        # derivative is constant, so that the zero gradient there meets no inf or NaN on its way
        # back to the inputs
        return x if keep is None else torch.where(keep, x, 0.0)

    lp = cast(log_probs)
    fmask = None if mask is None or not mask.is_floating_point() else cast(mask)
    seq_len: Tensor | float = float(t)  # T_i (NaN for a NaN in a float mask)
    if keep is not None and (loss_type == "grpo" or ratio_level == "sequence"):
        seq_len = keep.sum(1, keepdim=True) if fmask is None else fmask.sum(1, keepdim=True)
        seq_len = seq_len.clamp(min=1)  # (a sequence without tokens adds 0 over 1)
    adv = cast(advantages)
    adv = adv.unsqueeze(1) if adv.dim() == 1 else adv  # (N, 1) broadcasts over the tokens
    # grpo's 1/T_i is linear in the surrogate: folded into the advantages (N values) where no KL
    # term needs it too
    fold = loss_type == "grpo" and reference_log_probs is None
    if fold and (isinstance(seq_len, Tensor) or t):
        adv = adv / seq_len
    if keep is not None:
        # A = 0 at padding: every term there is then exactly 0, with no masking pass after it
        # (a NaN in a float mask stays NaN)
        adv = torch.where(keep, adv if fmask is None else adv * fmask, 0.0)
    log_ratio = None
    if old_log_probs is not None:
        log_ratio = counted(lp - cast(old_log_probs))
    if ratio_level == "sequence":
        # GSPO: one ratio per sequence, the geometric mean of its tokens' (lp - lp.detach() is
        # the on-policy log-ratio: 0, with its gradient)
        token_log = counted(lp - lp.detach()) if log_ratio is None else log_ratio
        per_seq = seq_len if isinstance(seq_len, Tensor) else max(seq_len, 1.0)
        ratio = torch.exp(token_log.sum(1, keepdim=True) / per_seq)  # (N, 1)
    elif log_ratio is None:
        ratio = torch.exp(counted(lp - lp.detach()))  # on-policy: r = 1, with its gradient
    else:
        ratio = torch.exp(log_ratio)
    if loss_type == "cispo":
        weight = ratio.clamp(low, high).detach()  # the clipped weight carries no gradient
        gain = (weight * adv) * counted(lp)
    else:
        # min(r A, clip(r) A) as a `where`: the clipped term's ratio is detached, as its
        # derivative in the log-probabilities is 0 wherever it is the smaller (clip(r) = r
        # inside the range, where the unclipped term is taken), so no clamp is differentiated
        unclipped = (ratio if cap is None else ratio.clamp(max=cap)) * adv
        clipped = ratio.detach().clamp(low, high) * adv
        gain = torch.where(unclipped <= clipped, unclipped, clipped)  # NaN takes `clipped`
        if gain.shape[1] != t:  # a sequence ratio and advantage give (N, 1)
            gain = gain.expand(n, t)
    if reference_log_probs is not None:
        d = counted(cast(reference_log_probs) - lp)
        per = beta * (torch.expm1(d) - d) - gain  # k3 = exp(d) - d - 1, exact for small d
        if fmask is not None:  # (gain is already 0 at padding; the KL term is too: d = 0)
            per = per * fmask
        sign = 1.0
    else:
        per, sign = gain, -1.0  # the loss is -gain: negated once, after the sum

    # ---- the normalisation: the denominator of "mean"
    if loss_type == "grpo":
        if not fold and (isinstance(seq_len, Tensor) or t):
            per = per / seq_len
        denom: Tensor | float = float(n)
    elif loss_type == "dr_grpo":
        denom = float(n * max_len)
    elif keep is None:
        denom = float(n * t)
    else:  # the counted tokens (at least 1: where none is, the sum is 0)
        denom = (keep.sum() if fmask is None else fmask.sum()).clamp(min=1)
    # an infinite old log-probability at a counted token is no probability, but r = 0 (or inf)
    # would clip to a finite loss: 0 times its log-ratio (detached: no gradient pass) makes the
    # result NaN, and is 0 otherwise
    if reduction == "none":
        out = per if sign > 0 else -per
        if log_ratio is not None:
            out = out + log_ratio.detach() * 0
    else:
        out = per.sum() if sign > 0 else -per.sum()
        if log_ratio is not None:
            out = out + log_ratio.detach().sum() * 0
        if reduction == "mean":
            # 0 / 0 = 0: nothing counted is a sum over nothing, the graph-connected 0
            if isinstance(normalizer, Tensor):
                out = masked_mean(out, normalizer.to(dtype=dtype, device=per.device).reshape(()))
            elif normalizer is not None:
                out = out / float(normalizer) if normalizer else out
            elif isinstance(denom, Tensor) or denom:
                out = out / denom
    if out.dtype != out_dtype:
        out = out.to(out_dtype)
    return finish(
        out,
        log_probs=log_probs,
        old_log_probs=old_log_probs,
        advantages=advantages,
        mask=mask,
        reference_log_probs=reference_log_probs,
    )
