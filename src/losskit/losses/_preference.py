"""The preference losses (being written; the family's public list is empty until they land)."""

from __future__ import annotations

__all__: list[str] = []
