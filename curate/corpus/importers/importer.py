"""Folders and files of real text become corpus shards: each file is read, recognised by its name (and, for
names man pages share, by its content), cut into sections by its format, packed into documents of bounded
length, and exact duplicates are dropped. Files that cannot be used (binary, undecodable, unreadable, empty,
unknown format) and JSON records that cannot be used are counted and listed with why.
datatrove and the progress bar are imported where used, so the CLI builds its flags from `ImportArguments` quickly."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from attribution.options import option
from curate.corpus.importers.formats import SECTIONS, format_of
from curate.corpus.importers.jsonfields import json_records
from curate.corpus.importers.man import is_troff
from curate.corpus.importers.sources import SourceRules
from curate.corpus.importers.split import split_sections
from curate.corpus.importers.walk import check_inputs, walk
from curate.corpus.options import FORMATS
from curate.corpus.output import finish_output, start_output
from curate.errors import InputError

if TYPE_CHECKING:
    from datatrove.data import Document

SUMMARY_FILE = "import_summary.txt"  # beside the shards; names no corpus reader picks up
SKIPPED_FILE = "import_skipped.tsv"
MAX_CHARS = 2000  # about 500 tokens: the real model scores 128-256-token windows, longer text would go unseen
MIN_CHARS = 50
# byte order marks, longest first: UTF-32's little-endian mark begins with UTF-16's
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
         (b"\xfe\xff", "utf-16"))


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
    docs_per_shard: int = option(10_000, "documents per shard", flag="--documents-per-shard")
    overwrite: bool = option(False, "delete the shards of an earlier import in --out and start over")

    def __post_init__(self):
        if self.docs_per_shard < 1:
            raise InputError(f"--documents-per-shard must be at least 1, got {self.docs_per_shard}")
        if self.max_chars < 1 or self.min_chars > self.max_chars:
            raise InputError(f"need 1 <= min-chars <= max-chars, got {self.min_chars} and {self.max_chars}")
        if self.format not in FORMATS:
            raise InputError(f"unknown corpus format {self.format!r}; choose one of {FORMATS}")


@dataclass
class ImportReport:
    out: Path | None = None
    files: int = 0
    documents: int = 0
    duplicates: int = 0
    too_short: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    records_skipped: list[tuple[str, str]] = field(default_factory=list)  # (path:line, reason): JSON records
    sources: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        reasons = Counter(reason.split(" (")[0].split(":")[0] for _, reason in self.skipped)
        lines = [
            f"{self.documents} documents from {self.files} files in {self.seconds:.0f} s; "
            f"{self.duplicates} exact duplicates and {self.too_short} pieces shorter than the minimum dropped",
            f"{len(self.skipped)} files skipped" + "".join(f"\n  {n:>7}  {r}" for r, n in reasons.most_common()),
            *([f"{len(self.records_skipped)} JSON records skipped (invalid, not an object, or no text in "
               "--json-field), their files' other records kept"] if self.records_skipped else []),
            "documents by source:",
            *(f"  {name:<16} {n:>8}  {n / max(self.documents, 1):6.1%}" for name, n in sorted(self.sources.items())),
            *self.notes,
        ]
        if self.out is not None:
            lines.append(f"shards in {self.out}; this summary in {SUMMARY_FILE}, skipped files and records in "
                         f"{SKIPPED_FILE}")
        return "\n".join(lines)

    def save(self) -> None:
        from curate.corpus.io import write_atomic

        rows = [f"{path}\t{reason}\n" for path, reason in [*self.skipped, *self.records_skipped]]
        write_atomic(self.out / SKIPPED_FILE, "path\treason\n" + "".join(rows))
        write_atomic(self.out / SUMMARY_FILE, self.summary() + "\n")


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
    """Import `args.paths` into shards in `args.out`; the report is also saved there. Every argument is checked
    before anything in `args.out` is touched."""
    from curate.corpus.io import write_documents

    check_inputs(args.paths, args.out)
    rules = SourceRules(args.source_rules, args.sources_file)
    report = ImportReport()
    builder = DocumentBuilder(args.max_chars, args.min_chars, report)
    out = report.out = start_output(args.out, args.overwrite, _settings(args), "import", (SUMMARY_FILE, SKIPPED_FILE))
    start = time.perf_counter()
    write_documents(import_documents(args, builder, rules=rules), out, args.format, args.docs_per_shard)
    report.seconds = time.perf_counter() - start
    report.notes += rules.unused()
    report.save()
    finish_output(out)
    if not report.files:
        matching = " matching --include and not --exclude" if args.include or args.exclude else ""
        raise InputError(f"no documents imported: no file found under {', '.join(map(str, args.paths))}{matching}")
    if not report.documents:
        raise InputError(f"no documents imported; {len(report.skipped)} files skipped, listed in {out / SKIPPED_FILE}")
    return report


def prepare_output(out: Path | None, overwrite: bool) -> Path:
    """An output folder for new shards, an earlier import's shards and reports removed if `overwrite`; call it
    after every other argument has been checked."""
    from curate.corpus import output

    return output.prepare_output(out, overwrite, (SUMMARY_FILE, SKIPPED_FILE))


def _settings(args: ImportArguments) -> dict:
    """What made an import's shards, as a partial import records it: the inputs as absolute paths."""
    settings = dataclasses.asdict(args)
    del settings["overwrite"], settings["out"]
    settings["paths"] = [os.path.abspath(p) for p in args.paths]
    settings["sources_file"] = os.path.abspath(args.sources_file) if args.sources_file else None
    return settings


