"""``torch.nn.Module`` forms of every loss: thin wrappers that store hyper-parameters and call
the functional loss, with fastai-style ``activation`` and ``decodes``."""

from losskit.nn import (  # noqa: F401  (imported for their Module registrations)
    _boxes,
    _contrastive,
    _divergence,
    _embedding,
    _large_vocab,
    _multilabel,
    _overlap,
    _sequence,
)
from losskit.nn._base import MODULES, LossModule, module_for
from losskit.nn._binary import BCELoss, BCEWithLogitsLoss, MNISTLoss
from losskit.nn._multiclass import CrossEntropyLoss, NLLLoss
from losskit.nn._regression import (
    BarronLoss,
    CRPSGaussianLoss,
    GaussianNLLLoss,
    HuberLoss,
    LogCoshLoss,
    MAELoss,
    MAPELoss,
    MSELoss,
    MSLELoss,
    PoissonNLLLoss,
    PseudoHuberLoss,
    QuantileLoss,
    RMSELoss,
    SmoothL1Loss,
    StudentTNLLLoss,
    TweedieDevianceLoss,
)

__all__ = [
    "MODULES",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BarronLoss",
    "CRPSGaussianLoss",
    "CrossEntropyLoss",
    "GaussianNLLLoss",
    "HuberLoss",
    "LogCoshLoss",
    "LossModule",
    "MAELoss",
    "MAPELoss",
    "MNISTLoss",
    "MSELoss",
    "MSLELoss",
    "NLLLoss",
    "PoissonNLLLoss",
    "PseudoHuberLoss",
    "QuantileLoss",
    "RMSELoss",
    "SmoothL1Loss",
    "StudentTNLLLoss",
    "TweedieDevianceLoss",
    "module_for",
]
