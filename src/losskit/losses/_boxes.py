"""Bounding-box regression losses on (x1, y1, x2, y2) boxes: GIoU, DIoU, CIoU.

PyTorch has no kernel for these; the maths is torchvision's (``generalized_box_iou_loss``,
``distance_box_iou_loss``, ``complete_box_iou_loss``, with its ``eps=1e-7``), written here with
what torchvision lacks: boxes are validated (``x2 >= x1``, ``y2 >= y1``; torchvision silently
returns a wrong loss for swapped corners), shapes must match, and degenerate boxes (zero width
or height, or a point) give finite values and gradients, CIoU included (torchvision's CIoU
divides by the height and is NaN for a zero-height box).

Shared conventions: the IoU is ``inter / (union + eps)`` with the intersection 0 unless both
overlaps are positive (torchvision's mask, so touching edges give no gradient through it). Two
identical boxes give ``eps / (area + eps)``, not exactly 0; two identical degenerate boxes (zero
area) have IoU 0 and loss 1. float16/bfloat16 boxes are computed, and returned, in float32
(areas of pixel boxes overflow float16).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_floating,
    check_option,
    check_real,
    check_reduction,
    check_same_shape,
    ensure_float,
    finish,
    first_index,
    get_check_mode,
    reads,
    reduce,
)
from losskit._spec import Family, Prop, Space, Targets, register
from losskit.losses import _examples as ex

__all__ = ["ciou", "diou", "giou"]


def _check_corners(name: str, boxes: Tensor) -> None:
    """Full mode: every box has ``x2 >= x1`` and ``y2 >= y1`` (NaN is left to ``finish``), read
    whole where :func:`losskit._checks.reads`."""
    if not reads(boxes):
        return
    # one subtraction and one reduction prove every box valid; a NaN (amin propagates it) or
    # a swapped corner takes the exact test below, which names the box
    sizes = boxes.detach()[..., 2:] - boxes.detach()[..., :2]
    if float(sizes.amin()) >= 0:
        return
    x1, y1, x2, y2 = boxes.detach().unbind(-1)
    bad = (x2 < x1) | (y2 < y1)
    if bool(bad.any()):
        index = first_index(bad)
        box = ", ".join(f"{float(v):g}" for v in boxes.detach()[index])
        axis = "x2 < x1" if bool(x2[index] < x1[index]) else "y2 < y1"
        raise LossInputError(
            f"{name} must be (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1; {name}{list(index)} = "
            f"({box}) has {axis} ({int(bad.sum())} such boxes). (cx, cy, w, h) or (x, y, w, h) "
            "boxes? convert them to corners first; for a model's output, predict a size and "
            "build x2 = x1 + softplus(w) so the order always holds"
        )


def _box_inputs(boxes: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Shared checks; returns both in one floating dtype: the promotion of the two (integer
    targets take the boxes' dtype), float32 for half precision."""
    check_floating("boxes", boxes)
    check_same_shape("boxes", boxes, "targets", targets)
    check_real("targets", targets)
    if get_check_mode() != "off" and (boxes.dim() == 0 or boxes.shape[-1] != 4):
        raise LossInputError(
            f"boxes must have shape (*, 4), (x1, y1, x2, y2) in the last dimension, got "
            f"{tuple(boxes.shape)}"
            + ("; boxes as (N, 4, ...)? move the coordinates last" if 4 in boxes.shape else "")
        )
    _check_corners("boxes", boxes)
    _check_corners("targets", targets)
    dtype = torch.promote_types(boxes.dtype, targets.dtype)
    b = ensure_float(boxes.to(dtype))
    return b, targets.to(b.dtype)


class _Overlap(NamedTuple):
    iou: Tensor
    union_eps: Tensor  # union + eps, the denominator of the IoU
    enclose_w: Tensor  # the smallest box enclosing both
    enclose_h: Tensor
    w: Tensor  # the sizes of the boxes and of the targets, for CIoU's aspect term
    h: Tensor
    w_t: Tensor
    h_t: Tensor


