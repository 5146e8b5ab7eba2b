"""Linear datamodeling score (LDS; Park et al. 2023, TRAK): do a ranking's scores add up to training's effect?

M LMs are retrained like the run's own (same tokenizer, architecture, steps), each on a random share alpha of
its training documents; subset I trains with seed SEED+I. For a probe and a ranking (a scores directory), a
subset's predicted effect is the sum of its documents' per-nat scores for the probe; the probe's LDS is the
Spearman correlation, across the M subsets, between that prediction and the negative completion loss (nats)
the subset's LM has on the probe. A positive score means the document raises log p(completion | prompt), so a
good ranking has a positive LDS; a random one, about 0.

The subsets come from the seed alone, so shards agree on them; OUT/subsets.json records them, with the sorted
training ids they index. The retrains do not depend on any ranking: rankings scored later, or passed as
NAME=DIR, are compared on the same cells with `--summarise-only`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from curate.errors import InputError
from curate.paths import RunDir
from curate.tables import as_text
from curate.validate.arguments import LdsArguments
from curate.validate.cells import read_cells, run_cells
from curate.validate.retrain import load_run_training, retrain_and_measure

SUBSETS_FILE = "subsets.json"
SETTINGS = ("models", "alpha", "seed")  # with the training ids, what makes the subsets
MIN_SUBSETS = 3  # a rank correlation over two subsets is +-1 whatever the scores


@dataclass(frozen=True)
class Subset:
    index: int
    seed: int  # the retrain's training seed

    @property
    def name(self) -> str:
        return f"subset{self.index:05d}"


# --- the score ----------------------------------------------------------------------------------------------


def lds(membership: np.ndarray, scores: np.ndarray, loss: np.ndarray) -> np.ndarray:
    """Per probe, the Spearman correlation across subsets between predicted effect and measured outcome.

    membership: (M, N) bool, subset by document; scores: (N, Q) per-nat scores, positive where the document
    lowers the probe's loss; loss: (M, Q) completion loss measured after training on each subset. The outcome
    is the NEGATIVE loss, so that a ranking that predicts well scores near +1. NaN where either side is
    constant across the subsets (nothing to rank).
    """
    membership, scores, loss = np.asarray(membership), np.asarray(scores), np.asarray(loss)
    if (
        membership.shape[1] != scores.shape[0]
        or membership.shape[0] != loss.shape[0]
        or scores.shape[1] != loss.shape[1]
    ):
        raise ValueError(
            f"shapes do not match: membership {membership.shape}, scores {scores.shape}, loss {loss.shape}"
        )
    predicted = membership.astype(np.float64) @ scores.astype(np.float64)
    return spearman_columns(predicted, -loss.astype(np.float64))


def spearman_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each column of `a` with the same column of `b` (ties get their mean rank)."""
    from scipy.stats import rankdata

    ranks_a, ranks_b = rankdata(a, axis=0), rankdata(b, axis=0)
    ranks_a -= ranks_a.mean(axis=0)
    ranks_b -= ranks_b.mean(axis=0)
    scale = np.sqrt((ranks_a**2).sum(axis=0) * (ranks_b**2).sum(axis=0))
    # Equal-size subsets of a constant score sum to the same value, but summed in another order they can
    # differ in the last bit: such a column is constant, not a ranking.
    constant = (_is_constant(a) | _is_constant(b)) | (scale == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = (ranks_a * ranks_b).sum(axis=0) / scale
    return np.where(constant, np.nan, correlation)


def _is_constant(x: np.ndarray) -> np.ndarray:
    return np.ptp(x, axis=0) <= 1e-12 * np.abs(x).max(axis=0)


def bootstrap_interval(
    predicted: np.ndarray, loss: np.ndarray, resamples: int, seed: int, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean, low, high) of a probe set's LDS: the mean over its defined (non-NaN) probes, and a percentile
    bootstrap interval that resamples the subsets and the probes together.

    predicted, loss: (M, Q), a ranking's predicted effect and the measured loss per subset and probe. Every
    probe's LDS is computed over the same M retrains, so probes share the subsets' luck: resampling the
    probes alone makes the interval far too narrow at small M (docs/results.md). NaNs if no probe's LDS is
    defined."""
    values = spearman_columns(predicted, -loss)
    if np.isnan(values).all():
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    subsets, probes = predicted.shape
    means = []
    for _ in range(resamples):
        rows, columns = rng.integers(0, subsets, subsets), rng.integers(0, probes, probes)
        resampled = spearman_columns(predicted[rows][:, columns], -loss[rows][:, columns])
        if not np.isnan(resampled).all():
            means.append(np.nanmean(resampled))
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(np.nanmean(values)), float(low), float(high)


# --- subsets ------------------------------------------------------------------------------------------------


def draw_subsets(models: int, alpha: float, documents: int, seed: int) -> list[list[int]]:
    """`models` subsets of round(alpha * documents) distinct indices each, sorted; from `seed` alone."""
    size = round(alpha * documents)
    if not 0 < size < documents:
        raise InputError(
            f"--alpha {alpha} of {documents} training documents leaves {size} per subset; "
            "each subset needs some documents and must leave some out"
        )
    rng = np.random.default_rng(seed)
    return [sorted(rng.choice(documents, size, replace=False).tolist()) for _ in range(models)]


def ids_hash(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def read_subsets(out: Path) -> dict | None:
    path = out / SUBSETS_FILE
    return json.loads(path.read_text()) if path.exists() else None


def check_settings(recorded: dict, args: LdsArguments, out: Path) -> None:
    """Refuse to add cells to subsets drawn with other settings: their LDS would mix two experiments."""
    differ = [
        f"--{key} {recorded[key]} (not {getattr(args, key)})"
        for key in SETTINGS
        if recorded[key] != getattr(args, key)
    ]
    if differ:
        raise InputError(
            f"{out / SUBSETS_FILE} was drawn with {', '.join(differ)}; "
            "rerun with those settings or choose another --out"
        )


def prepare_subsets(out: Path, args: LdsArguments, training_ids: list[str]) -> dict:
    """OUT/subsets.json, drawn and written on the first run; later runs and other shards check it."""
    recorded = read_subsets(out)
    if recorded is not None:
        check_settings(recorded, args, out)
        if recorded["training_ids_sha256"] != ids_hash(training_ids):
            raise InputError(
                f"{out / SUBSETS_FILE} indexes other training documents ({recorded['documents']} then, "
                f"{len(training_ids)} now): the run's corpus or split changed; choose another --out"
            )
        return recorded
    subsets = {
        **{key: getattr(args, key) for key in SETTINGS},
        "documents": len(training_ids),
        "training_ids_sha256": ids_hash(training_ids),
        "subsets": draw_subsets(args.models, args.alpha, len(training_ids), args.seed),
        "training_ids": training_ids,
    }
    out.mkdir(parents=True, exist_ok=True)
    # Shards starting together each draw and write the same file: one name per process, then rename.
    temporary = out / f".{SUBSETS_FILE}.tmp.{os.getpid()}"
    temporary.write_text(json.dumps(subsets))
    os.replace(temporary, out / SUBSETS_FILE)
    return subsets


# --- rankings -----------------------------------------------------------------------------------------------


def ranking_dirs(run_dir: RunDir, methods: list[str]) -> dict[str, Path]:
    """Ranking name -> scores directory: METHOD is the run's own (RUN_DIR/scores or scores-METHOD), NAME=DIR
    any directory."""
    dirs = {}
    for method in methods:
        name, _, directory = method.partition("=")
        if not name or (method.count("=") and not directory):
            raise InputError(f"--methods takes METHOD or NAME=DIR, not {method!r}")
        if name in dirs:
            raise InputError(f"--methods names {name!r} twice")
        dirs[name] = Path(directory) if directory else run_dir.scores_for(name)
    return dirs


def score_matrix(scores_dir: Path, training_ids: list[str], probe_ids: list[str]) -> np.ndarray:
    """(N, Q) per-nat scores of the training documents (in `training_ids` order) for the probes; refused
    unless every training document has a score (a subset's sum would silently drop it)."""
    from attribution.scores import load_per_nat_scores

    scores, _ = load_per_nat_scores(scores_dir)
    missing = [p for p in probe_ids if p not in scores.columns]
    if missing:
        raise InputError(
            f"{scores_dir}: no scores for {len(missing)} of {len(probe_ids)} probes (e.g. {missing[0]!r})"
        )
    frame = pl.DataFrame({"doc_id": training_ids}).join(
        scores.select("doc_id", *probe_ids), on="doc_id", how="left", maintain_order="left"
    )
    unscored = frame.filter(pl.any_horizontal(pl.col(probe_ids).is_null()))["doc_id"]
    if len(unscored):
        raise InputError(
            f"{scores_dir}: {len(unscored)} of {len(training_ids)} training documents have no score "
            f"(e.g. {unscored[0]!r}); LDS needs every training document scored"
        )
    return frame.select(probe_ids).to_numpy().astype(np.float64)


# --- the experiment -----------------------------------------------------------------------------------------


def run_experiment(
    run_dir: RunDir, out: Path, args: LdsArguments, shard: tuple[int, int] = (0, 1)
) -> list[Path]:
    """Retrain this shard's unfinished subsets; returns the paths of all of its cell results."""
    from curate.probes.sets import read_probes

    recorded = read_subsets(out)
    if recorded is not None:  # before the corpus is read: a wrong flag is refused at once
        check_settings(recorded, args, out)
    run = load_run_training(run_dir, args.steps)
    probes = read_probes(run_dir.probes)
    training_ids = sorted(run.train_docs)
    # A ranking that cannot be scored is refused now, not after hours of retraining.
    for directory in ranking_dirs(run_dir, args.methods).values():
        score_matrix(directory, training_ids, [p.id for p in probes])
    subsets = prepare_subsets(out, args, training_ids)

    def run_one(cell: Subset) -> dict:
        members = {training_ids[i] for i in subsets["subsets"][cell.index]}
        # In corpus order, as removal retrains: only the subset differs from the run's own training.
        texts = [text for doc_id, text in run.train_docs.items() if doc_id in members]
        measured = retrain_and_measure(run, texts, probes, cell.seed, args.accuracy)
        return {
            **asdict(cell),
            "steps": run.train_config.steps,
            "indices": subsets["subsets"][cell.index],
            "training_ids_sha256": subsets["training_ids_sha256"],
            **measured,
        }

    cells = [Subset(i, args.seed + i) for i in range(args.models)]
    return run_cells(cells, out / "cells", run_one, shard)


def _kind(probe_set: str) -> str:
    from curate.probes.sets import KIND_OF_SET  # read_probes only accepts a set with its own kind

    return KIND_OF_SET[probe_set]


def finished_cells(out: Path) -> tuple[dict, list[dict]]:
    """subsets.json and the finished cells, checked to belong to it and to one training budget."""
    subsets = read_subsets(out)
    if subsets is None:
        raise InputError(
            f"{out / SUBSETS_FILE}: missing; run `curate study lds` without --summarise-only first"
        )
    cells = sorted(read_cells(out / "cells") if (out / "cells").exists() else [], key=lambda c: c["index"])
    if len(cells) < MIN_SUBSETS:
        raise InputError(f"{out}: {len(cells)} finished subsets; the LDS needs at least {MIN_SUBSETS}")
    for cell in cells:
        if (
            cell["training_ids_sha256"] != subsets["training_ids_sha256"]
            or cell["indices"] != subsets["subsets"][cell["index"]]
        ):
            raise InputError(
                f"{out / 'cells'}: {Subset(cell['index'], cell['seed']).name} was not trained on "
                f"the subset {SUBSETS_FILE} records; remove it and rerun"
            )
    steps = sorted({cell["steps"] for cell in cells})
    if len(steps) > 1:
        raise InputError(
            f"{out / 'cells'}: cells trained for different --steps ({steps}); one budget per OUT"
        )
    if len({tuple(p["id"] for p in cell["probes"]) for cell in cells}) > 1:
        raise InputError(
            f"{out / 'cells'}: cells measured different probes (the probes file changed); use another --out"
        )
    return subsets, cells


def lds_tables(
    subsets: dict, cells: list[dict], rankings: dict[str, Path], resamples: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(LDS per ranking and probe; per ranking and probe set, the mean over the set's probes with its
    bootstrap 95% interval over subsets and probes) from `finished_cells`; the subsets' seed seeds the
    bootstrap."""
    from curate.probes.sets import set_rank

    probes = cells[0]["probes"]
    probe_ids = [p["id"] for p in probes]
    membership = np.zeros((len(cells), subsets["documents"]), dtype=bool)
    for row, cell in enumerate(cells):
        membership[row, cell["indices"]] = True
    loss = np.array([[p["nats"] for p in cell["probes"]] for cell in cells])
    per_probe, predictions = [], {}
    for name, directory in rankings.items():
        scores = score_matrix(directory, subsets["training_ids"], probe_ids)
        values = lds(membership, scores, loss)
        predictions[name] = membership.astype(np.float64) @ scores.astype(np.float64)
        per_probe += [
            {"ranking": name, "probe": p["id"], "set": p["set"], "kind": _kind(p["set"]), "lds": float(v)}
            for p, v in zip(probes, values, strict=True)
        ]
    per_probe = pl.DataFrame(per_probe)
    summary = []
    sets = np.array([p["set"] for p in probes])
    for name in rankings:
        mine = per_probe.filter(pl.col("ranking") == name)
        for probe_set in sorted(mine["set"].unique(), key=set_rank):
            values = mine.filter(pl.col("set") == probe_set)["lds"].to_numpy()
            chosen = sets == probe_set
            mean, low, high = bootstrap_interval(predictions[name][:, chosen], loss[:, chosen], resamples,
                                                 subsets["seed"])
            summary.append(
                {
                    "ranking": name,
                    "set": probe_set,
                    "kind": _kind(probe_set),
                    "probes": int((~np.isnan(values)).sum()),
                    "mean": mean,
                    "low": low,
                    "high": high,
                }
            )
    return per_probe, pl.DataFrame(summary)


def write_summary(run_dir: RunDir, out: Path, args: LdsArguments, after_shard: bool = False) -> str:
    """lds_per_probe.csv, lds.csv, lds.md and lds.png over every finished cell in `out`; returns the table.

    `after_shard`: called when a shard has run, so too few finished subsets (the other shards are still
    running) is a note, not an error."""
    finished = len(list((out / "cells").glob("*.json"))) if (out / "cells").exists() else 0
    if after_shard and finished < MIN_SUBSETS:
        return (
            f"{finished} subsets finished; the LDS needs at least {MIN_SUBSETS}: when the other shards "
            "finish, tabulate with --summarise-only"
        )
    subsets, cells = finished_cells(out)
    per_probe, summary = lds_tables(subsets, cells, ranking_dirs(run_dir, args.methods), args.bootstrap)
    per_probe.write_csv(out / "lds_per_probe.csv")
    summary.write_csv(out / "lds.csv")
    text = (
        f"## Linear datamodeling score over {len(cells)} of {subsets['models']} subsets "
        f"(alpha {subsets['alpha']}): "
        "mean Spearman correlation over each set's probes, 95% bootstrap interval over subsets and probes "
        "(probes: those with a defined score)\n\n"
        f"{as_text(summary, float_precision=3)}\n"
    )
    (out / "lds.md").write_text(text)
    plot(summary, out / "lds.png")
    return text


def plot(summary: pl.DataFrame, path: Path) -> Path:
    """Bars: mean LDS per probe set (groups) and ranking (bars), whiskers the bootstrap interval."""
    from curate.plots import new_figure, save_figure

    sets = summary["set"].unique(maintain_order=True).to_list()
    rankings = summary["ranking"].unique(maintain_order=True).to_list()
    fig, ax = new_figure(max(5.0, 1.5 + 0.4 * len(sets) * len(rankings)), 3.8)
    width = 0.8 / len(rankings)
    for i, name in enumerate(rankings):
        rows = {row["set"]: row for row in summary.filter(pl.col("ranking") == name).iter_rows(named=True)}
        mean = np.array([rows[s]["mean"] if s in rows else np.nan for s in sets])
        low = np.array([rows[s]["low"] if s in rows else np.nan for s in sets])
        high = np.array([rows[s]["high"] if s in rows else np.nan for s in sets])
        whiskers = np.nan_to_num(np.stack([mean - low, high - mean]))
        x = np.arange(len(sets)) + (i - (len(rankings) - 1) / 2) * width
        ax.bar(x, np.nan_to_num(mean), width, yerr=whiskers, capsize=3, label=name)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xticks(np.arange(len(sets)), sets, rotation=20)
    ax.set(ylabel="LDS (Spearman)", title="LDS per probe set, 95% interval over probes", ylim=(-1.05, 1.05))
    ax.legend(fontsize="small")
    return save_figure(fig, path)
