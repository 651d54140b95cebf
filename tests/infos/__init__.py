"""One module of LossInfo entries per family; importing this package fills ``INFOS``."""

from tests.infos import (  # noqa: F401
    binary,
    boxes,
    contrastive,
    divergence,
    embedding,
    large_vocab,
    moe,
    multiclass,
    multilabel,
    overlap,
    policy,
    preference,
    ranking,
    regression,
    sequence,
)