def _overlap(b: Tensor, t: Tensor, eps: float) -> _Overlap:
    """IoU, union, the enclosing box and both boxes' sizes, each computed once."""
    x1, y1, x2, y2 = b.unbind(-1)
    x1g, y1g, x2g, y2g = t.unbind(-1)
    inter_w = torch.minimum(x2, x2g) - torch.maximum(x1, x1g)
    inter_h = torch.minimum(y2, y2g) - torch.maximum(y1, y1g)
    # torchvision's mask as a product of relus: no overlap (or a touching edge) is 0, with no
    # gradient through it (relu's derivative at 0 is 0), and no mask kept for the backward
    inter = torch.relu(inter_w) * torch.relu(inter_h)
    w, h, w_t, h_t = x2 - x1, y2 - y1, x2g - x1g, y2g - y1g
    union_eps = w * h + w_t * h_t - inter + eps
    iou = inter / union_eps
    enclose_w = torch.maximum(x2, x2g) - torch.minimum(x1, x1g)
    enclose_h = torch.maximum(y2, y2g) - torch.minimum(y1, y1g)
    return _Overlap(iou, union_eps, enclose_w, enclose_h, w, h, w_t, h_t)


def _center_penalty(
    b: Tensor, t: Tensor, enclose_w: Tensor, enclose_h: Tensor, eps: float
) -> Tensor:
    """DIoU's squared distance of the centres over the squared diagonal of the enclosing box."""
    x1, y1, x2, y2 = b.unbind(-1)
    x1g, y1g, x2g, y2g = t.unbind(-1)
    dx = (x1 + x2) / 2 - (x1g + x2g) / 2
    dy = (y1 + y2) / 2 - (y1g + y2g) / 2
    return _CenterPenalty.apply(dx, dy, enclose_w, enclose_h, eps)  # type: ignore[no-untyped-call, no-any-return]


class _CenterPenalty(torch.autograd.Function):
    """``(dx^2 + dy^2) / (w^2 + h^2 + eps)``: the squared distance of the centres over the
    squared diagonal of the enclosing box. It keeps only its four inputs for the backward
    (autograd would also keep both sums), and the backward is written in torch ops of them, so
    it is differentiable again (double backward) and batches under vmap.

    With ``r = dx^2 + dy^2`` and ``c = w^2 + h^2 + eps``: ``d/d(dx) = 2 dx / c`` and
    ``d/dw = -2 w r / c^2`` (the same for ``dy`` and ``h``)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(dx: Tensor, dy: Tensor, w: Tensor, h: Tensor, eps: float) -> Tensor:
        return (dx * dx + dy * dy) / (w * w + h * h + eps)

    @staticmethod
    def setup_context(
        ctx: torch.autograd.function.FunctionCtx,
        inputs: tuple[Tensor, Tensor, Tensor, Tensor, float],
        output: Tensor,
    ) -> None:
        dx, dy, w, h, eps = inputs
        ctx.save_for_backward(dx, dy, w, h)
        ctx.eps = eps  # type: ignore[attr-defined]

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None, None]:
        dx, dy, w, h = ctx.saved_tensors  # type: ignore[attr-defined]
        c = w * w + h * h + ctx.eps  # type: ignore[attr-defined]
        g = 2 * grad / c
        shrink = -g * (dx * dx + dy * dy) / c  # d/dw = shrink * w
        return g * dx, g * dy, shrink * w, shrink * h, None


def _aspect_angle(w: Tensor, h: Tensor) -> Tensor:
    """``atan(w / h)``, extended to ``h = 0`` by ``atan2`` (pi/2, finite gradient); a point box
    (``w = h = 0``, no aspect) is taken as square (pi/4) with a zero gradient."""
    point = (w == 0) & (h == 0)
    one = torch.ones_like(w)
    # the inner where keeps atan2's 0/0 gradient out of the graph (double-where)
    return torch.atan2(torch.where(point, one, w), torch.where(point, one, h))


_V = 4 / math.pi**2  # CIoU's v = (4 / pi^2) * (angle gap)^2


class _AspectTerm(torch.autograd.Function):
    """CIoU's ``alpha * v = v^2 / (1 - IoU + v + eps)`` with ``v = (4 / pi^2) g^2``, ``g`` the
    gap of the aspect angles. It keeps only its two inputs for the backward (autograd would
    keep ``g``, ``v``, ``alpha`` and the denominator), and the backward is written in torch ops
    of those inputs, so it is differentiable again (double backward) and batches under vmap.

    With ``D = 1 - IoU + v + eps`` and ``q = v / D``: ``d/dv = q (2 - q)`` (as
    ``v (v + 2 (D - v)) / D^2``), ``dv/dg = 2 (4 / pi^2) g`` and ``d/dIoU = q^2``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(gap: Tensor, iou: Tensor, eps: float) -> Tensor:
        v = _V * gap * gap
        return v * v / (1 - iou + v + eps)

    @staticmethod
    def setup_context(
        ctx: torch.autograd.function.FunctionCtx,
        inputs: tuple[Tensor, Tensor, float],
        output: Tensor,
    ) -> None:
        gap, iou, eps = inputs
        ctx.save_for_backward(gap, iou)
        ctx.eps = eps  # type: ignore[attr-defined]

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, None]:
        gap, iou = ctx.saved_tensors  # type: ignore[attr-defined]
        # few temporaries alive at once (this runs at the peak of the loss's memory); the
        # in-place steps touch fresh tensors no backward formula keeps
        v = gap * gap
        v.mul_(_V)
        d = (1 + ctx.eps) - iou  # type: ignore[attr-defined]
        d.add_(v)
        q = v / d
        del v, d
        grad_q = grad * q
        d_iou = grad_q * q
        two_minus_q = 2 - q
        del q
        d_gap = grad_q * two_minus_q
        del grad_q, two_minus_q
        d_gap = d_gap * gap
        d_gap.mul_(2 * _V)
        return d_gap, d_iou, None


