"""Module forms of the policy-gradient losses."""

from __future__ import annotations

from torch import Tensor

from losskit.losses._policy import policy_gradient
from losskit.nn._base import LossModule

__all__ = ["PolicyGradientLoss"]


class PolicyGradientLoss(LossModule):
    """Module form of :func:`losskit.policy_gradient`:
    ``forward(log_probs, old_log_probs, advantages, mask=None, reference_log_probs=None)``
    (a fixed ``normalizer`` may be stored; a per-step one is passed to the function)."""

    function = policy_gradient

    def __init__(
        self,
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
    ) -> None:
        super().__init__(
            loss_type=loss_type,
            epsilon=epsilon,
            epsilon_high=epsilon_high,
            delta=delta,
            ratio_level=ratio_level,
            beta=beta,
            max_tokens=max_tokens,
            normalizer=normalizer,
            reduction=reduction,
        )
