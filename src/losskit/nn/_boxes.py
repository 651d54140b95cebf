"""Modules of the boxes losses."""

from __future__ import annotations

__all__: list[str] = []
