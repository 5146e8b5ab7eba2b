"""`curate influence index`: one pass over a corpus writes each document's compressed gradient per tracked layer.

A store folder holds:
    store.json                       the header: version, model fingerprint, layers (name → [out, in]), the
                                     compression, its dims (or share) and seed, its precision and compute dtype,
                                     max_length, the factors' identity (or null)
    compression.safetensors          each layer's maps (`compress.Compression`), so queries map the same way
    shard-XXXXX.safetensors          (datatrove task R: shard-RRRRR-XXXXX) `documents_per_shard` consecutive
                                     documents: per layer a tensor (N, k_out, k_in) in the store's precision
                                     (`precision`: float32, or integers with per-row scales), memory-mappable,
                                     `doc_grad_norm` (N,), and in its JSON header the store header, the document
                                     ids, the skipped counts and the first characters of each document (for
                                     `curate influence search`); in its metadata a CRC-32 of the header and tensors
                                     (`ekfac.checksum`), verified wherever the shard is read (`score --index`,
                                     `search`, a resume): shards written without one are read unchecked
    manifest.json                    what made the store (a resume with other inputs is refused) and, once
                                     whole, how many documents and shards it holds
Shards are written whole (temporary name, then rename); a rerun skips the shards that exist.
`doc_grad_norm` is the norm of the full, uncompressed gradient over the tracked layers, recorded here (from
the tokens' Gram matrices, never forming G) because store scores cannot recover it.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from itertools import islice
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from attribution.ekfac.arguments import DeviceArguments
from attribution.ekfac.data import Skipped, document_batches, document_id, to_batch
from attribution.ekfac.factors import (
    FACTORS_FILE,
    Factors,
    load_header,
    model_fingerprint,
    read_checked,
    save_tensors,
)
from attribution.ekfac.manifest import mark_complete, read_manifest, refuse_repeated_ids, start_output
from attribution.ekfac.modules import DEFAULT_MODULES, capture, find_modules
from attribution.ekfac.scoring import _document_loss
from attribution.ekfac.stages import Corpus, bad_records_file, factors_identity
from attribution.errors import InputError
from attribution.io import BAD_RECORDS_FILE, write_atomic
from attribution.progress import Progress, progress_bar
from attribution.store.arguments import IndexArguments
from attribution.store.compress import COMPRESSION_FILE, Compression, compute_dtype
from attribution.store.memory import plan_index
from attribution.store.precision import encode

STORE_VERSION = 1
STORE_FILE = "store.json"
NORM_KEY = "doc_grad_norm"
SNIPPET = 80  # characters of each document kept in its shard's header, for `curate influence search`'s table


def shard_path(directory: Path, index: int, rank: int | None = None) -> Path:
    name = f"shard-{index:05d}" if rank is None else f"shard-{rank:05d}-{index:05d}"
    return Path(directory) / f"{name}.safetensors"


def shards(directory: Path) -> list[Path]:
    return sorted(Path(directory).glob("shard-*.safetensors"))


def store_header(model, modules, args: IndexArguments, factors_path: Path | None) -> dict:
    return {
        "version": STORE_VERSION,
        "fingerprint": model_fingerprint(model),
        "modules": {t.name: list(t.shape) for t in modules},
        "compression": args.compression,
        "dims": args.dims,
        "share": args.share,
        "seed": args.seed,
        "precision": args.precision,
        "compute_dtype": compute_dtype(args, next(model.parameters()).device),
        "max_length": args.max_length,
        "factors": factors_identity(factors_path) if factors_path is not None else None,
    }


def read_store_header(directory: Path) -> dict:
    path = Path(directory) / STORE_FILE
    if not path.exists():
        raise InputError(f"no gradient store at {directory} ({STORE_FILE} missing); run `curate influence index` first")
    header = json.loads(path.read_text())
    if header.get("version") != STORE_VERSION:
        raise InputError(f"{path} has store version {header.get('version')}, this version reads {STORE_VERSION}; "
                         "rebuild it with `curate influence index --overwrite`")
    return header


def start_index(model, corpus: Corpus, factors_path: Path, out: Path, args: IndexArguments, tasks: int = 0,
                overwrite: bool = False, echo=print) -> Compression:
    """Record what the store in `out` is made from (refusing a resume from anything else), print the memory and
    disk it needs, and build and save the compression. Returns the compression."""
    out = Path(out)
    corpus.refuse_inside(out)
    fitted = (Path(factors_path) / FACTORS_FILE).exists()
    if args.needs_factors and not fitted:
        raise InputError(f"compression {args.compression} needs factors, and there are none at "
                         f"{Path(factors_path) / FACTORS_FILE}; run `curate influence fit` or use --compression logra")
    use_factors = args.needs_factors or (fitted and args.modules is None)
    factors_header = load_header(Path(factors_path) / FACTORS_FILE) if use_factors else None
    if factors_header is not None and factors_header.get("fingerprint") != model_fingerprint(model):
        # refused before the pass over the corpus: `score --index` and `search` would refuse the store anyway
        raise InputError(f"the factors in {factors_path} were fitted on another model (fingerprints differ); fit "
                         "factors for this model, pass the ones fitted on it (--factors), or use --modules with "
                         "--compression logra")
    pattern = factors_header["module_pattern"] if factors_header is not None else (args.modules or DEFAULT_MODULES)
    modules = find_modules(model, pattern)
    header = store_header(model, modules, args, factors_path if args.needs_factors else None)
    settings = {k: v for k, v in asdict(args).items() if k not in ("progress", "batch_size")}
    made_from = {**corpus.made_from(), **header, **settings, "tasks": tasks}
    results = [*shards(out), *(out / name for name in (STORE_FILE, COMPRESSION_FILE, "logs", BAD_RECORDS_FILE))]
    start_output(out, "gradient store", made_from, results, overwrite)
    documents = sum(1 for _ in corpus.read(os.devnull))
    memory, disk = plan_index(model, modules, args, documents)
    echo(f"index plan: {documents} documents; memory about {memory}; disk about {disk}")
    if not (out / COMPRESSION_FILE).exists():
        factors = Factors.load(factors_path) if args.needs_factors else None
        Compression.build(modules, args, factors, header).save(out / COMPRESSION_FILE)
    if not (out / STORE_FILE).exists():  # apart: a run killed between the two files has only the compression
        write_atomic(out / STORE_FILE, json.dumps(header, indent=2) + "\n")
    return Compression.load(out / COMPRESSION_FILE)


# bfloat16 matmuls run through oneDNN, which compiles and caches a kernel for each shape, so batches of every
# length cost time and memory: tokens are padded with zeros (which add nothing to Grams or products) to a multiple
# of 64 so that few shapes reuse the kernels (see docs/performance.md)
BFLOAT16_TOKEN_MULTIPLE = 64


def _in_dtype(tokens: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, T, width) in `dtype`; in bfloat16 padded with zero tokens to a multiple of `BFLOAT16_TOKEN_MULTIPLE`,
    written into one tensor of that size (copies of every length would fragment memory as well)."""
    if dtype != torch.bfloat16:
        return tokens.to(dtype)
    size, length, width = tokens.shape
    padded = tokens.new_zeros(size, length + -length % BFLOAT16_TOKEN_MULTIPLE, width, dtype=dtype)
    padded[:, :length] = tokens
    return padded


