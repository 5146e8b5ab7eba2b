"""`curate influence search`: the stored documents with the highest score for one probe or a free text, through faiss.

The store's layers, flattened and side by side, are each document's vector; the query's vector is its mapped
query D(q) (`query`): preconditioned with EK-FAC (the influence `curate influence score --index` writes), or, plain,
the negated gradient −∇f, so that the inner product is the gradient dot product. A free text is measured as a
completion after an empty prompt: log p(text). The search is exact, the same top k as sorting every score:
faiss searches a block of decoded documents at a time (`faiss.knn`, inner product) and a `faiss.ResultHeap`
keeps the best across blocks, so memory stays at one block whatever the store's size.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from attribution.ekfac.arguments import DeviceArguments, ScoreArguments
from attribution.errors import InputError
from attribution.store.index import check_complete, shards
from attribution.store.precision import DECODE_BLOCK, decode, documents
from attribution.store.query import mapped_queries, read_shard


@dataclass
class TextQuery:
    """A free text as a probe: no prompt, the whole text measured."""

    id: str
    prompt: str
    completion: str


@dataclass
class Hit:
    rank: int
    doc_id: str
    score: float
    snippet: str


def search_store(store: Path, model_path: Path, factors_path: Path, query, top_k: int = 10, plain: bool = False,
                 device: DeviceArguments | None = None) -> list[Hit]:
    """The `top_k` stored documents with the highest score against `query` (a probe, or a `TextQuery`)."""
    # faiss's loader logs at INFO which instruction set it loaded, on every run, under the CLI's INFO logging
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    import faiss

    if top_k < 1:
        raise InputError("--top-k must be ≥ 1")
    check_complete(store)
    args = ScoreArguments(method="dot" if plain else "ekfac", progress=False)
    model, tokenizer = (device or DeviceArguments()).load(model_path, 2)
    _, mapped, compression = mapped_queries(model, tokenizer, [query], factors_path, Path(store), args)
    names = list(mapped)
    vector = np.ascontiguousarray(torch.cat([mapped[name] for name in names], dim=1).numpy(), dtype=np.float32)
    # a block of documents is decoded at a time and searched exactly by faiss, the blocks' best merged in a
    # heap: a whole decoded store would not fit in memory (see docs/performance.md)
    rows = max(1, DECODE_BLOCK // vector.shape[1])
    best, ids, snippets = faiss.ResultHeap(1, top_k, keep_max=True), [], []
    for path in shards(store):
        meta, stored, _ = read_shard(path, compression)
        for start in range(0, len(meta["doc_ids"]), rows):
            block = torch.cat([decode(documents(stored, name, start, start + rows), name, compression.precision,
                                      compression.layers[name].shape[1]).flatten(1) for name in names], dim=1)
            scores, found = faiss.knn(vector, np.ascontiguousarray(block.numpy(), dtype=np.float32),
                                      min(top_k, block.size(0)), metric=faiss.METRIC_INNER_PRODUCT)
            best.add_result(scores, found + len(ids) + start)
        ids += meta["doc_ids"]
        snippets += meta.get("snippets", [""] * len(meta["doc_ids"]))
    best.finalize()
    return [Hit(rank + 1, ids[row], float(score), snippets[row])
            for rank, (score, row) in enumerate(zip(best.D[0], best.I[0], strict=True)) if row >= 0]
