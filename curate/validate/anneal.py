"""Annealing: does a curated mix teach a real pretrained model reasoning, and what does it cost in general text?

A pretraining team tests a small candidate dataset by annealing: continue training the pretrained model on a
small budget of it with the learning rate decaying to zero, then compare benchmarks (Llama 3, OLMo 2). Here each
arm is a draw of the crawl at one token budget (`--tokens`), annealed from the same pretrained model:
  random:    a random sample of the crawl (its own distribution), no document twice;
  share-S, top-F, upsample-xR: classifier curation at procedural token share S, the top fraction F by
             `procedural_score`, or procedural documents' weight times R (as `curate study mix-sweep` builds them);
  influence-F: the top fraction F of the scored documents by their mean per-nat EK-FAC score over the run's
             reasoning probes, repeated up to the cap to fill the budget;
  base:      the un-annealed model, the zero point (evaluated once);
  remove-M-T-K: the scored documents without the top K of them by ranking M (ekfac, cosine, random) for probe
             set T, sampled to the budget, against `remove-none` (nothing removed): removal on the real model.
Each (arm, seed) is one cell (`curate.validate.cells`): seeded, resumable, shardable. Every annealed model is
measured on probes never used for selection (`make_real_probes` at `--probe-seed`, any prompt of RUN/probes
dropped): loss per completion token per set, greedy accuracy where the answer can be checked (code tracing and
maths), and the loss on a held-out slice of the crawl that no arm's pool contains.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from attribution.progress import progress_bar
from curate.classify import SCORE_KEY
from curate.errors import InputError
from curate.tables import as_text
from curate.validate.arguments import AnnealArguments
from curate.validate.cells import read_cells, run_cells
from curate.validate.intervals import mean_and_interval
from curate.validate.mix_sweep import (
    SweepArm,
    arm_spec,
    check_reachable,
    judge,
    plot_frontier,
    spec_toml,
    write_atomic,
    write_recommendation,
)

SPEC_METHODS = ("share", "top", "upsample")  # arms that are `curate mix` specs, so can be recommended
MIX_METHODS = (*SPEC_METHODS, "influence")  # arms judged against random for the target
REASONING_SETS = ("code_trace", "howto", "arithmetic", "slope", "linear")
FACTUAL_SETS = ("factual", "tech_fact")
CHECKED_SETS = ("code_trace", "arithmetic", "slope", "linear")  # a number to compare; how-to's commands are not
EVALUATED_SETS = (*REASONING_SETS, *FACTUAL_SETS)
NOTHING = "none"  # the removal arms' baseline, as `curate.validate.removal` names it
RECOMMENDED = "recommended_mix.toml"


@dataclass(frozen=True)
class AnnealCell:
    method: str  # random, share, top, upsample, influence, base, removal
    seed: int | None  # None: the base model, evaluated once
    value: float | None = None  # share, fraction kept, factor, or the removal's fraction
    target: str | None = None  # removal: the probe set whose top documents are dropped
    ranking: str | None = None  # removal: ekfac, cosine, random (none: the baseline)

    @property
    def arm(self) -> str:
        if self.method in ("random", "base"):
            return self.method
        if self.method == "upsample":
            return f"upsample-x{self.value:g}"
        if self.method == "removal":
            return f"remove-{NOTHING}" if self.ranking == NOTHING else f"remove-{self.ranking}-{self.target}-{self.value:g}"
        return f"{self.method}-{self.value:g}"

    @property
    def name(self) -> str:
        return self.arm if self.seed is None else f"{self.arm}__seed{self.seed}"


def grid(args: AnnealArguments) -> list[AnnealCell]:
    """The base model first, then every arm seed by seed (seeds slowest: a grid stopped part-way already
    holds whole seeds, which the paired removal contrasts need)."""
    cells = [AnnealCell("base", None)] if "base" in args.arms else []
    for seed in args.seeds:
        families = {
            "random": [AnnealCell("random", seed)],
            "share": [AnnealCell("share", seed, s) for s in args.shares],
            "top": [AnnealCell("top", seed, f) for f in args.top_fractions],
            "upsample": [AnnealCell("upsample", seed, r) for r in args.upsample],
            "influence": [AnnealCell("influence", seed, f) for f in args.top_fractions],
            "removal": [AnnealCell("removal", seed, 0.0, NOTHING, NOTHING)] + [
                AnnealCell("removal", seed, fraction, target, method)
                for fraction in args.removal_fractions for target in args.removal_targets
                for method in args.removal_methods
            ],
        }
        cells += [cell for family, members in families.items() if family in args.arms for cell in members]
    return cells


# ---------------------------------------------------------------------------------------------- the data


@dataclass
class Context:
    """What every cell shares, loaded once per process."""

    model: Path
    tokenizer: object
    ids: list[str]  # the pool: every document an arm may draw, the held-out slice and held-out sources excluded
    token_ids: list[np.ndarray]  # each pool document's tokens, without the EOS that joins it to the next
    lengths: np.ndarray  # tokens per pool document with its EOS: what the budget counts
    scores: np.ndarray | None  # procedural_score per pool document (classifier arms only)
    heldout_ids: set[str]
    heldout: object  # the held-out slice packed into [n, seq_len] token sequences
    probes: list
    rankings: dict  # ("influence", None) or (method, target): pool indices of scored documents, best first
    scored: np.ndarray  # pool indices of the documents the scores folder holds


def pool_and_slice(documents, args: AnnealArguments, heldout_sources: set[str]) -> tuple[list, list]:
    """(the pool, the held-out slice): a seeded hash of each id sets a share aside; whole held-out sources
    belong to neither, so the general loss is measured on the same sources the arms draw from."""
    from curate.corpus.split import is_heldout

    pool, heldout = [], []
    for document in documents:
        if document.metadata.get("source") in heldout_sources:
            continue
        (heldout if is_heldout(document.id, args.heldout_fraction, args.heldout_seed) else pool).append(document)
    if not pool or not heldout:
        raise InputError(f"the crawl leaves {len(pool)} pool and {len(heldout)} held-out documents; both must be non-empty")
    return pool, heldout


def tokenize(tokenizer, texts: list[str], batch_size: int = 1000) -> list[np.ndarray]:
    """Each text's token ids, without special tokens (int32: a whole crawl's ids are held at once)."""
    ids = []
    for start in progress_bar(range(0, len(texts), batch_size), desc="tokenize", unit="batch"):
        encoded = tokenizer(texts[start : start + batch_size], add_special_tokens=False)["input_ids"]
        ids += [np.asarray(x, dtype=np.int32) for x in encoded]
    return ids


def pack(token_ids: list[np.ndarray], order, eos: int, seq_len: int, sequences: int):
    """The documents in `order`, each followed by EOS, concatenated and cut into `sequences` rows of `seq_len`
    (the tail that does not fill a row is dropped)."""
    import torch

    eos_row = np.array([eos], dtype=np.int32)
    stream = np.concatenate([piece for i in order for piece in (token_ids[i], eos_row)]).astype(np.int64)
    if len(stream) < sequences * seq_len:
        raise InputError(f"{len(stream)} tokens cannot fill {sequences} sequences of {seq_len}")
    return torch.from_numpy(stream[: sequences * seq_len].reshape(sequences, seq_len).copy())


def read_heldout_sources(corpus: Path) -> set[str]:
    from curate.corpus.options import HELDOUT_SOURCES_FILE

    path = corpus / HELDOUT_SOURCES_FILE
    return set(path.read_text().split()) if path.is_file() else set()


def evaluation_probes(run_dir, args: AnnealArguments) -> list:
    """Fresh instances of every evaluated set from `probe_seed`, less any prompt the run selected or scored with."""
    from curate.probes.real import REAL_SIZES, make_real_probes
    from curate.probes.sets import read_probes

    sizes = None if args.probes_per_set is None else {s: min(n, args.probes_per_set) for s, n in REAL_SIZES.items()}
    used = {p.prompt for p in read_probes(run_dir.probes)} if run_dir.probes.is_file() else set()
    probes = [p for p in make_real_probes(seed=args.probe_seed, sizes=sizes) if p.set in EVALUATED_SETS]
    return [p for p in probes if p.prompt not in used]


def load_rankings(run_dir, args: AnnealArguments, index: dict[str, int]) -> tuple[dict, np.ndarray]:
    """Pool indices best first per influence aggregate and removal (method, target), and the scored indices."""
    from attribution.scores import load_per_nat_scores
    from curate.probes.sets import KIND_OF_SET, read_probes
    from curate.validate.removal import ranking

    wanted = ([("influence", None)] if "influence" in args.arms else []) + (
        [(m, t) for m in args.removal_methods for t in args.removal_targets] if "removal" in args.arms else []
    )
    if not wanted:
        return {}, np.array([], dtype=np.int64)
    probes = read_probes(run_dir.probes)
    scores, _ = load_per_nat_scores(run_dir.scores)
    scored = np.array(sorted(index[i] for i in scores["doc_id"] if i in index), dtype=np.int64)
    rankings = {}
    for method, target in wanted:
        if method == "random":  # drawn per seed in `removal_order`
            continue
        sets = [s for s in {p.set for p in probes} if KIND_OF_SET.get(s) == "reasoning"] if target is None else [target]
        probe_ids = [p.id for p in probes if p.set in sets]
        if not probe_ids:
            raise InputError(f"no probes of {sets or 'a reasoning set'} in {run_dir.probes}")
        folder = run_dir.scores if method in ("influence", "ekfac") else run_dir.scores_for(method)
        rankings[(method, target)] = np.array([index[i] for i in ranking(folder, probe_ids) if i in index], dtype=np.int64)
    return rankings, scored


def load_context(run_dir, out: Path, args: AnnealArguments) -> Context:
    from attribution.model import load_causal_lm
    from curate.corpus.io import read_documents

    model_path = args.model or run_dir.model
    _, tokenizer = load_causal_lm(model_path, threads=args.threads)
    corpus = args.corpus or run_dir.corpus
    pool, heldout = pool_and_slice(read_documents(corpus), args, read_heldout_sources(corpus))
    ids = [d.id for d in pool]
    token_ids = tokenize(tokenizer, [d.text for d in pool])
    lengths = np.array([len(x) + 1 for x in token_ids], dtype=np.int64)
    index = {doc_id: i for i, doc_id in enumerate(ids)}
    scores = None
    if set(args.arms) & set(SPEC_METHODS):
        annotations = args.annotations or run_dir.filtered / "kept"
        by_id = {d.id: d.metadata.get(SCORE_KEY) for d in read_documents(annotations)}
        missing = sum(by_id.get(i) is None for i in ids)
        if missing:
            raise InputError(f"{annotations}: no {SCORE_KEY} for {missing:,} of the crawl's {len(ids):,} pool documents; "
                             "run `curate filter` over the whole crawl without a threshold (it keeps every document)")
        scores = np.array([by_id[i] for i in ids], dtype=np.float64)
    heldout_tokens = tokenize(tokenizer, [d.text for d in heldout])
    rows = min(args.heldout_tokens, int(sum(len(x) + 1 for x in heldout_tokens))) // args.seq_len
    if rows < 1:
        raise InputError("the held-out slice holds less than one --seq-len sequence; raise --heldout-fraction")
    packed = pack(heldout_tokens, range(len(heldout)), tokenizer.eos_token_id, args.seq_len, rows)
    rankings, scored = load_rankings(run_dir, args, index)
    context = Context(model_path, tokenizer, ids, token_ids, lengths, scores, {d.id for d in heldout}, packed,
                      evaluation_probes(run_dir, args), rankings, scored)
    for cell in grid(args):  # every cell's draw checked (and each mix arm's spec written) before any trains
        if cell.method == "base":
            continue
        if cell.method in ("random", *SPEC_METHODS) and cell.seed == args.seeds[0]:
            spec = cell_spec(cell, context, args)
            check_reachable(cell.arm, spec, context.scores if context.scores is not None else np.zeros(len(ids)), lengths)
            header = [f"arm {cell.arm} of curate study anneal; tokens (each document and its EOS) counted with {model_path}"]
            write_atomic(out / "specs" / f"{cell.arm}.toml", spec_toml(spec, header))
        draw(context, cell, args)  # an arm whose documents cannot fill the budget is refused now, not hours in
    coverage = [args.tokens / context.lengths[np.setdiff1d(removal_pool(context, c, args), removed(context, c, args))].sum()
                for c in grid(args) if c.method == "removal"]
    if coverage and min(coverage) < 0.5:
        print(f"note: the removal arms train on as little as {min(coverage):.0%} of the documents they keep, so most "
              "removed documents would not have been drawn anyway; --removal-documents sizes the removal mix")
    return context


def cell_spec(cell: AnnealCell, context: Context, args: AnnealArguments):
    scores = context.scores if context.scores is not None else np.zeros(len(context.ids))
    return arm_spec(SweepArm(cell.method, cell.value), scores, context.lengths, args, args.tokens, cell.seed)


def draw_copies(members: np.ndarray, lengths: np.ndarray, target: float, cap: int, rng, arm: str) -> np.ndarray:
    """Pool indices, each repeated by its copies, whose tokens reach `target` (overshooting by less than one
    document) with no document beyond `cap` copies; refused when they cannot reach it."""
    from curate.mix.build import plan_copies

    available = int(lengths[members].sum())
    if available * cap < target:
        raise InputError(f"arm {arm}: needs {target:,.0f} tokens but its documents hold {available:,} ({cap} "
                         "copies at most); lower --tokens")
    return np.repeat(members, plan_copies(lengths[members], target, cap, rng))


def removal_pool(context: Context, cell: AnnealCell, args: AnnealArguments) -> np.ndarray:
    """The removal experiment's mix for this seed: every scored document, or a seeded draw of
    `--removal-documents` of them, so that a budget the CPU allows still trains on nearly all of what is kept."""
    if args.removal_documents is None or args.removal_documents >= len(context.scored):
        return context.scored
    return np.sort(np.random.default_rng([cell.seed, 4]).choice(context.scored, args.removal_documents, replace=False))


def removed(context: Context, cell: AnnealCell, args: AnnealArguments) -> np.ndarray:
    """Pool indices a removal cell drops: its ranking's top share `value` of the removal mix."""
    if cell.ranking == NOTHING:
        return np.array([], dtype=np.int64)
    pool = removal_pool(context, cell, args)
    if cell.ranking == "random":  # a fresh random k% per seed, like a random removal would be drawn
        order = np.random.default_rng([cell.seed, 2]).permutation(pool)
    else:
        ranked = context.rankings[(cell.ranking, cell.target)]
        order = ranked[np.isin(ranked, pool)]
    return order[: round(cell.value * len(pool))]


