"""Scoring documents against preconditioned queries, and the sharded, resumable score files.

A document's gradient for a layer is G = Σ_t g_t a_tᵀ, and its score against a query q = Σ_k u_k v_kᵀ is

    ⟨q, G⟩ = Σ_k Σ_t (u_kᵀ g_t)(v_kᵀ a_t)

Two ways to evaluate it, both exact; per layer we take the one that costs less for the batch at hand:
  factorised: project every token's g and a onto the queries' k directions and contract over tokens,
              T·Q·k·(in+out) flops per document; never forms G, so it wins for few probes and wide layers;
  gradient:   form G once, T·in·out flops, then one matmul against all Q materialised queries, Q·in·out;
              wins when Q·k exceeds the layer's width, as with the paper's 20+ probes at rank 32, but holds
              Q·in·out floats per layer: layers get it only within a memory limit (`materialised_layers`).
              Its matmul has only the batch's few rows, so it is bound by reading those floats, not by its
              flops: each byte read per batch is costed as `BYTE_COST` multiply-adds (see
              docs/performance.md).
The document's gradient norm (reported, and needed for cosine) comes from G, or without it from the token
Gram matrices: ‖Σ_t g_t a_tᵀ‖² = Σ_{t,s} (g_t·g_s)(a_t·a_s).

Score files: `part-XXXXX.parquet` (datatrove task R: `part-RRRRR-XXXXX.parquet`), one row
per document: `doc_id`, `doc_grad_norm`, then
one float32 column per probe id holding the raw influence I (positive: the document raises the probe's
log-probability). Per-probe constants live in `probes.json` beside the parts: `nats` (the completion's
negative log-likelihood; I / nats is the per-nat score), `gradient_norm` (‖∇f‖), and the settings (method,
damping per layer, rank, model fingerprint). Each part's parquet metadata counts the documents it skipped.
`finish_scores` records in the folder's manifest how many documents the whole scores hold.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch import nn

from attribution.ekfac.arguments import DOCUMENTS_PER_PART
from attribution.ekfac.data import Skipped, document_batches, stable_seed, to_batch
from attribution.ekfac.factors import model_fingerprint
from attribution.ekfac.manifest import mark_complete, refuse_repeated_ids
from attribution.ekfac.modules import Tracked, capture, find_modules, per_example_gradients
from attribution.ekfac.precondition import Queries
from attribution.errors import InputError
from attribution.io import write_atomic
from attribution.probe import id_problem
from attribution.progress import Progress, progress_bar
from attribution.task import summed_log_prob

log = logging.getLogger(__name__)

QUERIES_FILE = "queries.safetensors"


@dataclass
class DocumentScores:
    doc_ids: list[str]
    grad_norms: torch.Tensor  # (D,) ‖∇L‖ over the tracked layers
    scores: torch.Tensor  # (D, Q) raw influence
    probe_ids: list[str]
    skipped: Skipped = field(default_factory=Skipped)

    def to_arrow(self) -> pa.Table:
        columns = {"doc_id": pa.array(self.doc_ids, pa.string()),
                   "doc_grad_norm": pa.array(self.grad_norms.float().numpy(), pa.float32())}
        for column, probe_id in enumerate(self.probe_ids):
            columns[probe_id] = pa.array(self.scores[:, column].float().numpy(), pa.float32())
        return pa.table(columns, metadata={"skipped": json.dumps(asdict(self.skipped))})


def _document_loss(logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return -summed_log_prob(logits, batch["labels"])


# Multiply-adds that reading one byte of full queries costs, by their dtype: the gradient path is bound by
# memory bandwidth, which bfloat16's faster multiplies make relatively dearer (see docs/performance.md)
BYTE_COST = {torch.float32: 8, torch.bfloat16: 64}


def gradient_path_cheaper(tracked: Tracked, tokens: int, probes: int, rank: int, batch: int,
                          dtype: torch.dtype = torch.float32) -> bool:
    """Whether forming each document's gradient costs less than the factorised contraction (module doc), per
    document of a `batch` of `tokens` tokens."""
    width = tracked.in_features + tracked.out_features
    size = tracked.in_features * tracked.out_features
    factorised = tokens * probes * rank * width + tokens * tokens * width
    reading = BYTE_COST.get(dtype, BYTE_COST[torch.float32]) * size * probes * dtype.itemsize / batch
    return factorised >= (tokens + probes) * size + reading


def materialised_layers(modules: list[Tracked], probes: int, ranks: dict[str, int], max_length: int, batch: int,
                        contraction: str = "auto", limit: int | None = None,
                        dtype: torch.dtype = torch.float32) -> list[Tracked]:
    """The layers the gradient path may score, whose full (out·in, Q) queries of `dtype` are then built: with
    "auto", those where that path is the cheaper one for batches of `batch` documents of `max_length` tokens (it
    wins only above some length, and no batch is longer), in order while their total stays within `limit`
    bytes. The other layers are scored factorised: the same scores, at a higher cost but no more memory."""
    if contraction != "auto":
        return list(modules) if contraction == "gradient" else []
    chosen, total = [], 0
    for tracked in modules:
        size = tracked.out_features * tracked.in_features * probes * dtype.itemsize
        if gradient_path_cheaper(tracked, max_length, probes, ranks[tracked.name], batch, dtype) and \
                (limit is None or total + size <= limit):
            chosen.append(tracked)
            total += size
    return chosen


class Scorer:
    """Holds one model's queries in the shapes scoring needs; `score_batch` scores one padded batch. Several query
    sets over the same layers (EK-FAC and its dot/cosine baselines) share each batch's forward and backward pass
    and its gradient norms: their directions sit side by side in one matmul. Full queries are built for at most
    `materialise_limit` bytes (None: no limit), see `materialised_layers`."""

    def __init__(self, model: nn.Module, queries: Queries | Sequence[Queries], materialise_limit: int | None = None):
        self.model = model.eval()
        self.sets = [queries] if isinstance(queries, Queries) else list(queries)
        first = self.sets[0]
        for other in self.sets:
            if other.header.get("fingerprint", model_fingerprint(model)) != model_fingerprint(model):
                raise InputError("these queries were built for another model (fingerprints differ)")
            if other.header.get("basis", "layer") != "layer":
                raise InputError("these queries are in the layers' eigenbasis (for a gradient store), not the layers'")
            if list(other.layers) != list(first.layers) or other.args.score_dtype != first.args.score_dtype:
                raise InputError("query sets scored in one pass need the same layers and score dtype")
        self.sizes = [len(queries.probe_ids) for queries in self.sets]
        self.dtype = getattr(torch, first.args.score_dtype)
        names = "|".join(f"^{re.escape(name)}$" for name in first.layers)
        self.modules: list[Tracked] = find_modules(model, names) if first.layers else []
        self.device = next(model.parameters()).device
        self.projections, self.materialised, self.ranks = {}, {}, {}
        for tracked in self.modules:
            lefts, rights = [], []
            self.ranks[tracked.name] = [queries.layers[tracked.name].left.size(2) for queries in self.sets]
            for queries in self.sets:
                layer = queries.layers[tracked.name]
                q, out_features, k = layer.left.shape
                if (out_features, layer.right.size(2)) != tracked.shape:
                    raise InputError(f"queries for {tracked.name} have shape {(out_features, layer.right.size(2))}, "
                                     f"the model's layer {tracked.shape}: they were built for another model")
                # (out, Q·k) and (in, Q·k): all probes' directions side by side, one matmul per batch.
                lefts.append(layer.left.permute(1, 0, 2).reshape(out_features, q * k))
                rights.append(layer.right.permute(2, 0, 1).reshape(-1, q * k))
            self.projections[tracked.name] = (torch.cat(lefts, 1).to(self.device, self.dtype),
                                              torch.cat(rights, 1).to(self.device, self.dtype))
        ranks = {name: max(ks) for name, ks in self.ranks.items()}
        self.gradient_layers = {t.name for t in materialised_layers(
            self.modules, sum(self.sizes), ranks, first.args.max_length, first.args.batch_size,
            first.args.contraction, materialise_limit, self.dtype)}

    def _materialised(self, name: str) -> torch.Tensor:
        if name not in self.materialised:  # (out·in, ΣQ), built on first use only, from the arranged directions
            left, right = self.projections[name]
            columns, start = [], 0
            for q, k in zip(self.sizes, self.ranks[name], strict=True):
                block = slice(start, start + q * k)
                left_q = left[:, block].float().view(left.size(0), q, k).permute(1, 0, 2)  # (Q, out, k)
                right_q = right[:, block].float().view(right.size(0), q, k).permute(1, 2, 0)  # (Q, k, in)
                columns.append(torch.bmm(left_q, right_q).flatten(1).t())
                start += q * k
            self.materialised[name] = torch.cat(columns, 1).to(self.dtype).contiguous()
        return self.materialised[name]

    def _factorised(self, name: str, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """(B, ΣQ): Σ_k Σ_t (u_kᵀ g_t)(v_kᵀ a_t) per probe, summed in float32."""
        left, right = self.projections[name]
        products = ((g.to(self.dtype) @ left) * (a.to(self.dtype) @ right)).float().sum(1)  # (B, ΣQ·k)
        columns, start = [], 0
        for q, k in zip(self.sizes, self.ranks[name], strict=True):
            columns.append(products[:, start:start + q * k].view(-1, q, k).sum(2))
            start += q * k
        return torch.cat(columns, 1)

    def _path(self, tracked: Tracked, batch: int, tokens: int) -> str:
        if tracked.name not in self.gradient_layers:
            return "factorised"
        k = max(self.ranks[tracked.name])
        contraction = self.sets[0].args.contraction
        cheaper = contraction == "gradient" or gradient_path_cheaper(tracked, tokens, sum(self.sizes), k, batch,
                                                                     self.dtype)
        return "gradient" if cheaper else "factorised"

    @torch.no_grad()
    def score_batch(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, ΣQ) raw influence (each set's probes in turn; cosine sets divided by both norms) and (B,) gradient
        norms for a batch of documents."""
        captured = capture(self.model, self.modules, batch, _document_loss)
        size = batch["input_ids"].size(0)
        scores = torch.zeros(size, sum(self.sizes), device=captured.values.device)
        squared_norms = torch.zeros(size, device=captured.values.device)
        for tracked in self.modules:
            a, g = captured.activations[tracked.name], captured.gradients[tracked.name]
            if self._path(tracked, a.size(0), a.size(1)) == "factorised":
                scores += self._factorised(tracked.name, a, g)
                squared_norms += ((g @ g.transpose(1, 2)) * (a @ a.transpose(1, 2))).sum(dim=(1, 2))
            else:
                gradient = per_example_gradients(a, g).flatten(1)
                scores += (gradient.to(self.dtype) @ self._materialised(tracked.name)).float()
                squared_norms += gradient.square().sum(dim=1)
        norms = squared_norms.clamp(min=0).sqrt()
        start = 0
        for queries, q in zip(self.sets, self.sizes, strict=True):
            if queries.args.method == "cosine":
                outer = norms[:, None] * queries.norms.to(scores.device)[None, :]
                scores[:, start:start + q] /= outer.clamp(min=1e-30)
            start += q
        return scores.cpu(), norms.cpu()

    def split(self, scores: torch.Tensor) -> list[torch.Tensor]:
        """`score_batch`'s columns, one block per query set."""
        return list(scores.split(self.sizes, dim=1))


