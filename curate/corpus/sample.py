"""A seeded uniform sample of a corpus, so expensive stages (influence scoring on a real model) run on a
share that represents every source, whatever order the shards were written in."""

from __future__ import annotations

import random
from pathlib import Path

from curate.corpus.io import read_documents, write_documents
from curate.errors import InputError


def sample_corpus(corpus: str | Path, out: str | Path, n: int, seed: int = 0, exclude: str | Path | None = None,
                  text_key: str = "text", id_key: str = "id") -> int:
    """Write `n` documents drawn uniformly without replacement (order kept) to `out`; returns how many.

    `exclude` is another corpus whose ids are never drawn (e.g. the documents influence was computed on, when
    drawing held-out documents for evaluation)."""
    excluded = {d.id for d in read_documents(exclude)} if exclude else set()
    ids = [d.id for d in read_documents(corpus, text_key, id_key) if d.id not in excluded]
    if n > len(ids):
        raise InputError(f"cannot sample {n} documents from {corpus}: it has {len(ids)} eligible")
    chosen = set(random.Random(seed).sample(ids, n))
    return write_documents((d for d in read_documents(corpus, text_key, id_key) if d.id in chosen), out)
