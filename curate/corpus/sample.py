"""A seeded uniform sample of a corpus, so expensive stages (influence scoring on a real model) run on a
share that represents every source, whatever order the shards were written in. datatrove is imported where
used, so the CLI builds its flags from `SampleArguments` quickly."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from curate.errors import InputError
from curate.options import option


@dataclass
class SampleArguments:
    corpus: Path = option(None, "corpus to sample from", flag="--corpus")
    out: Path = option(None, "where the sample's shards go")
    n: int = option(2000, "documents to draw")
    seed: int = option(0, "seed of the draw")
    exclude: Path | None = option(None, "a corpus whose documents are never drawn (e.g. an earlier sample)")
    # datatrove splits work between tasks by file: small shards let `--tasks N` share a sample evenly
    docs_per_shard: int = option(250, "documents per shard")
    text_key: str = "text"
    id_key: str = "id"


def sample_corpus(args: SampleArguments) -> int:
    """Write `args.n` documents drawn uniformly without replacement (corpus order kept); returns how many."""
    from curate.corpus.io import read_documents, write_documents

    excluded = {d.id for d in read_documents(args.exclude)} if args.exclude else set()
    ids = [d.id for d in read_documents(args.corpus, args.text_key, args.id_key) if d.id not in excluded]
    if args.n > len(ids):
        raise InputError(f"cannot sample {args.n} documents from {args.corpus}: it has {len(ids)} eligible")
    chosen = set(random.Random(args.seed).sample(ids, args.n))
    documents = (d for d in read_documents(args.corpus, args.text_key, args.id_key) if d.id in chosen)
    return write_documents(documents, args.out, docs_per_shard=args.docs_per_shard)