def draw(context: Context, cell: AnnealCell, args: AnnealArguments) -> np.ndarray:
    """The pool indices an arm trains on (a document once per copy), in no particular order."""
    rng = np.random.default_rng([cell.seed, 1])
    if cell.method in ("random", *SPEC_METHODS):  # as `curate mix` builds the spec: each bucket to its share
        spec = cell_spec(cell, context, args)
        scores = context.scores if context.scores is not None else np.zeros(len(context.ids))
        buckets = np.array([spec.bucket_of(float(s), None) for s in scores])
        return np.concatenate([
            draw_copies(np.flatnonzero(buckets == b), context.lengths, share * args.tokens, spec.max_repetitions, rng,
                        cell.arm)
            for b, share in enumerate(spec.shares()) if share > 0
        ])
    if cell.method == "influence":
        ranked = context.rankings[("influence", None)]
        kept = ranked[: max(1, round(cell.value * len(ranked)))]
        return draw_copies(kept, context.lengths, args.tokens, args.max_repetitions, rng, cell.arm)
    if cell.method == "removal":
        members = np.setdiff1d(removal_pool(context, cell, args), removed(context, cell, args))
        return draw_copies(members, context.lengths, args.tokens, 1, rng, cell.arm)
    raise InputError(f"no documents to draw for arm {cell.arm}")


