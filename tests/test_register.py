"""The crawl-like real corpus's sources and the register study: does influence rank procedure above technical
text that only states things?"""

from __future__ import annotations

import gzip
import json

import numpy as np
import polars as pl
import pytest

from curate.classify.labels import label_probe_ids
from curate.corpus.io import read_documents, write_documents
from curate.corpus.real.build import CATEGORIES, HELDOUT_SOURCES, SOURCES
from curate.corpus.real.parsers import changelog_entries, legacy_text
from curate.corpus.sample import SampleArguments, sample_corpus
from curate.errors import InputError
from curate.paths import RunDir
from curate.probes.real import make_real_probes, tech_fact_probes
from curate.probes.sets import Probe, read_probes, write_probes
from curate.validate.arguments import RegisterArguments
from curate.validate.register import Rule, measure_register, rule_values

DEBIAN = """pkg (1.2-1) unstable; urgency=medium

  * New upstream release.

 -- A Maintainer <a@example.org>  Mon, 01 Jan 2024 00:00:00 +0000

pkg (1.1-1) unstable; urgency=low

  * Fix a typo in the manual page.

 -- A Maintainer <a@example.org>  Sun, 01 Jan 2023 00:00:00 +0000
"""
GNU = """2022-11-02  John Doe  <jd@example.org>

\t* configure.ac: Set version to 7.3.0.

2022-10-01  Jane Doe  <jane@example.org>

\t* src/main.c (main): Free the buffer.
"""


def test_changelog_entries_are_cut_at_each_entry():
    key, entries = changelog_entries("pkg/changelog.Debian.gz", DEBIAN)
    assert key == "pkg/changelog.Debian.gz"
    assert [e.splitlines()[0] for e in entries] == ["pkg (1.2-1) unstable; urgency=medium",
                                                   "pkg (1.1-1) unstable; urgency=low"]
    _, entries = changelog_entries("x/ChangeLog", GNU)
    assert len(entries) == 2 and entries[1].startswith("2022-10-01") and "Free the buffer" in entries[1]
    _, entries = changelog_entries("x/NEWS", "no entries here\n\njust paragraphs")
    assert entries == ["no entries here\n\njust paragraphs"]


def test_legacy_text_reads_latin1_change_records(tmp_path):
    path = tmp_path / "changelog.gz"
    path.write_bytes(gzip.compress("Müller fixed it".encode("latin-1")))
    assert legacy_text(path) == "Müller fixed it"
    path.write_bytes(gzip.compress("Müller fixed it".encode()))
    assert legacy_text(path) == "Müller fixed it"


def test_every_category_has_training_and_heldout_sources():
    assert {source.category for source in SOURCES.values()} == set(CATEGORIES)
    for category in CATEGORIES:
        held = [n for n in HELDOUT_SOURCES if SOURCES[n].category == category]
        trained = [n for n, s in SOURCES.items() if s.category == category and not s.heldout]
        assert held and trained, category
    assert all(SOURCES[n].procedural == (SOURCES[n].category == "procedural") for n in SOURCES)


def test_sample_leaves_out_excluded_sources(tmp_path):
    from datatrove.data import Document

    docs = [Document(text=f"document {i} " * 5, id=f"d{i}", metadata={"source": ["a", "b", "c"][i % 3]})
            for i in range(30)]
    write_documents(docs, tmp_path / "corpus")
    args = SampleArguments(corpus=tmp_path / "corpus", out=tmp_path / "sample", n=15, exclude_sources=["b", "c"])
    with pytest.raises(InputError, match="10 eligible"):
        sample_corpus(args)
    args.n = 10
    assert sample_corpus(args) == 10
    assert {d.metadata["source"] for d in read_documents(tmp_path / "sample")} == {"a"}


def test_tech_fact_probes_are_factual_and_deterministic(tmp_path):
    first, again = tech_fact_probes(0, 10), tech_fact_probes(0, 10)
    assert first == again and len({p.id for p in first}) == 10
    assert all(p.set == "tech_fact" and p.kind == "factual" and p.answer in p.completion for p in first)
    assert tech_fact_probes(1, 10) != first
    write_probes(make_real_probes(0, factbook_dir=None), tmp_path / "probes.jsonl")
    sets = {p.set for p in read_probes(tmp_path / "probes.jsonl")}
    assert "tech_fact" in sets and "factual" in sets
    with pytest.raises(InputError, match="at most"):
        tech_fact_probes(0, 1000)


