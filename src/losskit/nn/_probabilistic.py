"""Modules of the probabilistic losses."""

from __future__ import annotations

__all__: list[str] = []
