"""The linear datamodeling score: the computation against a planted linear model whose LDS is known, the
bootstrap interval, and `curate study lds` end to end on `tiny_run` (sharded, resumed, refused)."""

import json

import numpy as np
import polars as pl
import pytest

from curate.cli import main
from curate.errors import InputError
from curate.validate.lds import bootstrap_interval, draw_subsets, lds, score_matrix, spearman_columns

M, N, Q, ALPHA = 200, 400, 20, 0.5  # subsets, documents, probes
SIGMA = 1.0  # sd of the noise on each measured loss


def membership_of(subsets: list[list[int]], documents: int) -> np.ndarray:
    membership = np.zeros((len(subsets), documents), dtype=bool)
    for row, subset in enumerate(subsets):
        membership[row, subset] = True
    return membership


@pytest.fixture(scope="module")
def planted():
    """Documents with known additive effects `w` (N, Q) on each probe's log-probability. Training on a subset
    changes the completion LOSS by minus the sum of its members' effects, plus noise (sd SIGMA)."""
    rng = np.random.default_rng(7)
    w = rng.normal(size=(N, Q))
    membership = membership_of(draw_subsets(M, ALPHA, N, seed=3), N)
    loss = -(membership @ w) + SIGMA * rng.normal(size=(M, Q))
    return rng, w, membership, loss


