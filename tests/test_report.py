"""The report's analyses recover structure planted in synthetic scores, and `curate influence report` writes a
self-contained HTML page with every section, plus its tables and plots."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest
from datatrove.data import Document

from curate.analysis import (
    answer_search,
    answer_targets,
    compare_slopes,
    correlation_matrix,
    correlation_pairs,
    correlation_summary,
    load_documents,
    over_representation,
    power_law_fits,
    searched_documents,
    separation,
    step_equations,
    summarise_representation,
    top_documents,
    topk_mass,
)
from curate.analysis.answers import bare_target
from curate.corpus.io import write_documents
from curate.probes.sets import Probe, make_probes, write_probes
from curate.world.tasks import (
    arithmetic_expression,
    arithmetic_solution,
    linear_equation,
    linear_solution,
    reference_completion,
    slope_question,
    slope_solution,
)

N_DOCS = 3000
REASONING_SETS = ("arithmetic", "slope", "linear")
FACTS = ("Ankara", "Miguel de Cervantes", "1945", "Saturn", "Nile")
NATS = 2.0


def _reasoning_probes() -> list[Probe]:
    probes = []
    for i in range(4):
        lines, result = arithmetic_solution(12 + i, "-", 5, "*", 3 + i)
        probes.append(Probe(f"arithmetic-{i}", "arithmetic", "reasoning",
                            f"Calculate the answer: {arithmetic_expression(12 + i, '-', 5, '*', 3 + i)}",
                            reference_completion(lines, result), str(result)))
        lines, result = slope_solution(10 + i, 20, 12 + i, 30 + 2 * i)
        probes.append(Probe(f"slope-{i}", "slope", "reasoning", slope_question(10 + i, 20, 12 + i, 30 + 2 * i),
                            reference_completion(lines, result), str(result)))
        lines, result = linear_solution(3 + i, 4, 4 + 2 * (3 + i))
        probes.append(Probe(f"linear-{i}", "linear", "reasoning",
                            f"Solve for x: {linear_equation(3 + i, 4, 4 + 2 * (3 + i))}",
                            reference_completion(lines, result), str(result)))
    return probes


def _factual_probes() -> list[Probe]:
    return [Probe(f"factual-{i}", "factual", "factual", f"Question {i}?", reference_completion([f"It is {answer}."], answer),
                  answer) for i, answer in enumerate(FACTS)]


@pytest.fixture(scope="module")
def world():
    """A corpus and scores with planted truth:
    - procedural code/maths documents each teach one reasoning task, and every reasoning probe's score is a
      task factor (shared by the task's probes, raised on its documents) plus a little noise;
    - each factual probe's score is independent noise plus a spike on the three wiki documents stating its answer;
    - procedural documents are full of bare numbers, but only one document works out a probe's step
      ("5 - 3"-style equation), and one another probe's final step."""
    rng = np.random.default_rng(0)
    sources = rng.choice(["code", "math", "qa", "wiki", "web", "trivia"], size=N_DOCS,
                         p=[0.2, 0.15, 0.15, 0.2, 0.2, 0.1])
    procedural = np.isin(sources, ["code", "math"]) & (rng.random(N_DOCS) < 0.8)
    tasks = np.where(procedural, rng.choice(REASONING_SETS, size=N_DOCS), None)
    reasoning, factual = _reasoning_probes(), _factual_probes()
    texts = []
    for i in range(N_DOCS):
        text = f"Document {i} from {sources[i]}."
        if procedural[i]:
            text += " Worked values: " + " ".join(str(n) for n in rng.integers(0, 100, size=40)) + "."
        texts.append(text)
    scores = {}
    factors = {name: rng.normal(size=N_DOCS) + 4.0 * (tasks == name) for name in REASONING_SETS}
    for probe in reasoning:
        scores[probe.id] = factors[probe.set] + 0.3 * rng.normal(size=N_DOCS)
    wiki = np.flatnonzero(sources == "wiki")
    fact_docs = {}
    for probe, docs in zip(factual, rng.choice(wiki, size=(len(factual), 3), replace=False), strict=True):
        fact_docs[probe.id] = docs
        scores[probe.id] = rng.normal(size=N_DOCS)
        scores[probe.id][docs] += 30.0
        for d in docs:
            texts[d] += f" As everyone knows, the answer is {probe.answer} indeed."
    # A decoy that contains a factual answer only inside a longer number, in a top document of another probe.
    texts[fact_docs["factual-0"][0]] += " Catalogue number 19450."
    # Plant the first step of arithmetic-0 and the final step of linear-1 in their best documents.
    first_step = step_equations(reasoning[0].completion)[0]
    best_arith = int(np.argmax(scores["arithmetic-0"]))
    texts[best_arith] += f" Note that {first_step[0]} = {first_step[1]} here."
    final_step = step_equations(reasoning[5].completion)[-1]
    best_linear = int(np.argmax(scores["linear-1"]))
    texts[best_linear] += f" So {final_step[0]} = {final_step[1]}."
    frame = pl.DataFrame({
        "doc_id": [f"d{i}" for i in range(N_DOCS)],
        "doc_grad_norm": rng.uniform(1.0, 2.0, size=N_DOCS),
        **{probe_id: values for probe_id, values in scores.items()},
    })
    documents = pl.DataFrame({"doc_id": frame["doc_id"], "source": sources, "procedural": procedural,
                              "text": texts})
    return {"scores": frame, "documents": documents, "probes": reasoning + factual, "fact_docs": fact_docs}


def test_correlations_separate_same_task_reasoning_from_factual(world):
    matrix = correlation_matrix(world["scores"], world["probes"])
    ids = matrix["probe"].to_list()
    assert ids[:4] == [f"arithmetic-{i}" for i in range(4)]  # grouped by set, in PROBE_SETS order
    r = matrix.select(ids).to_numpy()
    assert np.allclose(np.diag(r), 1.0) and np.allclose(r, r.T)
    expected = np.corrcoef(world["scores"].select(ids).to_numpy(), rowvar=False)
    assert np.allclose(r, expected, atol=1e-9)
    summary = dict(correlation_summary(correlation_pairs(matrix, world["probes"])).select("relation", "mean_r").iter_rows())
    assert summary["within_task"] > 0.85
    assert abs(summary["factual_factual"]) < 0.1
    assert summary["across_task"] < 0.1


def test_topk_mass_matches_hand_computation():
    probe = Probe("p", "factual", "factual", "q", "\nThe answer is a.", "a")
    scores = pl.DataFrame({"doc_id": [f"d{i}" for i in range(10)], "doc_grad_norm": [1.0] * 10,
                           "p": [0.0, 3.0, -5.0, 4.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0]})
    rows = topk_mass(scores, [probe], percentiles=(0.01, 10.0, 20.0, 50.0, 100.0))
    assert rows["k"].to_list() == [1, 1, 2, 5, 10]
    assert rows["total"].to_list() == [4.0, 4.0, 7.0, 10.0, 10.0]  # negatives never add
    assert rows["share"].to_list() == pytest.approx([0.4, 0.4, 0.7, 1.0, 1.0])


def test_topk_mass_is_more_concentrated_for_spiked_factual_probes(world):
    rows = topk_mass(world["scores"], world["probes"], percentiles=(0.1,))
    share = dict(rows.group_by("kind").agg(pl.col("share").mean()).iter_rows())
    assert share["factual"] > 2 * share["reasoning"]


def test_power_law_fit_recovers_planted_exponents():
    rng = np.random.default_rng(1)
    n = 400
    exponents = {"reasoning": rng.uniform(0.25, 0.35, size=6), "factual": rng.uniform(1.1, 1.3, size=6)}
    columns, probes = {}, []
    for kind, values in exponents.items():
        for i, exponent in enumerate(values):
            probe_id = f"{kind}-{i}"
            ranked = 5.0 * np.arange(1, n + 1, dtype=float) ** -exponent
            columns[probe_id] = rng.permutation(ranked)  # the ranking is recovered from unordered scores
            probes.append(Probe(probe_id, "linear" if kind == "reasoning" else "factual", kind, "q", "\n", "1"))
    scores = pl.DataFrame({"doc_id": [str(i) for i in range(n)], "doc_grad_norm": np.ones(n), **columns})
    fits = power_law_fits(scores, probes, top_fraction=1e-4, min_docs=30)
    assert fits["documents"].to_list() == [30] * len(probes)  # 0.01% of 400 is < 1, so min_docs applies
    by_id = dict(fits.select("probe", "slope").iter_rows())
    for kind, values in exponents.items():
        for i, exponent in enumerate(values):
            assert by_id[f"{kind}-{i}"] == pytest.approx(-exponent, abs=1e-9)
    assert fits["r2"].min() == pytest.approx(1.0)
    test = compare_slopes(fits)
    assert test["reasoning_slope"] > test["factual_slope"]
    assert test["welch_t"] > 0 and test["p_value"] < 1e-6


def test_step_equations_of_generated_probes():
    for probe in make_probes(seed=3):
        answer, steps = answer_targets(probe)
        if probe.kind != "reasoning":
            assert steps == [] and answer.text == probe.answer
            continue
        assert len(steps) == {"arithmetic": 2, "slope": 3, "linear": 2}[probe.set], probe.completion
        assert answer.text == steps[-1].text and steps[-1].text.endswith(f"= {probe.answer}")
        # Each step is found in the completion it came from, and nowhere in the bare prompt.
        assert all(step.found(probe.completion) for step in steps)
        assert not answer.found(probe.prompt)


@pytest.mark.parametrize(("answer", "text", "found"), [
    ("21", "so it is 21.", True), ("21", "(21)", True), ("21", "210", False), ("21", "121", False),
    ("21", "2.1 or 21.5", False), ("21", "-21", False), ("-43", "is - 43.", True), ("-43", "-430", False),
    ("Cu", "the symbol Cu.", True), ("Cu", "CU", False), ("Cu", "Cuba", False),
    ("Miguel de Cervantes", "by Miguel  de\nCervantes,", True), ("skin", "Skin is an organ.", True),
])
def test_bare_answers_match_whole_numbers_and_words(answer, text, found):
    assert bare_target(answer).found(text) is found


def test_answer_search_finds_facts_not_numbers(world):
    results = answer_search(world["scores"], world["probes"], world["documents"], top_k=50)
    by_id = {row["probe"]: row for row in results.iter_rows(named=True)}
    for probe in world["probes"]:
        row = by_id[probe.id]
        assert row["top_k"] == row["searched"] == 50
        if probe.kind == "factual":
            assert row["answer_found"] and row["answer_docs"] == 3, row
        elif probe.id == "linear-1":
            assert row["answer_found"] and row["steps_found"] == 1 and not row["all_steps_found"]
        elif probe.id == "arithmetic-0":
            assert not row["answer_found"] and row["steps_found"] == 1
        else:
            assert not row["answer_found"] and row["steps_found"] == 0, row
    # Bare numbers are everywhere in procedural documents, which is why reasoning answers are searched as steps.
    reasoning = results.filter(pl.col("kind") == "reasoning")
    assert reasoning["bare_answer_docs"].mean() > 10
    assert results["ranking"].unique().to_list() == ["score"]


def test_answer_search_baseline_searches_seeded_random_documents(world):
    scores, probes = world["scores"], world["probes"]
    drawn = searched_documents(scores, probes, top_k=50, seed=1)
    first = drawn[probes[0].id]
    assert len(set(first)) == 50 and all((ids == first).all() for ids in drawn.values())
    assert (searched_documents(scores, probes, top_k=50, seed=1)[probes[0].id] == first).all()
    assert not (searched_documents(scores, probes, top_k=50, seed=2)[probes[0].id] == first).all()
    baseline = answer_search(scores, probes, world["documents"], top_k=50, seed=1)
    assert baseline["ranking"].unique().to_list() == ["random"]
    # Each answer is in 3 of 3000 documents, so 50 random ones rarely hold it; the top 50 always do.
    assert baseline.filter(pl.col("kind") == "factual")["answer_found"].mean() < 0.5


def test_over_representation_recovers_skewed_sources(world):
    rows = over_representation(world["scores"], world["probes"], world["documents"], "source", ks=(50, 100, 10**6))
    assert sorted(rows["k"].unique().to_list()) == [50, 100, N_DOCS]  # capped at the corpus size
    shares = rows.group_by("probe", "side", "k").agg(pl.col("share").sum())["share"]
    assert np.allclose(shares.to_numpy(), 1.0)
    corpus = world["documents"]["source"].value_counts(normalize=True)
    assert np.allclose(
        rows.filter((pl.col("probe") == "slope-0") & (pl.col("side") == "top") & (pl.col("k") == 50))
        .sort("source")["corpus_share"].to_numpy(),
        corpus.sort("source")["proportion"].to_numpy(),
    )
    summary = summarise_representation(rows).filter(pl.col("k") == 50)

    def ratio(kind: str, side: str, source: str) -> float:
        return summary.filter((pl.col("kind") == kind) & (pl.col("side") == side) & (pl.col("source") == source))[
            "mean_ratio"].item()

    assert ratio("reasoning", "top", "code") > 2 and ratio("reasoning", "top", "math") > 2
    assert ratio("reasoning", "top", "wiki") < 0.2 and ratio("reasoning", "bottom", "code") < 1
    assert ratio("factual", "top", "wiki") > ratio("reasoning", "top", "wiki")
    full = summarise_representation(rows).filter(pl.col("k") == N_DOCS)
    assert np.allclose(full["mean_ratio"].to_numpy(), 1.0)

    truth = over_representation(world["scores"], world["probes"], world["documents"], "procedural", ks=(100,))
    top = truth.filter((pl.col("side") == "top") & (pl.col("procedural") == "true"))
    assert top.filter(pl.col("kind") == "reasoning")["share"].min() > 0.9
    assert top.filter(pl.col("kind") == "factual")["share"].mean() < 0.5


def test_top_documents_rank_by_score_over_gradient_norm():
    probe = Probe("p", "factual", "factual", "q", "\nThe answer is a.", "a")
    scores = pl.DataFrame({"doc_id": ["big", "aligned", "low", "zero"], "doc_grad_norm": [100.0, 1.0, 1.0, 0.0],
                           "p": [50.0, 2.0, 1.0, 9.0]})
    documents = pl.DataFrame({"doc_id": ["big", "aligned", "low", "zero"], "source": ["web", "math", "qa", "code"],
                              "text": ["x " * 500, "a   worked\nexample", None, "z"]})
    top = top_documents(scores, [probe], documents, n=3, snippet_chars=20)
    assert top["doc_id"].to_list() == ["aligned", "low", "big"]  # 2/1 > 1/1 > 50/100; no gradient ranks last
    assert top["normalised_score"].to_list() == [2.0, 1.0, 0.5]
    assert top["source"].to_list() == ["math", "qa", "web"]
    assert top["snippet"][0] == "a worked example" and len(top["snippet"][2]) == 20


def test_separation_recovers_planted_groups():
    """Arithmetic moves every procedural document (either sign), slope only champ_math's, factual only news'."""
    sources = ["champ_math"] * 10 + ["manual"] * 10 + ["news"] * 20 + ["web"]
    truth = [True] * 20 + [False] * 20 + [None]  # the web document has no label: left out
    procedural = np.array([bool(t) for t in truth])
    sign = np.where(np.arange(len(sources)) % 2, 1.0, -1.0)
    arithmetic = np.where(procedural, 3.0, 0.1) * sign
    slope = np.where(np.array(sources) == "champ_math", 5.0, 1.0)
    scores = pl.DataFrame({"doc_id": [f"d{i}" for i in range(len(sources))] + ["stray"],  # stray: not in the corpus
                           "arithmetic-0": [*arithmetic, 9.0], "arithmetic-1": [*(arithmetic[:-1]), np.nan, 9.0],
                           "slope-0": [*slope, 9.0], "slope-1": [*slope, 9.0],
                           "factual-0": [*np.where(np.array(sources) == "news", 2.0, 0.0), 9.0]})
    documents = pl.DataFrame({"doc_id": scores["doc_id"][:-1], "source": sources, "procedural": truth})
    probes = [Probe(i, i.split("-")[0], "factual" if i.startswith("factual") else "reasoning", "?", "\nx", "x")
              for i in scores.columns[1:]]

    rows = separation(scores, probes, documents)
    whole = {group: (auc, ap) for group, auc, ap in rows.filter(pl.col("without").is_null())
             .select("group", "roc_auc", "average_precision").iter_rows()}
    assert list(whole) == ["arithmetic", "slope", "factual", "all reasoning"]  # "all factual" is "factual"
    assert whole["arithmetic"] == (1.0, 1.0) and whole["all reasoning"] == (1.0, 1.0)
    assert whole["slope"][0] == pytest.approx(0.75)  # champ_math above all; manual tied with the negatives
    assert whole["factual"][0] == 0.0
    # Reasoning over factual influence: news moves the factual probe, so the manuals, tied with news on slope,
    # rise above it; the factual group itself has no contrast.
    contrast = dict(rows.filter(pl.col("without").is_null()).select("group", "roc_auc_against_factual").iter_rows())
    assert contrast["slope"] == 1.0 and contrast["arithmetic"] == 1.0 and np.isnan(contrast["factual"])
    slope = dict(rows.filter(pl.col("group") == "slope").select("without", "roc_auc").iter_rows())
    assert slope["champ_math"] == pytest.approx(0.5) and slope["manual"] == 1.0 and np.isnan(slope["news"])
    counts = rows.filter(pl.col("without").is_null()).select("documents", "positives").unique().rows()
    assert counts == [(40, 20)]


def _write_run(tmp_path, world) -> None:
    """The world as the files `curate influence score`, `curate probes make` and `curate corpus` write."""
    scores_dir = tmp_path / "scores"
    scores_dir.mkdir()
    raw = world["scores"].with_columns([(pl.col(p.id) * NATS).cast(pl.Float32) for p in world["probes"]])
    raw.head(1000).write_parquet(scores_dir / "part-00000.parquet")
    raw.slice(1000).write_parquet(scores_dir / "part-00001.parquet")
    meta = {"probes": [{"id": p.id, "nats": NATS, "gradient_norm": 1.0} for p in world["probes"]],
            "arguments": {"method": "synthetic"}}
    (scores_dir / "probes.json").write_text(json.dumps(meta))
    write_probes(world["probes"], tmp_path / "probes" / "probes.jsonl")
    documents = [Document(text=row["text"], id=row["doc_id"],
                          metadata={"source": row["source"], "procedural": row["procedural"]})
                 for row in world["documents"].iter_rows(named=True)]
    write_documents(documents, tmp_path / "corpus", docs_per_shard=2000)


def test_load_documents_keeps_metadata_and_only_the_texts_asked_for(tmp_path, world):
    _write_run(tmp_path, world)
    documents = load_documents(tmp_path / "corpus", text_ids={"d1", "d7"}, truth_keys=("procedural", "task"))
    assert documents.columns == ["doc_id", "source", "text", "procedural"]  # no document has a task
    assert documents.height == N_DOCS
    assert documents.filter(pl.col("text").is_not_null())["doc_id"].to_list() == ["d1", "d7"]
    assert documents["source"].to_list() == world["documents"]["source"].to_list()


def test_cli_writes_a_self_contained_report(tmp_path, world, capsys):
    from curate.cli import main

    _write_run(tmp_path, world)
    assert main(["influence", "report", "--run-dir", str(tmp_path), "--answer-top-k", "50", "--source-ks", "50,100"]) == 0

    out = tmp_path / "report"
    printed = capsys.readouterr().out
    assert "within-task" in printed and "answer found" in printed and "procedural" in printed
    headline = json.loads((out / "headline.json").read_text())
    assert headline["correlation"]["within_task"] > 0.85 > 0.1 > abs(headline["correlation"]["factual_factual"])
    assert headline["answer_found"]["factual"] == 1.0 and headline["answer_found"]["reasoning"] < 0.1
    assert headline["answer_found_random"]["factual"] < 0.5
    assert headline["truth_share_top_k"]["reasoning"] > 0.9 > headline["truth_share_top_k"]["corpus"]
    assert headline["source_ratio_top_k"]["reasoning"]["code"] > 2
    separated = headline["separation"]
    assert separated["roc_auc"]["all reasoning"] > 0.9 and abs(separated["roc_auc"]["factual"] - 0.5) < 0.1
    # One task's probes raise a third of the procedural documents; all reasoning probes raise them all, from any source.
    assert 0.6 < separated["roc_auc"]["arithmetic"] < 0.75
    assert separated["lowest_auc_without"]["all reasoning"]["roc_auc"] > 0.9
    # The per-nat scores come back from the raw ones written with NATS.
    fits = pl.read_csv(out / "power_law.csv")
    assert fits.height == len(world["probes"])

    for name in ("correlation_matrix", "correlation_summary", "topk_mass", "power_law", "power_law_test", "answers",
                 "answers_by_set", "source_representation", "procedural_representation", "top_documents",
                 "separation"):
        assert (out / f"{name}.csv").stat().st_size > 0, name
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["answers.png", "correlations.png", "power_law.png", "procedural_representation.png",
                    "separation.png", "source_representation.png", "topk_mass.png"]

    page = (out / "report.html").read_text()
    for anchor in ("summary", "correlations", "topk-mass", "power-law", "answers", "source-representation",
                   "procedural-representation", "separation", "top-documents"):
        assert f'<section id="{anchor}">' in page, anchor
    sources = re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', page)
    assert len(sources) == len(pngs) and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in page and "<link" not in page
    assert page.count("<details><summary>factual-") == len(FACTS)  # top documents of every probe


def test_report_without_ground_truth_or_reasoning_probes(tmp_path):
    """A user's own corpus: no `procedural` field, no source for some documents, only factual probes."""
    from curate.report import ReportArguments, build_report, format_headline

    rng = np.random.default_rng(2)
    probes = _factual_probes()
    n = 120
    write_documents([Document(text=f"Text {i} about {FACTS[i % len(FACTS)]}.", id=f"u{i}",
                              metadata={"source": "web"} if i % 2 else {}) for i in range(n)], tmp_path / "corpus")
    write_probes(probes, tmp_path / "probes.jsonl")
    (tmp_path / "scores").mkdir()
    pl.DataFrame({"doc_id": [f"u{i}" for i in range(n)], "doc_grad_norm": np.ones(n),
                  **{p.id: rng.normal(size=n) for p in probes}}).write_parquet(tmp_path / "scores" / "part-00000.parquet")
    (tmp_path / "scores" / "probes.json").write_text(json.dumps({"probes": [{"id": p.id, "nats": 1.0} for p in probes]}))

    headline = build_report(tmp_path / "scores", tmp_path / "probes.jsonl", tmp_path / "corpus", tmp_path / "report",
                            ReportArguments(answer_top_k=20, source_ks=(10,), headline_k=10))
    assert "truth_share_top_k" not in headline
    strict = json.loads((tmp_path / "report" / "headline.json").read_text(), parse_constant=pytest.fail)
    assert strict["power_law"]["welch_t"] is None and strict["power_law"]["factual_probes"] == len(probes)
    assert headline["correlation"]["within_task"] is None and headline["answer_found"]["reasoning"] is None
    assert headline["source_ratio_top_k"]["factual"].keys() == {"unknown", "web"}
    lines = format_headline(headline)
    assert any("within-task n/a" in line for line in lines) and not any("procedural" in line for line in lines)
    page = (tmp_path / "report" / "report.html").read_text()
    assert '<section id="source-representation">' in page and "procedural-representation" not in page
    assert "separation" not in headline and not (tmp_path / "report" / "separation.csv").exists()


CAPITALS = (("France", "Paris"), ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Norway", "Oslo"))


def write_factbook(folder) -> None:
    """Country files laid out as the CIA World Factbook's, for the real track's factual probes."""
    folder.mkdir()
    for country, capital in CAPITALS:
        government = {"Country name": {"conventional short form": {"text": country}},
                      "Capital": {"name": {"text": capital}}}
        (folder / f"{country.lower()}.json").write_text(json.dumps({"Government": government}))


def test_every_probe_set_through_a_tiny_run(tmp_path, one_thread, capsys):
    """The real track's probes (every known set) through `curate probes make --generate-with`, `probes
    eval`, `influence fit`, `influence score` and `influence report`, with a toy LM and a corpus where one document works out each probe."""
    from curate.cli import main
    from curate.lm.config import ModelConfig, TrainConfig
    from curate.lm.train import save, train_lm
    from curate.paths import RunDir
    from curate.probes.real import REAL_SIZES, make_real_probes
    from curate.probes.sets import KIND_OF_SET, PROBE_SETS, read_probes

    run = RunDir(tmp_path / "run")
    write_factbook(tmp_path / "factbook")
    sizes = {name: 2 for name in REAL_SIZES}
    probes = make_real_probes(0, sizes, tmp_path / "factbook")
    source = {"code_trace": "code", "howto": "manual", "factual": "factbook"}
    documents = [Document(text=f"Worked example {i}.{p.completion}", id=f"w{i}",
                          metadata={"source": source.get(p.set, "math"), "procedural": p.kind == "reasoning"})
                 for i, p in enumerate(probes) if p.kind != "control"]
    documents += [Document(text=f"News of day {i}: the market was quiet and it rained.", id=f"n{i}",
                           metadata={"source": "news", "procedural": False}) for i in range(20)]
    write_documents(documents, run.corpus)
    texts = [d.text for d in documents] + [p.text for p in probes]
    model_config = ModelConfig(n_layers=1, hidden=32, mlp=64, heads=2, max_len=1024)
    config = TrainConfig(seq_len=32, batch_size=4, steps=2, warmup_steps=1, eval_every=2, vocab_size=400)
    save(train_lm(texts, texts[:4], model_config, config, progress=False), run.model, model_config, config)

    where = ["--run-dir", str(run.root)]
    assert main(["probes", "make", *where, "--track", "real", "--sizes", ",".join(f"{n}={k}" for n, k in sizes.items()),
                 "--factbook", str(tmp_path / "factbook"), "--generate-with", str(run.model),
                 "--max-new-tokens", "4"]) == 0
    assert read_probes(run.probes) == probes
    generated = read_probes(run.generated_probes)
    assert all(p.generated for p in generated) and {p.id for p in generated} <= {p.id for p in probes}
    assert main(["probes", "eval", *where, "--max-new-tokens", "4"]) == 0
    assert pl.read_csv(run.probe_eval / "summary.csv")["set"].to_list() == list(PROBE_SETS)
    assert main(["influence", "fit", *where, "--max-length", "64"]) == 0
    assert main(["influence", "score", *where, "--max-length", "64"]) == 0
    capsys.readouterr()
    assert main(["influence", "report", *where, "--answer-top-k", "100", "--source-ks", "5,10", "--headline-k", "5"]) == 0

    printed = capsys.readouterr().out
    reasoning_sets = [name for name in PROBE_SETS if KIND_OF_SET[name] == "reasoning"]
    headline = json.loads((run.report / "headline.json").read_text())
    assert list(headline["probes"]) == list(PROBE_SETS)
    assert list(headline["within_task_by_set"]) == reasoning_sets
    assert list(headline["source_ratio_top_k_by_set"]) == reasoning_sets
    assert list(headline["truth_share_top_k"]["by_set"]) == reasoning_sets
    assert "within-task correlation per reasoning set: arithmetic" in printed and "howto probes: " in printed
    # Every document is searched (the top 100 are all of them), and each reasoning or factual probe's answer is in the one
    # document that works it out: a how-to's command as written, a code trace's final step or number.
    answers = pl.read_csv(run.report / "answers.csv").filter(pl.col("ranking") == "score")
    assert answers.filter(pl.col("kind") != "control")["answer_found"].all()
    howto = answers.filter(pl.col("set") == "howto")
    assert howto["answer_target"].to_list() == [p.answer for p in probes if p.set == "howto"]
    within = pl.read_csv(run.report / "correlation_within_task_by_set.csv")
    assert within["set"].to_list() == reasoning_sets and (within["pairs"] == 1).all()
    by_set = pl.read_csv(run.report / "source_representation_by_set.csv")
    assert by_set["set"].unique(maintain_order=True).to_list() == list(PROBE_SETS)
    page = (run.report / "report.html").read_text()
    assert all(f"<details><summary>{name}-000 ({name})" in page for name in PROBE_SETS)
