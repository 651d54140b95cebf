"""Modules of the embedding losses."""

from __future__ import annotations

__all__: list[str] = []
