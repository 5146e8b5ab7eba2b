"""The held-out split: stable, seeded, and independent of corpus order or size."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from datatrove.data import Document

# How `is_heldout` decides, written into train_log.json so a retrain can check it splits the same way.
RULE = "sha256(f'{seed}:{id}') as a 64-bit fraction < fraction"


def is_heldout(doc_id: str, fraction: float, seed: int) -> bool:
    digest = hashlib.sha256(f"{seed}:{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_documents(
    documents: Iterable[Document], fraction: float, seed: int
) -> tuple[list[Document], list[Document]]:
    """(training documents, held-out documents), each in corpus order."""
    train, heldout = [], []
    for document in documents:
        (heldout if is_heldout(document.id, fraction, seed) else train).append(document)
    return train, heldout
