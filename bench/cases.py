"""The peer of every loss the suite knows, as data: one entry per loss name.

The inputs are not made here: every registered loss names a factory of valid example inputs
(``@register(example=...)``, ``losskit.get_spec(name).example``), shared with the audit, and the
bench times the loss on them. An entry is ``add(name, peer, peer_name, native=, note=, extra=)``:

``peer(args, extra) -> Tensor``
    the same maths by the fastest other implementation installed, called on the loss's own
    positional tensors, or None when no peer has the loss.
``native``
    True when the peer is PyTorch itself (target: ours <= 1.05x), False for another library
    (target: ours <= 1.0x at the medium and large sizes).
``extra(args) -> dict``
    the targets in the peer's own format (MONAI's ``(N, 1, H, W)`` labels, torch's -1-padded
    multilabel indices, -1/+1 signs), computed once, outside the timing.

Adding a loss is one line at the end of this file; ``python -m bench`` lists the registered
losses that have no entry yet (and still times them, without a peer).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import losskit
from bench import formulas, peers
from losskit._spec import Family

SIZES = {"small": 1_000, "medium": 100_000, "large": 1_000_000}

Peer = Callable[[tuple[Any, ...], dict[str, Any]], Tensor]
Extra = Callable[[tuple[Any, ...]], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    peer: Peer | None = None
    peer_name: str = ""
    native: bool = False
    note: str = ""
    extra: Extra | None = None  # the peer's own target formats, from the example's args
    formula: bool = False  # the peer is the docstring's formula in plain torch (bench/formulas)


CASES: dict[str, Case] = {}
NO_CASE = Case()  # a registered loss nobody has looked for a peer of yet


def add(
    name: str,
    peer: Peer | None = None,
    peer_name: str = "",
    *,
    native: bool = False,
    note: str = "",
    extra: Extra | None = None,
) -> None:
    CASES[name] = Case(peer, peer_name, native, note, extra)


def torch_peer(fn: Callable[..., Tensor], name: str) -> dict[str, Any]:
    """Peer = a torch function called on the loss's own positional tensors."""
    return {"peer": lambda a, x: fn(*a), "peer_name": name, "native": True}


# ----------------------------------------------------------------------------- peer formats
def _labels_with_channel(a: tuple[Any, ...]) -> dict[str, Any]:
    """MONAI's labels: ``(N, 1, H, W)``."""
    return {"y1": a[1][:, None]}


def _multilabel_indices(a: tuple[Any, ...]) -> dict[str, Any]:
    """torch's multilabel_margin target: the positive class indices first, then -1."""
    t = a[1]
    order = torch.argsort(-t, dim=1, stable=True)
    return {
        "indices": torch.where(torch.gather(t, 1, order) > 0, order, torch.full_like(order, -1))
    }


def _signs(a: tuple[Any, ...]) -> dict[str, Any]:
    """0/1 targets as the -1/+1 labels of torch's soft_margin_loss."""
    return {"signs": a[1] * 2 - 1}


# ----------------------------------------------------------------------------- peers
_MODULES: dict[Any, Any] = {}


def _monai(cls: str, **options: Any) -> dict[str, Any]:
    def call(a: tuple[Any, ...], x: dict[str, Any]) -> Tensor:
        key = ("monai", cls, tuple(sorted(options.items())))
        if key not in _MODULES:
            losses = peers.load("monai.losses")
            if losses is None:
                raise ModuleNotFoundError("monai")
            _MODULES[key] = getattr(losses, cls)(**options)
        return _MODULES[key](a[0], x["y1"])

    return {"peer": call, "extra": _labels_with_channel}


def _pml(cls: str, **options: Any) -> Peer:
    def call(a: tuple[Any, ...], x: dict[str, Any]) -> Tensor:
        key = ("pml", cls, tuple(sorted(options.items())))
        if key not in _MODULES:
            losses = peers.load("pytorch_metric_learning.losses")
            if losses is None:
                raise ModuleNotFoundError("pytorch-metric-learning")
            opts = dict(options)
            if opts.pop("unnormalised", False):
                distances = peers.load("pytorch_metric_learning.distances")
                opts["distance"] = distances.LpDistance(normalize_embeddings=False)
            _MODULES[key] = getattr(losses, cls)(**opts)
        return _MODULES[key](a[0], a[1])

    return call


def _kornia(fn: str, **options: Any) -> Callable[..., Tensor]:
    def call(*args: Tensor) -> Tensor:
        losses = peers.load("kornia.losses")
        if losses is None:
            raise ModuleNotFoundError("kornia")
        return getattr(losses, fn)(*args, **options)

    return call


def _info_nce_peer(a: tuple[Any, ...], x: dict[str, Any]) -> Tensor:
    sim = F.normalize(a[0], dim=1) @ F.normalize(a[1], dim=1).T / 0.07
    return F.cross_entropy(sim, torch.arange(len(sim)))


