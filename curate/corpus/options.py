"""The corpus settings the CLI shares (nothing heavy imported, so the CLI builds its flags quickly)."""

from __future__ import annotations

from attribution.io import BAD_RECORDS_FILE  # noqa: F401 (re-exported: the engine's readers set records aside)

FORMATS = ("jsonl", "parquet")
HELDOUT_SOURCES_FILE = "heldout_sources.txt"  # beside a real corpus's shards: its whole held-out sources
PACKAGES_FILE = "packages.txt"  # beside a real corpus's shards: the package versions it was built from


def source_names(items: list[str]) -> list[str]:
    """Source names as given, where an item ending in .txt is a file of names, one a line (such as a real
    corpus's heldout_sources.txt), so a recipe names the held-out sources once."""
    from pathlib import Path

    from curate.errors import InputError

    names = []
    for item in items:
        if not item.endswith(".txt"):
            names.append(item)
        elif not Path(item).is_file():
            raise InputError(f"{item}: no such file of source names")
        else:
            names += [line.strip() for line in Path(item).read_text().splitlines() if line.strip()]
    return names


def add_corpus_arguments(parser) -> None:
    """The options every command that reads a corpus shares."""
    parser.add_argument("--text-key", default="text", help="field holding the document text (default: text)")
    parser.add_argument("--id-key", default="id", help="field holding the document id (default: id)")
    parser.add_argument(
        "--skip-bad-records",
        action="store_true",
        help=f"count malformed records and write them to {BAD_RECORDS_FILE} instead of stopping at the first",
    )