@register(
    family=Family.BOXES,
    inputs=Space.BOXES,
    targets=Targets.BOXES,
    properties={Prop.NONNEGATIVE, Prop.BOUNDED},
    metrics=("iou",),
    aliases=("generalized_box_iou_loss", "giou_loss"),
    example=ex.boxes,
)
def giou(boxes: Tensor, targets: Tensor, *, eps: float = 1e-7, reduction: str = "mean") -> Tensor:
    """Generalized IoU loss: ``1 - IoU`` plus the part of the smallest enclosing box the two boxes
    leave empty, so disjoint boxes still get a gradient.

    ``l_n = 1 - IoU_n + (C_n - U_n) / (C_n + eps)`` with ``U`` the union and ``C`` the area of the
    smallest box enclosing both, as torchvision's ``generalized_box_iou_loss``. In [0, 2).
    ``"mean"`` averages over boxes (``0.0`` over none).

    Input: ``boxes``, floating, ``(*, 4)`` as ``(x1, y1, x2, y2)`` with ``x2 >= x1``,
    ``y2 >= y1`` (checked in full mode). Target: ``targets``, the same shape and format (integer
    dtypes are cast; floating dtypes promote with the boxes' as torch would).

    When to use:
        Box regression in detectors (DETR and others); gives a gradient to disjoint boxes,
        unlike 1 - IoU.

    Args:
        boxes: predicted boxes.
        targets: ground-truth boxes.
        eps: > 0, added to the union and the enclosing area (torchvision's 1e-7).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(*)`` (one loss per box) for ``"none"``.

    Raises:
        LossInputError: shapes differ, last dimension not 4, swapped corners, ``eps <= 0``.

    Example:
        >>> import torch, losskit
        >>> boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
        >>> targets = torch.tensor([[1.0, 1.0, 3.0, 3.0], [2.0, 0.0, 3.0, 1.0]])
        >>> losskit.giou(boxes, targets, reduction="none")
        tensor([1.0794, 1.3333])

    References:
        Rezatofighi et al., Generalized intersection over union (CVPR 2019);
        torchvision.ops.generalized_box_iou_loss.
    """
    check_reduction(reduction)
    eps = check_option("eps", eps, low=0.0, low_open=True)
    b, t = _box_inputs(boxes, targets)
    o = _overlap(b, t, eps)
    # 1 - IoU + (C - U) / (C + eps), written with U + eps (kept for the IoU already) so that
    # the backward keeps one tensor fewer
    loss = 2 - o.iou - o.union_eps / (o.enclose_w * o.enclose_h + eps)
    return finish(reduce(loss, reduction), boxes=boxes, targets=targets)


