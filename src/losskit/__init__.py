"""losskit: loss functions for PyTorch that are correct, explain themselves, and show why a
metric is not a loss.

Every loss is a function ``loss(predictions, targets, *, options) -> Tensor`` with a
``torch.nn.Module`` form in :mod:`losskit.nn` and a :class:`LossSpec` in the registry.
"""

from losskit import distributed, nn
from losskit import losses as _losses  # noqa: F401  (registers every loss)
from losskit._checks import LossInputError, checks, get_check_mode
from losskit._spec import LossSpec, UnknownLossError, get_spec, list_specs, register
from losskit.audit import AuditReport, audit
from losskit.losses._binary import (
    bce,
    bce_with_logits,
    brier,
    exponential,
    hinge,
    mnist_loss,
    perceptron,
    sigmoid_focal,
    soft_margin,
    squared_hinge,
)
from losskit.losses._boxes import (
    ciou,
    diou,
    giou,
)
from losskit.losses._contrastive import (
    clip_loss,
    info_nce,
    supcon,
)
from losskit.losses._divergence import (
    distillation,
    js_div,
    kl_div,
)
from losskit.losses._embedding import (
    contrastive,
    cosine_embedding,
    hinge_embedding,
    margin_ranking,
    ranking_softmax,
    triplet_margin,
)
from losskit.losses._large_vocab import (
    default_chunk_size,
    linear_cross_entropy,
)
from losskit.losses._lovasz import (
    lovasz_hinge,
    lovasz_softmax,
)
from losskit.losses._multiclass import (
    cross_entropy,
    generalized_cross_entropy,
    logit_adjusted_cross_entropy,
    multi_margin,
    multiclass_hinge,
    nll,
    poly1_cross_entropy,
    soft_cross_entropy,
    softmax_focal,
    sparsemax_loss,
    z_loss,
)
from losskit.losses._multilabel import (
    asymmetric_loss,
    multilabel_margin,
    multilabel_soft_margin,
)
from losskit.losses._overlap import (
    dice,
    dice_cross_entropy,
    focal_tversky,
    generalized_dice,
    jaccard,
    tversky,
)
from losskit.losses._probabilistic import (
    crps_gaussian,
    gaussian_nll,
    poisson_nll,
    student_t_nll,
    tweedie_deviance,
)
from losskit.losses._regression import (
    barron,
    huber,
    log_cosh,
    mae,
    mape,
    mse,
    msle,
    pseudo_huber,
    quantile,
    rmse,
    smooth_l1,
)
from losskit.losses._sequence import (
    ctc,
)
from losskit.metrics import accuracy, accuracy_as_loss, error_rate

__version__ = "0.1.0"

__all__ = [
    "AuditReport",
    "LossInputError",
    "LossSpec",
    "UnknownLossError",
    "__version__",
    "accuracy",
    "accuracy_as_loss",
    "asymmetric_loss",
    "audit",
    "barron",
    "bce",
    "bce_with_logits",
    "brier",
    "checks",
    "ciou",
    "clip_loss",
    "contrastive",
    "cosine_embedding",
    "cross_entropy",
    "crps_gaussian",
    "ctc",
    "default_chunk_size",
    "dice",
    "dice_cross_entropy",
    "diou",
    "distillation",
    "distributed",
    "error_rate",
    "exponential",
    "focal_tversky",
    "gaussian_nll",
    "generalized_cross_entropy",
    "generalized_dice",
    "get_check_mode",
    "get_spec",
    "giou",
    "hinge",
    "hinge_embedding",
    "huber",
    "info_nce",
    "jaccard",
    "js_div",
    "kl_div",
    "linear_cross_entropy",
    "list_specs",
    "log_cosh",
    "logit_adjusted_cross_entropy",
    "lovasz_hinge",
    "lovasz_softmax",
    "mae",
    "mape",
    "margin_ranking",
    "mnist_loss",
    "mse",
    "msle",
    "multi_margin",
    "multiclass_hinge",
    "multilabel_margin",
    "multilabel_soft_margin",
    "nll",
    "nn",
    "perceptron",
    "poisson_nll",
    "poly1_cross_entropy",
    "pseudo_huber",
    "quantile",
    "ranking_softmax",
    "register",
    "rmse",
    "sigmoid_focal",
    "smooth_l1",
    "soft_cross_entropy",
    "soft_margin",
    "softmax_focal",
    "sparsemax_loss",
    "squared_hinge",
    "student_t_nll",
    "supcon",
    "triplet_margin",
    "tversky",
    "tweedie_deviance",
    "z_loss",
]
