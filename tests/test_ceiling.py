"""`curate study ceiling`: classifiers trained on the evaluation-only labels, judged on whole held-out sources."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from datatrove.data import Document

from curate.cli import main
from curate.corpus.io import write_documents
from curate.errors import InputError
from curate.paths import RunDir
from curate.validate.arguments import CeilingArguments
from curate.validate.ceiling import measure_ceiling

WORDS = {  # the vocabulary each source draws from
    "manual": "first run make then install the package step by step check the output".split(),
    "news": "the minister said today that the council would meet again next week".split(),
    "guides": "first run git then commit the change step by step check the log".split(),
    # both release sources share the manuals' verbs ("install", "run") and a vocabulary of their own
    "releases_a": "version released fixed bug install run regression deprecated".split(),
    "releases_b": "version released fixed bug install run security update".split(),
    "poems": "the moon said softly that the sea would sleep again tonight".split(),
}
CATEGORY = {"manual": "procedural", "news": "prose", "guides": "procedural", "releases_a": "technical",
            "releases_b": "technical", "poems": "prose"}
HELDOUT = ["guides", "releases_a", "releases_b", "poems"]


def documents(source: str, n: int, rng: np.random.Generator) -> list[Document]:
    return [Document(text=" ".join(rng.choice(WORDS[source], 12)), id=f"{source}-{i}",
                     metadata={"source": source, "category": CATEGORY[source],
                               "procedural": CATEGORY[source] == "procedural"}) for i in range(n)]


def ceiling_run(root) -> RunDir:
    rng = np.random.default_rng(0)
    run = RunDir(root)
    write_documents([*documents("manual", 40, rng), *documents("news", 40, rng)], run.root / "sample")
    corpus = [d for s in WORDS for d in documents(s, 30, rng)]
    write_documents(corpus, run.corpus)
    (run.corpus / "heldout_sources.txt").write_text("\n".join(HELDOUT) + "\n")
    return run


def test_ceiling_shows_what_more_diverse_sources_buy(tmp_path):
    run = ceiling_run(tmp_path / "run")
    report = measure_ceiling(CeilingArguments(extra_per_source=10), run)
    kept = {(row["setting"], row["source"]): row["kept_share"] for row in report.sources.iter_rows(named=True)}
    assert report.sources.height == 2 * len(HELDOUT)
    assert set(report.sources["documents"]) == {30}
    # trained on the sample, release notes look like manuals (their verbs) and are kept...
    assert kept[("sample", "releases_a")] > 0.5
    # ...until the other release source, labelled, shows that their own vocabulary is not procedure
    assert kept[("leave-one-source-out", "releases_a")] < kept[("sample", "releases_a")] - 0.3
    assert kept[("sample", "guides")] > 0.5 and kept[("sample", "poems")] < 0.5
    pooled = {row["setting"]: row for row in report.pooled.iter_rows(named=True)}
    assert pooled["sample"]["training_documents"] == 80
    assert pooled["leave-one-source-out"]["training_documents"] == 80 + 3 * 10  # the other three, 10 each
    assert pooled["sample"]["documents"] == 4 * 30
    assert all(path.exists() and path.stat().st_size > 0 for path in report.files)
    again = measure_ceiling(CeilingArguments(extra_per_source=10, out=tmp_path / "again"), run)
    assert again.sources.equals(report.sources)  # seeded


def test_ceiling_refuses_a_sample_that_holds_a_heldout_source(tmp_path):
    run = ceiling_run(tmp_path / "run")
    rng = np.random.default_rng(1)
    write_documents([*documents("manual", 5, rng), *documents("guides", 1, rng), *documents("news", 5, rng)],
                    tmp_path / "leaky")
    with pytest.raises(InputError, match="held-out source 'guides'"):
        measure_ceiling(CeilingArguments(sample=tmp_path / "leaky"), run)
    with pytest.raises(InputError, match="at least 1"):
        CeilingArguments(extra_per_source=0)


def test_ceiling_from_the_cli(tmp_path, capsys):
    run = ceiling_run(tmp_path / "run")
    assert main(["study", "ceiling", "--run-dir", str(run.root), "--extra-per-source", "5"]) == 0
    assert "leave-one-source-out" in capsys.readouterr().out
    table = pl.read_csv(run.validation / "ceiling" / "pooled.csv")
    assert table["setting"].to_list() == ["sample", "leave-one-source-out"]
    assert main(["study", "ceiling", "--run-dir", str(run.root), "--heldout-sources", "nowhere"]) != 0