def _clip_peer(a: tuple[Any, ...], x: dict[str, Any]) -> Tensor:
    logits = math.exp(2.659260036932778) * F.normalize(a[0], dim=1) @ F.normalize(a[1], dim=1).T
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def _no_peer(*names: str) -> None:
    """Losses no installed library has: their peer is the plain-torch formula of their
    docstring (``bench/formulas``), or none until one is written."""
    for name in names:
        if name in _FORMULAS:
            description, fn = _FORMULAS[name]
            CASES[name] = Case(lambda a, x, f=fn: f(a, x["kwargs"]), description, formula=True)
        else:
            add(name)


_FORMULAS = formulas.all_formulas()


# ----------------------------------------------------------------------------- regression
add("mse", **torch_peer(F.mse_loss, "torch mse_loss"))
add("mae", **torch_peer(F.l1_loss, "torch l1_loss"))
add("rmse", **torch_peer(lambda p, t: torch.sqrt(F.mse_loss(p, t)), "torch sqrt(mse)"))
add("huber", **torch_peer(F.huber_loss, "torch huber_loss"))
add("smooth_l1", **torch_peer(F.smooth_l1_loss, "torch smooth_l1_loss"))
add("poisson_nll", **torch_peer(F.poisson_nll_loss, "torch poisson_nll_loss"))
add("gaussian_nll", **torch_peer(F.gaussian_nll_loss, "torch gaussian_nll_loss"))
_CHARBONNIER = _kornia("charbonnier_loss", reduction="mean")
add("pseudo_huber", lambda a, x: _CHARBONNIER(a[0], a[1]), "kornia charbonnier_loss")
add("barron", lambda a, x: _CHARBONNIER(a[0], a[1]), "kornia charbonnier_loss (alpha=1)")
_no_peer("log_cosh", "mape", "msle", "quantile", "tweedie_deviance", "crps_gaussian")
_no_peer("student_t_nll")

# ----------------------------------------------------------------------------- binary
add("bce", **torch_peer(F.binary_cross_entropy, "torch binary_cross_entropy"))
add(
    "bce_with_logits",
    **torch_peer(F.binary_cross_entropy_with_logits, "torch binary_cross_entropy_with_logits"),
)
add("brier", **torch_peer(F.mse_loss, "torch mse_loss"))
add(
    "soft_margin",
    lambda a, x: F.soft_margin_loss(a[0], x["signs"]),
    "torch soft_margin_loss",
    native=True,
    extra=_signs,
)
add(
    "sigmoid_focal",
    lambda a, x: peers.tv_sigmoid_focal_loss(a[0], a[1]),
    "torchvision sigmoid_focal_loss (formula)",
)
_no_peer("mnist_loss", "hinge", "squared_hinge", "perceptron", "exponential")

# ----------------------------------------------------------------------------- multiclass
add("cross_entropy", **torch_peer(F.cross_entropy, "torch cross_entropy"))
add("nll", **torch_peer(F.nll_loss, "torch nll_loss"))
add("soft_cross_entropy", **torch_peer(F.cross_entropy, "torch cross_entropy (probabilities)"))
add("multi_margin", **torch_peer(F.multi_margin_loss, "torch multi_margin_loss"))
add(
    "softmax_focal",
    # kornia's "mean" also divides by C (it averages an (N, C) tensor): its sum over N
    lambda a, x: _kornia("focal_loss", alpha=None, reduction="sum")(a[0], a[1]) / len(a[0]),
    "kornia focal_loss (sum / N)",
)
_no_peer("logit_adjusted_cross_entropy", "generalized_cross_entropy", "multiclass_hinge")
_no_peer("poly1_cross_entropy", "sparsemax_loss", "z_loss")

# ----------------------------------------------------------------------------- multilabel
add(
    "multilabel_soft_margin",
    **torch_peer(F.multilabel_soft_margin_loss, "torch multilabel_soft_margin_loss"),
)
add(
    "multilabel_margin",
    lambda a, x: F.multilabel_margin_loss(a[0], x["indices"]),
    "torch multilabel_margin_loss",
    native=True,
    extra=_multilabel_indices,
)
_no_peer("asymmetric_loss")

