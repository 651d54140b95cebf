"""Bounding-box regression losses on (x1, y1, x2, y2) boxes."""

from __future__ import annotations

__all__: list[str] = []
