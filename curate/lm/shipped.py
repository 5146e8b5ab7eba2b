"""The quickstart's LM ships trained, so the quickstart does not spend most of its time reproducing it.

A training request is fingerprinted by what decides the model: the training and held-out documents (ids and
texts, in order), the model's shape and every training setting except how the run executes (device,
compilation). When the shipped model was trained from the same fingerprint, `curate model train` copies it
instead of training; `--retrain` trains anyway. Rebuild it with `make quickstart-model`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path

from curate.lm.config import TRAIN_LOG, ModelConfig, TrainConfig

SHIPPED_MODEL = Path(__file__).parent / "quickstart_model"
EXECUTION_ONLY = ("device", "compile")  # how a run executes, not which model it makes


def training_fingerprint(train: list, heldout: list, model_config: ModelConfig, config: TrainConfig) -> str:
    """sha256 over the settings that decide the model and the documents it is trained and evaluated on."""
    settings = {"model": asdict(model_config),
                "train": {k: v for k, v in asdict(config).items() if k not in EXECUTION_ONLY}}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for part, documents in (("train", train), ("heldout", heldout)):
        digest.update(part.encode())
        for document in documents:
            digest.update(json.dumps([document.id, document.text]).encode())
    return digest.hexdigest()


def shipped_log(shipped: Path | None = None) -> dict | None:
    """The shipped model's training log, or None where no model is shipped."""
    log = (shipped or SHIPPED_MODEL) / TRAIN_LOG
    return json.loads(log.read_text()) if log.is_file() else None


def matching_shipped_model(fingerprint: str, shipped: Path | None = None) -> Path | None:
    """The shipped model's folder when it was trained from `fingerprint`, else None."""
    shipped = shipped or SHIPPED_MODEL
    log = shipped_log(shipped)
    return shipped if log and log.get("data", {}).get("fingerprint") == fingerprint else None


def copy_shipped(shipped: Path, out_dir: Path, data: dict) -> dict:
    """Copy the shipped model's files into `out_dir`; its training log records where the copy came from and the
    corpus it stands for. Returns that log."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in shipped.iterdir():
        if path.is_file() and path.suffix != ".py":
            shutil.copy2(path, out_dir / path.name)
    log = json.loads((shipped / TRAIN_LOG).read_text())
    log["data"] = data | {"copied_from": "the shipped quickstart model (curate.lm.shipped)"}
    (out_dir / TRAIN_LOG).write_text(json.dumps(log, indent=1))
    return log