def training_sequences(context: Context, drawn: np.ndarray, args: AnnealArguments, seed: int):
    """The drawn copies in a seeded order, packed: `tokens // seq_len` sequences, within one sequence of the budget."""
    order = np.random.default_rng([seed, 3]).permutation(drawn)
    return pack(context.token_ids, order, context.tokenizer.eos_token_id, args.seq_len, args.tokens // args.seq_len)


# ------------------------------------------------------------------------------------------ the training


def warmup_steps(steps: int, warmup: float) -> int:
    """Warm-up steps, leaving at least one decay step after them so the last step's rate is 0."""
    return min(round(warmup * steps), max(steps - 2, 0))


def lr_at(step: int, steps: int, peak: float, warmup: float, schedule: str) -> float:
    """Linear warm-up to `peak`, then linear or cosine decay to exactly 0 at the last step."""
    w = warmup_steps(steps, warmup)
    if step < w:
        return peak * (step + 1) / (w + 1)
    span = steps - 1 - w
    progress = 1.0 if span <= 0 else (step - w) / span
    if schedule == "cosine":
        return peak * 0.5 * (1.0 + math.cos(math.pi * progress))
    return peak * (1.0 - progress)


def freeze(model, train_layers: str) -> list[str]:
    """Freeze every parameter `train_layers` leaves out; returns the names of those trained."""
    names = [name for name, _ in model.named_parameters()]
    if train_layers == "all":
        trained = names
    elif train_layers == "upper-half":
        lowest = model.config.num_hidden_layers // 2
        layer = re.compile(r"\.layers\.(\d+)\.")
        trained = [n for n in names if ((m := layer.search(n)) and int(m.group(1)) >= lowest) or n == "model.norm.weight"]
    else:
        try:
            pattern = re.compile(train_layers)
        except re.error as error:
            raise InputError(f"--train-layers {train_layers!r} is not a regex: {error}") from None
        trained = [n for n in names if pattern.search(n)]
    if not trained:
        raise InputError(f"--train-layers {train_layers!r} matches no parameter (e.g. {names[0]})")
    keep = set(trained)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in keep)
    return trained


