"""The held-out split: stable, seeded, and independent of corpus order or size."""

from __future__ import annotations

import hashlib


def is_heldout(doc_id: str, fraction: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction
