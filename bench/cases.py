"""Inputs and peers for every loss the suite knows, as data: one entry per loss name.

An entry is ``add(name, make, peer, peer_name, native)``:

``make(n, gen) -> Inputs``
    inputs whose main tensor has about ``n`` elements (``SIZES``: small, medium, large); losses
    over pairs of a batch (supcon, info_nce, ...) read ``n`` as the entries of the ``N x N``
    similarity matrix, so their ``N`` is ``sqrt(n)``.
``peer(args, extra) -> Tensor``
    the same maths by the fastest other implementation installed, called on the same tensors
    (``extra`` holds targets pre-converted to the peer's format, outside the timing), or None
    when no peer has the loss.
``native``
    True when the peer is PyTorch itself (target: ours <= 1.05x), False for another library
    (target: ours <= 1.0x at the medium and large sizes).

Adding a loss is a few lines at the end of this file; ``python -m bench`` lists the registered
losses that have no entry yet.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from bench import peers

SIZES = {"small": 1_000, "medium": 100_000, "large": 1_000_000}


@dataclass
class Inputs:
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    grad: tuple[int, ...] = (0,)  # positions in args that get requires_grad
    extra: dict[str, Any] = field(default_factory=dict)  # the peer's own target formats


Make = Callable[[int, torch.Generator], Inputs]
Peer = Callable[[tuple[Any, ...], dict[str, Any]], Tensor]


@dataclass(frozen=True)
class Case:
    make: Make
    peer: Peer | None = None
    peer_name: str = ""
    native: bool = False
    note: str = ""


CASES: dict[str, Case] = {}


def add(
    name: str,
    make: Make,
    peer: Peer | None = None,
    peer_name: str = "",
    *,
    native: bool = False,
    note: str = "",
) -> None:
    CASES[name] = Case(make, peer, peer_name, native, note)


def torch_peer(fn: Callable[..., Tensor], name: str) -> dict[str, Any]:
    """Peer = a torch function called on the loss's own positional tensors."""
    return {"peer": lambda a, x: fn(*a), "peer_name": name, "native": True}