def test_against_sets_choose_the_contrast(tmp_path):
    probes = [Probe("r0", "howto", "reasoning", "q", " a", "a"), Probe("f0", "factual", "factual", "q", " a", "a"),
              Probe("t0", "tech_fact", "factual", "q", " a", "a")]
    write_probes(probes, tmp_path / "p.jsonl")
    scored = ["r0", "f0", "t0"]
    assert label_probe_ids(tmp_path / "p.jsonl", scored) == (["r0"], ["f0", "t0"])
    assert label_probe_ids(tmp_path / "p.jsonl", scored, against_sets=["tech_fact"]) == (["r0"], ["t0"])
    with pytest.raises(InputError, match="factual sets"):
        label_probe_ids(tmp_path / "p.jsonl", scored, against_sets=["howto"])


def planted_run(root, n_per_source: int = 20, seed: int = 0):
    """A run whose scores plant the register problem: reasoning probes move procedural and technical documents
    alike (register), but technical-fact probes move technical documents only, so only the contrast with them
    separates procedure from register."""
    from datatrove.data import Document

    rng = np.random.default_rng(seed)
    sources = {"manual": "procedural", "code": "procedural", "changes": "technical", "api": "technical",
               "news": "prose"}
    docs, rows = [], []
    for source, category in sources.items():
        for i in range(n_per_source):
            doc_id = f"{source}-{i}"
            docs.append(Document(text=f"{source} text {i}", id=doc_id, metadata={"source": source, "category": category}))
            technical = category != "prose"
            rows.append({"doc_id": doc_id, "doc_grad_norm": 1.0,
                         **{f"howto-{j}": (3.0 if technical else 0.5) + rng.normal(0, 0.3) for j in range(4)},
                         **{f"code_trace-{j}": (3.0 if technical else 0.5) + rng.normal(0, 0.3) for j in range(4)},
                         **{f"factual-{j}": 1.0 + rng.normal(0, 0.3) for j in range(4)},
                         **{f"tech_fact-{j}": (3.0 if category == "technical" else 0.5) + rng.normal(0, 0.3)
                            for j in range(4)}})
    probes = [Probe(f"{name}-{j}", name, "reasoning" if name in ("howto", "code_trace") else "factual", "q", " a", "a")
              for name in ("howto", "code_trace", "factual", "tech_fact") for j in range(4)]
    return scored_run(root, docs, probes, rows)


def scored_run(root, docs: list, probes: list[Probe], rows: list[dict]) -> RunDir:
    """A run directory with a scored sample: its documents, probes and per-document score rows."""
    run = RunDir(root)
    write_documents(docs, run.root / "sample")
    run.probes.parent.mkdir(parents=True)
    write_probes(probes, run.probes)
    run.scores.mkdir(parents=True)
    pl.DataFrame(rows).write_parquet(run.scores / "part-00000.parquet")
    (run.scores / "probes.json").write_text(json.dumps(
        {"probes": [{"id": p.id, "nats": 1.0, "gradient_norm": 1.0} for p in probes]}))
    return run


def test_register_study_finds_the_rule_that_separates_register(tmp_path):
    run = planted_run(tmp_path / "run")
    report = measure_register(RegisterArguments(label_rule="code_trace+howto/tech_fact"), run)
    aucs = {row["rule"]: row for row in report.aucs.filter(pl.col("ranking") == "ekfac").iter_rows(named=True)}
    magnitude, contrast = aucs["code_trace+howto/none"], aucs["code_trace+howto/tech_fact"]
    assert magnitude["auc_vs_prose"] == 1.0 and 0.3 < magnitude["auc_vs_technical"] < 0.7  # register only
    # ranks of noisy aggregates overlap, so the contrast is not perfect, but far better than register alone
    assert contrast["auc_vs_technical"] > magnitude["auc_vs_technical"] + 0.3
    assert contrast["auc_vs_technical"] > 0.85 and contrast["auc_vs_both"] > 0.85
    assert "maths/none" not in aucs and "code_trace&maths/none" not in aucs  # no maths probes were scored
    assert {"code_trace+howto/tech_fact, signed", "code_trace+howto/tech_fact per norm, breadth"} <= set(aucs)
    table = report.sources.filter(pl.col("ranking") == "ekfac")
    assert set(table["category"][:2]) == {"procedural"} and table["category"][-1] != "procedural"
    assert table["documents"].to_list() == [20] * 5
    assert all(path.exists() for path in report.files)
    assert (run.validation / "register" / "register.png").stat().st_size > 0