def random_scores(doc_ids: list[str], probes: int, seed: int) -> torch.Tensor:
    """The random baseline: standard normal scores, seeded per document so sharding doesn't change them."""
    rows = [torch.randn(probes, generator=torch.Generator().manual_seed(stable_seed(seed, doc_id))) for doc_id in doc_ids]
    return torch.stack(rows) if rows else torch.zeros(0, probes)


def score_documents(
    model: nn.Module, tokenizer, documents: Iterable, queries: Queries, batch_size: int | None = None,
    start: int = 0, scorer: Scorer | None = None, progress: Progress | None = None,
) -> DocumentScores:
    """Scores of every document against every query; documents too short or with non-finite gradients are
    skipped and counted. `start` numbers documents that carry no id; `progress`: a bar to count them on."""
    return score_query_sets(model, tokenizer, documents, [queries], batch_size, start, scorer, progress)[0]


def score_query_sets(
    model: nn.Module, tokenizer, documents: Iterable, sets: Sequence[Queries], batch_size: int | None = None,
    start: int = 0, scorer: Scorer | None = None, progress: Progress | None = None,
) -> list[DocumentScores]:
    """`score_documents` for several query sets over the same layers in one pass (see `Scorer`), one result each;
    a document whose scores are not finite in any set is skipped in all."""
    args = sets[0].args if batch_size is None else replace(sets[0].args, batch_size=batch_size)
    device = next(model.parameters()).device
    pad_id = getattr(tokenizer, "pad_token_id", None) or 0
    skipped = Skipped()
    positions_out, ids_out, norms_out, scores_out = [], [], [], []
    scorer = scorer or (Scorer(model, sets) if args.method != "random" else None)
    batches = document_batches(documents, tokenizer, args.batch_size, args.max_length, skipped, start=start)
    counter = progress_bar(desc="scoring", unit="doc", disable=not args.progress) if progress is None else nullcontext(progress)
    with counter as bar:
        for positions, ids, items in batches:
            bar.update(len(items))
            if scorer is None:
                scores, norms = random_scores(ids, len(sets[0].probe_ids), args.seed), torch.full((len(ids),), float("nan"))
            else:
                scores, norms = scorer.score_batch(to_batch(items, pad_id, device))
                finite = torch.isfinite(scores).all(dim=1) & torch.isfinite(norms)
                if not finite.all():
                    skipped.non_finite += int((~finite).sum())
                    keep = finite.tolist()
                    positions = [p for p, k in zip(positions, keep, strict=True) if k]
                    ids = [doc_id for doc_id, k in zip(ids, keep, strict=True) if k]
                    scores, norms = scores[finite], norms[finite]
            positions_out += positions
            ids_out += ids
            scores_out.append(scores)
            norms_out.append(norms)
        bar.update(skipped.too_short)
    order = sorted(range(len(ids_out)), key=positions_out.__getitem__)  # back to the input order
    sizes = [len(queries.probe_ids) for queries in sets]
    scores = torch.cat(scores_out)[order] if scores_out else torch.zeros(0, sum(sizes))
    norms = torch.cat(norms_out)[order] if norms_out else torch.zeros(0)
    ids = [ids_out[i] for i in order]
    return [DocumentScores(ids, norms, block, list(queries.probe_ids), skipped)
            for queries, block in zip(sets, scores.split(sizes, dim=1), strict=True)]


