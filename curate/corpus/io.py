"""Corpora through datatrove: the strict readers and fingerprints are the engine's (`attribution.corpus`, re-exported
here with the engine's files written whole, `attribution.io`); the writers are the toolkit's own. Metadata fields
become top-level columns, as in most public corpora.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

from attribution.corpus import (  # noqa: F401 (re-exported)
    NOT_SHARDS,
    ShardFolder,
    StrictDatasetReader,
    StrictJsonlReader,
    StrictParquetReader,
    corpus_files,
    corpus_fingerprint,
    detect_format,
    exact_glob,
    file_fingerprint,
    files_fingerprint,
    is_shard,
    make_reader,
    read_documents,
)
from attribution.io import BAD_RECORDS_FILE, BadRecords, recorded, refuse_other_run, write_atomic  # noqa: F401
from curate.corpus.options import FORMATS, add_corpus_arguments  # noqa: F401 (re-exported)
from curate.errors import InputError


def make_writer(out_dir: str | Path, fmt: str = "jsonl", filename: str = "part-${rank}"):
    """A datatrove writer for `out_dir`; metadata fields become top-level columns, as in most public corpora."""
    if fmt == "jsonl":
        return JsonlWriter(
            str(out_dir), output_filename=f"{filename}.jsonl.gz", compression="gzip", expand_metadata=True
        )
    if fmt == "parquet":
        return ParquetWriter(str(out_dir), output_filename=f"{filename}.parquet", expand_metadata=True)
    raise InputError(f"unknown corpus format {fmt!r}; choose one of {FORMATS}")


def write_documents(
    documents: Iterable[Document], out_dir: str | Path, fmt: str = "jsonl", docs_per_shard: int = 10_000
) -> int:
    """Write documents as numbered shards of at most `docs_per_shard` documents; returns how many were written."""
    if docs_per_shard < 1:
        raise InputError(f"--documents-per-shard must be at least 1, got {docs_per_shard}")
    count = 0
    with make_writer(out_dir, fmt) as writer:
        for count, document in enumerate(documents, start=1):
            writer.write(document, rank=(count - 1) // docs_per_shard)
    return count