def anneal(model, sequences, args: AnnealArguments, seed: int, desc: str = "anneal") -> dict:
    """Continued training, nanoGPT style: AdamW on the unfrozen parameters, warm-up then decay to 0, gradient
    clipping, fixed-length packed sequences in the order given. Returns the run's log."""
    import torch

    torch.manual_seed(seed)
    device = next(model.parameters()).device
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=args.lr, betas=(0.9, 0.95), weight_decay=args.weight_decay)
    steps = math.ceil(len(sequences) / args.batch_size)
    losses, rates = [], []
    model.train()
    for step in progress_bar(range(steps), desc=desc, unit="step"):
        rate = lr_at(step, steps, args.lr, args.warmup, args.schedule)
        for group in optimizer.param_groups:
            group["lr"] = rate
        batch = sequences[step * args.batch_size : (step + 1) * args.batch_size].to(device)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, args.grad_clip)
        optimizer.step()
        losses.append(loss.item())
        rates.append(rate)
    model.eval()
    return {"steps": steps, "lr": rates, "train_loss_first": losses[0], "train_loss_last": losses[-1]}


# --------------------------------------------------------------------------------------- the measurement


def correct_answer(completion: str, answer: str) -> bool:
    """`is_correct`, or the same number written differently (21 and 21.0, 1,000 and 1000)."""
    from curate.probes.evaluate import is_correct
    from curate.probes.sets import final_answer

    if is_correct(completion, answer):
        return True
    predicted = final_answer(completion)
    try:
        return predicted is not None and float(predicted.replace(",", "")) == float(answer.replace(",", ""))
    except ValueError:
        return False


