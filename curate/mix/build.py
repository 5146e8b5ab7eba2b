"""Materialise a token-budgeted mix from annotated shards, with a manifest of what was achieved.

Two passes over the input, so memory holds only two numbers per document:
  1. count each document's tokens and find its bucket;
  2. after planning how many copies each document gets, read again and write the copies.
Copies are spread over the output shards at random (seeded), so repeated documents do not sit together;
within a shard, documents keep their input order.

The manifest is written last and whole, and removed before the shards change, so a manifest always describes
the shards beside it. It records what made the mix (`made_from`: the input by content, the spec, the token
counter, the format); a rerun into the same folder from anything else is refused unless `overwrite` is set.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from datatrove.data import Document

from curate.corpus.io import (
    BAD_RECORDS_FILE,
    BadRecords,
    corpus_fingerprint,
    files_fingerprint,
    make_writer,
    read_documents,
    recorded,
    refuse_other_run,
    write_atomic,
)
from curate.errors import InputError
from curate.mix.arguments import MixArguments
from curate.mix.spec import MixSpec, load_mix_spec

TokenCounter = Callable[[list[str]], list[int]]


def whitespace_token_counter(texts: list[str]) -> list[int]:
    """Tokens as whitespace-separated words: no tokenizer needed, roughly 0.75 of a BPE count."""
    return [len(text.split()) for text in texts]


def hf_token_counter(path: str | Path) -> TokenCounter:
    """Token counts with the Hugging Face tokenizer at `path` (a local directory or hub name), no special tokens."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot load a tokenizer ({error})") from error

    def count(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    return count


def plan_copies(tokens: np.ndarray, target: float, max_repetitions: int, rng: np.random.Generator) -> np.ndarray:
    """Copies per document so the copies' tokens reach `target`, no document beyond `max_repetitions`.

    Every document gets the same number of full passes (⌊target / available⌋, capped); the remainder is
    filled by documents in a seeded random order, one more copy each, until the target is reached, so the
    result overshoots by less than one document. Below one pass this is a random subsample.
    """
    copies = np.zeros(len(tokens), dtype=np.int64)
    available = int(tokens.sum())
    if available == 0 or target <= 0:
        return copies
    full = min(int(target // available), max_repetitions)
    copies[:] = full
    remaining = target - full * available
    if full < max_repetitions and remaining > 0:
        order = rng.permutation(len(tokens))
        reached = np.cumsum(tokens[order]) >= remaining
        # documents up to and including the first that reaches the remainder
        last = int(np.argmax(reached)) if reached.any() else len(order) - 1
        copies[order[: last + 1]] += 1
    return copies


def _bucket_and_tokens(
    documents: Iterable[Document], spec: MixSpec, count_tokens: TokenCounter, batch_size: int = 1000
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, int]:
    """Pass 1: bucket index (-1: none), token count and whether it is a reweighting copy, per document."""
    buckets, tokens, is_copy = [], [], []
    ids = hashlib.sha256()
    scored = 0
    batch: list[str] = []

    def flush():
        tokens.extend(count_tokens(batch))
        batch.clear()

    for doc in documents:
        ids.update(doc.id.encode() + b"\0")
        score = doc.metadata.get(spec.score_key)
        scored += score is not None
        is_copy.append("repeat_of" in doc.metadata)
        bucket = spec.bucket_of(None if score is None else _score(score, doc.id, spec.score_key), doc.metadata.get("source"))
        buckets.append(-1 if is_copy[-1] else bucket)
        batch.append(doc.text)
        if len(batch) >= batch_size:
            flush()
    flush()
    return np.array(buckets, dtype=np.int32), np.array(tokens, dtype=np.int64), np.array(is_copy), ids.hexdigest(), scored


def _score(value, doc_id: str, key: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"document {doc_id!r}: {key} is {value!r}, not a number; annotate the input with "
                         "`curate filter`, or name the field that holds the score with the spec's score_key") from None


def build_mix(
    input_path: str | Path,
    spec: MixSpec,
    out: str | Path,
    count_tokens: TokenCounter = whitespace_token_counter,
    token_counter_name: str = "whitespace",
    fmt: str = "jsonl",
    read_options: dict | None = None,
    overwrite: bool = False,
) -> dict:
    """Write the mix's shards to `out/shards/` and its manifest to `out/manifest.json`; returns the manifest.
    A mix in `out` made from other inputs or settings is refused, unless `overwrite`."""
    out = Path(out)
    read_options = read_options or {}
    if out.resolve().is_relative_to(Path(input_path).resolve()):
        raise InputError(f"the mix's folder {out} is inside its input {input_path}: a rerun would read its output")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder; choose another --out")
    # what made the mix, as JSON has it (tuples become lists) to compare with the manifest's
    made_from = json.loads(json.dumps({
        "input": str(Path(input_path).resolve()),
        "input_content": corpus_fingerprint(input_path),
        "spec": spec.to_dict(),
        "token_counter": token_counter_name,
        "tokenizer_content": _tokenizer_fingerprint(token_counter_name),
        "format": fmt,
        "read_options": {key: value for key, value in read_options.items() if key != "bad_records"},
    }))
    if not overwrite:
        refuse_other_run(out, "mix", recorded(out / "manifest.json", "made_from"), made_from)
    (out / "manifest.json").unlink(missing_ok=True)  # the shards are about to change
    buckets, tokens, is_copy, fingerprint, scored = _bucket_and_tokens(
        read_documents(input_path, **read_options), spec, count_tokens
    )
    if len(buckets) == 0:
        raise InputError(f"{input_path}: no documents")
    if spec.uses_scores and scored == 0:
        raise InputError(
            f"{input_path}: no document has {spec.score_key!r}, which the spec's score ranges need; "
            "annotate the corpus first (`curate filter`)"
        )

    rng = np.random.default_rng(spec.seed)
    shares = spec.shares()
    targets = np.array(shares) * spec.total_tokens
    available = np.array([tokens[buckets == b].sum() for b in range(len(spec.buckets))], dtype=np.float64)
    reachable = available * spec.max_repetitions
    scale = 1.0
    if spec.on_shortfall == "keep_shares":
        # the largest total at which every bucket reaches its share; buckets of weight 0 impose nothing
        limits = [reachable[b] / targets[b] for b in range(len(targets)) if targets[b] > 0]
        scale = min(1.0, *limits)
        targets = targets * scale
    copies = np.zeros(len(buckets), dtype=np.int64)
    for b in range(len(spec.buckets)):
        members = np.flatnonzero(buckets == b)
        copies[members] = plan_copies(tokens[members], targets[b], spec.max_repetitions, rng)

    bad = read_options.get("bad_records")
    if bad is not None:  # the first pass set malformed records aside; the second must not add them again
        read_options = read_options | {"bad_records": BadRecords(os.devnull)}
    shard_files = _write_shards(input_path, read_options, spec, copies, buckets, tokens, fingerprint, out, fmt)

    achieved = np.array([(copies * tokens)[buckets == b].sum() for b in range(len(spec.buckets))])
    achieved_total = int(achieved.sum())
    bucket_reports = []
    warnings = []
    for b, bucket in enumerate(spec.buckets):
        members = buckets == b
        histogram = Counter(copies[members].tolist())
        report = {
            "name": bucket.name,
            "conditions": {k: v for k, v in (("score", bucket.score), ("source", bucket.source)) if v is not None},
            "target_share": shares[b],
            "target_tokens": int(round(targets[b])),
            "available_documents": int(members.sum()),
            "available_tokens": int(available[b]),
            "documents": int((copies[members] > 0).sum()),
            "copies": int(copies[members].sum()),
            "tokens": int(achieved[b]),
            "achieved_share": float(achieved[b] / achieved_total) if achieved_total else 0.0,
            "repetitions": {
                "max": int(copies[members].max(initial=0)),
                "mean_over_used": float(copies[members][copies[members] > 0].mean()) if (copies[members] > 0).any() else 0.0,
                "documents_by_copies": {str(k): v for k, v in sorted(histogram.items())},
            },
            "reached_target": bool(achieved[b] >= targets[b]),
        }
        if not report["reached_target"]:
            report["shortfall_tokens"] = int(round(targets[b] - achieved[b]))
            warnings.append(
                f"bucket {bucket.name!r} reached {achieved[b]:,.0f} of its {targets[b]:,.0f} target tokens: it holds "
                f"{available[b]:,.0f} tokens and max_repetitions is {spec.max_repetitions}"
            )
        bucket_reports.append(report)
    if scale < 1:
        warnings.append(
            f"on_shortfall = keep_shares: total shrunk to {scale:.1%} of the budget so every bucket meets its share"
        )
    manifest = {
        "input": str(input_path),
        "input_fingerprint": fingerprint,
        "made_from": made_from,
        "token_counter": token_counter_name,
        "seed": spec.seed,
        "spec": spec.to_dict(),
        "documents_read": int(len(buckets)),
        "skipped_reweighting_copies": int(is_copy.sum()),
        **({"bad_records": bad.count} if bad is not None else {}),
        "unassigned": {
            "documents": int(((buckets == -1) & ~is_copy).sum()),
            "tokens": int(tokens[(buckets == -1) & ~is_copy].sum()),
        },
        "total_tokens": {"budget": spec.total_tokens, "target": int(round(targets.sum())), "achieved": achieved_total},
        "buckets": bucket_reports,
        "shards": shard_files,
        "warnings": warnings,
    }
    text = json.dumps(manifest, indent=2)
    write_atomic(out / "manifest.json", text)
    return json.loads(text)  # exactly what the file says (tuples become lists)


def _tokenizer_fingerprint(name: str) -> str | None:
    """The content fingerprint of a local tokenizer directory; None for a hub name or the whitespace counter."""
    path = Path(name)
    return files_fingerprint(sorted(p for p in path.rglob("*") if p.is_file()), path) if path.is_dir() else None


def mix_from_spec(args: MixArguments) -> dict:
    """The spec's mix of `args.input`, written to `args.out`; returns the manifest."""
    spec = load_mix_spec(args.spec)
    if args.seed is not None:
        spec.seed = args.seed
    out = Path(args.out)
    if args.overwrite:
        (out / BAD_RECORDS_FILE).unlink(missing_ok=True)
    bad = BadRecords(out / BAD_RECORDS_FILE, mode="w") if args.skip_bad_records else None  # each run reads it all
    counter, counter_name = (
        (hf_token_counter(args.tokenizer), str(args.tokenizer)) if args.tokenizer else (whitespace_token_counter, "whitespace")
    )
    read_options = {"text_key": args.text_key, "id_key": args.id_key, "bad_records": bad}
    try:
        return build_mix(args.input, spec, out, counter, counter_name, args.fmt, read_options, args.overwrite)
    finally:
        if bad is not None:
            bad.close()


def _write_shards(input_path, read_options, spec, copies, buckets, tokens, fingerprint, out, fmt) -> list[dict]:
    """Pass 2: write each document's copies to randomly chosen shards; returns documents and tokens per shard."""
    shard_rng = np.random.default_rng([spec.seed, 1])  # a stream of its own: planning draws stay unchanged
    shutil.rmtree(out / "shards", ignore_errors=True)  # shards of an earlier mix would otherwise linger
    per_shard = {s: {"documents": 0, "tokens": 0} for s in range(spec.shards)}
    ids = hashlib.sha256()
    with make_writer(out / "shards", fmt) as writer:
        for i, doc in enumerate(read_documents(input_path, **read_options)):
            ids.update(doc.id.encode() + b"\0")
            if i >= len(copies):
                break
            for k in range(int(copies[i])):
                copy = Document(
                    text=doc.text,
                    id=doc.id if k == 0 else f"{doc.id}#r{k}",
                    metadata=doc.metadata | {"mix_bucket": spec.buckets[buckets[i]].name}
                    | ({"repeat_of": doc.id} if k else {}),
                )
                shard = int(shard_rng.integers(spec.shards))
                writer.write(copy, rank=shard)
                per_shard[shard]["documents"] += 1
                per_shard[shard]["tokens"] += int(tokens[i])
    if ids.hexdigest() != fingerprint:
        raise InputError(f"{input_path} changed while the mix was being written; run again")
    suffix = "jsonl.gz" if fmt == "jsonl" else "parquet"
    return [
        {"path": f"shards/part-{s:05d}.{suffix}", **counts} for s, counts in per_shard.items() if counts["documents"]
    ]