def test_register_study_refuses_a_bad_rule_and_ranking(tmp_path):
    run = planted_run(tmp_path / "run", n_per_source=3)
    for rule in ("nonsense", "code_trace/factual per norm, loudest"):
        with pytest.raises(InputError, match="GROUP/CONTRAST"):
            measure_register(RegisterArguments(label_rule=rule), run)
    with pytest.raises(InputError, match="NAME=SCORES_DIR"):
        measure_register(RegisterArguments(rankings=["no-equals-sign"]), run)


def test_consensus_rule_needs_every_part():
    """A document that moves one group's probes only (a change record naming a trace's functions) ranks high under
    that group's rule, low under the consensus of both."""
    rng = np.random.default_rng(0)
    n = 100
    code = rng.normal(1.0, 0.2, n)
    maths = rng.normal(1.0, 0.2, n)
    code[:10] += 3  # procedure: moves both groups
    maths[:10] += 3
    code[10:20] += 3  # register: moves code tracing only
    scores = pl.DataFrame({"doc_id": [f"d{i}" for i in range(n)], "doc_grad_norm": np.ones(n),
                           "c0": code, "a0": maths})
    set_of = {"c0": "code_trace", "a0": "arithmetic"}
    alone = rule_values(scores, set_of, Rule("code_trace", "none", False))
    both = rule_values(scores, set_of, Rule("code_trace&maths", "none", False))
    assert set(np.argsort(-alone)[:20].tolist()) == set(range(20))
    assert both[:10].min() >= 0.8  # every procedural document stays in the top fifth...
    assert both[10:20].mean() < 0.65  # ...while the register documents fall to where maths ranks them
    assert rule_values(scores, {"c0": "code_trace"}, Rule("code_trace&maths", "none", False)) is None


def test_per_probe_table_relates_steps_to_separation(tmp_path):
    """Short traces move technical documents as much as procedural ones; long traces only procedural ones."""
    from datatrove.data import Document

    rng = np.random.default_rng(0)
    sources = {"manual": "procedural", "changes": "technical", "news": "prose"}
    steps = {f"code_trace-{j}": j + 1 for j in range(6)}
    docs, rows = [], []
    for source, category in sources.items():
        for i in range(30):
            docs.append(Document(text="t", id=f"{source}-{i}", metadata={"source": source, "category": category}))
            row = {"doc_id": f"{source}-{i}", "doc_grad_norm": 1.0, "factual-0": 1.0 + rng.normal(0, 0.1)}
            for probe, n in steps.items():
                moved = category == "procedural" or (category == "technical" and n <= 2)
                row[probe] = (3.0 if moved else 0.5) + rng.normal(0, 0.3)
            rows.append(row)
    probes = [Probe(p, "code_trace", "reasoning", "q", "\n" + "\n".join(["step"] * n), "a") for p, n in steps.items()]
    probes.append(Probe("factual-0", "factual", "factual", "q", " a", "a"))
    run = scored_run(tmp_path / "run", docs, probes, rows)
    report = measure_register(RegisterArguments(label_rule="code_trace/factual"), run)
    table = report.probes.sort("steps")
    assert table["steps"].to_list() == list(range(1, 7)) and set(table["set"]) == {"code_trace"}
    assert table["auc_vs_technical"][:2].max() < 0.75 < table["auc_vs_technical"][2:].min()
    assert (run.validation / "register" / "probes.csv") in report.files
    assert "spearman_steps_vs_technical" in (run.validation / "register" / "register.md").read_text()