def sequence_loss(model, sequences, batch_size: int) -> float:
    """Mean next-token loss over packed sequences (every row predicts the same number of tokens)."""
    import torch

    device = next(model.parameters()).device
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(sequences), batch_size):
            batch = sequences[start : start + batch_size].to(device)
            total += model(input_ids=batch, labels=batch).loss.item() * len(batch)
    return total / len(sequences)


def measure(model, context: Context, args: AnnealArguments) -> dict:
    """Held-out probes' completion loss, greedy accuracy on the checkable sets, held-out slice loss."""
    from curate.probes.evaluate import completion_nll, greedy_complete

    probes = context.probes
    nll = completion_nll(model, context.tokenizer, probes)
    checked = [i for i, p in enumerate(probes) if p.set in CHECKED_SETS]
    completions = greedy_complete(model, context.tokenizer, [probes[i].prompt for i in checked], args.max_new_tokens)
    correct: list[bool | None] = [None] * len(probes)
    for i, completion in zip(checked, completions, strict=True):
        correct[i] = correct_answer(completion, probes[i].answer)
    return {
        "heldout_loss": sequence_loss(model, context.heldout, args.batch_size),
        "probes": [{"id": p.id, "set": p.set, "nats": n, "tokens": t, "correct": c}
                   for p, (n, t), c in zip(probes, nll, correct, strict=True)],
    }