# ---------------------------------------------------------------------------------------------------------
# Sharded, resumable score files


def part_path(directory: Path, index: int, rank: int | None = None) -> Path:
    """Part `index` of a one-process run, or of datatrove task `rank`."""
    name = f"part-{index:05d}" if rank is None else f"part-{rank:05d}-{index:05d}"
    return Path(directory) / f"{name}.parquet"


def write_part(scores: DocumentScores, path: Path) -> None:
    """Temporary file, then rename: a part either exists whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(scores.to_arrow(), temporary)
    os.replace(temporary, path)


def check_probe_ids(probe_ids: Sequence[str]) -> None:
    """Refuse probe ids that cannot name a score column (`attribution.probe.id_problem`) or that repeat, before
    anything is written: probes built in Python never pass through a probes file's reader."""
    for probe_id in probe_ids:
        if problem := id_problem(probe_id):
            raise InputError(problem)
    if len(set(probe_ids)) < len(probe_ids):
        raise InputError(f"repeated probe ids: {sorted({i for i in probe_ids if list(probe_ids).count(i) > 1})}")


def prepare_output(directory: Path, queries: Queries, overwrite: bool = False) -> None:
    """Write `probes.json` and the queries, or check that an earlier, interrupted run used the same ones."""
    directory = Path(directory)
    check_probe_ids(queries.probe_ids)
    described = queries.describe()
    probes_file = directory / "probes.json"
    if probes_file.exists() and not overwrite:
        earlier = json.loads(probes_file.read_text())
        if {k: v for k, v in earlier.items() if k != "probes"} != {k: v for k, v in described.items() if k != "probes"} \
                or [p["id"] for p in earlier["probes"]] != queries.probe_ids:
            raise InputError(f"{directory} holds scores from other settings or probes; pass --overwrite to replace them")
        return
    if overwrite:
        for old in directory.glob("part-*.parquet"):
            old.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    if overwrite or not (directory / QUERIES_FILE).exists():
        queries.save(directory / QUERIES_FILE)
    write_atomic(probes_file, json.dumps(described, indent=2) + "\n")


