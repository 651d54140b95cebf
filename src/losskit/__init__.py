"""losskit: loss functions for PyTorch that are correct, explain themselves, and show why a
metric is not a loss.

Every loss is a function ``loss(predictions, targets, *, options) -> Tensor`` with a
``torch.nn.Module`` form in :mod:`losskit.nn` and a :class:`LossSpec` in the registry.
"""

from losskit import distributed, metrics, nn
from losskit import losses as _losses
from losskit._checks import LossInputError, checks, get_check_mode
from losskit._spec import LossSpec, UnknownLossError, get_spec, list_specs, register
from losskit.audit import AuditReport, audit
from losskit.losses import *  # noqa: F403
from losskit.metrics import accuracy, accuracy_as_loss, error_rate
from losskit.suggest import suggest

__version__ = "0.1.0"

__all__ = [
    "AuditReport",
    "LossInputError",
    "LossSpec",
    "UnknownLossError",
    "__version__",
    "accuracy",
    "accuracy_as_loss",
    "audit",
    "checks",
    "distributed",
    "error_rate",
    "get_check_mode",
    "get_spec",
    "list_specs",
    "metrics",
    "nn",
    "register",
    "suggest",
]
__all__ += [
    name for name in vars(_losses) if not name.startswith("_")
]  # the family modules' __all__
