"""The loss functions, one private module per family. Importing this package registers every
loss's spec."""

from losskit.losses import (  # noqa: F401  (imported for their registrations)
    _binary,
    _boxes,
    _contrastive,
    _divergence,
    _embedding,
    _large_vocab,
    _lovasz,
    _multiclass,
    _multilabel,
    _overlap,
    _probabilistic,
    _regression,
    _sequence,
)