def _chunks(documents: Iterable, size: int) -> Iterator[list]:
    iterator = iter(documents)
    while chunk := list(islice(iterator, size)):
        yield chunk


def new_summary() -> dict:
    return {"parts_written": 0, "parts_kept": 0, "documents_scored": 0, "skipped": Skipped()}


def score_parts(
    model: nn.Module, tokenizer, documents: Iterable, queries: Queries, directory: Path, documents_per_part: int,
    summary: dict, rank: int | None = None, materialise_limit: int | None = None, total: int | None = None,
    baselines: Sequence[tuple[Queries, Path]] = (), release_queries: bool = False, every: float = 0.1,
) -> Iterator[list]:
    """Score documents into parts of `documents_per_part` consecutive documents (of one datatrove task, with
    `rank`), counting into `summary`; yields each part's documents once its file is written. A part that
    already exists is not scored again, so a killed run, started again with the same documents, finishes only
    what is missing. `total`: the number of documents, for the progress bar's rate and time left, which it
    redraws at most every `every` seconds (a datatrove task's bar, named after its rank, shares the terminal
    with the other tasks' and is drawn rarely). `baselines`:
    (queries, folder) pairs scored in the same pass, each part written to every folder (a part counts as done
    only where every folder has it). `release_queries`: empty the queries' layers once the scorer has arranged
    them, so that a stage that loaded them for this pass does not hold them twice (the memory plan counts on it)."""
    outputs = [(queries, Path(directory)), *((q, Path(folder)) for q, folder in baselines)]
    sets = [q for q, _ in outputs]
    scorer = Scorer(model, sets, materialise_limit) if queries.args.method != "random" else None
    if release_queries:
        for q in sets:
            q.layers = {}
    label = "scoring" if rank is None else f"scoring, task {rank}"
    with progress_bar(desc=label, unit="doc", total=total, disable=not queries.args.progress, mininterval=every) as bar:
        for index, chunk in enumerate(_chunks(documents, documents_per_part)):
            paths = [part_path(folder, index, rank) for _, folder in outputs]
            if all(path.exists() for path in paths):
                summary["parts_kept"] += 1
                bar.update(len(chunk))
            else:
                results = score_query_sets(model, tokenizer, chunk, sets, start=index * documents_per_part,
                                           scorer=scorer, progress=bar)
                for scores, path in zip(results, paths, strict=True):
                    write_part(scores, path)
                summary["parts_written"] += 1
                summary["documents_scored"] += len(results[0].doc_ids)
                summary["skipped"] += results[0].skipped
            yield chunk


