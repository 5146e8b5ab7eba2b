"""A seeded sample of a corpus, so expensive stages (influence scoring on a real model) run on a share that
represents every source, whatever order the shards were written in: uniform over documents, or the same number
from each source (`--per-source`), so that small sources, which a uniform draw nearly misses, reach the
ranking's extremes too. datatrove is imported where used, so the CLI builds its flags from `SampleArguments`
quickly."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from attribution.options import option
from curate.corpus.options import source_names
from curate.errors import InputError


@dataclass
class SampleArguments:
    corpus: Path = option(None, "corpus to sample from", flag="--corpus")
    out: Path = option(None, "where the sample's shards go")
    n: int = option(2000, "documents to draw", flag="--documents")
    seed: int = option(0, "seed of the draw")
    exclude: Path | None = option(None, "a corpus whose documents are never drawn (e.g. an earlier sample)")
    exclude_sources: list[str] = option(
        [], "sources (the `source` field) never drawn, e.g. held-out sources; NAME.txt: a file of names, one a line")
    per_source: bool = option(
        False, "draw as evenly as possible from each source (the `source` field; a crawl's domain) instead of "
        "uniformly over documents: each source gives the same number, or all it has, the rest spread over the others"
    )
    # datatrove splits work between tasks by file: small shards let `--tasks N` share a sample evenly
    docs_per_shard: int = option(250, "documents per shard", flag="--documents-per-shard")
    overwrite: bool = option(False, "delete the shards of an earlier sample in --out and start over")
    text_key: str = option("text", "field holding the document text")
    id_key: str = option("id", "field holding the document id")

    def __post_init__(self):
        if self.corpus is None:
            raise InputError("give the corpus to sample from: --corpus DIR")
        if self.out is None:
            raise InputError("give the output directory: --out DIR")
        if self.n < 1:
            raise InputError(f"--documents must be at least 1, got {self.n}")
        if self.docs_per_shard < 1:
            raise InputError(f"--documents-per-shard must be at least 1, got {self.docs_per_shard}")
        out, corpus = Path(self.out).resolve(), Path(self.corpus).resolve()
        if out.is_relative_to(corpus) or corpus.is_relative_to(out):
            raise InputError(f"--out {self.out} and --corpus {self.corpus} overlap; the sample would be read "
                             "with the corpus or overwrite it: choose another --out")


def sample_corpus(args: SampleArguments) -> int:
    """Write `args.n` documents drawn uniformly without replacement (corpus order kept); returns how many.
    An earlier sample's shards in `args.out` are replaced only with `args.overwrite`: a smaller sample written
    over a larger one would otherwise leave its last shards behind, mixed into the new one."""
    from curate.corpus.io import read_documents, write_documents
    from curate.corpus.output import check_start, finish_output, start_output

    check_start(args.out, args.overwrite, _settings(args), "sample")  # before the corpus is read
    excluded = {d.id for d in read_documents(args.exclude)} if args.exclude else set()
    sources = set(source_names(args.exclude_sources))
    ids = [(d.id, str(d.metadata.get("source"))) for d in read_documents(args.corpus, args.text_key, args.id_key)
           if d.id not in excluded and d.metadata.get("source") not in sources]
    if args.n > len(ids):
        raise InputError(f"cannot sample {args.n} documents from {args.corpus}: it has {len(ids)} eligible")
    if args.per_source:
        by_source: dict[str, list[str]] = {}
        for doc_id, source in ids:
            by_source.setdefault(source, []).append(doc_id)
        rng = random.Random(args.seed)
        chosen = {doc_id for source, count in even_allocation({s: len(v) for s, v in sorted(by_source.items())}, args.n).items()
                  for doc_id in rng.sample(by_source[source], count)}
    else:
        chosen = set(random.Random(args.seed).sample([doc_id for doc_id, _ in ids], args.n))
    out = start_output(args.out, args.overwrite, _settings(args), "sample")  # after every check: it deletes
    documents = (d for d in read_documents(args.corpus, args.text_key, args.id_key) if d.id in chosen)
    written = write_documents(documents, out, docs_per_shard=args.docs_per_shard)
    finish_output(out)
    return written


def even_allocation(sizes: dict[str, int], n: int) -> dict[str, int]:
    """How many of `n` to draw from each group of `sizes`: equal shares, a group smaller than its share gives
    all it has and the remainder is shared among the others (water-filling); remainders go to the first groups."""
    counts, left, open_groups = dict.fromkeys(sizes, 0), n, sorted(sizes, key=lambda g: sizes[g])
    while left and open_groups:
        share = left // len(open_groups)
        small = [g for g in open_groups if sizes[g] - counts[g] <= share]
        if small:  # these give all they have
            for g in small:
                left -= sizes[g] - counts[g]
                counts[g] = sizes[g]
            open_groups = [g for g in open_groups if g not in small]
            continue
        for g in open_groups:
            counts[g] += share
        left -= share * len(open_groups)
        for g in sorted(open_groups)[:left]:
            counts[g] += 1
        left = 0
    return counts


def _settings(args: SampleArguments) -> dict:
    """What made a sample's shards, as a partial sample records it."""
    exclude = os.path.abspath(args.exclude) if args.exclude else None
    return {"corpus": os.path.abspath(args.corpus), "n": args.n, "seed": args.seed, "exclude": exclude,
            "docs_per_shard": args.docs_per_shard, "text_key": args.text_key, "id_key": args.id_key,
            "per_source": args.per_source}
