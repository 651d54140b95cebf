"""Modules of the divergence losses."""

from __future__ import annotations

__all__: list[str] = []