def run_cell(cell: AnnealCell, context: Context, args: AnnealArguments) -> dict:
    from attribution.model import load_causal_lm

    started = time.perf_counter()
    model, _ = load_causal_lm(context.model, device=args.device, threads=args.threads)
    record = {**asdict(cell), "arm": cell.arm}
    if cell.method != "base":
        drawn = draw(context, cell, args)
        sequences = training_sequences(context, drawn, args, cell.seed)
        trained = freeze(model, args.train_layers)
        log = anneal(model, sequences, args, cell.seed, desc=cell.name)
        unique, copies = np.unique(drawn, return_counts=True)
        record |= {
            "documents": len(unique), "max_copies": int(copies.max()),
            "tokens_drawn": int(context.lengths[drawn].sum()), "tokens_trained": int(sequences.numel()),
            "steps": log["steps"], "final_lr": log["lr"][-1], "train_loss_first": log["train_loss_first"],
            "train_loss_last": log["train_loss_last"], "trained_parameters": len(trained),
            "removed": len(removed(context, cell, args)) if cell.method == "removal" else 0,
        }
        if context.scores is not None:
            procedural = context.scores[drawn] >= args.threshold
            record["procedural_token_share"] = float(context.lengths[drawn][procedural].sum() / context.lengths[drawn].sum())
    train_seconds = time.perf_counter() - started
    record |= measure(model, context, args)
    record |= {"train_seconds": train_seconds, "seconds": time.perf_counter() - started}
    return record