def score_corpus(
    model: nn.Module, tokenizer, documents: Iterable, queries: Queries, directory: Path,
    documents_per_part: int = DOCUMENTS_PER_PART, overwrite: bool = False, materialise_limit: int | None = None,
    total: int | None = None, baselines: Sequence[tuple[Queries, Path]] = (), release_queries: bool = False,
) -> dict:
    """Score a corpus into `directory`, and `baselines` into theirs in the same pass (see `score_parts`); returns
    the counts of parts written and kept, of documents scored and skipped."""
    for q, folder in [(queries, directory), *baselines]:
        prepare_output(folder, q, overwrite)
    summary = new_summary()
    for _ in score_parts(model, tokenizer, documents, queries, directory, documents_per_part, summary,
                         materialise_limit=materialise_limit, total=total, baselines=baselines,
                         release_queries=release_queries):
        pass
    return summary


def finish_scores(directory: Path) -> dict:
    """Check that the parts in `directory` hold each document once, and record in its manifest how many
    documents and parts the whole scores hold, which readers check against (`attribution.scores`)."""
    parts, ids = sorted(Path(directory).glob("part-*.parquet")), []
    for part in parts:
        try:
            ids += pq.read_table(part, columns=["doc_id"])["doc_id"].to_pylist()
        except (pa.ArrowException, OSError) as error:
            raise InputError(f"{part} is cut short or corrupt ({error}); delete it and run again to rescore it") from None
    refuse_repeated_ids(ids, "scores are kept by id: ")
    facts = {"documents": len(ids), "parts": len(parts)}
    mark_complete(directory, **facts)
    return facts
