"""Reading and writing corpora through datatrove readers and writers.

A corpus is a directory (or single file) of jsonl / jsonl.gz / parquet shards, or a `datasets` directory
saved with `save_to_disk`. Readers are strict: a malformed record fails with its file and line (or row)
named, unless the caller passes a `BadRecords` sink, which counts such records and writes them aside.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson
from datatrove.data import Document
from datatrove.pipeline.readers import HuggingFaceDatasetReader, JsonlReader, ParquetReader
from datatrove.pipeline.readers.base import BaseReader
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

from curate.errors import InputError

FORMATS = ("jsonl", "parquet")


class BadRecords:
    """Where malformed records go when the user asks to skip them: counted, and written to a jsonl file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.count = 0
        self._file = None

    def add(self, where: str, reason: str, raw: object) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a")
        if isinstance(raw, bytes | str):
            raw = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        self._file.write(json.dumps({"where": where, "reason": reason, "record": raw}, default=str) + "\n")
        self._file.flush()
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class _Strict:
    """Mixin for datatrove readers: validates each record instead of silently dropping it."""

    bad_records: BadRecords | None = None

    def _reject(self, where: str, reason: str, raw: object) -> None:
        if self.bad_records is None:
            raise InputError(
                f"{where}: {reason} (pass --skip-bad-records to count and set such records aside)"
            )
        self.bad_records.add(where, reason, raw)

    def _checked_document(
        self, data: object, source: str, where: str, id_in_file: int | str
    ) -> Document | None:
        if not isinstance(data, dict):
            self._reject(where, f"record is a {type(data).__name__}, not an object", data)
            return None
        text = data.get(self.text_key)
        if text is None:
            self._reject(where, f"no {self.text_key!r} field (fields: {sorted(data)}); set --text-key", data)
            return None
        if not isinstance(text, str):
            self._reject(where, f"{self.text_key!r} is a {type(text).__name__}, not a string", data)
            return None
        if not text.strip():
            self._reject(where, f"{self.text_key!r} is empty", data)
            return None
        if self.id_key in data and not isinstance(data[self.id_key], str | int):
            self._reject(
                where, f"{self.id_key!r} is a {type(data[self.id_key]).__name__}, not a string", data
            )
            return None
        if self.id_key in data:
            data[self.id_key] = str(data[self.id_key])
        return self.get_document_from_dict(data, source, id_in_file)


class StrictJsonlReader(_Strict, JsonlReader):
    def read_file(self, filepath: str) -> Iterator[Document]:
        path = self.data_folder.resolve_paths(filepath)
        try:
            with self.data_folder.open(filepath, "rb", compression=self.compression) as f:
                for line_number, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    where = f"{path}:{line_number}"
                    try:
                        data = orjson.loads(line)
                    except orjson.JSONDecodeError as error:
                        self._reject(where, f"invalid JSON ({error})", line)
                        continue
                    document = self._checked_document(data, filepath, where, line_number - 1)
                    if document is not None:
                        yield document
        except (EOFError, gzip.BadGzipFile, UnicodeDecodeError, OSError) as error:
            if isinstance(error, FileNotFoundError):
                raise
            raise InputError(f"{path}: cannot read ({error})") from error


class StrictParquetReader(_Strict, ParquetReader):
    def read_file(self, filepath: str) -> Iterator[Document]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.data_folder.resolve_paths(filepath)
        try:
            with self.data_folder.open(filepath, "rb") as f, pq.ParquetFile(f) as parquet:
                if self.text_key not in parquet.schema_arrow.names:
                    raise InputError(
                        f"{path}: no {self.text_key!r} column (columns: {parquet.schema_arrow.names}); set --text-key"
                    )
                row = 0
                for batch in parquet.iter_batches(batch_size=self.batch_size):
                    for data in batch.to_pylist():
                        document = self._checked_document(data, filepath, f"{path}: row {row}", row)
                        row += 1
                        if document is not None:
                            yield document
        except (pa.ArrowInvalid, OSError) as error:
            raise InputError(f"{path}: not a readable parquet file ({error})") from error


class StrictDatasetReader(_Strict, HuggingFaceDatasetReader):
    """A `datasets` directory saved with `save_to_disk`."""

    def get_document_from_dict(self, data: dict, source_file: str, id_in_file: int | str):
        if getattr(self, "_checking", False):
            return super().get_document_from_dict(data, source_file, id_in_file)
        self._checking = True
        try:
            return self._checked_document(data, source_file, f"{self.dataset}: row {id_in_file}", id_in_file)
        finally:
            self._checking = False


def detect_format(path: Path) -> str:
    """'jsonl', 'parquet' or 'datasets', from the files found at `path`."""
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        return "datasets"
    names = [path.name] if path.is_file() else [p.name for p in path.rglob("*") if p.is_file()]
    if any(name.endswith((".parquet",)) for name in names):
        return "parquet"
    if any(name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz", ".jsonl.zst")) for name in names):
        return "jsonl"
    raise InputError(f"{path}: no jsonl(.gz), parquet or datasets files found")


def make_reader(
    path: str | Path,
    text_key: str = "text",
    id_key: str = "id",
    bad_records: BadRecords | None = None,
    **reader_kwargs,
) -> BaseReader:
    """A datatrove reader for the corpus at `path`, usable as the first step of any pipeline."""
    path = Path(path)
    kind = detect_format(path)
    folder, glob = (str(path.parent), path.name) if path.is_file() else (str(path), None)
    common = {"text_key": text_key, "id_key": id_key}
    if kind == "datasets":
        if (path / "dataset_dict.json").exists():
            raise InputError(f"{path}: a DatasetDict; point at one split's directory instead")
        reader = StrictDatasetReader(str(path), load_from_disk=True, **common, **reader_kwargs)
    elif kind == "parquet":
        glob = glob or "**/*.parquet"
        reader = StrictParquetReader(folder, glob_pattern=glob, **common, **reader_kwargs)
    else:
        glob = glob or "**/*.json*"
        reader = StrictJsonlReader(folder, glob_pattern=glob, **common, **reader_kwargs)
    reader.bad_records = bad_records
    reader.add_file_path = False  # ids already say where a document came from
    return reader


def read_documents(
    path: str | Path,
    text_key: str = "text",
    id_key: str = "id",
    bad_records: BadRecords | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[Document]:
    """Documents of a corpus in a stable order (shards sorted by name), optionally one rank's share."""
    yield from make_reader(path, text_key, id_key, bad_records).run(rank=rank, world_size=world_size)


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
    count = 0
    with make_writer(out_dir, fmt) as writer:
        for count, document in enumerate(documents, start=1):
            writer.write(document, rank=(count - 1) // docs_per_shard)
    return count


def add_corpus_arguments(parser) -> None:
    """The options every command that reads a corpus shares."""
    parser.add_argument("--text-key", default="text", help="field holding the document text (default: text)")
    parser.add_argument("--id-key", default="id", help="field holding the document id (default: id)")
    parser.add_argument(
        "--skip-bad-records",
        action="store_true",
        help="count malformed records and write them to bad_records.jsonl instead of stopping at the first",
    )
