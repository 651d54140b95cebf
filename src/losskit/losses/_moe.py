"""Auxiliary losses of mixture-of-experts routers. The router z-loss is :func:`losskit.z_loss`
(alias ``router_z_loss``): the squared log-normaliser of the router's softmax, the same formula
ST-MoE adds with a small coefficient."""

from __future__ import annotations

import torch
from torch import Tensor

from losskit._checks import (
    LossInputError,
    _shapes_on,
    check_floating,
    check_int,
    check_real,
    check_reduction,
    check_tensor,
    finish,
    masked_mean,
)
from losskit._spec import Activation, Decode, Family, MeanOver, Prop, Space, Targets, register
from losskit.losses import _examples as ex

__all__ = ["load_balancing_loss"]


def _check_router(router_logits: Tensor, top_k: int, mask: Tensor | None) -> int:
    """The expert count E, after the shape checks of the logits and the mask."""
    check_floating("router_logits", router_logits)
    check_real("router_logits", router_logits)
    if not _shapes_on():
        return int(router_logits.shape[-1]) if router_logits.dim() else 1
    if router_logits.dim() < 2:
        raise LossInputError(
            f"router_logits must have shape (tokens, experts) or (..., experts), got "
            f"{tuple(router_logits.shape)}; for one token use router_logits.unsqueeze(0)"
        )
    experts = int(router_logits.shape[-1])
    if experts < 2:
        raise LossInputError(
            f"router_logits must score at least 2 experts in its last dim, got {experts}"
        )
    if top_k > experts:
        raise LossInputError(
            f"top_k must be at most the number of experts ({experts}, the last dim of "
            f"router_logits), got {top_k}"
        )
    if mask is not None:
        check_tensor("mask", mask)
        if mask.dtype != torch.bool:
            raise LossInputError(
                f"mask must be a bool tensor (True for a real token, False for padding), got "
                f"dtype {mask.dtype}; use mask.bool()"
            )
        if tuple(mask.shape) != tuple(router_logits.shape[:-1]):
            raise LossInputError(
                f"mask must have the shape of router_logits without its expert dim, "
                f"{tuple(router_logits.shape[:-1])}, got {tuple(mask.shape)}"
            )
    return experts


@register(
    family=Family.MOE,
    inputs=Space.LOGITS,
    targets=Targets.NONE,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.TOKEN,
    properties={Prop.NONNEGATIVE},
    aliases=("switch_load_balancing", "moe_aux_loss", "router_aux_loss"),
    reductions=("mean",),
    example=ex.router_logits,
)
def load_balancing_loss(
    router_logits: Tensor,
    mask: Tensor | None = None,
    *,
    top_k: int = 2,
    reduction: str = "mean",
) -> Tensor:
    """The Switch Transformer / Mixtral load-balancing loss of a mixture-of-experts router.

    ``loss = E * sum_e f_e * P_e`` over the E experts, with ``P_e`` the mean router
    probability of expert e (``softmax(router_logits)`` averaged over the tokens) and ``f_e``
    the fraction of tokens routed to e: the number of tokens whose ``top_k`` experts include e,
    divided by the token count. ``f`` is a count (no gradient flows through it); the gradient
    flows through ``P``, pushing probability away from over-used experts. With ``top_k = 1`` this
    is Switch's loss; with ``top_k = k`` it is Mixtral's as Hugging Face ``transformers``
    computes it (``load_balancing_loss_func``): perfectly balanced routing gives ``k``, and
    routing every token to the same ``k`` experts with probability near 1 gives up to ``E``.
    Tokens where ``mask`` is False (padding) count in neither mean. To combine the layers of a
    model, pass their logits concatenated along the token dim (as ``transformers`` does), or add
    one loss per layer.

    Input: ``router_logits`` ``(T, E)`` or ``(..., E)`` (every leading dim is a token dim),
    floating, E >= 2. Target: none; ``mask`` optional bool of the shape without the expert dim.

    When to use:
        Add it with a small coefficient (Switch: 1e-2; Mixtral: 1e-2 to 2e-2) to the language
        model loss of a sparsely routed MoE, so that tokens spread over the experts.

    Args:
        router_logits: the router's raw scores per token and expert.
        mask: which tokens are real (True) and which padding (False); None: all are real.
        top_k: experts per token, ``1 <= top_k <= E``.
        reduction: only ``"mean"``: the loss is a product of two batch means, not a sum of
            per-token terms.

    Returns:
        A scalar; 0.0 for a batch with no real token.

    Raises:
        LossInputError: ``router_logits`` not floating or of fewer than 2 dims or experts;
            ``top_k`` not an integer in ``[1, E]``; ``mask`` not bool or of another shape.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, 0.0, 0.0, 0.0], [2.0, 1.0, 0.0, 0.0], [0.0, 0.0, 3.0, 1.0]])
        >>> losskit.load_balancing_loss(logits, top_k=1)
        tensor(1.6499)

    References:
        Fedus, Zoph & Shazeer, Switch Transformers (JMLR 2022); Jiang et al., Mixtral of Experts
        (2024); Zoph et al., ST-MoE (2022) for the router z-loss.
    """
    check_reduction(reduction, allowed=("mean",))
    top_k = check_int("top_k", top_k, low=1)
    experts = _check_router(router_logits, top_k, mask)
    logits = router_logits.reshape(-1, experts)
    compute = torch.float32 if logits.dtype in (torch.float16, torch.bfloat16) else logits.dtype
    probs = torch.softmax(logits.to(compute), dim=-1)  # (T, E)
    chosen = torch.topk(logits, top_k, dim=-1).indices  # (T, k)
    if mask is None:
        weight = torch.ones(chosen.shape[0], dtype=compute, device=logits.device)
    else:
        weight = mask.reshape(-1).to(compute)
    tokens = weight.sum()
    # f_e * T: each token's k choices, counted once each (a scatter, no (T, k, E) one-hot)
    counts = torch.zeros(experts, dtype=compute, device=logits.device).scatter_add(
        0, chosen.reshape(-1), weight.repeat_interleave(top_k)
    )
    prob_sum = (probs * weight[:, None]).sum(dim=0)  # P_e * T
    loss = masked_mean(experts * (counts * prob_sum).sum(), tokens * tokens)
    return finish(loss.to(router_logits.dtype), router_logits=router_logits)
