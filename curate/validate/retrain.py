"""One validation run: train a fresh LM like the run's own on other data, then measure probes and held-out loss."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import polars as pl

from curate.errors import InputError

logger = logging.getLogger(__name__)


@dataclass
class RunTraining:
    """How the run's LM was trained, and its corpus split the same way: retrains change only the data."""

    tokenizer: object
    model_config: object
    train_config: object
    train_docs: dict[str, str]  # id -> text, the documents the run's LM trained on
    eval_texts: list[str]  # its held-out documents, never trained on by any retrain
    train_metadata: dict[str, dict] = field(default_factory=dict)  # id -> metadata of the training documents


def load_run_training(run_dir, steps: int | None = None) -> RunTraining:
    """The run's LM's settings and tokenizer, and its own corpus split as it was for training (both read
    from the model's train_log.json)."""
    from transformers import AutoTokenizer

    from curate.corpus.io import BadRecords, read_documents
    from curate.corpus.split import split_documents
    from curate.lm.config import TRAIN_LOG, ModelConfig, TrainConfig

    log_path = run_dir.model / TRAIN_LOG
    if not log_path.exists():
        raise InputError(
            f"{log_path}: missing; validation retrains the run's own LM (`curate model train`)"
        )
    log = json.loads(log_path.read_text())
    model_config, train_config = ModelConfig(**log["model_config"]), TrainConfig(**log["train_config"])
    data = training_data(run_dir, log_path, log.get("data"))
    bad = BadRecords(os.devnull) if data.get("skip_bad_records") else None  # set aside when the LM trained
    documents = read_documents(
        data.get("corpus", run_dir.corpus), data.get("text_key", "text"), data.get("id_key", "id"), bad
    )
    split = data.get("heldout_split", {"fraction": train_config.eval_fraction, "seed": train_config.seed})
    train, heldout = split_documents(documents, split["fraction"], split["seed"])
    counts = (data.get("train_documents"), data.get("heldout_documents"))
    if data and counts != (len(train), len(heldout)):
        raise InputError(
            f"{data['corpus']} changed since the LM was trained: {len(train)} training and {len(heldout)} "
            f"held-out documents now, {data['train_documents']} and {data['heldout_documents']} then ({log_path})"
        )
    if steps:
        train_config = replace(train_config, steps=steps, eval_every=steps)
    tokenizer = AutoTokenizer.from_pretrained(run_dir.model)
    train_docs, train_metadata = {d.id: d.text for d in train}, {d.id: d.metadata for d in train}
    return RunTraining(tokenizer, model_config, train_config, train_docs, [d.text for d in heldout], train_metadata)


def training_data(run_dir, log_path: Path, data: dict | None) -> dict:
    """What train_log.json records the LM was trained on; a run directory holding another corpus is refused.

    Logs written before provenance was recorded have none: the run directory's corpus is assumed, read with
    the default keys, as `curate study` always did.
    """
    from curate.corpus.split import RULE

    if data is None:
        logger.warning(
            "%s records no training corpus (an older log): assuming %s, read with the default keys",
            log_path,
            run_dir.corpus,
        )
        return {}
    corpus = Path(data["corpus"])
    if run_dir.corpus.exists() and run_dir.corpus.resolve() != corpus.resolve():
        raise InputError(
            f"{run_dir.corpus} is not the corpus the LM in {run_dir.model} was trained on ({corpus}, per "
            f"{log_path.name}); validation retrains on the LM's own corpus"
        )
    if not corpus.exists():
        raise InputError(f"{corpus}: the corpus the LM was trained on (per {log_path}) is missing")
    if data["heldout_split"]["rule"] != RULE:
        raise InputError(f"{log_path}: held-out split {data['heldout_split']['rule']!r} is not this version's")
    return data


def retrain_and_measure(
    run: RunTraining, texts: list[str], probes: list, seed: int, accuracy: bool = True
) -> dict:
    from curate.lm.train import train_lm
    from curate.probes.evaluate import completion_nll, greedy_complete, is_correct

    started = time.perf_counter()
    config = replace(run.train_config, seed=seed)
    result = train_lm(texts, run.eval_texts, run.model_config, config, run.tokenizer, progress=False)
    nll = completion_nll(result.model, run.tokenizer, probes)
    correct = [None] * len(probes)
    if accuracy:
        completions = greedy_complete(result.model, run.tokenizer, [p.prompt for p in probes])
        correct = [is_correct(c, p.answer) for c, p in zip(completions, probes, strict=True)]
    return {
        "train_documents": len(texts),
        "heldout_loss": list(result.eval_losses.values())[-1],
        "seconds": time.perf_counter() - started,
        "probes": [
            {"id": p.id, "set": p.set, "nats": n, "tokens": t, "correct": c}
            for p, (n, t), c in zip(probes, nll, correct, strict=True)
        ],
    }


def results_table(cells: list[dict], keys: list[str]) -> pl.DataFrame:
    """One row per (cell, probe set): the cell's `keys`, loss per token, greedy accuracy, held-out loss."""
    if not cells:
        raise InputError("no cell results yet")
    rows = []
    for cell in cells:
        per_set = (
            pl.DataFrame(cell["probes"])
            .group_by("set", maintain_order=True)
            .agg(
                (pl.col("nats").sum() / pl.col("tokens").sum()).alias("loss"),
                pl.col("correct").cast(pl.Float64).mean().alias("accuracy"),
            )
        )
        for row in per_set.iter_rows(named=True):
            rows.append({key: cell[key] for key in keys} | {"heldout_loss": cell["heldout_loss"]} | row)
    return pl.DataFrame(rows)
