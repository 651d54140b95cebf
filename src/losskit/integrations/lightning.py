"""A Lightning callback for losskit's check modes: every check on the first training batch,
where a wrong shape, dtype or label range shows up, then ``"shapes"`` only (no value reads,
so no host syncs in the hot loop); the mode the fit started with comes back when it ends."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl

from losskit._checks import CheckMode, checks, get_check_mode

__all__ = ["ChecksAfterFirstBatch"]


class ChecksAfterFirstBatch(pl.Callback):
    """Run the first ``full_batches`` training batches in the current check mode (``"full"``
    by default), then switch to ``after`` (``"shapes"``) until the fit ends.

    Example:
        >>> from losskit.integrations.lightning import ChecksAfterFirstBatch
        >>> ChecksAfterFirstBatch().after
        'shapes'
    """

    def __init__(self, after: CheckMode = "shapes", full_batches: int = 1) -> None:
        super().__init__()
        if full_batches < 1:
            raise ValueError(f"full_batches must be >= 1, got {full_batches}")
        self.after: CheckMode = after
        self.full_batches = full_batches
        self._seen = 0
        self._previous: str | None = None

    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        self._seen = 0
        self._previous = get_check_mode()

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._seen += 1
        if self._seen == self.full_batches:
            checks(self.after)

    def _restore(self) -> None:
        if self._previous is not None:
            checks(self._previous)  # type: ignore[arg-type]
            self._previous = None

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        self._restore()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._restore()
