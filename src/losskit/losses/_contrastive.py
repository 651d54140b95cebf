"""Contrastive losses with in-batch negatives (InfoNCE, CLIP, SupCon), correct under
torch.distributed.

Every loss here compares L2-normalised embeddings by cosine similarity, divides by a temperature
(or multiplies by CLIP's scale) and applies log-softmax over the candidates, so tiny temperatures
stay finite (log-sum-exp). The option ``gather`` says which candidates a rank sees under DDP:

``"local"`` (default)
    this rank's rows against the rows of *every* rank, gathered with gradients; labels are
    offset by the rows of the ranks before it (uneven batches are fine). Memory O(B * N). Each
    rank returns its share of the loss: ``W * local_sum / N`` for ``"mean"`` (N rows, or anchors
    with a positive, over all ranks), ``W * local_sum`` for ``"sum"``, its own rows for
    ``"none"``. The mean over ranks of the shares is the single-process loss on the
    concatenated batch, and DDP's gradient average is exactly its gradient.
``"global"``
    the full N x N matrix on every rank (gathered with gradients); every rank returns the
    single-process loss itself. Memory O(N * N) per rank.
``None``
    no gather: each rank's batch on its own (per-rank negatives), a different loss under DDP.

Without an initialised process group (or with one rank) the three are the same single-process
loss. Under ``torch.func.vmap`` over an outer dim (a batch of batches), each vmapped slice is
its own batch with its own in-batch negatives, so ``reduction="none"`` gives per-sample losses of
that slice; this runs on the no-process-group path (or with ``gather=None``): the collectives of
a gather cannot run inside a functorch transform. ``losskit.distributed.global_value(loss)``
gives the single-process value for logging in every mode. The silently wrong mode (local loss against a gather without gradient) is not offered.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from losskit import distributed
from losskit._checks import (
    LossInputError,
    _shapes_on,
    check_choice,
    check_real,
    check_reduction,
    check_same_shape,
    check_tensor,
    ensure_float,
    finish,
    masked_mean,
    native_reduction,
)
from losskit._spec import Family, MeanOver, Prop, Space, Targets, register
from losskit._validate import check_embeddings, scalar_hyper
from losskit.losses import _examples as ex

__all__ = ["clip_loss", "info_nce", "siglip_loss", "supcon"]

_GATHERS = ("local", "global", None)
_LOG_100 = math.log(100.0)  # CLIP's largest scale is 100
CLIP_INIT_LOGIT_SCALE = math.log(1 / 0.07)  # CLIP's initial log scale (temperature 0.07)
SIGLIP_INIT_LOGIT_SCALE = math.log(10.0)  # SigLIP's initial log scale t' (t = 10)
SIGLIP_INIT_LOGIT_BIAS = -10.0  # SigLIP's initial bias


# ----------------------------------------------------------------------------- shared checks
def _check_gather(gather: Any) -> None:
    hint = (
        "; 'local' (rows of this rank against the gathered rows of all ranks) is right under "
        "DDP, 'global' computes the full matrix on every rank, None uses each rank's own batch "
        "only"
    )
    check_choice("gather", gather, _GATHERS, hint=hint)


def _pair_dtype(a: Tensor, b: Tensor) -> torch.dtype:
    """Two embedding matrices promote as ``torch.result_type`` (float32 for half precision)."""
    # promote_types: result_type's own rule for tensors of the same shape, and traceable
    dtype = torch.promote_types(a.dtype, b.dtype)
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _real_embeddings(name: str, x: Tensor) -> None:
    """An ``(N, D)`` real floating matrix (complex refused by name, then integers)."""
    check_tensor(name, x)
    check_real(name, x)
    check_embeddings(name, x)


def _check_row_labels(labels: Tensor, n: int) -> None:
    check_tensor("labels", labels)
    if not _shapes_on():
        return
    if labels.is_floating_point() or labels.is_complex():
        raise LossInputError(
            f"labels must hold integer class ids (any integer dtype), got dtype {labels.dtype}; "
            "for integer-valued floats use labels.long()"
        )
    if tuple(labels.shape) != (n,):
        hint = "; did you forget `labels.squeeze(1)`?" if labels.shape == (n, 1) else ""
        raise LossInputError(
            f"labels must have shape ({n},), one class id per row of embeddings, got "
            f"{tuple(labels.shape)}{hint}"
        )


def _share(per_row: Tensor, reduction: str, count: Tensor | int, world: int) -> Tensor:
    """Reduce this rank's per-row losses. ``count``: the mean's denominator over the rows of
    every rank taking part; ``world``: W under ``gather="local"``, where each rank returns its
    share (``W * local_sum / count``, whose mean over ranks is the single-process loss), else 1.
    """
    if reduction == "none":
        return per_row
    total = per_row.sum() * world if world > 1 else per_row.sum()
    if reduction == "sum":
        return total
    return masked_mean(total, torch.as_tensor(count, dtype=total.dtype, device=total.device))


def _gathered(x: Tensor, gather: str | None) -> tuple[Tensor, int, list[int]]:
    """The rows of every rank (with gradients), this rank's offset in them, the ranks' sizes;
    ``x`` alone for ``gather=None`` (or in one process)."""
    if gather is None:
        return x, 0, [x.shape[0]]
    return distributed.gather_rows(x)


# ----------------------------------------------------------------------------- info_nce
@register(
    family=Family.EMBEDDING,
    inputs=Space.EMBEDDINGS,
    targets=Targets.PAIRED,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE},
    aliases=("infonce",),
    example=ex.query_key,
)
def info_nce(
    queries: Tensor,
    keys: Tensor,
    *,
    temperature: float | Tensor = 0.07,
    gather: str | None = "local",
    reduction: str = "mean",
) -> Tensor:
    """InfoNCE (NT-Xent) with in-batch negatives: row ``i`` of ``queries`` matches row ``i`` of
    ``keys``, every other key is a negative.

    ``l_i = -log softmax_j(s_ij / t)[i]`` with ``s_ij = cos(q_i, k_j)``, computed as
    ``logsumexp_j(s_ij / t) - s_ii / t`` (PyTorch's cross-entropy on the similarity matrix with
    labels ``arange(N)``). Embeddings are L2-normalised inside (``F.normalize``, eps 1e-12: a
    zero row has similarity 0 to every key). ``"mean"`` averages over the N queries. This is
    the one-directional loss of CPC and MoCo (without a queue); SimCLR's NT-Xent over both views
    (2N anchors, the other 2N - 2 views as negatives) is
    ``supcon(torch.cat([z1, z2]), torch.cat([torch.arange(N), torch.arange(N)]))``.

    Input: ``queries`` and ``keys`` ``(N, D)``, floating, the same shape; dtypes promote as
    ``torch.result_type`` (float64 queries with float32 keys compute in float64); half precision
    is computed in float32. Target: none (the pairing is the row order).

    When to use:
        Self-supervised or retrieval training from pairs (two views, query and document): each
        pair's other rows serve as negatives. Larger batches (or gather under DDP) give more
        negatives.

    Args:
        queries: ``(N, D)`` embeddings of one view.
        keys: ``(N, D)`` embeddings of the other view, row ``i`` the positive of query ``i``.
        temperature: ``t > 0``, a number (numpy scalars too) or a one-element tensor
            (learnable).
        gather: ``"local"`` (default) | ``"global"`` | ``None``: the candidates under
            ``torch.distributed`` (see the module docstring); all the same in one process.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``. Under DDP with ``"local"``: this rank's share
        (``"none"``: this rank's rows); with ``"global"``: every row of every rank.

    Raises:
        LossInputError: shapes differ or are not ``(N, D)``; embeddings not real floating;
            ``temperature`` not a finite number > 0; an unknown ``gather``; under
            DDP, ranks with different ``D``.

    Example:
        >>> import torch, losskit
        >>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> k = torch.tensor([[1.0, 0.2], [0.1, 1.0], [1.0, 0.8]])
        >>> losskit.info_nce(q, k, temperature=0.5)
        tensor(0.6637)

    References:
        van den Oord, Li & Vinyals, Representation Learning with Contrastive Predictive Coding
        (2018); Chen et al., A Simple Framework for Contrastive Learning (SimCLR, 2020).

    Stability: log-sum-exp over ``s / t``, finite for any ``t > 0`` (``t = 1e-4`` included);
    identical rows give finite gradients.
    """
    check_reduction(reduction)
    _check_gather(gather)
    _real_embeddings("queries", queries)
    check_same_shape("queries", queries, "keys", keys)
    _real_embeddings("keys", keys)
    tau = scalar_hyper("temperature", temperature, positive=True)
    dtype = _pair_dtype(queries, keys)
    if gather is None or not distributed.is_distributed():
        # one process (or no gather): the (N, N) logits from queries scaled by 1 / t, and
        # the native cross-entropy reducing itself
        logits = _unit(queries.to(dtype), tau=tau) @ _unit(keys.to(dtype)).T  # (N, N)
        rows = torch.arange(logits.shape[0], device=logits.device)
        out = F.cross_entropy(logits, rows, reduction=native_reduction(reduction, len(rows)))
        return finish(out, queries=queries, keys=keys, temperature=_tensor_or_none(temperature))
    q = F.normalize(queries.to(dtype), dim=1)
    k = F.normalize(keys.to(dtype), dim=1)
    k_all, offset, sizes = _gathered(k, gather)  # (N, D)
    world = len(sizes) if gather == "local" else 1
    if gather == "global":
        q, offset = _gathered(q, gather)[0], 0  # every query: the full (N, N) matrix
    logits = q @ k_all.T / tau  # (B, N): this rank's queries against every key
    targets = offset + torch.arange(q.shape[0], device=q.device)
    per_row = F.cross_entropy(logits, targets, reduction="none")
    out = _share(per_row, reduction, k_all.shape[0], world)
    return finish(out, queries=queries, keys=keys, temperature=_tensor_or_none(temperature))


def _tensor_or_none(x: Any) -> Tensor | None:
    return x if isinstance(x, Tensor) else None


def _unit(x: Tensor, *, tau: float | Tensor = 1.0, scale: float | Tensor = 1.0) -> Tensor:
    """``F.normalize(x, dim=1) * scale / tau`` (the same eps 1e-12: a zero row stays 0), the
    factor folded into the ``(N, 1)`` divisor instead of an extra pass over the logits."""
    norm = torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min(1e-12)  # (N, 1)
    if isinstance(tau, Tensor) or isinstance(scale, Tensor):
        return x / (norm * tau / scale)  # type: ignore[no-any-return]
    factor = tau / scale
    return x / norm if factor == 1.0 else x / (norm * factor)  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- clip_loss
@register(
    family=Family.EMBEDDING,
    inputs=Space.EMBEDDINGS,
    targets=Targets.PAIRED,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE},
    aliases=("clip", "clip_contrastive"),
    example=ex.query_key,
)
def clip_loss(
    image_embeddings: Tensor,
    text_embeddings: Tensor,
    *,
    logit_scale: float | Tensor = CLIP_INIT_LOGIT_SCALE,
    gather: str | None = "local",
    reduction: str = "mean",
) -> Tensor:
    """CLIP's symmetric InfoNCE: image ``i`` matches text ``i``, in both directions.

    ``l_i = (-log softmax_j(a s_ij)[i] - log softmax_j(a s_ji)[i]) / 2`` with
    ``s_ij = cos(image_i, text_j)`` and the scale ``a = min(exp(logit_scale), 100)``. Embeddings
    are L2-normalised inside (a no-op, to rounding, on CLIP's already normalised features).
    ``logit_scale`` is the learned *log* scale, as the ``logit_scale`` parameter of CLIP models
    (OpenAI, Hugging Face; open_clip's ``ClipLoss`` takes the exponentiated value instead: pass
    its log). The clamp at 100 is a true clamp, applied before ``exp``: above ``log(100)`` the
    value stays at scale 100 and the gradient w.r.t. ``logit_scale`` is 0, so also clamp the
    parameter after each step as CLIP does (``logit_scale.data.clamp_(max=math.log(100))``).
    ``"mean"`` averages over the N pairs, which equals CLIP's ``(CE_images + CE_texts) / 2``.

    Input: ``image_embeddings`` and ``text_embeddings`` ``(N, D)``, floating, the same shape;
    dtypes promote as ``torch.result_type``. Target: none (the pairing is the row order).

    When to use:
        Contrastive training of two encoders on paired data (image-text, audio-text), with a
        learned temperature.

    Args:
        image_embeddings: ``(N, D)`` image features.
        text_embeddings: ``(N, D)`` text features, row ``i`` describing image ``i``.
        logit_scale: the log of the similarity scale, a number or one-element tensor
            (learnable); default ``log(1 / 0.07)``, CLIP's initial value.
        gather: ``"local"`` (default) | ``"global"`` | ``None``, as for :func:`info_nce`.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"`` (per pair, both directions averaged); under DDP
        as for :func:`info_nce`.

    Raises:
        LossInputError: shapes differ or are not ``(N, D)``; embeddings not real floating;
            ``logit_scale`` not a finite number; an unknown ``gather``.

    Example:
        >>> import torch, losskit
        >>> images = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> texts = torch.tensor([[1.0, 0.2], [0.1, 1.0], [1.0, 0.8]])
        >>> losskit.clip_loss(images, texts, logit_scale=0.0)  # scale 1
        tensor(0.8484)

    References:
        Radford et al., Learning Transferable Visual Models From Natural Language Supervision
        (CLIP, 2021); open_clip ``ClipLoss``.
    """
    check_reduction(reduction)
    _check_gather(gather)
    _real_embeddings("image_embeddings", image_embeddings)
    check_same_shape("image_embeddings", image_embeddings, "text_embeddings", text_embeddings)
    _real_embeddings("text_embeddings", text_embeddings)
    log_scale = scalar_hyper("logit_scale", logit_scale, positive=False)
    if isinstance(log_scale, Tensor):
        # clamp before exp: exp(large) would be inf and its gradient 0 * inf = NaN
        scale: float | Tensor = torch.exp(log_scale.clamp(max=_LOG_100))
    else:
        scale = min(math.exp(min(log_scale, _LOG_100)), 100.0)
    dtype = _pair_dtype(image_embeddings, text_embeddings)
    if gather is None or not distributed.is_distributed():
        # one process (or no gather): one (N, N) matrix of logits, the text direction its
        # transpose, each direction a native cross-entropy reducing itself
        logits = (
            _unit(image_embeddings.to(dtype), scale=scale) @ _unit(text_embeddings.to(dtype)).T
        )  # (N, N): image i against text j
        rows = torch.arange(logits.shape[0], device=logits.device)
        native = native_reduction(reduction, len(rows))
        both = F.cross_entropy(logits, rows, reduction=native) + F.cross_entropy(
            logits.T, rows, reduction=native
        )
        return finish(
            both / 2,
            image_embeddings=image_embeddings,
            text_embeddings=text_embeddings,
            logit_scale=_tensor_or_none(logit_scale),
        )
    img = F.normalize(image_embeddings.to(dtype), dim=1)
    txt = F.normalize(text_embeddings.to(dtype), dim=1)
    # one gather for both: (B, 2, D) -> (N, 2, D)
    pairs, offset, sizes = _gathered(torch.stack([img, txt], dim=1), gather)
    img_all, txt_all = pairs[:, 0], pairs[:, 1]
    world = len(sizes) if gather == "local" else 1
    if gather == "global":
        img, txt, offset = img_all, txt_all, 0
    targets = offset + torch.arange(img.shape[0], device=img.device)
    per_image = F.cross_entropy(scale * img @ txt_all.T, targets, reduction="none")  # (B, N)
    per_text = F.cross_entropy(scale * txt @ img_all.T, targets, reduction="none")
    per_row = (per_image + per_text) / 2
    out = _share(per_row, reduction, img_all.shape[0], world)
    return finish(
        out,
        image_embeddings=image_embeddings,
        text_embeddings=text_embeddings,
        logit_scale=_tensor_or_none(logit_scale),
    )


# ----------------------------------------------------------------------------- siglip_loss
@register(
    family=Family.EMBEDDING,
    inputs=Space.EMBEDDINGS,
    targets=Targets.PAIRED,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE},
    aliases=("siglip", "sigmoid_contrastive"),
    example=ex.query_key,
)
def siglip_loss(
    image_embeddings: Tensor,
    text_embeddings: Tensor,
    *,
    logit_scale: float | Tensor = SIGLIP_INIT_LOGIT_SCALE,
    logit_bias: float | Tensor = SIGLIP_INIT_LOGIT_BIAS,
    gather: str | None = "local",
    reduction: str = "mean",
) -> Tensor:
    """SigLIP's sigmoid contrastive loss: every image-text pair is its own binary problem.

    ``l_i = sum_j -log sigmoid(z_ij (t s_ij + b))`` with ``s_ij = cos(image_i, text_j)``,
    ``z_ij = +1`` for the matching pair ``j = i`` and ``-1`` for every other, the scale
    ``t = exp(logit_scale)`` and the bias ``b = logit_bias``. Each pair's term is
    ``softplus(-z_ij x_ij)``, so no softmax couples the row: the loss needs no normaliser over
    the batch. ``"mean"`` divides the sum over all ``N x N`` pairs by ``N`` (the paper's
    ``1 / |B|``; the same as Hugging Face ``SiglipModel``'s loss), ``"none"`` gives ``l_i`` per
    image.

    Input: ``image_embeddings`` and ``text_embeddings`` ``(N, D)``, floating, the same shape;
    dtypes promote as ``torch.result_type``; half precision is computed in float32. Target:
    none (the pairing is the row order).

    When to use:
        Contrastive image-text (or any two-tower) training where a softmax over the batch is
        costly or unwanted: the per-pair terms shard across ranks without a global normaliser,
        and small batches work better than with CLIP's softmax.

    Args:
        image_embeddings: ``(N, D)`` image features (L2-normalised inside).
        text_embeddings: ``(N, D)`` text features, row ``i`` describing image ``i``.
        logit_scale: ``t'``, the log of the scale, a number or one-element tensor
            (learnable); default ``log 10``, the paper's initial value.
        logit_bias: ``b``, a number or one-element tensor (learnable); default -10, the
            paper's initial value, which offsets the many negatives at the start of training.
        gather: ``"local"`` (default) | ``"global"`` | ``None``, as for :func:`info_nce`:
            under ``"local"`` this rank's images meet the texts of every rank (gathered with
            gradients), so the pairs of all ranks together are the single-process pairs.
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"`` (per image); under DDP as for :func:`info_nce`.

    Raises:
        LossInputError: shapes differ or are not ``(N, D)``; embeddings not real floating;
            ``logit_scale`` or ``logit_bias`` not a finite number; an unknown ``gather``.

    Example:
        >>> import torch, losskit
        >>> images = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> texts = torch.tensor([[1.0, 0.2], [0.1, 1.0], [1.0, 0.8]])
        >>> losskit.siglip_loss(images, texts, logit_scale=0.0, logit_bias=0.0)
        tensor(2.3487)

    References:
        Zhai, Mustafa, Kolesnikov & Beyer, Sigmoid Loss for Language Image Pre-Training
        (SigLIP, ICCV 2023).

    Stability: each term is a softplus of a finite logit; a large ``logit_scale`` (``t`` far
    above the paper's learned 10 to 30) can overflow ``exp`` and give ``inf``.
    """
    check_reduction(reduction)
    _check_gather(gather)
    _real_embeddings("image_embeddings", image_embeddings)
    check_same_shape("image_embeddings", image_embeddings, "text_embeddings", text_embeddings)
    _real_embeddings("text_embeddings", text_embeddings)
    log_scale = scalar_hyper("logit_scale", logit_scale, positive=False)
    bias = scalar_hyper("logit_bias", logit_bias, positive=False)
    scale = torch.exp(log_scale) if isinstance(log_scale, Tensor) else math.exp(log_scale)
    dtype = _pair_dtype(image_embeddings, text_embeddings)
    img = _unit(image_embeddings.to(dtype), scale=scale)  # t * unit rows: t s_ij from one product
    txt = F.normalize(text_embeddings.to(dtype), dim=1)
    offset, world = 0, 1
    if gather is not None and distributed.is_distributed():
        txt, offset, sizes = _gathered(txt, gather)  # every rank's texts, with gradients
        world = len(sizes) if gather == "local" else 1
        if gather == "global":
            img, offset = _gathered(img, gather)[0], 0  # every image: the full (N, N) matrix
    logits = img @ txt.T + bias  # (B, N): this rank's images against every text
    rows = torch.arange(logits.shape[0], device=logits.device)
    match = torch.arange(logits.shape[1], device=logits.device) == (offset + rows)[:, None]
    # -log sigmoid(z x) = softplus(-z x): softplus(x) for the negatives, softplus(-x) for the
    # matching pair (a where, not softplus(x) - x, which loses a small term next to a large x)
    per_row = F.softplus(torch.where(match, -logits, logits)).sum(dim=1)
    out = _share(per_row, reduction, txt.shape[0], world)
    return finish(
        out,
        image_embeddings=image_embeddings,
        text_embeddings=text_embeddings,
        logit_scale=_tensor_or_none(logit_scale),
        logit_bias=_tensor_or_none(logit_bias),
    )


# ----------------------------------------------------------------------------- supcon
@register(
    family=Family.EMBEDDING,
    inputs=Space.EMBEDDINGS,
    targets=Targets.GROUPS,
    mean_over=MeanOver.ANCHOR,
    properties={Prop.SMOOTH, Prop.NONNEGATIVE},
    aliases=("supervised_contrastive", "sup_con"),
    example=ex.embeddings_labels,
)
def supcon(
    embeddings: Tensor,
    labels: Tensor,
    *,
    temperature: float | Tensor = 0.07,
    gather: str | None = "local",
    reduction: str = "mean",
) -> Tensor:
    """Supervised contrastive loss (Khosla et al., the ``L_out`` form): every other example of
    the same class is a positive, every other example a candidate.

    ``l_i = -1/|P(i)| sum_{p in P(i)} log [exp(s_ip / t) / sum_{a != i} exp(s_ia / t)]`` with
    ``s = cos`` of L2-normalised embeddings, ``P(i) = {p != i : labels_p == labels_i}``. The
    self-similarity is masked *after* scaling with a large finite negative (not ``-inf``), so
    tiny and learned temperatures keep finite gradients. An anchor without a positive has
    ``l_i = 0`` (in ``"none"``) and is left out of the mean: ``"mean"`` averages over the anchors
    that have at least one positive, and is a graph-connected ``0.0`` when none has. (The
    authors' code counts such anchors as 0 in the mean and scales by ``t / 0.07``; PyTorch
    Metric Learning's ``SupConLoss`` also leaves them out.) Several views per example: stack
    them as rows and repeat the labels; two views with distinct labels per pair is SimCLR's
    NT-Xent.

    Input: ``embeddings`` ``(N, D)``, floating. Target: ``labels`` ``(N,)``, any integer dtype
    (class ids are only compared for equality).

    When to use:
        Representation learning with labels (a pre-training stage before a linear classifier),
        or several augmented views per labelled example.

    Args:
        embeddings: ``(N, D)`` features, normalised inside.
        labels: ``(N,)`` class ids.
        temperature: ``t > 0``, a number or a one-element tensor (learnable).
        gather: ``"local"`` (default) | ``"global"`` | ``None``, as for :func:`info_nce`
            (labels are gathered too).
        reduction: ``"mean"`` | ``"sum"`` | ``"none"``.

    Returns:
        A scalar, or ``(N,)`` for ``"none"``; under DDP as for :func:`info_nce`.

    Raises:
        LossInputError: embeddings not ``(N, D)`` or not real floating;
            labels not integer or not ``(N,)``; ``temperature`` not a finite number > 0; an
            unknown ``gather``.

    Example:
        >>> import torch, losskit
        >>> z = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.2, 1.0]])
        >>> losskit.supcon(z, torch.tensor([0, 0, 1, 1]), temperature=0.5)
        tensor(0.3255)

    References:
        Khosla et al., Supervised Contrastive Learning (NeurIPS 2020).
    """
    check_reduction(reduction)
    _check_gather(gather)
    _real_embeddings("embeddings", embeddings)
    _check_row_labels(labels, embeddings.shape[0])
    tau = scalar_hyper("temperature", temperature, positive=True)
    z = F.normalize(ensure_float(embeddings), dim=1)
    z_all, offset, sizes = _gathered(z, gather)
    world = len(sizes) if gather == "local" else 1
    labels = labels.long()  # any integer dtype; gathered as int64
    labels_all = labels if gather is None else distributed.gather_rows(labels, sizes=sizes)[0]
    if gather == "global":
        z, labels, offset = z_all, labels_all, 0
    n_rows, n_cols = z.shape[0], z_all.shape[0]
    logits = z @ z_all.T / tau  # (B, N)
    rows = torch.arange(n_rows, device=z.device)
    is_self = torch.zeros(n_rows, n_cols, dtype=torch.bool, device=z.device)
    is_self[rows, offset + rows] = True
    # Mask self after scaling with a large finite negative: exp() of it is 0, its gradient is 0,
    # and even a row with no other candidate keeps a finite log-sum-exp.
    logits = logits.masked_fill(is_self, -torch.finfo(logits.dtype).max / 4)
    log_prob = logits - logits.logsumexp(dim=1, keepdim=True)
    positive = (labels[:, None] == labels_all[None, :]) & ~is_self
    n_pos = positive.sum(dim=1)
    # where(), not a product: the masked entries are huge and 0 * them would not be 0
    pos_sum = torch.where(positive, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    per_row = -pos_sum / n_pos.clamp(min=1).to(log_prob.dtype)  # 0 without a positive
    out = _share(per_row, reduction, _anchors_with_positive(labels_all), world)
    return finish(out, embeddings=embeddings, temperature=_tensor_or_none(temperature))


def _anchors_with_positive(labels: Tensor) -> Tensor:
    """How many rows share their label with another row: O(N log N) by sorting, no N x N
    matrix and no device sync (the mean's denominator over every rank's anchors)."""
    ordered = labels.sort().values
    same = ordered[1:] == ordered[:-1]  # (N - 1,): equal to the next one
    has = torch.zeros_like(ordered, dtype=torch.bool)
    has[1:] |= same
    has[:-1] |= same
    return has.sum()
