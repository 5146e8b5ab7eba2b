"""Folders and files of real text become corpus shards: each file is read, recognised by its name, cut
into sections by its format, packed into documents of bounded length, and exact duplicates are dropped.
Files that cannot be used (binary, undecodable, empty, unknown format) are counted and listed with why.
datatrove and tqdm are imported where used, so the CLI builds its flags from `ImportArguments` quickly."""

from __future__ import annotations

import gzip
import hashlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from curate.corpus.importers.formats import SECTIONS, format_of
from curate.corpus.importers.jsonfields import json_records
from curate.corpus.importers.sources import SourceRules, matches
from curate.corpus.importers.split import split_sections
from curate.corpus.options import FORMATS
from curate.errors import InputError
from curate.options import option

if TYPE_CHECKING:
    from datatrove.data import Document

SUMMARY_FILE = "import_summary.txt"  # beside the shards; names no corpus reader picks up
SKIPPED_FILE = "import_skipped.tsv"
MAX_CHARS = 2000  # about 500 tokens: the real model scores 128-256-token windows, longer text would go unseen
MIN_CHARS = 50


@dataclass
class ImportArguments:
    paths: list[Path] = field(default_factory=list)  # folders and files to import
    out: Path | None = option(None, "output directory for the corpus shards (required)")
    source_rules: list[str] = option(
        [], "files matching GLOB get source NAME; the first matching rule wins, and unmatched files take "
        "their input folder's name", flag="--source"
    )
    sources_file: Path | None = option(None, 'TOML file with a [sources] table of "GLOB" = "NAME" lines')
    include: list[str] = option([], "import only files whose path matches one of these globs")
    exclude: list[str] = option([], "leave out files whose path matches one of these globs")
    json_fields: list[str] = option(["text"], "JSON/JSONL field(s) holding the text (dotted paths)", flag="--json-field")
    max_chars: int = option(MAX_CHARS, "longest document, in characters; longer text is cut at sections and paragraphs")
    min_chars: int = option(MIN_CHARS, "shortest document kept, in characters")
    format: str = option("jsonl", "shard format", choices=FORMATS)
    docs_per_shard: int = option(10_000, "documents per shard")
    overwrite: bool = option(False, "replace the shards of an earlier import in --out")


@dataclass
class ImportReport:
    out: Path | None = None
    files: int = 0
    documents: int = 0
    duplicates: int = 0
    too_short: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    sources: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        reasons = Counter(reason.split(" (")[0].split(":")[0] for _, reason in self.skipped)
        lines = [
            f"{self.documents} documents from {self.files} files in {self.seconds:.0f} s; "
            f"{self.duplicates} exact duplicates and {self.too_short} pieces shorter than the minimum dropped",
            f"{len(self.skipped)} files skipped" + "".join(f"\n  {n:>7}  {r}" for r, n in reasons.most_common()),
            "documents by source:",
            *(f"  {name:<16} {n:>8}  {n / max(self.documents, 1):6.1%}" for name, n in sorted(self.sources.items())),
            *self.notes,
        ]
        if self.out is not None:
            lines.append(f"shards in {self.out}; this summary in {SUMMARY_FILE}, skipped files in {SKIPPED_FILE}")
        return "\n".join(lines)

    def save(self) -> None:
        (self.out / SUMMARY_FILE).write_text(self.summary() + "\n")
        with (self.out / SKIPPED_FILE).open("w") as f:
            f.write("path\treason\n")
            f.writelines(f"{path}\t{reason}\n" for path, reason in self.skipped)


class DocumentBuilder:
    """Sections to documents: bounded length, no fragments under `min_chars`, no exact repeats (the hash of
    the text with whitespace collapsed) across everything one builder sees."""

    def __init__(self, max_chars: int, min_chars: int, report: ImportReport):
        if max_chars < 1 or min_chars > max_chars:
            raise InputError(f"need 1 <= min-chars <= max-chars, got {min_chars} and {max_chars}")
        self.max_chars, self.min_chars, self.report = max_chars, min_chars, report
        self._seen: set[bytes] = set()
        self._ids: Counter = Counter()

    def documents(self, key: str, sections: list[str], metadata: dict) -> list[Document]:
        from datatrove.data import Document

        out = []
        for text in split_sections(sections, self.max_chars):
            if len(text) < self.min_chars:
                self.report.too_short += 1
                continue
            digest = hashlib.blake2b(" ".join(text.split()).encode(), digest_size=16).digest()
            if digest in self._seen:
                self.report.duplicates += 1
            else:
                self._seen.add(digest)
                self._ids[key] += 1
                out.append(Document(text=text, id=f"{key}#{self._ids[key] - 1}", metadata=dict(metadata)))
        return out


