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
from losskit.nn._regression import MAELoss, MSELoss, RMSELoss

__all__ = [
    "MODULES",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "LossModule",
    "MAELoss",
    "MNISTLoss",
    "MSELoss",
    "NLLLoss",
    "RMSELoss",
    "module_for",
]
