"""Removal-and-retrain on a run small enough to retrain in seconds, with an oracle ranking planted."""

import json
import zlib

import polars as pl
import pytest
from datatrove.data import Document

from attribution.probes import Probe, write_probes
from curate.corpus.io import write_documents
from curate.corpus.split import is_heldout
from curate.lm.config import ModelConfig, TrainConfig
from curate.lm.train import save, train_lm
from curate.paths import RunDir
from curate.validate.removal import RemovalArguments, grid, load_results, run_grid, summarise

CONFIG = TrainConfig(
    seq_len=32, batch_size=8, steps=60, lr=1e-2, warmup_steps=5, eval_every=60, vocab_size=300
)
MODEL = ModelConfig(n_layers=1, hidden=32, mlp=64, heads=2, max_len=64)


def write_scores(directory, doc_ids, values):
    directory.mkdir(parents=True)
    pl.DataFrame(
        {"doc_id": doc_ids, "doc_grad_norm": [1.0] * len(doc_ids), "p0": values, "p1": values}
    ).write_parquet(directory / "part-00000.parquet")
    meta = {
        "probes": [
            {"id": "p0", "nats": 1.0, "gradient_norm": 1.0},
            {"id": "p1", "nats": 1.0, "gradient_norm": 1.0},
        ]
    }
    (directory / "probes.json").write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Documents 'key K means V' teach the probes; 'filler' documents teach nothing about them."""
    root = tmp_path_factory.mktemp("run")
    run = RunDir(root)
    docs = [
        Document(text=f"the secret word is zebra {i % 3}. zebra means stripes.", id=f"z{i}")
        for i in range(60)
    ]
    docs += [
        Document(text=f"a quiet day number {i} in the small town by the river.", id=f"f{i}")
        for i in range(240)
    ]
    write_documents(docs, run.corpus)
    train = [d for d in docs if not is_heldout(d.id, CONFIG.eval_fraction, CONFIG.seed)]
    heldout = [d for d in docs if is_heldout(d.id, CONFIG.eval_fraction, CONFIG.seed)]
    result = train_lm([d.text for d in train], [d.text for d in heldout], MODEL, CONFIG, progress=False)
    save(result, run.model, MODEL, CONFIG)
    probes = [
        Probe(f"p{i}", "arithmetic", "reasoning", "the secret word is", " zebra. zebra means stripes.", "x")
        for i in range(2)
    ]
    write_probes(probes, run.probes)
    ids = [d.id for d in docs]
    write_scores(run.scores_for("ekfac"), ids, [1.0 if i.startswith("z") else 0.0 for i in ids])
    write_scores(run.scores_for("random"), ids, [zlib.crc32(i.encode()) / 2**32 for i in ids])
    return run


def test_grid_has_one_baseline_per_seed_and_every_cell():
    cells = grid(
        RemovalArguments(targets=["a", "b"], methods=["ekfac", "random"], fractions=[0.1, 0.2], seeds=[0, 1])
    )
    assert sum(c.method == "none" for c in cells) == 2
    assert len(cells) == 2 + 2 * 2 * 2 * 2
    assert len({c.name for c in cells}) == len(cells)


def test_removing_the_oracle_top_k_hurts_more_than_random_and_resumes(run_dir, capsys):
    out = run_dir.validation / "removal"
    args = RemovalArguments(
        targets=["arithmetic"], methods=["ekfac", "random"], fractions=[0.2], seeds=[0, 1], accuracy=False
    )
    first_half = run_grid(run_dir, out, args, shard=(0, 2))
    assert all(p.exists() for p in first_half)
    run_grid(run_dir, out, args, shard=(1, 2))
    capsys.readouterr()
    run_grid(run_dir, out, args)
    assert "6 of 6 cells already done" in capsys.readouterr().out

    cell = json.loads((out / "arithmetic__ekfac__0.2__seed0.json").read_text())
    train_size = cell["train_documents"] + cell["removed"]
    assert cell["removed"] == round(0.2 * train_size)

    effect, specificity = summarise(load_results(out))
    by_method = {row["method"]: row for row in effect.iter_rows(named=True)}
    assert set(by_method) == {"ekfac", "random"} and by_method["ekfac"]["n"] == 2
    # Removing every 'zebra' document removes all the probe completion's evidence; removing random documents
    # leaves most of it. The gap is large (whole nats per token), not a tuned margin.
    assert by_method["ekfac"]["mean"] > by_method["random"]["mean"] + 0.5
    assert specificity.filter(pl.col("method") == "ekfac").height == 1
