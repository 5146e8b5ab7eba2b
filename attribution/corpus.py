"""Reading a corpus through datatrove readers (the writers are the toolkit's: `curate.corpus.io`).

A corpus is a directory (or single file) of jsonl / jsonl.gz / parquet shards, or a `datasets` directory
saved with `save_to_disk`. Readers are strict: a malformed record fails with its file and line (or row)
named, unless the caller passes a `BadRecords` sink, which counts such records and writes them aside.
In a directory, the files a run keeps beside its shards (manifests, summaries, logs, set-aside records:
`NOT_SHARDS`) are never read as shards, so an output folder can be read back as a corpus.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

import orjson
from datatrove.data import Document
from datatrove.io import DataFolder
from datatrove.pipeline.readers import HuggingFaceDatasetReader, JsonlReader, ParquetReader
from datatrove.pipeline.readers.base import BaseReader

from attribution.errors import InputError
from attribution.io import BAD_RECORDS_FILE, BadRecords

# what our runs and datatrove write beside shards (and hidden files, such as a killed write's temporary file);
# matched from the right of a path inside the corpus folder
NOT_SHARDS = (
    "manifest.json", "summary.json", "*_summary.*", "filter_config.json", BAD_RECORDS_FILE, "probes.json",
    "executor.json", "stats.json", "stats/[0-9]*.json", ".*",
)


def is_shard(relative_path: str) -> bool:
    """Whether a file found in a corpus folder is a shard, not a run's manifest, summary, log or set-aside records."""
    path = PurePosixPath(relative_path)
    return not any(path.match(pattern) for pattern in NOT_SHARDS)


class ShardFolder(DataFolder):
    """A corpus folder that lists its shard files only (`is_shard`)."""

    def list_files(self, *args, **kwargs) -> list[str]:
        return [name for name in super().list_files(*args, **kwargs) if is_shard(name)]


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
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and is_shard(str(p.relative_to(path)))]
    names = [file.name for file in files]
    if any(name.endswith((".parquet",)) for name in names):
        return "parquet"
    if any(name.endswith((".jsonl", ".jsonl.gz", ".json", ".json.gz", ".jsonl.zst")) for name in names):
        return "jsonl"
    raise InputError(f"{path}: no jsonl(.gz), parquet or datasets files found")


def exact_glob(name: str) -> str:
    """A glob that matches the file `name` alone (datatrove takes a pattern without wildcards as a suffix)."""
    pattern = glob.escape(name)
    return pattern if glob.has_magic(pattern) else f"[{name[0]}]{pattern[1:]}"


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
    folder, pattern = (str(path.parent), exact_glob(path.name)) if path.is_file() else (str(path), None)
    common = {"text_key": text_key, "id_key": id_key}
    if kind == "datasets":
        if (path / "dataset_dict.json").exists():
            raise InputError(f"{path}: a DatasetDict; point at one split's directory instead")
        reader = StrictDatasetReader(str(path), load_from_disk=True, **common, **reader_kwargs)
    elif kind == "parquet":
        reader = StrictParquetReader(folder, glob_pattern=pattern or "**/*.parquet", **common, **reader_kwargs)
    else:
        reader = StrictJsonlReader(folder, glob_pattern=pattern or "**/*.json*", **common, **reader_kwargs)
    if path.is_dir() and kind != "datasets":
        reader.data_folder = ShardFolder(folder)
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


def corpus_files(path: str | Path) -> list[Path]:
    """The files that make up the corpus at `path`: its shards, or a `datasets` directory's files."""
    path = Path(path)
    reader = make_reader(path)
    if not hasattr(reader, "data_folder"):
        return sorted(p for p in path.rglob("*") if p.is_file())
    files = reader.data_folder.list_files(recursive=reader.recursive, glob_pattern=reader.glob_pattern)
    return [Path(reader.data_folder.path) / name for name in files]


def file_fingerprint(path: Path, root: Path | None = None, edge: int = 1 << 16) -> str:
    """A hash of a file's name (relative to `root`), size, and first and last `edge` bytes: cheap for any size,
    and it changes when a file is replaced, cut short, grown or renamed."""
    digest = hashlib.sha256(str(path.relative_to(root) if root else path.name).encode())
    size = path.stat().st_size
    digest.update(size.to_bytes(8, "little"))
    with path.open("rb") as f:
        digest.update(f.read(edge))
        if size > edge:
            f.seek(max(edge, size - edge))
            digest.update(f.read(edge))
    return digest.hexdigest()


def files_fingerprint(files: Iterable[Path], root: Path) -> str:
    """A content fingerprint of `files` (`file_fingerprint` of each, named relative to `root`)."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(file_fingerprint(file, root).encode())
    return digest.hexdigest()


def corpus_fingerprint(path: str | Path) -> str:
    """A content fingerprint of the corpus at `path`: of its shard files, or a `datasets` directory's files."""
    path = Path(path).resolve()  # datatrove lists a folder's files by absolute path, whatever path it is given
    return files_fingerprint(corpus_files(path), path if path.is_dir() else path.parent)
