"""Modules of the large_vocab losses."""

from __future__ import annotations

from torch import Tensor

from losskit.losses._large_vocab import (
    linear_cross_entropy,
    linear_distillation,
    linear_topk_distillation,
)
from losskit.nn._base import LossModule

__all__ = ["LinearCrossEntropyLoss", "LinearDistillationLoss", "LinearTopkDistillationLoss"]


class LinearCrossEntropyLoss(LossModule):
    """Module form of :func:`losskit.linear_cross_entropy`.

    ``forward(hidden, weight, labels, bias=None)``: the classifier is an input, not a parameter
    of this Module, so the model keeps owning its LM head (``loss(h, model.lm_head.weight, y,
    model.lm_head.bias)``). A ``bias`` given to ``__init__`` is a fixed buffer, used when
    ``forward`` gets none.
    """

    function = linear_cross_entropy

    def __init__(
        self,
        *,
        bias: Tensor | None = None,
        ignore_index: int | None = -100,
        label_smoothing: float = 0.0,
        z_loss: float = 0.0,
        softcap: float | None = None,
        reduction: str = "mean",
        chunk_size: int | None = None,
    ) -> None:
        super().__init__(
            bias=bias,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            z_loss=z_loss,
            softcap=softcap,
            reduction=reduction,
            chunk_size=chunk_size,
        )

    def forward(  # type: ignore[override]
        self, hidden: Tensor, weight: Tensor, labels: Tensor, bias: Tensor | None = None
    ) -> Tensor:
        options = {key: getattr(self, key) for key in self._option_names}
        if bias is not None:
            options["bias"] = bias
        return type(self).function(hidden, weight, labels, **options)


class LinearDistillationLoss(LossModule):
    """Module form of :func:`losskit.linear_distillation`.

    ``forward(student_hidden, student_weight, teacher_hidden, teacher_weight, labels=None,
    student_bias=None, teacher_bias=None)``: both heads are inputs, not parameters of this
    Module (the models keep owning them). Biases given to ``__init__`` are fixed buffers, used
    when ``forward`` gets none.
    """

    function = linear_distillation

    def __init__(
        self,
        *,
        student_bias: Tensor | None = None,
        teacher_bias: Tensor | None = None,
        beta: float = 0.5,
        temperature: float = 1.0,
        ignore_index: int | None = -100,
        reduction: str = "mean",
        chunk_size: int | None = None,
    ) -> None:
        super().__init__(
            student_bias=student_bias,
            teacher_bias=teacher_bias,
            beta=beta,
            temperature=temperature,
            ignore_index=ignore_index,
            reduction=reduction,
            chunk_size=chunk_size,
        )

    def forward(  # type: ignore[override]
        self,
        student_hidden: Tensor,
        student_weight: Tensor,
        teacher_hidden: Tensor,
        teacher_weight: Tensor,
        labels: Tensor | None = None,
        student_bias: Tensor | None = None,
        teacher_bias: Tensor | None = None,
    ) -> Tensor:
        options = {key: getattr(self, key) for key in self._option_names}
        if student_bias is not None:
            options["student_bias"] = student_bias
        if teacher_bias is not None:
            options["teacher_bias"] = teacher_bias
        return type(self).function(
            student_hidden, student_weight, teacher_hidden, teacher_weight, labels, **options
        )


class LinearTopkDistillationLoss(LossModule):
    """Module form of :func:`losskit.linear_topk_distillation`.

    ``forward(student_hidden, student_weight, teacher_logits, teacher_indices, labels=None,
    student_bias=None)``: the student's head is an input, not a parameter of this Module (the
    model keeps owning it). A ``student_bias`` given to ``__init__`` is a fixed buffer, used
    when ``forward`` gets none.
    """

    function = linear_topk_distillation

    def __init__(
        self,
        *,
        student_bias: Tensor | None = None,
        beta: float = 0.0,
        temperature: float = 1.0,
        ignore_index: int | None = -100,
        reduction: str = "mean",
        chunk_size: int | None = None,
    ) -> None:
        super().__init__(
            student_bias=student_bias,
            beta=beta,
            temperature=temperature,
            ignore_index=ignore_index,
            reduction=reduction,
            chunk_size=chunk_size,
        )

    def forward(  # type: ignore[override]
        self,
        student_hidden: Tensor,
        student_weight: Tensor,
        teacher_logits: Tensor,
        teacher_indices: Tensor,
        labels: Tensor | None = None,
        student_bias: Tensor | None = None,
    ) -> Tensor:
        options = {key: getattr(self, key) for key in self._option_names}
        if student_bias is not None:
            options["student_bias"] = student_bias
        return type(self).function(
            student_hidden, student_weight, teacher_logits, teacher_indices, labels, **options
        )