@register(
    family=Family.BOXES,
    inputs=Space.BOXES,
    targets=Targets.BOXES,
    properties={Prop.NONNEGATIVE, Prop.BOUNDED},
    metrics=("iou",),
    aliases=("distance_box_iou_loss", "diou_loss"),
    example=ex.boxes,
)
def diou(boxes: Tensor, targets: Tensor, *, eps: float = 1e-7, reduction: str = "mean") -> Tensor:
    """Distance IoU loss: ``1 - IoU`` plus the squared distance of the centres over the squared
    diagonal of the enclosing box.

    ``l_n = 1 - IoU_n + rho_n^2 / (c_n^2 + eps)``, ``rho`` the distance between the box centres and
    ``c`` the diagonal of the smallest box enclosing both, as torchvision's
    ``distance_box_iou_loss``. In [0, 2). ``"mean"`` averages over boxes.

    Input, target: as :func:`giou`.

    When to use:
        Box regression; converges faster than GIoU when one box contains the other.

    Args:
        boxes: predicted boxes.
        targets: ground-truth boxes.
        eps: > 0, added to the union and to ``c^2`` (torchvision's 1e-7).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(*)`` for ``"none"``.

    Raises:
        LossInputError: as :func:`giou`.

    Example:
        >>> import torch, losskit
        >>> boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
        >>> targets = torch.tensor([[1.0, 1.0, 3.0, 3.0], [2.0, 0.0, 3.0, 1.0]])
        >>> losskit.diou(boxes, targets, reduction="none")
        tensor([0.9683, 1.4000])

    References:
        Zheng et al., Distance-IoU loss (AAAI 2020); torchvision.ops.distance_box_iou_loss.
    """
    check_reduction(reduction)
    eps = check_option("eps", eps, low=0.0, low_open=True)
    b, t = _box_inputs(boxes, targets)
    o = _overlap(b, t, eps)
    loss = 1 - o.iou + _center_penalty(b, t, o.enclose_w, o.enclose_h, eps)
    return finish(reduce(loss, reduction), boxes=boxes, targets=targets)


@register(
    family=Family.BOXES,
    inputs=Space.BOXES,
    targets=Targets.BOXES,
    properties={Prop.NONNEGATIVE, Prop.BOUNDED},
    metrics=("iou",),
    aliases=("complete_box_iou_loss", "ciou_loss"),
    example=ex.boxes,
)
def ciou(boxes: Tensor, targets: Tensor, *, eps: float = 1e-7, reduction: str = "mean") -> Tensor:
    """Complete IoU loss: DIoU plus a penalty on the difference of aspect ratios.

    ``l_n = 1 - IoU_n + rho_n^2 / (c_n^2 + eps) + alpha_n v_n`` with
    ``v = (4 / pi^2) (atan(w_t / h_t) - atan(w / h))^2`` and
    ``alpha = v / (1 - IoU + v + eps)``: torchvision's ``complete_box_iou_loss``, the same values.
    Two differences, both documented choices:

    - ``alpha`` is differentiated, so the gradient is the derivative of the value returned.
      torchvision (like mmdetection and YOLO) computes ``alpha`` under ``no_grad``: its gradient
      is not the derivative of the loss it reports.
    - The angle is ``atan2(w, h)``: equal to ``atan(w / h)`` for ``h > 0``, ``pi / 2`` for a
      zero-height box (torchvision gives NaN there), and ``pi / 4`` (a square) for a point box,
      whose aspect is undefined, with a zero gradient. So degenerate boxes are finite in value and
      gradient. (The gradient of the angle grows like ``1 / max(w, h)`` for tiny boxes, as in
      every CIoU.)

    Input, target: as :func:`giou`.

    When to use:
        Box regression in YOLO-family detectors; also matches aspect ratios.

    Args:
        boxes: predicted boxes.
        targets: ground-truth boxes.
        eps: > 0, added to the union, to ``c^2`` and to the denominator of ``alpha``.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(*)`` for ``"none"``.

    Raises:
        LossInputError: as :func:`giou`.

    Example:
        >>> import torch, losskit
        >>> boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 2.0]])
        >>> targets = torch.tensor([[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 1.0]])
        >>> losskit.ciou(boxes, targets, reduction="none")
        tensor([0.9683, 0.7629])

    References:
        Zheng et al., Distance-IoU loss (AAAI 2020); torchvision.ops.complete_box_iou_loss.
    """
    check_reduction(reduction)
    eps = check_option("eps", eps, low=0.0, low_open=True)
    b, t = _box_inputs(boxes, targets)
    o = _overlap(b, t, eps)
    angle_gap = _aspect_angle(o.w_t, o.h_t) - _aspect_angle(o.w, o.h)
    aspect = _AspectTerm.apply(angle_gap, o.iou, eps)  # type: ignore[no-untyped-call]
    loss = 1 - o.iou + _center_penalty(b, t, o.enclose_w, o.enclose_h, eps) + aspect
    return finish(reduce(loss, reduction), boxes=boxes, targets=targets)
