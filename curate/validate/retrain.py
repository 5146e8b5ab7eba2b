"""One validation run: train a fresh LM like the run's own on other data, then measure probes and held-out loss."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace

import polars as pl

from curate.errors import UserFacingError


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
    from transformers import AutoTokenizer

    from curate.corpus.io import read_documents
    from curate.corpus.split import is_heldout
    from curate.lm.config import ModelConfig, TrainConfig

    log_path = run_dir.model / "train_log.json"
    if not log_path.exists():
        raise UserFacingError(
            f"{log_path}: missing; validation retrains the run's own LM (`curate train-lm`)"
        )
    log = json.loads(log_path.read_text())
    model_config, train_config = ModelConfig(**log["model_config"]), TrainConfig(**log["train_config"])
    if steps:
        train_config = replace(train_config, steps=steps, eval_every=steps)
    train_docs, eval_texts, train_metadata = {}, [], {}
    for document in read_documents(run_dir.corpus):
        if is_heldout(document.id, train_config.eval_fraction, train_config.seed):
            eval_texts.append(document.text)
        else:
            train_docs[document.id] = document.text
            train_metadata[document.id] = document.metadata
    tokenizer = AutoTokenizer.from_pretrained(run_dir.model)
    return RunTraining(tokenizer, model_config, train_config, train_docs, eval_texts, train_metadata)


def retrain_and_measure(
    run: RunTraining, texts: list[str], probes: list, seed: int, accuracy: bool = True
) -> dict:
    from attribution.evaluate import completion_nll, greedy_complete, is_correct
    from curate.lm.train import train_lm

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
        raise UserFacingError("no cell results yet")
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
