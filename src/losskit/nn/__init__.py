"""``torch.nn.Module`` forms of every loss: thin wrappers that store hyper-parameters and call
the functional loss, with fastai-style ``activation`` and ``decodes``. Each module's ``__all__``
is its public list; this package exports their union (no ``__all__`` here: a star import of
this package takes every public name)."""

from losskit.nn._base import MODULES as MODULES
from losskit.nn._base import LossModule as LossModule
from losskit.nn._base import module_for as module_for
from losskit.nn._binary import *  # noqa: F403
from losskit.nn._boxes import *  # noqa: F403
from losskit.nn._contrastive import *  # noqa: F403
from losskit.nn._divergence import *  # noqa: F403
from losskit.nn._embedding import *  # noqa: F403
from losskit.nn._large_vocab import *  # noqa: F403
from losskit.nn._lovasz import *  # noqa: F403
from losskit.nn._moe import *  # noqa: F403
from losskit.nn._multiclass import *  # noqa: F403
from losskit.nn._multilabel import *  # noqa: F403
from losskit.nn._overlap import *  # noqa: F403
from losskit.nn._policy import *  # noqa: F403
from losskit.nn._preference import *  # noqa: F403
from losskit.nn._probabilistic import *  # noqa: F403
from losskit.nn._ranking import *  # noqa: F403
from losskit.nn._regression import *  # noqa: F403
from losskit.nn._sequence import *  # noqa: F403
