"""The corpus settings the CLI shares (nothing heavy imported, so the CLI builds its flags quickly)."""

from __future__ import annotations

FORMATS = ("jsonl", "parquet")
BAD_RECORDS_FILE = "bad_records.jsonl"


def add_corpus_arguments(parser) -> None:
    """The options every command that reads a corpus shares."""
    parser.add_argument("--text-key", default="text", help="field holding the document text (default: text)")
    parser.add_argument("--id-key", default="id", help="field holding the document id (default: id)")
    parser.add_argument(
        "--skip-bad-records",
        action="store_true",
        help=f"count malformed records and write them to {BAD_RECORDS_FILE} instead of stopping at the first",
    )