def run_anneal(run_dir, out: Path, args: AnnealArguments, shard: tuple[int, int] = (0, 1)) -> list[Path]:
    """Run this shard's unfinished cells; returns the paths of all of its cell results."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "arguments.json").write_text(json.dumps(asdict(args), indent=1, default=str))

    @functools.cache
    def context() -> Context:
        return load_context(run_dir, out, args)

    return run_cells(grid(args), out / "cells", lambda cell: run_cell(cell, context(), args), shard)


# ------------------------------------------------------------------------------------------- the summary


def per_cell(cells: list[dict]) -> pl.DataFrame:
    """One row per cell: reasoning (mean over the reasoning sets), factual and each set's loss, reasoning
    accuracy, held-out loss."""
    rows = []
    for cell in cells:
        sets = pl.DataFrame(cell["probes"]).group_by("set").agg(
            (pl.col("nats").sum() / pl.col("tokens").sum()).alias("loss"),
            pl.col("correct").cast(pl.Float64).mean().alias("accuracy"),
        )
        loss = dict(zip(sets["set"], sets["loss"], strict=True))
        accuracy = dict(zip(sets["set"], sets["accuracy"], strict=True))
        checked = [accuracy[s] for s in CHECKED_SETS if accuracy.get(s) is not None]
        rows.append({
            "arm": cell["arm"], "method": cell["method"], "value": cell["value"], "seed": cell["seed"],
            "tokens": cell.get("tokens_trained", 0), "seconds": cell["seconds"],
            "reasoning_loss": float(np.mean([loss[s] for s in REASONING_SETS if s in loss])),
            "reasoning_accuracy": float(np.mean(checked)) if checked else None,
            "factual_loss": float(np.mean([loss[s] for s in FACTUAL_SETS if s in loss])) if set(FACTUAL_SETS) & set(loss) else None,
            "heldout_loss": cell["heldout_loss"],
        } | {f"{s}_loss": loss.get(s) for s in EVALUATED_SETS})
    return pl.DataFrame(rows, infer_schema_length=None)


def frontier(cells: list[dict]) -> pl.DataFrame:
    """Per arm: method, value, n, tokens, mean seconds, and each measure's mean and 95% CI over seeds."""
    table = per_cell(cells)
    measures = [c for c in table.columns if c.endswith(("_loss", "_accuracy"))]
    summary = table.group_by("arm", maintain_order=True).agg(
        pl.col("method").first(), pl.col("value").first(), pl.len().alias("n"),
        pl.col("tokens").mean().round().cast(pl.Int64), pl.col("seconds").mean(),
    )
    for value in measures:
        interval = mean_and_interval(table.with_columns(pl.col(value).cast(pl.Float64)), ["arm"], value)
        summary = summary.join(interval.select("arm", pl.col("mean").alias(value), pl.col("ci95").alias(f"{value}_ci95")),
                               on="arm", how="left")
    return summary


def paired_with_random(cells: list[dict]) -> pl.DataFrame | None:
    """Each arm's loss minus the random arm's of the same seed (same evaluation probes and data order), per
    measure: mean and 95% CI over seeds. Pairing removes what the seeds share, so it can resolve a gain the
    unpaired intervals of the frontier cannot. None without a random arm or another arm to pair with it."""
    table = per_cell(cells).filter(pl.col("seed").is_not_null())
    measures = ["reasoning_loss", "heldout_loss", *[f"{s}_loss" for s in EVALUATED_SETS]]
    measures = [m for m in measures if table[m].null_count() < len(table)]
    random = table.filter(pl.col("arm") == "random").select("seed", *[pl.col(m).alias(f"{m}_random") for m in measures])
    if random.is_empty():
        return None
    paired = table.filter(pl.col("arm") != "random").join(random, on="seed", how="inner").with_columns(
        (pl.col(m).cast(pl.Float64) - pl.col(f"{m}_random").cast(pl.Float64)).alias(m) for m in measures)
    rows = []
    for measure in measures:
        interval = mean_and_interval(paired.drop_nulls(measure), ["arm"], measure)
        rows += [{"arm": r["arm"], "measure": measure, "n": r["n"], "difference": r["mean"], "ci95": r["ci95"]}
                 for r in interval.iter_rows(named=True)]
    if not rows:
        return None
    order = {arm: k for k, arm in enumerate(dict.fromkeys(table["arm"]))}
    return pl.DataFrame(rows).sort(pl.col("arm").replace_strict(order), "measure", maintain_order=True)


def recommend(judged: pl.DataFrame) -> str | None:
    """The curate-mix arm with the largest reasoning gain among those meeting the target (None: none meets it)."""
    met = judged.filter(pl.col("meets_target") & pl.col("method").is_in(SPEC_METHODS))
    return None if met.is_empty() else met.sort("reasoning_gain", descending=True, maintain_order=True)["arm"][0]