@torch.no_grad()
def compress_documents(model, tokenizer, documents: Sequence, compression: Compression, args: IndexArguments,
                       start: int = 0, progress: Progress | None = None, precision: str = "float32"
                       ) -> tuple[list[str], dict, torch.Tensor, Skipped]:
    """Ids, per-layer compressed gradients (N, k_out, k_in) encoded in `precision` (the tensors `precision.encode`
    makes: for float32 just the layers), full-gradient norms and skipped counts of `documents` in their input order.
    Each batch is encoded as soon as it is compressed, into tensors allocated once for every document: a shard
    never holds its float32 numbers whole, nor thousands of small tensors. Those, interleaved with each batch's
    float32 temporaries, kept memory from being returned, so large shards peaked far higher (see
    docs/performance.md). Documents too short or with non-finite gradients are skipped and counted."""
    modules = find_modules(model, "|".join(f"^{re.escape(name)}$" for name in compression.layers))
    device = next(model.parameters()).device
    pad_id = getattr(tokenizer, "pad_token_id", None) or 0
    dtype = getattr(torch, compression.compute_dtype)
    compression = compression.to(dtype)
    skipped = Skipped()
    count = len(documents)
    stored = {key: torch.empty(count, *empty.shape[1:], dtype=empty.dtype) for name, maps in compression.layers.items()
              for key, empty in encode(name, torch.zeros(0, *maps.shape), precision).items()}
    ids, norms, kept = [""] * count, torch.zeros(count), torch.zeros(count, dtype=torch.bool)
    for batch_positions, batch_ids, items in document_batches(documents, tokenizer, args.batch_size, args.max_length,
                                                             skipped, start=start):
        captured = capture(model, modules, to_batch(items, pad_id, device), _document_loss)
        squared = 0.0
        encoded = {}
        for tracked in modules:
            a, g = _in_dtype(captured.activations[tracked.name], dtype), _in_dtype(captured.gradients[tracked.name], dtype)
            # ‖Σ_t g_t a_tᵀ‖² from the token Grams, in the compression's dtype: bfloat16 is close enough for a norm
            squared = squared + ((g @ g.mT).float() * (a @ a.mT).float()).sum((1, 2))
            encoded |= encode(tracked.name, compression.document_side(tracked.name, a, g).cpu(), precision)
        squared = squared.cpu()
        finite = torch.isfinite(squared)
        for value in encoded.values():
            if value.is_floating_point():  # a layer in float32, or its steps: any non-finite number makes them so
                finite &= torch.isfinite(value.flatten(1).sum(1))
        skipped.non_finite += int((~finite).sum())
        rows = torch.tensor(batch_positions)[finite] - start
        for key, value in encoded.items():
            stored[key].index_copy_(0, rows, value[finite])
        norms[rows] = squared[finite].clamp(min=0).sqrt()
        kept[rows] = True
        for position, document, keep in zip(batch_positions, batch_ids, finite.tolist(), strict=True):
            if keep:
                ids[position - start] = document
        if progress is not None:
            progress.update(len(items))
    if progress is not None:
        progress.update(skipped.too_short)
    if not kept.all():
        for key in stored:  # one tensor at a time
            stored[key] = stored[key][kept]
    return [i for i, k in zip(ids, kept.tolist(), strict=True) if k], stored, norms[kept], skipped


