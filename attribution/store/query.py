"""Scoring a probe set against a gradient store (`curate influence score --index DIR`): no pass over the corpus.

Each probe's query is built exactly as `curate influence score --exact` builds it, q = −(G + λI)⁻¹ ∇f per layer (EK-FAC,
or the identity for dot/cosine), mapped into the store's space by the compression's query side D(q), and
every document's score is ⟨D(q), C(G)⟩ (`compress`): one matmul per layer and shard. What is approximated is
only what the compression drops, so a store that keeps every direction gives the full scores. The files are
those of `curate influence score` (parts named after the shards, `probes.json`, a manifest), so every reader of scores
works unchanged. `doc_grad_norm` is the full gradient's norm recorded at index time; cosine divides by it and by
‖∇f‖, as full scoring does.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from pathlib import Path

import torch
from safetensors import SafetensorError

from attribution.ekfac.arguments import DeviceArguments, ScoreArguments
from attribution.ekfac.data import Skipped
from attribution.ekfac.factors import FACTORS_FILE, Factors, model_fingerprint, read_checked
from attribution.ekfac.manifest import file_digest, read_manifest, start_output
from attribution.ekfac.precondition import Queries, precondition_queries
from attribution.ekfac.scoring import DocumentScores, finish_scores, write_part
from attribution.ekfac.stages import factors_identity
from attribution.errors import InputError
from attribution.io import write_atomic
from attribution.probe import ProbeReader
from attribution.store.compress import COMPRESSION_FILE, Compression
from attribution.store.index import NORM_KEY, check_complete, read_store_header, shards
from attribution.store.precision import inner_products, stored_keys

STORE_METHODS = ("ekfac", "dot", "cosine")


def mapped_queries(model, tokenizer, probes, factors_path: Path, store: Path, args: ScoreArguments
                   ) -> tuple[Queries, dict[str, torch.Tensor], Compression]:
    """The probes' full queries and their images D(q) in the store's space, (Q, k_out, k_in) per layer."""
    if args.method not in STORE_METHODS:
        raise InputError(f"--method {args.method} cannot score from a store; use one of {', '.join(STORE_METHODS)}")
    header = read_store_header(store)
    if header["fingerprint"] != model_fingerprint(model):
        raise InputError(f"the gradient store in {store} was built for another model (fingerprints differ)")
    fitted = (Path(factors_path) / FACTORS_FILE).exists()
    if header["factors"] is not None and (not fitted or factors_identity(factors_path) != header["factors"]):
        raise InputError(f"the store in {store} was compressed in the eigenbasis of other factors than "
                         f"{factors_path}; pass the factors it was built with (--factors) or rebuild it")
    compression = Compression.load(Path(store) / COMPRESSION_FILE)
    factors = Factors.load(factors_path) if args.method == "ekfac" else None
    layers = "|".join(f"^{re.escape(name)}$" for name in compression.layers)
    queries = precondition_queries(model, tokenizer, probes, factors, replace(args, rank=None, modules=layers),
                                   eigenbasis=factors is not None)
    missing = [name for name in compression.layers if name not in queries.layers]
    if missing:
        raise InputError(f"the factors have no statistics for the store's layers {missing[:5]}")
    return queries, map_queries(queries, compression, factors), compression


def map_queries(queries: Queries, compression: Compression, factors: Factors | None) -> dict[str, torch.Tensor]:
    """Each layer's D(q), flattened (Q, k_out·k_in); EK-FAC queries are in the eigenbasis of `factors`."""
    mapped = {}
    for name in compression.layers:
        basis = None if factors is None else (factors.layers[name].gradient_vectors,
                                              factors.layers[name].activation_vectors)
        mapped[name] = compression.query_side(name, queries.layers[name], basis).flatten(1)
    return mapped


def read_shard(path: Path, compression: Compression) -> tuple[dict, dict[str, torch.Tensor], torch.Tensor]:
    """A shard's header, its tensors as stored (`precision.encode`: decode them, or score them with
    `inner_products`) and norms, its checksum verified (`checksum`); a shard cut short, damaged or not a shard is
    one line naming it."""
    try:
        required = [key for name in compression.layers for key in stored_keys(name, compression.precision)]
        stored, meta = read_checked(path, [*required, NORM_KEY])
        if "doc_ids" not in meta:
            raise KeyError("no document ids in its header")
        return meta, stored, stored[NORM_KEY]
    except (SafetensorError, OSError, ValueError, KeyError) as error:
        raise InputError(f"{path} is cut short or corrupt ({error}); rebuild it: delete it and rerun `curate influence index`") \
            from None


def shard_scores(path: Path, compression: Compression, mapped: dict[str, torch.Tensor], queries: Queries
                 ) -> DocumentScores:
    meta, stored, norms = read_shard(path, compression)
    scores = torch.zeros(norms.size(0), len(queries.probe_ids))
    for name, query in mapped.items():
        scores += inner_products(stored, name, compression.precision, compression.layers[name].shape[1], query)
    if queries.args.method == "cosine":
        scores /= norms[:, None] * queries.norms[None, :]
    return DocumentScores(meta["doc_ids"], norms, scores, list(queries.probe_ids), Skipped(**meta["skipped"]))


def score_from_store(store: Path, model_path: Path, probes_path: Path, factors_path: Path, out: Path,
                     args: ScoreArguments, device: DeviceArguments | None = None, overwrite: bool = False, *,
                     read_probes: ProbeReader) -> dict:
    """`curate influence score --index STORE`: scores of every stored document against the probes in `probes_path` (read by
    `read_probes`), written to `out` as `curate influence score` writes them. Returns the `documents`, `parts`, `probes` and
    `seconds`."""
    store, out = Path(store), Path(out)
    complete = check_complete(store)
    if not Path(probes_path).exists():
        raise InputError(f"no probes at {probes_path}; run `curate probes make` or pass --probes FILE")
    model, tokenizer = (device or DeviceArguments()).load(model_path, args.max_length)
    started = time.perf_counter()
    made_from = {"store": (read_manifest(store) or {}).get("made_from"), "model": model_fingerprint(model),
                 "probes": file_digest(probes_path), "factors": factors_identity(factors_path)
                 if args.method == "ekfac" else None, "method": args.method, "damping": args.damping,
                 "damping_scale": args.damping_scale}
    results = [*out.glob("part-*.parquet"), out / "probes.json"]
    start_output(out, "scoring run", made_from, results, overwrite)
    queries, mapped, compression = mapped_queries(model, tokenizer, read_probes(probes_path), factors_path, store, args)
    for old in out.glob("part-*.parquet"):
        old.unlink()  # fast to redo whole: no part is kept from an earlier run
    for path in shards(store):
        part = out / f"{path.stem.replace('shard', 'part', 1)}.parquet"
        write_part(shard_scores(path, compression, mapped, queries), part)
    index = {"path": str(store.absolute()), **{k: compression.header.get(k) for k in ("compression", "dims", "share",
                                                                                    "seed", "factors")},
             "precision": compression.precision, "documents": complete["documents"]}
    described = {**queries.describe(), "index": index}
    write_atomic(out / "probes.json", json.dumps(described, indent=2) + "\n")
    return {**finish_scores(out), "probes": len(queries.probe_ids), "seconds": time.perf_counter() - started}
