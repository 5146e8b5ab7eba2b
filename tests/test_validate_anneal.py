"""`curate study anneal` at tiny scale: a two-layer Llama written here, a crawl of four sources (one held out),
its classifier annotations, and EK-FAC and cosine scores written by hand."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
import torch

from curate.errors import InputError
from curate.paths import RunDir
from curate.validate import anneal
from curate.validate.arguments import AnnealArguments
from curate.validate.cells import parse_shard

SOURCES = {"code": 0.9, "howto": 0.8, "news": 0.1, "extra": 0.2}  # source -> procedural_score; extra is held out
PER_SOURCE = 40


def text(source: str, rng: random.Random, i: int) -> str:
    a, b = rng.randint(1, 50), rng.randint(1, 50)
    return {
        "code": f"total = {a}\ntotal += {b}\nprint(total)  # prints {a + b}",
        "howto": f"How to pack folder {i}: 1. cd ~ 2. tar -czf f{i}.tgz dir{a}/ 3. check it.",
        "news": f"The town fair drew {a} thousand visitors on day {i}, organisers said.",
        "extra": f"Release {a}.{b}: fixed the manual page of tool {i}.",
    }[source]


def write_scores(directory, doc_ids, columns) -> None:
    directory.mkdir(parents=True)
    frame = {"doc_id": doc_ids, "doc_grad_norm": [1.0] * len(doc_ids), **columns}
    pl.DataFrame(frame).write_parquet(directory / "part-00000.parquet")
    meta = {"probes": [{"id": p, "nats": 1.0, "gradient_norm": 1.0} for p in columns]}
    (directory / "probes.json").write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from datatrove.data import Document

    from curate.corpus.io import write_documents
    from curate.corpus.options import HELDOUT_SOURCES_FILE
    from curate.lm.config import ModelConfig
    from curate.lm.model import build_model
    from curate.lm.tokenizer import train_tokenizer
    from curate.probes.sets import Probe, write_probes

    run = RunDir(tmp_path_factory.mktemp("anneal"))
    rng = random.Random(0)
    documents = [Document(text=text(source, rng, i), id=f"{source}#{i}", metadata={"source": source})
                 for source in SOURCES for i in range(PER_SOURCE)]
    write_documents(documents, run.corpus)
    (run.corpus / HELDOUT_SOURCES_FILE).write_text("extra\n")
    annotated = [Document(text=d.text, id=d.id, metadata={**d.metadata, "procedural_score": SOURCES[d.metadata["source"]]})
                 for d in documents]
    write_documents(annotated, run.filtered / "kept")
    tokenizer = train_tokenizer([d.text for d in documents], vocab_size=300)
    torch.manual_seed(0)
    model = build_model(ModelConfig(n_layers=2, hidden=32, mlp=64, heads=2, max_len=1024), tokenizer)
    model.save_pretrained(run.model)
    tokenizer.save_pretrained(run.model)
    write_probes([Probe("p0", "code_trace", "reasoning", "What does it print?", " 3", "3"),
                  Probe("p1", "howto", "reasoning", "How do I pack?", " tar", "tar"),
                  Probe("p2", "factual", "factual", "Capital?", " Paris", "Paris")], run.probes)
    ids = [d.id for d in documents if d.metadata["source"] != "extra"]
    order = {i: k for k, i in enumerate(ids)}
    write_scores(run.scores, ids, {"p0": [1.0 if i.startswith("code") else 0.0 for i in ids],
                                   "p1": [1.0 if i.startswith("howto") else 0.0 for i in ids],
                                   "p2": [0.0] * len(ids)})
    write_scores(run.scores_for("cosine"), ids, {p: [-order[i] / len(ids) for i in ids] for p in ("p0", "p1", "p2")})
    return run


def tiny(**overrides) -> AnnealArguments:
    settings = dict(tokens=256, seq_len=32, batch_size=4, shares=[0.7], top_fractions=[0.5], upsample=[2.0],
                    removal_targets=["code_trace"], removal_fractions=[0.25], seeds=[0, 1], probes_per_set=1,
                    max_new_tokens=4, heldout_fraction=0.2, heldout_tokens=128, lr=1e-2, warmup=0.25)
    return AnnealArguments(**settings | overrides)


@pytest.fixture(scope="module")
def context(run, tmp_path_factory):
    return anneal.load_context(run, tmp_path_factory.mktemp("out"), tiny())


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_the_learning_rate_warms_up_then_reaches_exactly_zero_at_the_last_step(schedule):
    for steps in (1, 2, 3, 10, 97):
        rates = [anneal.lr_at(s, steps, 3e-4, 0.1, schedule) for s in range(steps)]
        assert rates[-1] == 0.0 and max(rates) <= 3e-4
    rates = [anneal.lr_at(s, 20, 1.0, 0.25, schedule) for s in range(20)]
    assert rates[:5] == sorted(rates[:5]) and rates[5:] == sorted(rates[5:], reverse=True) and rates[5] == 1.0


def test_every_arm_draws_the_budget_within_one_sequence_and_never_the_heldout_slice(context):
    args = tiny()
    pool = set(context.ids)
    assert not pool & context.heldout_ids and not any(i.startswith("extra") for i in pool | context.heldout_ids)
    cells = [c for c in anneal.grid(args) if c.method != "base"]
    assert {c.method for c in cells} == {"random", "share", "top", "upsample", "influence", "removal"}
    for cell in cells:
        drawn = anneal.draw(context, cell, args)
        assert not {context.ids[i] for i in drawn} & context.heldout_ids
        # each bucket overshoots its share by less than one document; packing then trims to whole sequences
        assert args.tokens <= context.lengths[drawn].sum() < args.tokens + 2 * context.lengths.max()
        sequences = anneal.training_sequences(context, drawn, args, cell.seed)
        assert args.tokens - args.seq_len < sequences.numel() <= args.tokens
        if cell.method in ("random", "removal"):
            assert len(set(drawn.tolist())) == len(drawn)  # no document twice
    influence = anneal.draw(context, anneal.AnnealCell("influence", 0, 0.5), args)
    assert {context.ids[i].split("#")[0] for i in influence} <= {"code", "howto"}  # the reasoning sets' top half


def test_a_removal_arm_lacks_exactly_its_rankings_top_documents(context):
    args = tiny()
    scored = len(context.scored)
    for ranking in ("ekfac", "cosine", "random"):
        cell = anneal.AnnealCell("removal", 0, 0.25, "code_trace", ranking)
        gone = anneal.removed(context, cell, args)
        assert len(gone) == round(0.25 * scored)
        assert not set(anneal.draw(context, cell, args).tolist()) & set(gone.tolist())
    ekfac = {context.ids[i] for i in anneal.removed(context, anneal.AnnealCell("removal", 0, 0.25, "code_trace", "ekfac"), args)}
    assert all(i.startswith("code") for i in ekfac)  # EK-FAC's top for code tracing: the code documents
    cosine = anneal.removed(context, anneal.AnnealCell("removal", 0, 0.25, "code_trace", "cosine"), args)
    assert [context.ids[i] for i in cosine] == [i for i in context.ids if i in {context.ids[j] for j in context.scored}][: len(cosine)]


def test_a_removal_mix_of_fewer_documents_is_drawn_per_seed_and_each_arm_trains_on_the_rest_of_it(context):
    args = tiny(removal_documents=8, tokens=64)
    mixes = {}
    for seed in (0, 1):
        none = anneal.AnnealCell("removal", seed, 0.0, anneal.NOTHING, anneal.NOTHING)
        mix = anneal.removal_pool(context, none, args)
        assert len(mix) == 8 and set(mix.tolist()) <= set(context.scored.tolist())
        mixes[seed] = set(mix.tolist())
        for ranking in ("ekfac", "cosine", "random"):
            cell = anneal.AnnealCell("removal", seed, 0.25, "code_trace", ranking)
            gone = anneal.removed(context, cell, args)
            assert len(gone) == 2 and set(gone.tolist()) <= mixes[seed]
            assert set(anneal.draw(context, cell, args).tolist()) <= mixes[seed] - set(gone.tolist())
        ekfac = anneal.removed(context, anneal.AnnealCell("removal", seed, 0.25, "code_trace", "ekfac"), args)
        ranked = [i for i in context.rankings[("ekfac", "code_trace")] if i in mixes[seed]]
        assert ekfac.tolist() == ranked[:2]  # the ranking's top of this mix, not of every scored document
    assert mixes[0] != mixes[1]
    with pytest.raises(InputError, match="--removal-documents"):
        tiny(removal_documents=1)


def test_frozen_layers_stay_and_trained_ones_move(run, context):
    from attribution.model import load_causal_lm

    args = tiny()
    model, _ = load_causal_lm(run.model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trained = set(anneal.freeze(model, "upper-half"))
    assert trained and all(".layers.1." in n or n == "model.norm.weight" for n in trained)
    drawn = anneal.draw(context, anneal.AnnealCell("random", 0), args)
    log = anneal.anneal(model, anneal.training_sequences(context, drawn, args, 0), args, seed=0)
    assert log["lr"][-1] == 0.0 and log["steps"] == 2
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]) != (name in trained), name
    with pytest.raises(ValueError, match="matches no parameter"):
        anneal.freeze(model, r"nothing\.here")


def test_cells_are_seeded_resumable_and_sharded(run, tmp_path, capsys):
    args = tiny(arms=["base", "random", "removal"], removal_methods=["ekfac"], seeds=[0])
    out = tmp_path / "out"
    names = [c.name for c in anneal.grid(args)]
    assert names == ["base", "random__seed0", "remove-none__seed0", "remove-ekfac-code_trace-0.25__seed0"]
    first = anneal.run_anneal(run, out, args, parse_shard("0/2"))
    assert [p.stem for p in first] == names[0::2] and all(p.exists() for p in first)
    assert not (out / "cells" / f"{names[1]}.json").exists()
    anneal.run_anneal(run, out, args, parse_shard("1/2"))
    capsys.readouterr()
    anneal.run_anneal(run, out, args)  # every cell's JSON exists: nothing reruns
    assert "4 of 4 cells already done; running 0" in capsys.readouterr().out
    cell = json.loads((out / "cells" / "random__seed0.json").read_text())
    assert cell["final_lr"] == 0.0 and cell["seconds"] > 0 and cell["tokens_trained"] == 256
    assert {p["set"] for p in cell["probes"]} >= {"code_trace", "howto", "arithmetic", "factual"}
    assert all((p["correct"] is None) == (p["set"] not in anneal.CHECKED_SETS) for p in cell["probes"])
    base = json.loads((out / "cells" / "base.json").read_text())
    assert base["heldout_loss"] != cell["heldout_loss"]
    # the same seed again, in a fresh folder: bit-identical measurements
    again = tmp_path / "again"
    anneal.run_anneal(run, again, replace(args, arms=["random"]))
    rerun = json.loads((again / "cells" / "random__seed0.json").read_text())
    for key in ("heldout_loss", "probes", "train_loss_last", "lr"):
        assert rerun.get(key) == cell.get(key), key
    text = anneal.write_summary(out, args)
    assert (out / "frontier.csv").exists() and (out / "frontier.png").exists() and (out / "removal.csv").exists()
    assert "Removal on the real model" in text and not (out / anneal.RECOMMENDED).exists()


def fake_cell(arm: str, method: str, value, seed, reasoning: float, heldout: float) -> dict:
    probes = [{"id": f"{s}-0", "set": s, "nats": reasoning * 10, "tokens": 10, "correct": None}
              for s in anneal.REASONING_SETS] + [{"id": "factual-0", "set": "factual", "nats": 20.0, "tokens": 10, "correct": None}]
    return {"arm": arm, "method": method, "value": value, "seed": seed, "target": None, "ranking": None,
            "tokens_trained": 256, "seconds": 1.0, "heldout_loss": heldout, "probes": probes}


def write_fake(out, cells) -> None:
    (out / "cells").mkdir(parents=True)
    for cell in cells:
        (out / "cells" / f"{cell['arm']}__seed{cell['seed']}.json").write_text(json.dumps(cell))


@pytest.mark.parametrize(("gain", "cost", "recommended"), [
    (0.10, 0.01, True),   # 0.1 nats/token better, 1% general cost: meets the target
    (0.10, 0.05, False),  # general cost above 2%
    (0.02, 0.00, False),  # gain below 0.05 nats/token
])
def test_the_recommendation_appears_only_when_the_target_is_met(tmp_path, gain, cost, recommended):
    from curate.mix.spec import BucketSpec, MixSpec, load_mix_spec
    from curate.validate.mix_sweep import spec_toml

    out = tmp_path / "anneal"
    jitter = [-0.001, 0.0, 0.001]
    cells = [fake_cell("random", "random", None, s, 2.0 + j, 3.0 + j) for s, j in enumerate(jitter)]
    cells += [fake_cell("share-0.7", "share", 0.7, s, 2.0 - gain + j, 3.0 * (1 + cost) + j) for s, j in enumerate(jitter)]
    cells += [fake_cell("influence-0.5", "influence", 0.5, s, 2.0 - gain / 2 + j, 3.0 + j) for s, j in enumerate(jitter)]
    write_fake(out, cells)
    spec = MixSpec(total_tokens=256, buckets=[BucketSpec("procedural", 0.7, score=(0.5, 1.0)), BucketSpec("rest", 0.3)],
                   shards=1)
    (out / "specs").mkdir()
    (out / "specs" / "share-0.7.toml").write_text(spec_toml(spec))
    args = tiny()
    text = anneal.write_summary(out, args)
    table = pl.read_csv(out / "frontier.csv")
    meets = dict(zip(table["arm"], table["meets_target"], strict=True))
    assert meets["share-0.7"] == recommended and not meets["random"]
    assert (out / anneal.RECOMMENDED).exists() == recommended
    assert (out / "frontier.md").exists() and (out / "frontier.png").exists() and "Target met" in text
    paired = pl.read_csv(out / "paired.csv")  # each arm minus random of the same seed: the jitter cancels
    row = paired.filter((pl.col("arm") == "share-0.7") & (pl.col("measure") == "reasoning_loss")).row(0, named=True)
    assert row["n"] == 3 and row["difference"] == pytest.approx(-gain) and row["ci95"] == pytest.approx(0, abs=1e-9)
    heldout = paired.filter((pl.col("arm") == "share-0.7") & (pl.col("measure") == "heldout_loss"))["difference"][0]
    assert heldout == pytest.approx(3.0 * cost) and "random" not in set(paired["arm"]) and "paired by seed" in text
    if recommended:
        assert load_mix_spec(out / anneal.RECOMMENDED).buckets == spec.buckets
        assert np.isclose(table.filter(pl.col("arm") == "share-0.7")["reasoning_gain"][0], gain)


def test_cli_summarises_finished_cells_and_refuses_an_unknown_arm(tmp_path, capsys):
    from curate.cli import main

    out = tmp_path / "anneal"
    write_fake(out, [fake_cell("random", "random", None, s, 2.0 + j, 3.0) for s, j in enumerate([0.0, 0.01])])
    assert main(["study", "anneal", "--run-dir", str(tmp_path), "--out", str(out), "--summarise-only"]) == 0
    assert "Annealing frontier" in capsys.readouterr().out and (out / "frontier.csv").exists()
    assert main(["study", "anneal", "--run-dir", str(tmp_path), "--arms", "bogus", "--summarise-only"]) != 0
    assert "unknown ['bogus']" in capsys.readouterr().err


def test_evaluation_probes_are_fresh_instances_without_the_runs_prompts(tmp_path):
    from curate.probes.real import make_real_probes
    from curate.probes.sets import write_probes

    run = RunDir(tmp_path)
    args = tiny(probes_per_set=3)
    fresh = anneal.evaluation_probes(run, args)
    assert {p.set for p in fresh} == set(anneal.EVALUATED_SETS)
    used = [p for p in make_real_probes(seed=0) if p.prompt == fresh[0].prompt] or [fresh[0]]
    write_probes(used, run.probes)  # a prompt the run scored with is never evaluated on
    assert fresh[0].prompt not in {p.prompt for p in anneal.evaluation_probes(run, args)}


def test_cli_runs_every_family_of_arms_and_writes_the_tables(run, tmp_path, capsys):
    from curate.cli import main

    out = tmp_path / "all"
    flags = ["--tokens", "256", "--seq-len", "32", "--batch-size", "4", "--shares", "0.7", "--top-fractions", "0.5",
             "--upsample", "2", "--removal-targets", "code_trace", "--removal-methods", "ekfac", "random",
             "--removal-fractions", "0.25", "--seeds", "0", "1", "--probes-per-set", "1", "--max-new-tokens", "4",
             "--heldout-fraction", "0.2", "--heldout-tokens", "128", "--train-layers", "upper-half"]
    assert main(["study", "anneal", "--run-dir", str(run.root), "--out", str(out), *flags]) == 0
    cells = {p.stem: json.loads(p.read_text()) for p in (out / "cells").glob("*.json")}
    assert len(cells) == 1 + 2 * 8 and {c["method"] for c in cells.values()} == {
        "base", "random", "share", "top", "upsample", "influence", "removal"}
    share = cells["share-0.7__seed0"]
    assert abs(share["procedural_token_share"] - 0.7) < 0.1  # each bucket within a document of its share
    assert share["trained_parameters"] == 9 + 1  # the upper layer's nine tensors and the final norm
    frontier = pl.read_csv(out / "frontier.csv")
    assert {"code_trace_loss", "howto_loss", "arithmetic_loss", "factual_loss", "heldout_loss_ci95"} <= set(frontier.columns)
    assert set(pl.read_csv(out / "removal.csv")["method"]) == {"ekfac", "random"}
    assert (out / "specs" / "share-0.7.toml").exists() and "Annealing frontier" in capsys.readouterr().out


def test_a_budget_the_scored_documents_cannot_fill_is_refused_before_any_training(run, tmp_path):
    args = tiny(arms=["removal"], tokens=100_000)
    with pytest.raises(ValueError, match="lower --tokens"):
        anneal.load_context(run, tmp_path, args)
