"""Contrastive losses with in-batch negatives (InfoNCE, CLIP, SupCon), correct under torch.distributed."""

from __future__ import annotations

__all__: list[str] = []