# ----------------------------------------------------------------------------- overlap
_SMOOTH = {"smooth_nr": 1e-5, "smooth_dr": 1e-5, "softmax": True, "to_onehot_y": True}
add("dice", peer_name="MONAI DiceLoss", **_monai("DiceLoss", **_SMOOTH))
add("jaccard", peer_name="MONAI DiceLoss(jaccard)", **_monai("DiceLoss", jaccard=True, **_SMOOTH))
add(
    "tversky",
    peer_name="MONAI TverskyLoss",
    **_monai("TverskyLoss", alpha=0.3, beta=0.7, **_SMOOTH),
)
add(
    "generalized_dice",
    peer_name="MONAI GeneralizedDiceLoss",
    note="weights normalised per image here (only the scale at which smooth acts differs)",
    **_monai("GeneralizedDiceLoss", w_type="square", **_SMOOTH),
)
add(
    "dice_cross_entropy",
    peer_name="MONAI DiceCELoss",
    **_monai("DiceCELoss", include_background=False, **_SMOOTH),
)
_no_peer("focal_tversky")
add(
    "lovasz_softmax",
    lambda a, x: _kornia("lovasz_softmax_loss")(a[0], a[1]),
    "kornia lovasz_softmax_loss",
)
add(
    "lovasz_hinge",
    lambda a, x: _kornia("lovasz_hinge_loss")(a[0][:, None], a[1]),
    "kornia lovasz_hinge_loss",
)

# ----------------------------------------------------------------------------- divergence
add(
    "kl_div",
    lambda a, x: F.kl_div(a[0], a[1], reduction="batchmean"),
    "torch kl_div(batchmean)",
    native=True,
)
add(
    "distillation",
    lambda a, x: F.kl_div(
        F.log_softmax(a[0], 1), F.log_softmax(a[1], 1), log_target=True, reduction="batchmean"
    ),
    "torch kl_div(log_softmax, log_softmax)",
    native=True,
)
_no_peer("js_div")

# ----------------------------------------------------------------------------- embedding
add("supcon", _pml("SupConLoss", temperature=0.07), "PML SupConLoss")
add("info_nce", _info_nce_peer, "torch cross_entropy on cosine logits", native=True)
add("clip_loss", _clip_peer, "torch symmetric cross_entropy", native=True)
_no_peer("siglip_loss")
add(
    "contrastive",
    _pml("ContrastiveLoss", pos_margin=0.0, neg_margin=1.0, unnormalised=True),
    "PML ContrastiveLoss",
    note="PML averages the non-zero positive and negative pair losses apart: values differ",
)
add("triplet_margin", **torch_peer(F.triplet_margin_loss, "torch triplet_margin_loss"))
add("cosine_embedding", **torch_peer(F.cosine_embedding_loss, "torch cosine_embedding_loss"))
add("hinge_embedding", **torch_peer(F.hinge_embedding_loss, "torch hinge_embedding_loss"))

# ----------------------------------------------------------------------------- ranking
add("margin_ranking", **torch_peer(F.margin_ranking_loss, "torch margin_ranking_loss"))
_no_peer("ranking_softmax")

# ----------------------------------------------------------------------------- sequence
add("ctc", **torch_peer(F.ctc_loss, "torch ctc_loss"))

# ----------------------------------------------------------------------------- boxes
add("giou", lambda a, x: peers.tv_generalized_box_iou_loss(a[0], a[1]),
    "torchvision generalized_box_iou_loss (formula)")  # fmt: skip
add("diou", lambda a, x: peers.tv_distance_box_iou_loss(a[0], a[1]),
    "torchvision distance_box_iou_loss (formula)")  # fmt: skip
add("ciou", lambda a, x: peers.tv_complete_box_iou_loss(a[0], a[1]),
    "torchvision complete_box_iou_loss (formula)")  # fmt: skip

# ----------------------------------------------------------------------------- large vocab
add(
    "linear_cross_entropy",
    lambda a, x: F.linear_cross_entropy(a[0], a[1], a[2]),
    "torch linear_cross_entropy (default options)",
    native=True,
)


def _naive_distillation(a: tuple[Any, ...], x: dict[str, Any]) -> Tensor:
    from bench.lce import naive_distillation

    return naive_distillation(*a)


add(
    "linear_distillation",
    _naive_distillation,
    "plain torch on the materialised logits (TRL GKD's generalized JSD)",
    native=True,
)


def _topk_gathered(a: tuple[Any, ...], x: dict[str, Any]) -> Tensor:
    """The obvious code: the full student logits, the teacher's K columns gathered, both
    renormalised by log_softmax over K, F.kl_div with log targets, mean over the tokens."""
    h, w, values, ids = a[:4]
    s = (h @ w.T).gather(-1, ids)
    ls, lt = torch.log_softmax(s, -1), torch.log_softmax(values, -1)
    return F.kl_div(ls, lt, reduction="none", log_target=True).sum(-1).mean()


add(
    "linear_topk_distillation",
    _topk_gathered,
    "plain torch: full student logits, gathered at the teacher's top k",
    native=True,
)

# ----------------------------------------------------------------------------- moe
_no_peer("load_balancing_loss")

# ----------------------------------------------------------------------------- preference, policy
# No library computes these from log-probabilities alone with the same options: each loss's peer
# is the plain-torch formula of its docstring (bench/formulas/preference.py, policy.py).
_no_peer(
    *(
        s.name
        for s in losskit.list_specs()
        if s.family in (Family.PREFERENCE, Family.POLICY) and s.name not in CASES
    )
)
