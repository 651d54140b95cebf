"""losskit: loss functions for PyTorch that are correct, explain themselves, and show why a
metric is not a loss.

Every loss is a function ``loss(predictions, targets, *, options) -> Tensor`` with a
``torch.nn.Module`` form in :mod:`losskit.nn` and a :class:`LossSpec` in the registry.
"""

from losskit import losses as _losses  # noqa: F401  (registers every loss)
from losskit import nn
from losskit._checks import LossInputError, checks, get_check_mode
from losskit._spec import LossSpec, UnknownLossError, get_spec, list_specs, register
from losskit.losses._binary import bce, bce_with_logits, mnist_loss
from losskit.losses._multiclass import cross_entropy, nll
from losskit.losses._regression import (
    barron,
    crps_gaussian,
    gaussian_nll,
    huber,
    log_cosh,
    mae,
    mape,
    mse,
    msle,
    poisson_nll,
    pseudo_huber,
    quantile,
    rmse,
    smooth_l1,
    student_t_nll,
    tweedie_deviance,
)
from losskit.metrics import accuracy, accuracy_as_loss, error_rate

__version__ = "0.1.0"

__all__ = [
    "LossInputError",
    "LossSpec",
    "UnknownLossError",
    "__version__",
    "accuracy",
    "accuracy_as_loss",
    "barron",
    "bce",
    "bce_with_logits",
    "checks",
    "cross_entropy",
    "crps_gaussian",
    "error_rate",
    "gaussian_nll",
    "get_check_mode",
    "get_spec",
    "huber",
    "list_specs",
    "log_cosh",
    "mae",
    "mape",
    "mnist_loss",
    "mse",
    "msle",
    "nll",
    "nn",
    "poisson_nll",
    "pseudo_huber",
    "quantile",
    "register",
    "rmse",
    "smooth_l1",
    "student_t_nll",
    "tweedie_deviance",
]
