"""Overlap (segmentation) losses: dice, jaccard, tversky, lovasz and compounds."""

from __future__ import annotations

__all__: list[str] = []
