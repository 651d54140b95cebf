"""Lovasz extensions of the Jaccard loss (Berman et al. 2018): lovasz_hinge and lovasz_softmax.

They follow the policies of :mod:`losskit.losses._overlap` (``ignore_index`` masks before any
sum, ``None`` ignores nothing, the image is the unit of the reduction, ``normalize`` says how
logits become probabilities) and use its shared helpers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit._checks import (
    LossInputError,
    check_binary_targets,
    check_choice,
    check_floating,
    check_ignore_index,
    check_reduction,
    check_same_shape,
    ensure_float,
    finish,
    masked_mean,
    reads,
)
from losskit._spec import Activation, Decode, Family, MeanOver, Prop, Space, Targets, register
from losskit.losses import _examples as ex
from losskit.losses._overlap import check_normalize, reduce_images, refuse_renamed, region_inputs

__all__ = [
    "lovasz_hinge",
    "lovasz_softmax",
]


# ----------------------------------------------------------------------------- lovasz
def _ignored_may_occur(targets: Tensor, ignore_index: int | None) -> bool:
    """Whether a target may equal ``ignore_index``: unknown (True) unless this call reads the
    values (full mode), which then decides, so that no mask is built when nothing is
    ignored."""
    if ignore_index is None:
        return False
    if not reads(targets):
        return True
    return bool((targets == ignore_index).any())


def _any_pixel(x: Tensor, pixels: int) -> Tensor:
    """``(N,)``: whether each image has a pixel, when none is ignored."""
    return torch.full((), pixels > 0, dtype=torch.bool, device=x.device).expand(x.shape[0])


def _lovasz_weights(gt: Tensor, valid: Tensor | None) -> Tensor:
    """The gradient of the Lovasz extension of the Jaccard loss (Berman et al., Alg. 1) for
    errors sorted in decreasing order along the last dim: ``g_1 = J_1``, ``g_i = J_i - J_{i-1}``
    with ``J_i`` the Jaccard loss when the first ``i`` pixels are wrong. Ignored pixels sort
    last with ``gt = 0``; they count in neither sum, so their weights are 0 (``valid`` None:
    every pixel counts)."""
    # in place on this function's own temporaries (it runs without autograd): a handful of
    # (N, C, P) buffers would otherwise be alive at once
    gts = gt.sum(-1, keepdim=True)
    intersection = gt.cumsum(-1).neg_().add_(gts)
    negatives = (1 - gt) if valid is None else (1 - gt).mul_(valid)
    union = negatives.cumsum(-1).add_(gts)
    del negatives
    empty = union <= 0  # only before any valid pixel: the ratio 0/0 is 1 there
    jaccard_loss = intersection.div_(union.masked_fill_(empty, 1.0)).masked_fill_(empty, 1.0)
    jaccard_loss = jaccard_loss.neg_().add_(1.0)
    del union, empty
    weights = jaccard_loss.clone()
    weights[..., 1:].sub_(jaccard_loss[..., :-1])
    return weights


def _lovasz(errors: Tensor, gt: Tensor, valid: Tensor | None, low: float) -> Tensor:
    """``sum_i errors_(i) g_i`` over errors sorted in decreasing order (ignored ones last, at
    ``low``, where their weight is 0; ``valid`` None: every pixel counts). The sorted values
    carry the gradient themselves (the sort's backward puts it back in place), so no gathered
    copy of the errors is made."""
    key = errors if valid is None else torch.where(valid, errors, low)
    ordered, order = torch.sort(key, dim=-1, descending=True)
    with torch.no_grad():
        valid_sorted = None if valid is None else valid.gather(-1, order).to(gt.dtype)
        weights = _lovasz_weights(gt.gather(-1, order), valid_sorted)
    return (ordered * weights).sum(-1)


@register(
    family=Family.OVERLAP,
    inputs=Space.LOGITS,
    targets=Targets.BINARY_MASKS,
    activation=Activation.SIGMOID,
    decode=Decode.THRESHOLD,
    mean_over=MeanOver.IMAGE,
    properties={Prop.CONVEX, Prop.NONNEGATIVE},
    metrics=("dice_score", "iou"),
    example=ex.binary_masks,
)
def lovasz_hinge(
    logits: Tensor, targets: Tensor, *, ignore_index: int | None = -100, reduction: str = "mean"
) -> Tensor:
    """Lovasz hinge loss: a convex surrogate of the binary Jaccard loss, per image.

    With signs ``s = 2 t - 1`` and hinge errors ``e_i = max(0, 1 - s_i logits_i)`` over an
    image's non-ignored pixels sorted in decreasing order, ``l_n = sum_i e_(i) g_i`` where
    ``g`` is the gradient of the Lovasz extension of the Jaccard loss at the sorted ground
    truth (Berman et al. 2018, Alg. 1; :func:`_lovasz_weights`). An image whose target is empty
    has ``l_n = max_i e_i`` (no false positive is allowed), 0 once every logit is <= -1.
    Berman's reference code averages fully ignored images in as 0; here they are left out of
    the mean.

    Input: ``logits`` ``(N, *spatial)``, floating; one logit per pixel (dim 0 is the image).
    Target: ``targets``, the same shape, 0 or 1 (any real or bool dtype), or ``ignore_index``.

    When to use:
        Binary segmentation optimised for IoU, typically after pretraining with BCE.

    Args:
        logits: raw scores (no activation: the hinge acts on the logits).
        targets: 0/1 masks.
        ignore_index: mask value whose pixels are left out; ``None``: none.
        reduction: ``"mean"`` over images with a non-ignored pixel | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``, in the dtype of ``logits`` (promoted with
        floating targets).

    Raises:
        LossInputError: shapes differ, targets not 0/1 (or ``ignore_index``), a 0-d ``logits``,
            an option of the wrong type.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[2.0, -1.0, 0.5, -0.2]])  # hinge errors 0, 0, 1.5, 1.2
        >>> losskit.lovasz_hinge(logits, torch.tensor([[1, 0, 0, 1]]))  # 1.5 / 3 + 1.2 / 3
        tensor(0.9000)

    References:
        Berman, Rannen Triki & Blaschko, The Lovasz-Softmax loss: A tractable surrogate for the
        optimization of the intersection-over-union measure in neural networks (CVPR 2018).

    Stability: piecewise linear; ties in the sort do not change the value (the Lovasz extension
    is continuous), only which subgradient is returned.
    """
    check_reduction(reduction)
    ignore = check_ignore_index(ignore_index)
    check_floating("logits", logits)
    if logits.dim() == 0:
        raise LossInputError(
            "logits must have shape (N, *spatial) with dim 0 the images, got a scalar"
        )
    check_same_shape("logits", logits, "targets", targets)
    dtype = logits.dtype
    if targets.is_floating_point():  # floating targets promote as torch would
        dtype = torch.promote_types(dtype, targets.dtype)
    x = ensure_float(logits.to(dtype))
    t = targets.to(x.dtype)
    n = logits.shape[0]
    pixels = torch.Size(logits.shape[1:]).numel()
    valid: Tensor | None = None
    if ignore is not None and _ignored_may_occur(targets, ignore):
        valid = torch.ne(targets, ignore).reshape(n, pixels)
        t = torch.where(valid, t.reshape(n, pixels), 0.0)
    check_binary_targets("targets", t, soft=False)
    x, t = x.reshape(n, pixels), t.reshape(n, pixels)
    errors = F.relu(1 - x * (2 * t - 1))
    if valid is not None:
        errors = torch.where(valid, errors, 0.0)
    per_image = _lovasz(errors, t, valid, low=-1.0)
    counted = _any_pixel(x, pixels) if valid is None else valid.any(-1)
    out = reduce_images(per_image, counted, reduction).to(dtype)
    return finish(out, logits=logits, targets=targets)


@register(
    family=Family.OVERLAP,
    inputs=Space.LOGITS,
    targets=Targets.CLASS_LABELS,
    activation=Activation.SOFTMAX,
    decode=Decode.ARGMAX,
    mean_over=MeanOver.IMAGE,
    properties={Prop.NONNEGATIVE, Prop.BOUNDED},
    metrics=("dice_score", "iou"),
    example=ex.with_options(ex.segmentation, classes="all"),
)
def lovasz_softmax(
    logits: Tensor,
    labels: Tensor,
    *,
    normalize: str | None = "softmax",
    classes: str = "present",
    ignore_index: int | None = -100,
    reduction: str = "mean",
    **removed: object,
) -> Tensor:
    """Lovasz-softmax loss: a surrogate of the per-class Jaccard loss on softmax outputs.

    For image ``n`` and class ``c``, errors ``e_i = |[y_i = c] - p_ic|`` over the non-ignored
    pixels, sorted in decreasing order, give ``L_nc = sum_i e_(i) g_i`` with ``g`` the gradient
    of the Lovasz extension of the Jaccard loss at the sorted ground truth (Berman et al.
    2018). ``l_n`` is the mean of ``L_nc`` over the classes present in the image's labels
    (``"present"``, Berman's default) or over all classes (``"all"``; an absent class then costs
    ``max_i p_ic``). Per image, as Berman's ``per_image=True``; his code averages fully ignored
    images in as 0, here they are left out of the mean.

    Input: ``logits`` ``(N, C, *spatial)``, C >= 2, floating. Target: ``labels``
    ``(N, *spatial)``, integer, in ``[0, C)`` or ``ignore_index``.

    When to use:
        Multi-class segmentation optimised for mean IoU, often as a fine-tuning loss.

    Args:
        logits: raw scores (or softmax probabilities with ``normalize=None``).
        labels: class indices.
        normalize: ``"softmax"`` | ``None``.
        classes: ``"present"`` | ``"all"``.
        ignore_index: label whose pixels are left out; ``None``: none.
        reduction: ``"mean"`` over images with a non-ignored pixel | ``"sum"`` | ``"none"``.
        **removed: refuses ``activation=``, renamed ``normalize=``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``.

    Raises:
        LossInputError: labels of the wrong shape, dtype or range, a single class, masks
            instead of labels, an unknown ``normalize`` or ``classes``, the old keyword
            ``activation=``.

    Example:
        >>> import torch, losskit
        >>> logits = torch.tensor([[[2.0, -1.0, 0.5], [0.0, 1.0, 0.5]]])
        >>> losskit.lovasz_softmax(logits, torch.tensor([[0, 1, 1]]))
        tensor(0.3096)

    References:
        Berman, Rannen Triki & Blaschko, The Lovasz-Softmax loss (CVPR 2018).
    """
    refuse_renamed("lovasz_softmax", removed)
    check_reduction(reduction)
    check_normalize(normalize, ("softmax", None))
    check_choice("classes", classes, ("present", "all"))
    ignore = check_ignore_index(ignore_index)
    if not _ignored_may_occur(labels, ignore):
        ignore = None
    r = region_inputs(
        logits,
        labels,
        normalize=normalize,
        ignore_index=ignore,
        labels_only=True,
        name="labels",
    )
    errors = (r.targets - r.probs).abs()  # 0 where ignored: both were zeroed
    per_class = _lovasz(errors, r.targets, None if ignore is None else r.valid, low=-1.0)  # (N, C)
    counted = r.targets.sum(-1) > 0 if classes == "present" else r.valid.any(-1)
    counted = counted.to(per_class.dtype)
    per_image = masked_mean((counted * per_class).sum(-1), counted.sum(-1))
    out = reduce_images(per_image, r.valid.flatten(1).any(-1), reduction).to(r.dtype)
    return finish(out, logits=logits)
