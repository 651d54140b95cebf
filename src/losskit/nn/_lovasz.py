"""Modules of the lovasz losses."""

from __future__ import annotations

__all__: list[str] = []