def index_parts(model, tokenizer, documents: Iterable, compression: Compression, directory: Path,
                args: IndexArguments, summary: dict, rank: int | None = None, total: int | None = None) -> Iterator[list]:
    """Compress documents into shards of `documents_per_shard` consecutive documents, skipping shards that exist;
    yields each shard's documents once its file is written. Counts into `summary`."""
    if compression.header["fingerprint"] != model_fingerprint(model):
        raise InputError(f"the store in {directory} was built for another model (fingerprints differ)")
    iterator = iter(documents)
    with progress_bar(desc="indexing", unit="doc", total=total, disable=not args.progress) as bar:
        for index in range(1 << 62):
            chunk = list(islice(iterator, args.documents_per_shard))
            if not chunk:
                return
            path = shard_path(directory, index, rank)
            if path.exists():
                check_shard(path)
                summary["shards_kept"] += 1
                bar.update(len(chunk))
            else:
                ids, layers, norms, skipped = compress_documents(model, tokenizer, chunk, compression, args,
                                                                 start=index * args.documents_per_shard, progress=bar,
                                                                 precision=compression.precision)
                texts = {document_id(d, p): getattr(d, "text", d if isinstance(d, str) else "")
                         for p, d in enumerate(chunk, start=index * args.documents_per_shard)}
                snippets = [" ".join(str(texts.get(i, "")).split())[:SNIPPET] for i in ids]
                meta = {**compression.header, "doc_ids": ids, "snippets": snippets, "skipped": asdict(skipped)}
                save_tensors({**layers, NORM_KEY: norms.float()}, path, meta)
                summary["shards_written"] += 1
                summary["documents_indexed"] += len(ids)
                summary["skipped"] += skipped
            yield chunk


def new_summary() -> dict:
    return {"shards_written": 0, "shards_kept": 0, "documents_indexed": 0, "skipped": Skipped()}


def shard_ids(path: Path) -> list[str]:
    with safe_open(str(path), framework="pt") as handle:
        return json.loads(handle.metadata()["header"])["doc_ids"]


def check_shard(path: Path) -> None:
    """Refuse, in one line, a shard an earlier run left that is cut short or whose bytes changed (`checksum`): a
    resume keeps it as it is."""
    try:
        read_checked(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise InputError(f"{path} is cut short or corrupt ({error}); delete it and rerun `curate influence index` to rebuild "
                         "it") from None


def finish_index(directory: Path) -> dict:
    """Check that the shards hold each document once and record in the manifest what the whole store holds."""
    files = shards(directory)
    try:
        ids = [doc_id for path in files for doc_id in shard_ids(path)]
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"a shard in {directory} is cut short or corrupt ({error}); delete it and rerun") from None
    refuse_repeated_ids(ids)
    facts = {"documents": len(ids), "shards": len(files)}
    mark_complete(directory, **facts)
    return facts


def check_complete(directory: Path) -> dict:
    if not (Path(directory) / STORE_FILE).exists() and read_manifest(directory) is None:
        raise InputError(f"no gradient store at {directory} ({STORE_FILE} missing); run `curate influence index` first")
    complete = (read_manifest(directory) or {}).get("complete")
    if complete is None:
        raise InputError(f"the gradient store in {directory} is not finished; rerun `curate influence index` to complete it")
    return complete


def index_stage(corpus: Corpus, model_path: Path, factors_path: Path, out: Path, args: IndexArguments,
                device: DeviceArguments | None = None, overwrite: bool = False) -> dict:
    """`curate influence index` in one process; returns the summary, the store's `documents` and `shards`, and `seconds`."""
    model, tokenizer = (device or DeviceArguments()).load(model_path, args.max_length)
    started = time.perf_counter()
    compression = start_index(model, corpus, factors_path, out, args, overwrite=overwrite)
    total = sum(1 for _ in corpus.read(os.devnull))
    bad_records = Path(out) / BAD_RECORDS_FILE
    bad_records.unlink(missing_ok=True)
    summary = new_summary()
    for _ in index_parts(model, tokenizer, corpus.read(bad_records_file(out)), compression, out, args, summary,
                         total=total):
        pass
    return {**summary, **finish_index(out), "seconds": time.perf_counter() - started}