def removal_tables(cells: list[dict]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame] | None:
    """(loss increase on the targeted set, specificity over every set, EK-FAC against the others), paired by
    seed with the nothing-removed arm, by `curate.validate.removal`'s summaries; None without removal cells."""
    from curate.validate import removal
    from curate.validate.retrain import results_table

    removal_cells = [c for c in cells if c["method"] == "removal"]
    if not any(c["ranking"] == NOTHING for c in removal_cells) or len(removal_cells) < 2:
        return None
    results = results_table(removal_cells, ["target", "ranking", "value", "seed"]).rename(
        {"ranking": "method", "value": "fraction"}
    )
    effect, specificity = removal.summarise(results)
    return effect, specificity, removal.contrasts(results)


def write_summary(out: Path, args: AnnealArguments) -> str:
    """frontier.csv/.md/.png, paired.csv, removal.csv, specificity.csv and (when a curate-mix arm meets the target)
    recommended_mix.toml over every finished cell in OUT; returns frontier.md's text."""
    cells = read_cells(out / "cells")
    arms = [c for c in cells if c["method"] != "removal"]
    text = ""
    if any(c["method"] == "random" for c in arms):
        judged = judge(frontier(arms), args.heldout_tolerance, args.target_gain, MIX_METHODS)
        judged.write_csv(out / "frontier.csv")
        best = recommend(judged)
        write_recommendation(out, judged, best, study="anneal", measured="held-out reasoning probe")
        shown = judged.select(
            "arm", "n", "tokens", "reasoning_loss", "reasoning_loss_ci95", "reasoning_accuracy", "factual_loss",
            "heldout_loss", "heldout_loss_ci95", "reasoning_gain", "heldout_vs_random", "meets_target", "seconds",
        )
        met = judged.filter("meets_target")["arm"].to_list()
        text += (
            "## Annealing frontier: held-out reasoning probe loss against general held-out loss; mean and 95% CI "
            f"over seeds\n\nTarget: reasoning loss at least {args.target_gain:g} nats/token below the random arm's "
            f"with non-overlapping 95% CIs, general held-out loss at most {args.heldout_tolerance:.0%} above "
            f"random's. `base` is the un-annealed model.\n\n{as_text(shown, float_precision=4)}\n\n"
            f"Target met: {'yes, by ' + ', '.join(met) if met else 'no'}. "
            + (f"Recommended: {best} (written to {RECOMMENDED}).\n" if best else f"No {RECOMMENDED} written.\n")
        )
        styles = {"share": "#d95f02", "top": "#7570b3", "upsample": "#1b9e77", "influence": "#e7298a",
                  "random": "black", "base": "#999999"}
        plot_frontier(judged, out / "frontier.png",
                      args.heldout_tolerance, styles, xlabel="general held-out loss (nats/token)",
                      ylabel="held-out reasoning probe loss (nats/token)")
        paired = paired_with_random(arms)
        if paired is not None and not paired.is_empty():
            paired.write_csv(out / "paired.csv")
            text += ("\n## Each arm against random, paired by seed: loss difference (negative: lower than random), "
                     f"mean and 95% CI over seeds (nats/token)\n\n{as_text(paired, float_precision=4)}\n")
    tables = removal_tables(cells)
    if tables is not None:
        effect, specificity, contrast = tables
        effect.write_csv(out / "removal.csv")
        specificity.write_csv(out / "specificity.csv")
        text += (
            "\n## Removal on the real model: loss increase on the targeted set against nothing removed, paired by "
            f"seed (nats/token)\n\n{as_text(effect, float_precision=4)}\n\n## EK-FAC removal against the others, "
            f"paired by seed\n\n{as_text(contrast, float_precision=4)}\n\n## Specificity at the largest fraction: "
            f"every set's loss increase\n\n{as_text(specificity, float_precision=4)}\n"
        )
    if not text:
        raise InputError(f"{out / 'cells'}: no finished random arm or removal pair to summarise yet")
    (out / "frontier.md").write_text(text)
    return text