# ----------------------------------------------------------------------------- input makers
def _randn(g: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(shape, generator=g)


def _rand(g: torch.Generator, *shape: int) -> Tensor:
    return torch.rand(shape, generator=g)


def _bits(g: torch.Generator, *shape: int) -> Tensor:
    return torch.randint(0, 2, shape, generator=g).float()


def _sign(g: torch.Generator, *shape: int) -> Tensor:
    return _bits(g, *shape) * 2 - 1


def values(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    return Inputs((_randn(g, n), _randn(g, n)), kw)


def positive(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    return Inputs((_rand(g, n) + 0.1, _rand(g, n) + 0.1), kw)


def logits01(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    return Inputs((2 * _randn(g, n), _bits(g, n)), kw)


def probs01(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    return Inputs((_rand(g, n) * 0.98 + 0.01, _bits(g, n)), kw)


def _classes(n: int) -> tuple[int, int]:
    c = 10 if n < 10_000 else 100
    return max(1, n // c), c


def class_logits(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    rows, c = _classes(n)
    return Inputs((2 * _randn(g, rows, c), torch.randint(0, c, (rows,), generator=g)), kw)


def class_log_probs(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    inp = class_logits(n, g, **kw)
    return Inputs((torch.log_softmax(inp.args[0], 1), inp.args[1]), kw)


def class_probs(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    rows, c = _classes(n)
    return Inputs((2 * _randn(g, rows, c), torch.softmax(_randn(g, rows, c), 1)), kw)


def two_distributions(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    rows, c = _classes(n)
    return Inputs(
        (torch.log_softmax(_randn(g, rows, c), 1), torch.softmax(_randn(g, rows, c), 1)), kw
    )


def multihot(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    rows, c = _classes(n)
    return Inputs((_randn(g, rows, c), _bits(g, rows, c)), kw)


def _seg_shape(n: int, c: int) -> tuple[int, int]:
    batch = 2 if n < 10_000 else 4
    return batch, max(2, round(math.sqrt(n / (batch * c))))


def segmentation(n: int, g: torch.Generator, c: int = 4, **kw: Any) -> Inputs:
    """(N, C, H, W) logits and (N, H, W) labels; the peer's (N, 1, H, W) labels in extra."""
    batch, side = _seg_shape(n, c)
    labels = torch.randint(0, c, (batch, side, side), generator=g)
    return Inputs((_randn(g, batch, c, side, side), labels), kw, extra={"y1": labels[:, None]})


def binary_masks(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    batch, side = _seg_shape(n, 1)
    return Inputs((_randn(g, batch, side, side), _bits(g, batch, side, side)), kw)


def _pair_rows(n: int) -> int:
    return max(4, round(math.sqrt(n)))


def embeddings_labels(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    rows = _pair_rows(n)
    return Inputs(
        (_randn(g, rows, 64), torch.randint(0, max(2, rows // 4), (rows,), generator=g)), kw
    )


def query_key(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    rows = _pair_rows(n)
    return Inputs((_randn(g, rows, 64), _randn(g, rows, 64)), kw, grad=(0, 1))


def triplets(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    rows = max(1, n // 64)
    return Inputs(tuple(_randn(g, rows, 64) for _ in range(3)), kw, grad=(0, 1, 2))


def cosine_pairs(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    rows = max(1, n // 64)
    return Inputs((_randn(g, rows, 64), _randn(g, rows, 64), _sign(g, rows)), kw, grad=(0, 1))


def ranking_pairs(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    return Inputs((_randn(g, n), _randn(g, n), _sign(g, n)), kw, grad=(0, 1))


def boxes(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    rows = max(1, n // 4)

    def make() -> Tensor:
        xy = _rand(g, rows, 2) * 10
        return torch.cat([xy, xy + _rand(g, rows, 2) * 5 + 0.5], 1)

    return Inputs((make(), make()), kw)


def ctc_inputs(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    t, c, s = 50, 20, 10
    batch = max(1, n // (t * c))
    log_probs = torch.log_softmax(_randn(g, t, batch, c), 2)
    targets = torch.randint(1, c, (batch, s), generator=g)
    lengths = torch.full((batch,), t, dtype=torch.long), torch.full((batch,), s, dtype=torch.long)
    return Inputs((log_probs, targets, *lengths), kw)


def lm_head(n: int, g: torch.Generator, **kw: Any) -> Inputs:
    """``n`` = entries of the (N, V) logits the loss never holds."""
    tokens, vocab, dim = {1_000: (32, 32, 16), 100_000: (256, 512, 64)}.get(n, (1024, 1024, 128))
    hidden = _randn(g, tokens, dim) / math.sqrt(dim)
    weight = _randn(g, vocab, dim)
    return Inputs(
        (hidden, weight, torch.randint(0, vocab, (tokens,), generator=g)), kw, grad=(0, 1)
    )


# ----------------------------------------------------------------------------- peers
def _monai(cls: str, **options: Any) -> Peer:
    def call(a: tuple[Any, ...], x: dict[str, Any]) -> Tensor:
        return _monai_module(cls, tuple(sorted(options.items())))(a[0], x["y1"])

    return call


def _monai_module(cls: str, options: tuple[tuple[str, Any], ...]) -> Any:
    key = (cls, options)
    if key not in _MODULES:
        losses = peers.load("monai.losses")
        if losses is None:
            raise ModuleNotFoundError("monai")
        _MODULES[key] = getattr(losses, cls)(**dict(options))
    return _MODULES[key]


_MODULES: dict[Any, Any] = {}


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


def _multilabel_indices(inp: Inputs) -> Inputs:
    """torch's multilabel_margin target: the positive class indices first, then -1."""
    t = inp.args[1]
    order = torch.argsort(-t, dim=1, stable=True)
    idx = torch.where(torch.gather(t, 1, order) > 0, order, torch.full_like(order, -1))
    inp.extra["indices"] = idx
    return inp


def _info_nce_peer(a: tuple[Any, ...], x: dict[str, Any]) -> Tensor:
    sim = F.normalize(a[0], dim=1) @ F.normalize(a[1], dim=1).T / 0.07
    return F.cross_entropy(sim, torch.arange(len(sim)))


def _clip_peer(a: tuple[Any, ...], x: dict[str, Any]) -> Tensor:
    logits = math.exp(2.659260036932778) * F.normalize(a[0], dim=1) @ F.normalize(a[1], dim=1).T
    target = torch.arange(len(logits))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


# ----------------------------------------------------------------------------- regression
add("mse", values, **torch_peer(F.mse_loss, "torch mse_loss"))
add("mae", values, **torch_peer(F.l1_loss, "torch l1_loss"))
add("rmse", values, **torch_peer(lambda p, t: torch.sqrt(F.mse_loss(p, t)), "torch sqrt(mse)"))
add("huber", values, **torch_peer(F.huber_loss, "torch huber_loss"))
add("smooth_l1", values, **torch_peer(F.smooth_l1_loss, "torch smooth_l1_loss"))
add(
    "poisson_nll",
    lambda n, g: Inputs((_randn(g, n), torch.poisson(_rand(g, n) * 3, generator=g))),
    **torch_peer(F.poisson_nll_loss, "torch poisson_nll_loss"),
)
add(
    "gaussian_nll",
    lambda n, g: Inputs((_randn(g, n), _randn(g, n), _rand(g, n) + 0.1), grad=(0, 2)),
    **torch_peer(F.gaussian_nll_loss, "torch gaussian_nll_loss"),
)
add(
    "pseudo_huber",
    values,
    lambda a, x: _kornia("charbonnier_loss", reduction="mean")(a[0], a[1]),
    "kornia charbonnier_loss",
)
add(
    "barron",
    lambda n, g: values(n, g, alpha=1.0),
    lambda a, x: _kornia("charbonnier_loss", reduction="mean")(a[0], a[1]),
    "kornia charbonnier_loss (alpha=1)",
)
add("log_cosh", values)
add("mape", positive)
add("msle", positive)
add("quantile", lambda n, g: values(n, g, q=0.9))
add("tweedie_deviance", lambda n, g: positive(n, g, power=1.5))
add(
    "crps_gaussian",
    lambda n, g: Inputs((_randn(g, n), _randn(g, n), _rand(g, n) + 0.1), grad=(0, 2)),
)
add(
    "student_t_nll",
    lambda n, g: Inputs((_randn(g, n), _randn(g, n), _rand(g, n) + 0.1), {"df": 3.0}, (0, 2)),
)

# ----------------------------------------------------------------------------- binary
add("bce", probs01, **torch_peer(F.binary_cross_entropy, "torch binary_cross_entropy"))
add(
    "bce_with_logits",
    logits01,
    **torch_peer(F.binary_cross_entropy_with_logits, "torch binary_cross_entropy_with_logits"),
)
add("brier", probs01, **torch_peer(F.mse_loss, "torch mse_loss"))
add(
    "soft_margin",
    lambda n, g: _with_sign_targets(logits01(n, g)),
    lambda a, x: F.soft_margin_loss(a[0], x["signs"]),
    "torch soft_margin_loss",
    native=True,
)
add(
    "sigmoid_focal",
    logits01,
    lambda a, x: peers.tv_sigmoid_focal_loss(a[0], a[1]),
    "torchvision sigmoid_focal_loss (formula)",
)
for _name in ("mnist_loss", "hinge", "squared_hinge", "perceptron", "exponential"):
    add(_name, logits01)


def _with_sign_targets(inp: Inputs) -> Inputs:
    inp.extra["signs"] = inp.args[1] * 2 - 1
    return inp


# ----------------------------------------------------------------------------- multiclass
add("cross_entropy", class_logits, **torch_peer(F.cross_entropy, "torch cross_entropy"))
add("nll", class_log_probs, **torch_peer(F.nll_loss, "torch nll_loss"))
add(
    "soft_cross_entropy",
    class_probs,
    **torch_peer(F.cross_entropy, "torch cross_entropy (probabilities)"),
)
add("multi_margin", class_logits, **torch_peer(F.multi_margin_loss, "torch multi_margin_loss"))
add(
    "softmax_focal",
    class_logits,
    # kornia's "mean" also divides by C (it averages an (N, C) tensor): its sum over N
    lambda a, x: _kornia("focal_loss", alpha=None, reduction="sum")(a[0], a[1]) / len(a[0]),
    "kornia focal_loss (sum / N)",
)
add(
    "logit_adjusted_cross_entropy",
    lambda n, g: class_logits(n, g, class_priors=torch.softmax(_randn(g, _classes(n)[1]), 0)),
)
for _name in (
    "generalized_cross_entropy",
    "multiclass_hinge",
    "poly1_cross_entropy",
    "sparsemax_loss",
    "z_loss",
):
    add(_name, class_logits)

# ----------------------------------------------------------------------------- multilabel
add(
    "multilabel_soft_margin",
    multihot,
    **torch_peer(F.multilabel_soft_margin_loss, "torch multilabel_soft_margin_loss"),
)
add(
    "multilabel_margin",
    lambda n, g: _multilabel_indices(multihot(n, g)),
    lambda a, x: F.multilabel_margin_loss(a[0], x["indices"]),
    "torch multilabel_margin_loss",
    native=True,
)
add("asymmetric_loss", multihot)

# ----------------------------------------------------------------------------- overlap
_SMOOTH = {"smooth_nr": 1e-5, "smooth_dr": 1e-5, "softmax": True, "to_onehot_y": True}
add("dice", segmentation, _monai("DiceLoss", **_SMOOTH), "MONAI DiceLoss")
add("jaccard", segmentation, _monai("DiceLoss", jaccard=True, **_SMOOTH), "MONAI DiceLoss(jaccard)")
add(
    "tversky",
    segmentation,
    _monai("TverskyLoss", alpha=0.3, beta=0.7, **_SMOOTH),
    "MONAI TverskyLoss",
)
add(
    "generalized_dice",
    segmentation,
    _monai("GeneralizedDiceLoss", w_type="square", **_SMOOTH),
    "MONAI GeneralizedDiceLoss",
    note="weights normalised per image here (only the scale at which smooth acts differs)",
)
add(
    "dice_cross_entropy",
    segmentation,
    _monai("DiceCELoss", include_background=False, **_SMOOTH),
    "MONAI DiceCELoss",
)
add("focal_tversky", segmentation)
add(
    "lovasz_softmax",
    lambda n, g: segmentation(n, g, classes="all"),
    lambda a, x: _kornia("lovasz_softmax_loss")(a[0], a[1]),
    "kornia lovasz_softmax_loss",
)
add(
    "lovasz_hinge",
    binary_masks,
    lambda a, x: _kornia("lovasz_hinge_loss")(a[0][:, None], a[1]),
    "kornia lovasz_hinge_loss",
)

# ----------------------------------------------------------------------------- divergence
add(
    "kl_div",
    two_distributions,
    lambda a, x: F.kl_div(a[0], a[1], reduction="batchmean"),
    "torch kl_div(batchmean)",
    native=True,
)
add(
    "distillation",
    class_probs,  # the second tensor only needs the teacher's shape: use it as logits
    lambda a, x: F.kl_div(
        F.log_softmax(a[0], 1), F.log_softmax(a[1], 1), log_target=True, reduction="batchmean"
    ),
    "torch kl_div(log_softmax, log_softmax)",
    native=True,
)
add("js_div", two_distributions)

# ----------------------------------------------------------------------------- embedding
add("supcon", embeddings_labels, _pml("SupConLoss", temperature=0.07), "PML SupConLoss")
add("info_nce", query_key, _info_nce_peer, "torch cross_entropy on cosine logits", native=True)
add("clip_loss", query_key, _clip_peer, "torch symmetric cross_entropy", native=True)
add(
    "contrastive",
    embeddings_labels,
    _pml("ContrastiveLoss", pos_margin=0.0, neg_margin=1.0, unnormalised=True),
    "PML ContrastiveLoss",
    note="PML averages the non-zero positive and negative pair losses apart: values differ",
)
add(
    "triplet_margin",
    triplets,
    **torch_peer(F.triplet_margin_loss, "torch triplet_margin_loss"),
)
add(
    "cosine_embedding",
    cosine_pairs,
    **torch_peer(F.cosine_embedding_loss, "torch cosine_embedding_loss"),
)
add(
    "hinge_embedding",
    lambda n, g: Inputs((_rand(g, n) * 2, _sign(g, n))),
    **torch_peer(F.hinge_embedding_loss, "torch hinge_embedding_loss"),
)

# ----------------------------------------------------------------------------- ranking
add(
    "margin_ranking",
    ranking_pairs,
    **torch_peer(F.margin_ranking_loss, "torch margin_ranking_loss"),
)
add(
    "ranking_softmax",
    lambda n, g: Inputs((_randn(g, max(1, n // 32), 32), _rand(g, max(1, n // 32), 32))),
)

# ----------------------------------------------------------------------------- sequence
add("ctc", ctc_inputs, **torch_peer(F.ctc_loss, "torch ctc_loss"))

# ----------------------------------------------------------------------------- boxes
add("giou", boxes, lambda a, x: peers.tv_generalized_box_iou_loss(a[0], a[1]),
    "torchvision generalized_box_iou_loss (formula)")  # fmt: skip
add("diou", boxes, lambda a, x: peers.tv_distance_box_iou_loss(a[0], a[1]),
    "torchvision distance_box_iou_loss (formula)")  # fmt: skip
add("ciou", boxes, lambda a, x: peers.tv_complete_box_iou_loss(a[0], a[1]),
    "torchvision complete_box_iou_loss (formula)")  # fmt: skip

# ----------------------------------------------------------------------------- large vocab
add(
    "linear_cross_entropy",
    lm_head,
    lambda a, x: F.linear_cross_entropy(a[0], a[1], a[2]),
    "torch linear_cross_entropy (default options)",
    native=True,
)
