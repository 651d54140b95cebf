"""Modules of the large_vocab losses."""

from __future__ import annotations

__all__: list[str] = []
