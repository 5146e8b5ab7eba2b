"""`curate mix`'s settings (nothing heavy imported, so the CLI builds its flags quickly)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from attribution.options import option
from curate.corpus.options import FORMATS


@dataclass
class MixArguments:
    """`curate mix`: which spec, which annotated shards, where to, and how tokens are counted."""

    spec: Path
    input: Path
    out: Path
    tokenizer: str | None = option(None, "count tokens with this HF tokenizer (None: whitespace words)")
    seed: int | None = option(None, "override the spec's seed")
    fmt: str = option("jsonl", "output shard format", choices=FORMATS, flag="--format")
    overwrite: bool = option(False, "delete the mix in OUT and start over (default: refuse a mix made from other inputs or "
                             "settings)")
    text_key: str = "text"
    id_key: str = "id"
    skip_bad_records: bool = False  # count malformed records and write them to OUT/bad_records.jsonl