def expected_lds(scores: np.ndarray, w: np.ndarray, membership: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per probe, the expected Spearman LDS of `scores` under the planted model, and its sampling sd over M.

    Over random equal-size subsets, cov(m @ x, m @ y) = k c(x, y), with c(x, y) = sum (x - mean x)(y - mean y)
    and k = p(1 - p) N / (N - 1), so prediction m @ scores and outcome m @ w - noise have Pearson correlation
    rho = k c(s, w) / sqrt(k c(s, s) (k c(w, w) + SIGMA^2)). Both are sums of N/2 terms, near-normal, for
    which E[Spearman] = 6 / (pi (M + 1)) (arcsin rho + (M - 2) arcsin(rho / 2)) (Moran 1948), and its sd is
    about (1 - r^2) sqrt(1.06 / (M - 3)) (Fisher z, Fieller, Hartley & Pearson 1957)."""
    p = membership.sum(axis=1)[0] / N
    k = p * (1 - p) * N / (N - 1)
    s, t = scores - scores.mean(axis=0), w - w.mean(axis=0)
    rho = k * (s * t).sum(axis=0) / np.sqrt(k * (s * s).sum(axis=0) * (k * (t * t).sum(axis=0) + SIGMA**2))
    mean = 6 / (np.pi * (M + 1)) * (np.arcsin(rho) + (M - 2) * np.arcsin(rho / 2))
    return mean, (1 - mean**2) * np.sqrt(1.06 / (M - 3))


def test_lds_matches_the_planted_model(planted):
    rng, w, membership, loss = planted
    rankings = {
        "perfect": w,
        "noisy": w + rng.normal(size=(N, Q)),  # as much noise as signal in every score: rho about 1/sqrt(2)
        "random": rng.normal(size=(N, Q)),
    }
    measured = {}
    for name, scores in rankings.items():
        measured[name] = lds(membership, scores, loss)
        mean, sd = expected_lds(scores, w, membership)
        # 5 sampling sds per probe: each of the 60 checks fails by chance with probability under 1e-6
        assert np.all(np.abs(measured[name] - mean) < 5 * sd), name
    # The signal's variance over subsets (k c(w, w) ~ N/4 = 100) dwarfs the noise (1): rho ~ 0.995.
    assert measured["perfect"].min() > 0.98
    assert 0.55 < measured["noisy"].mean() < 0.8  # (6/pi) arcsin(0.7/2) ~ 0.68
    assert measured["perfect"].min() > measured["noisy"].max()
    # Random scores: 0 in expectation; the realised rho has sd 1/sqrt(N) per probe, the LDS adds its own
    assert abs(measured["random"].mean()) < 5 * np.sqrt((1 / N + 1.06 / (M - 3)) / Q)


def test_positive_lds_means_the_scores_predict_a_lower_loss(planted):
    """The convention: scores are positive for documents that LOWER the probe's loss (raise its
    log-probability), and `lds` takes the measured completion LOSS, which it negates."""
    _, w, membership, loss = planted
    helpful = lds(membership, w, loss)
    assert helpful.min() > 0.98
    # Reversed scores reverse every rank: exactly the opposite correlation (continuous values, no ties).
    np.testing.assert_allclose(lds(membership, -w, loss), -helpful, rtol=1e-12)
    # Passing log-probabilities (the negative loss) instead of the loss flips the sign too.
    np.testing.assert_allclose(lds(membership, w, -loss), -helpful, rtol=1e-12)


def test_lds_is_undefined_where_nothing_varies(planted):
    _, w, membership, loss = planted
    scores = w.copy()
    scores[:, 0] = 0.0  # no document matters
    scores[:, 1] = 0.1  # every document matters equally: equal-size subsets all predict the same
    flat = loss.copy()
    flat[:, 2] = 3.0  # every retrain measured the same loss
    values = lds(membership, scores, flat)
    assert np.isnan(values[:3]).all() and not np.isnan(values[3:]).any()


def test_subsets_come_from_the_seed_alone():
    first, again, other = (
        draw_subsets(5, 0.3, 50, 1),
        draw_subsets(5, 0.3, 50, 1),
        draw_subsets(5, 0.3, 50, 2),
    )
    assert first == again and first != other
    assert all(len(s) == 15 == len(set(s)) and s == sorted(s) and 0 <= s[0] and s[-1] < 50 for s in first)
    assert len({tuple(s) for s in first}) == 5
    with pytest.raises(InputError, match="leaves 0 per subset"):
        draw_subsets(5, 0.01, 20, 0)


def test_bootstrap_interval_counts_the_subsets_luck_and_narrows_with_more_subsets():
    """Random scores: every probe's LDS is noise around 0, but probes that share few subsets share their luck.
    The interval resamples subsets and probes together, so it covers 0 and narrows as subsets are added."""
    rng = np.random.default_rng(0)
    documents, probes = 300, 20
    common = rng.normal(size=(documents, 1))  # the probes' losses move together, as a run's do
    weights = common + 0.3 * rng.normal(size=(documents, probes))
    widths = []
    for models in (8, 128):
        membership = np.stack([rng.permutation(documents) < documents // 2 for _ in range(models)])
        loss = -(membership @ weights) + 0.1 * rng.normal(size=(models, probes))
        predicted = membership @ rng.normal(size=(documents, probes))  # a random ranking
        mean, low, high = bootstrap_interval(predicted, loss, 1000, seed=0)
        assert mean == pytest.approx(np.nanmean(spearman_columns(predicted, -loss)))
        assert low <= mean <= high and low < 0 < high, (models, low, mean, high)
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # sd / sqrt(M): 4 times narrower expected
    constant = np.ones((4, 2))  # nothing to rank: no LDS defined anywhere
    assert np.isnan(bootstrap_interval(constant, constant, 100, seed=0)).all()


def write_scores(directory, doc_ids: list[str], columns: dict[str, list[float]], nats: float) -> None:
    directory.mkdir(parents=True)
    pl.DataFrame({"doc_id": doc_ids, "doc_grad_norm": [1.0] * len(doc_ids), **columns}).write_parquet(
        directory / "part-00000.parquet"
    )
    meta = {"probes": [{"id": p, "nats": nats, "gradient_norm": 1.0} for p in columns]}
    (directory / "probes.json").write_text(json.dumps(meta))


def test_score_matrix_is_per_nat_in_training_order_and_needs_every_document(tmp_path):
    write_scores(
        tmp_path / "s",
        ["c", "held-out", "a", "b"],
        {"p0": [3.0, 9.0, 1.0, 2.0], "p1": [6.0, 9.0, 2.0, 4.0]},
        2.0,
    )
    matrix = score_matrix(tmp_path / "s", ["a", "b", "c"], ["p1", "p0"])
    np.testing.assert_array_equal(matrix, [[1.0, 0.5], [2.0, 1.0], [3.0, 1.5]])
    with pytest.raises(InputError, match=r"2 of 4 training documents have no score \(e.g. 'd'\)"):
        score_matrix(tmp_path / "s", ["a", "b", "d", "e"], ["p0"])
    with pytest.raises(InputError, match="no scores for 1 of 2 probes"):
        score_matrix(tmp_path / "s", ["a"], ["p0", "p9"])


def test_cli_shards_resumes_summarises_and_refuses_other_settings(tiny_run, tmp_path, capsys, one_thread):
    out = tmp_path / "lds"
    argv = [
        "study",
        "lds",
        "--run-dir",
        str(tiny_run.root),
        "--out",
        str(out),
        "--methods",
        "ekfac",
        "random",
    ]
    tiny = ["--retrains", "4", "--alpha", "0.5", "--steps", "2", "--bootstrap", "200"]
    assert main([*argv, *tiny, "--shard", "0/2"]) == 0
    assert sorted(p.name for p in (out / "cells").iterdir()) == ["subset00000.json", "subset00002.json"]
    assert "2 subsets finished; the LDS needs at least 3" in capsys.readouterr().out
    assert main([*argv, *tiny, "--shard", "1/2"]) == 0
    assert "## Linear datamodeling score over 4 of 4 subsets" in capsys.readouterr().out

    subsets = json.loads((out / "subsets.json").read_text())
    documents = subsets["documents"]
    assert (
        subsets["training_ids"] == sorted(subsets["training_ids"])
        and len(subsets["training_ids"]) == documents
    )
    cells = [json.loads((out / "cells" / f"subset{i:05d}.json").read_text()) for i in range(4)]
    assert [c["seed"] for c in cells] == [0, 1, 2, 3] and all(
        c["steps"] == 2 and c["seconds"] > 0 for c in cells
    )
    assert all(c["indices"] == s for c, s in zip(cells, subsets["subsets"], strict=True))
    assert all(c["train_documents"] == round(0.5 * documents) for c in cells)
    assert [p["id"] for p in cells[0]["probes"]] == ["p0", "p1"]

    stamps = {p: p.stat().st_mtime_ns for p in (out / "cells").iterdir()}
    assert main([*argv, *tiny]) == 0
    assert "4 of 4 cells already done; running 0" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (out / "cells").iterdir()} == stamps

    for name in ("lds.csv", "lds_per_probe.csv", "lds.md", "lds.png"):
        (out / name).unlink()
    assert main([*argv, "--summarise-only"]) == 0  # the subsets' own settings, whatever the flags' defaults
    summary = pl.read_csv(out / "lds.csv")
    assert summary.columns == ["ranking", "set", "kind", "probes", "mean", "low", "high"]
    assert summary.select("ranking", "set", "kind").rows() == [
        ("ekfac", "arithmetic", "reasoning"),
        ("random", "arithmetic", "reasoning"),
    ]
    per_probe = pl.read_csv(out / "lds_per_probe.csv")
    assert per_probe.height == 4 and per_probe["lds"].drop_nans().is_between(-1, 1).all()
    assert "| ekfac" in (out / "lds.md").read_text() and (out / "lds.png").stat().st_size > 0

    capsys.readouterr()
    assert main([*argv, *tiny, "--alpha", "0.3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "--alpha 0.5 (not 0.3)" in err

    ids = subsets["training_ids"]
    write_scores(
        tmp_path / "partial", ids[1:], {"p0": [1.0] * (len(ids) - 1), "p1": [1.0] * (len(ids) - 1)}, 1.0
    )
    assert main([*argv[:-2], f"partial={tmp_path / 'partial'}", "--summarise-only"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"1 of {len(ids)} training documents have no score" in err