def import_corpus(args: ImportArguments) -> ImportReport:
    """Import `args.paths` into shards in `args.out`; the report is also saved there."""
    from curate.corpus.io import write_documents

    out = prepare_output(args.out, args.overwrite)
    report = ImportReport(out=out)
    start = time.perf_counter()
    builder = DocumentBuilder(args.max_chars, args.min_chars, report)
    write_documents(import_documents(args, builder), out, args.format, args.docs_per_shard)
    report.seconds = time.perf_counter() - start
    report.save()
    if not report.documents:
        raise InputError(f"no documents imported; {len(report.skipped)} files skipped, listed in {out / SKIPPED_FILE}")
    return report


def prepare_output(out: Path | None, overwrite: bool) -> Path:
    if out is None:
        raise InputError("give the output directory: --out DIR")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; --out needs a directory")
    shards = [*out.glob("part-*.jsonl.gz"), *out.glob("part-*.parquet")] if out.is_dir() else []
    if shards and not overwrite:
        raise InputError(f"{out} already holds corpus shards; pass --overwrite to replace them")
    for shard in shards:
        shard.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def import_documents(args: ImportArguments, builder: DocumentBuilder, desc: str = "import") -> Iterator[Document]:
    """The documents of every file under `args.paths`, counted into `builder.report` as they are made."""
    from tqdm.auto import tqdm

    rules, report = SourceRules(args.source_rules, args.sources_file), builder.report
    roots = [Path(p) for p in args.paths]
    files = list(_files(args))
    progress = tqdm(files, desc=desc, unit="file", smoothing=0.05)
    for path, labels, default_source in progress:
        report.files += 1
        fmt = format_of(path.name)
        try:
            if path.is_symlink() and path not in roots:  # links in a folder repeat a file
                raise InputError(f"symbolic link (to {path.readlink()})")
            if fmt is None:
                raise InputError(f"unknown format ({''.join(path.suffixes[-2:]) or path.name})")
            text = read_text(path)
            fmt = "code" if fmt == "text" and text.startswith("#!") else fmt
            units = [[r] for r in json_records(text, args.json_fields)] if fmt == "json" else [SECTIONS[fmt](text)]
        except InputError as error:
            report.skipped.append((str(path), str(error)))
            continue
        metadata = {"source": rules.source(labels, default_source), "path": labels[-1], "format": fmt}
        made = [doc for sections in units for doc in builder.documents(labels[-1], sections, metadata)]
        if not made:
            report.skipped.append((str(path), "no text left after extraction, deduplication and --min-chars"))
        report.documents += len(made)
        report.sources[metadata["source"]] += len(made)
        progress.set_postfix(documents=report.documents, refresh=False)
        yield from made


def _files(args: ImportArguments) -> Iterator[tuple[Path, tuple[str, str], str]]:
    """(file, (its path relative to the input folder, the same with the folder's name in front), the
    default source: the input folder's name, or a file's own stem)."""
    if not args.paths:
        raise InputError("give at least one folder or file to import")
    for root in map(Path, args.paths):
        if not root.exists():
            raise InputError(f"{root}: no such file or directory")
        top = root.resolve()
        if root.is_file():
            yield root, (root.name, root.name), top.stem
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root)
            if any(part.startswith(".") for part in relative.parts):
                continue  # .git, .cache and other hidden folders are tooling, not text
            labels = (relative.as_posix(), f"{top.name}/{relative.as_posix()}")
            if (not args.include or matches(labels, args.include)) and not matches(labels, args.exclude):
                yield path, labels, top.name


def read_text(path: Path) -> str:
    """A file's text, gunzipped if it ends in .gz; InputError says why it is not usable text."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise InputError(f"not a readable gzip file ({error})") from error
    if not data.strip():
        raise InputError("empty")
    if b"\x00" in data[:8192]:
        raise InputError("binary (NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"undecodable: not UTF-8 (byte {error.start})") from error