def import_documents(
    args: ImportArguments, builder: DocumentBuilder, desc: str = "import", rules: SourceRules | None = None
) -> Iterator[Document]:
    """The documents of every file under `args.paths`, counted into `builder.report` as they are made."""
    from attribution.progress import progress_bar

    rules = rules or SourceRules(args.source_rules, args.sources_file)
    report = builder.report
    files = list(walk(args.paths, args.include, args.exclude, args.out))
    progress = progress_bar(files, desc=desc, unit="file", smoothing=0.05)
    for found in progress:
        path, labels = found.path, found.labels
        report.files += 1
        fmt = format_of(path.name)
        try:
            if found.skip:
                raise InputError(found.skip)
            if fmt is None:
                raise InputError(f"unknown format ({''.join(path.suffixes[-2:]) or path.name})")
            text = read_text(path)
            fmt = "code" if fmt == "text" and text.startswith("#!") else fmt
            fmt = "text" if fmt == "man" and not is_troff(text) else fmt
            if fmt == "json":
                texts, problems = json_records(text, args.json_fields)
                units = [[record] for record in texts]
                report.records_skipped += [(f"{path}:{where.split()[1]}", why) for where, why in problems]
            else:
                units = [SECTIONS[fmt](text)]
        except InputError as error:
            report.skipped.append((str(path), str(error)))
            continue
        metadata = {"source": rules.source(labels, found.default_source), "path": labels[-1], "format": fmt}
        made = [doc for sections in units for doc in builder.documents(labels[-1], sections, metadata)]
        if not made:
            report.skipped.append((str(path), "no text left after extraction, deduplication and --min-chars"))
        report.documents += len(made)
        report.sources[metadata["source"]] += len(made)
        progress.set_postfix(documents=report.documents, refresh=False)
        yield from made


def read_text(path: Path) -> str:
    """A file's text, gunzipped if it ends in .gz; InputError says why it is not usable text."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"unreadable ({error.strerror or error})") from None
    if path.name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise InputError(f"not a readable gzip file ({error})") from error
    if not data.strip():
        raise InputError("empty")
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if encoding is not None:  # UTF-16 and UTF-32 text is full of NUL bytes; its mark says how to decode it
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as error:
            raise InputError(f"undecodable: not {encoding.upper()} despite its byte order mark "
                             f"(byte {error.start})") from error
    if b"\x00" in data[:8192]:
        raise InputError("binary (NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"undecodable: not UTF-8 (byte {error.start})") from error
