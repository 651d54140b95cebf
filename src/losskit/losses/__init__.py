"""The loss functions, one private module per family. Importing this package registers every
loss; each module's ``__all__`` is its public list, and this package exports their union."""

# One star import per family module: a module's ``__all__`` is the one list of its public names.
from losskit.losses._binary import *  # noqa: F403
from losskit.losses._boxes import *  # noqa: F403
from losskit.losses._contrastive import *  # noqa: F403
from losskit.losses._divergence import *  # noqa: F403
from losskit.losses._embedding import *  # noqa: F403
from losskit.losses._large_vocab import *  # noqa: F403
from losskit.losses._lovasz import *  # noqa: F403
from losskit.losses._moe import *  # noqa: F403
from losskit.losses._multiclass import *  # noqa: F403
from losskit.losses._multilabel import *  # noqa: F403
from losskit.losses._overlap import *  # noqa: F403
from losskit.losses._policy import *  # noqa: F403
from losskit.losses._preference import *  # noqa: F403
from losskit.losses._probabilistic import *  # noqa: F403
from losskit.losses._ranking import *  # noqa: F403
from losskit.losses._regression import *  # noqa: F403
from losskit.losses._sequence import *  # noqa: F403
