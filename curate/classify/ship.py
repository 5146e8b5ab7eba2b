"""Ship a classifier learned on a run as package data (`builtin[:NAME]`), with the provenance a user needs to
trust it: the model, the sources it learned from, the probes, the sizes, its held-out evaluation (held-out
documents of its own sources, and whole sources it never saw), and the command that rebuilds it. `curate classifier ship` runs it after `curate run recipes/real.toml`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl

from curate.classify.model import load_classifier, save_builtin
from curate.corpus.io import read_documents
from curate.corpus.options import PACKAGES_FILE
from curate.errors import InputError
from curate.paths import RunDir

REBUILD = "make real && curate classifier ship --run-dir runs/real --evaluation runs/real/evaluation " \
          "--heldout-evaluation runs/real/evaluation-heldout --as influence"


def _json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def heldout_evaluation(evaluation: Path, name: str) -> dict:
    """The classifier's row of `curate classifier evaluate`'s evaluation.csv."""
    table = evaluation / "evaluation.csv"
    if not table.is_file():
        raise InputError(f"{table}: no evaluation (run `curate classifier evaluate` first)")
    rows = pl.read_csv(table).filter(pl.col("classifier") == name)
    if not rows.height:
        raise InputError(f"{table}: no classifier named {name!r} (give its name with --as)")
    keep = ("documents", "procedural_share", "threshold", "precision", "recall", "f1", "average_precision",
            "keep_fraction", "precision_at_keep", "recall_at_keep", "f1_at_keep")
    return {key: rows[key][0] for key in keep} | {"corpus": str(evaluation)}


def heldout_sources_evaluation(evaluation: Path, name: str) -> dict:
    """The classifier's evaluation on whole held-out sources (`curate classifier evaluate --sources`): its overall row
    and, per source, its documents, label share and the share of them kept at the threshold."""
    overall = heldout_evaluation(evaluation, name)
    table = pl.read_csv(evaluation / "sources.csv").filter(pl.col("classifier") == name)
    per_source = {row["source"]: {"documents": row["documents"], "procedural_share": row["procedural_share"],
                                  "kept_at_threshold": row["kept_of_source_at_threshold"]}
                  for row in table.iter_rows(named=True)}
    return overall | {"sources": per_source}


def ship_classifier(run_dir: Path, evaluation: Path, as_name: str, classifier: Path | None = None,
                    name: str | None = None, command: str = REBUILD, heldout: Path | None = None) -> Path:
    """Copy the run's classifier into the package with its provenance; returns the shipped file."""
    run = RunDir(run_dir)
    source = classifier or run.classifier_file
    model = load_classifier(source)
    trained = model.provenance_
    if "corpus" not in trained:
        raise InputError(f"{source}: no training provenance (retrain it with `curate classifier train`)")
    documents = read_documents(Path(trained["corpus"]))
    scores = _json(Path(trained["scores"]) / "manifest.json")
    factors = _json(run.factors / "manifest.json").get("made_from", {})
    sets = Counter(probe.rsplit("-", 1)[0] for probe in trained["reasoning_probes"] + trained["factual_probes"])
    provenance = {
        "model": _json(run.model / "provenance.json") or {"directory": str(run.model)},
        "sources": dict(Counter(str(d.metadata.get("source", "unknown")) for d in documents)),
        "probes": {"file": trained["probe_file"], "label_sets": dict(sets)},
        "sizes": {
            "scored_documents": scores.get("complete", {}).get("documents"),
            "factor_documents": factors.get("max_documents"),
            "max_length": scores.get("made_from", {}).get("max_length"),
            "modules": scores.get("made_from", {}).get("modules") or factors.get("modules"),
            "training_documents": trained.get("training_documents"),
            "positives": trained.get("positives"),
        },
        "heldout_evaluation": heldout_evaluation(evaluation, as_name),
        "command": command,
    }
    if heldout is not None:
        provenance["heldout_sources"] = heldout_sources_evaluation(heldout, as_name)
    packages = run.corpus / PACKAGES_FILE  # a real corpus's: the package versions a rebuild can be checked against
    if packages.is_file():
        provenance["packages"] = dict(line.split("\t")[:2] for line in packages.read_text().splitlines() if "\t" in line)
    if name:
        return save_builtin(model, provenance, name)
    return save_builtin(model, provenance)
