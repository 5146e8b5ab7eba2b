"""Files and commands: factors, statistics and queries round-trip; `curate influence fit` and `curate influence score`
on a run directory, resumable, sharded, and as datatrove tasks."""

from __future__ import annotations

import json

import polars as pl
import pytest
import torch
from tokenizers import Tokenizer, models
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from attribution.ekfac import (
    FactorArguments,
    Factors,
    Queries,
    ScoreArguments,
    Statistics,
    fit_covariances,
    fit_factors,
    precondition_queries,
    score_documents,
)
from attribution.task import IGNORE, Encoded
from curate.cli import main
from curate.paths import RunDir
from curate.probes.sets import Probe, write_probes

CHARACTERS = list("abcdefghijklmnopqrstuvwxyz0123456789 .,?:=+-*()\n")
TEXTS = [
    "the cat sat on the mat.", "2 + 3 = 5, so the sum is 5.", "x", "what is the slope? it is 4.",
    "paris is the capital of france.", "solve 2x + 4 = 10: x = 3.", "a b c d e f g", "7 * 3 = 21.",
    "rivers flow to the sea.", "(4 - 1) * 2 = 6", "zebra quartz jumps",
]


def character_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {token: i for i, token in enumerate(["<pad>", "<bos>", "<unk>", *CHARACTERS])}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE(vocab, [], unk_token="<unk>")),
                                   bos_token="<bos>", pad_token="<pad>", unk_token="<unk>")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory with a tiny model, a corpus of 11 documents in two files, and 3 probes."""
    root = tmp_path_factory.mktemp("run")
    paths = RunDir(root)
    torch.manual_seed(0)
    tokenizer = character_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                         bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(paths.model)
    tokenizer.save_pretrained(paths.model)
    paths.corpus.mkdir(parents=True)
    for shard in range(2):
        with (paths.corpus / f"part-{shard}.jsonl").open("w") as handle:
            for i, text in enumerate(TEXTS[shard::2]):
                handle.write(json.dumps({"id": f"doc{shard}-{i}", "text": text}) + "\n")
    write_probes([Probe("p-sum", "arithmetic", "reasoning", "what is 2 + 2?", " 2 + 2 = 4.", "4"),
                  Probe("p-fact", "factual", "factual", "the capital of france is", " paris.", "paris"),
                  Probe("p-ctrl", "reasoning_control", "control", "9 cats. how many cats?", " 9.", "9")],
                 paths.probes)
    return root


def cli(*args: str) -> int:
    return main([*args])


def score(run_dir, *args: str) -> int:
    """`curate influence score` on the tiny run, within its model's 128 positions."""
    return cli("influence", "score", "--run-dir", str(run_dir), "--max-length", "64", *args)


def read_scores(directory) -> pl.DataFrame:
    return pl.read_parquet(directory / "part-*.parquet").sort("doc_id")


def test_fit_and_score_commands(run_dir, capsys):
    paths = RunDir(run_dir)
    assert cli("influence", "fit", "--run-dir", str(run_dir), "--batch-size", "4", "--max-length", "64") == 0
    header = json.loads((paths.factors / "factors.json").read_text())
    assert header["fisher"] == "true" and len(header["modules"]) == 6
    assert header["covariance_documents"] == 11 and header["skipped_documents"]["too_short"] == 0

    assert score(run_dir, "--batch-size", "4", "--documents-per-part", "4") == 0
    assert "11 documents × 3 probes" in capsys.readouterr().out
    scores = read_scores(paths.scores)
    assert scores.columns == ["doc_id", "doc_grad_norm", "p-sum", "p-fact", "p-ctrl"]
    assert scores.height == 11 and all(dtype == pl.Float32 for dtype in scores.dtypes[1:])
    described = json.loads((paths.scores / "probes.json").read_text())
    assert [p["id"] for p in described["probes"]] == ["p-sum", "p-fact", "p-ctrl"]
    assert all(p["nats"] > 0 for p in described["probes"])
    assert described["method"] == "ekfac" and described["rank"] == 32

    # the same scores from the Python API
    from attribution.model import load_causal_lm
    from curate.corpus.io import read_documents

    model, tokenizer = load_causal_lm(paths.model)
    queries = precondition_queries(model, tokenizer, [p for p in _probes(paths)], Factors.load(paths.factors),
                                   ScoreArguments(batch_size=4, progress=False))
    api = score_documents(model, tokenizer, list(read_documents(paths.corpus)), queries)
    by_id = dict(zip(api.doc_ids, api.scores[:, 0].tolist(), strict=True))
    assert scores["p-sum"].to_list() == pytest.approx([by_id[i] for i in scores["doc_id"]], rel=1e-4, abs=1e-6)

    # killed after the first part: a second run writes only the missing parts, identically
    parts = sorted(paths.scores.glob("part-*.parquet"))
    for part in parts[1:]:
        part.unlink()
    assert score(run_dir, "--batch-size", "4", "--documents-per-part", "4") == 0
    assert "1 kept from an earlier run" in capsys.readouterr().out
    assert read_scores(paths.scores).equals(scores)

    # other settings into the same directory need --overwrite
    assert score(run_dir, "--method", "dot") == 2
    assert "made from other inputs or settings" in capsys.readouterr().err


def _probes(paths):
    from curate.probes.sets import read_probes

    return read_probes(paths.probes)


def test_baseline_methods_and_datatrove_tasks(run_dir, tmp_path):
    paths = RunDir(run_dir)
    for method in ("dot", "cosine", "random"):
        out = tmp_path / method
        assert score(run_dir, "--method", method, "--out", str(out)) == 0
        scores = read_scores(out)
        assert scores.height == 11
        if method == "cosine":
            assert scores.select(pl.col("p-sum").abs().max()).item() <= 1.0 + 1e-5
    # random is seeded: the same run gives the same ranking
    assert score(run_dir, "--method", "random", "--out", str(tmp_path / "r2")) == 0
    assert read_scores(tmp_path / "r2").equals(read_scores(tmp_path / "random"))

    # two datatrove tasks (one per corpus file) give the same scores as one process
    out = tmp_path / "tasks"
    assert score(run_dir, "--method", "dot", "--tasks", "2", "--out", str(out)) == 0
    assert sorted(p.name for p in out.glob("part-*.parquet")) == ["part-00000-00000.parquet", "part-00001-00000.parquet"]
    single, tasks = read_scores(tmp_path / "dot"), read_scores(out)
    assert single["doc_id"].to_list() == tasks["doc_id"].to_list()
    assert tasks["p-fact"].to_list() == pytest.approx(single["p-fact"].to_list(), rel=1e-4, abs=1e-6)
    assert paths.scores.exists()


def test_sharded_and_datatrove_fit_factors_equal_one_pass(run_dir, tmp_path):
    args = ["--run-dir", str(run_dir), "--batch-size", "4", "--max-length", "64"]
    one_pass, sharded = tmp_path / "one", tmp_path / "sharded"
    assert cli("influence", "fit", *args, "--out", str(one_pass)) == 0
    for _stage in ("covariance", "lambda"):
        for shard in range(2):
            assert cli("influence", "fit", *args, "--out", str(sharded), "--shard", str(shard), "--num-shards", "2") == 0
        assert cli("influence", "fit", *args, "--out", str(sharded), "--merge") == 0
    tasks = tmp_path / "tasks"  # the same two stages as datatrove tasks
    assert cli("influence", "fit", *args, "--out", str(tasks), "--tasks", "2") == 0
    expected = Factors.load(one_pass)
    for got in (Factors.load(sharded), Factors.load(tasks)):
        assert got.header == expected.header
        for name, layer in expected.layers.items():
            torch.testing.assert_close(got.layers[name].corrected_eigenvalues, layer.corrected_eigenvalues,
                                       rtol=1e-4, atol=1e-8)


def test_model_and_executor_options_are_checked_before_any_work(run_dir, tmp_path, capsys):
    run = ["--run-dir", str(run_dir), "--out", str(tmp_path / "out")]
    assert cli("influence", "fit", *run, "--max-length", "1000") == 2
    assert "--max-length 1000 exceeds the model's 128 positions" in capsys.readouterr().err
    assert cli("influence", "score", *run, "--executor", "ray") == 2
    assert "--executor ray is for datatrove tasks: pass --tasks N" in capsys.readouterr().err
    assert cli("influence", "fit", *run, "--model", str(tmp_path / "none")) == 2
    assert "no model at" in capsys.readouterr().err


def test_statistics_factors_and_queries_round_trip(tmp_path):
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=4, num_key_value_heads=4)).eval()
    documents = [[1, 2, 3, 4, 5], [6, 7, 8], [9, 10, 11, 12]]
    args = FactorArguments(batch_size=2, progress=False)
    statistics = fit_covariances(model, None, documents, args)
    statistics.save(tmp_path / "stats.safetensors")
    loaded = Statistics.load(tmp_path / "stats.safetensors")
    assert (loaded.kind, loaded.tokens, loaded.documents, loaded.header) == \
        (statistics.kind, statistics.tokens, statistics.documents, statistics.header)
    assert all(torch.equal(loaded.sums[k], v) for k, v in statistics.sums.items())

    factors = fit_factors(model, None, documents, args)
    factors.save(tmp_path / "factors")
    again = Factors.load(tmp_path / "factors")
    assert again.header == factors.header
    queries = precondition_queries(model, None, [Encoded([1, 2, 3], [IGNORE, 2, 3])], again,
                                   ScoreArguments(progress=False))
    queries.save(tmp_path / "queries.safetensors")
    reloaded = Queries.load(tmp_path / "queries.safetensors")
    assert reloaded.probe_ids == queries.probe_ids and reloaded.args == queries.args
    torch.testing.assert_close(score_documents(model, None, documents, reloaded).scores,
                               score_documents(model, None, documents, queries).scores)


def test_baselines_in_the_same_pass_equal_their_own_runs(run_dir, tmp_path, capsys):
    """`--baselines cosine dot` writes what `--method cosine` and `--method dot` write, from one pass, on one
    process and on datatrove tasks; a later run of either method alone keeps those parts."""
    paths = RunDir(run_dir)
    if not (paths.factors / "factors.json").exists():
        assert cli("influence", "fit", "--run-dir", str(run_dir), "--batch-size", "4", "--max-length", "64") == 0
    common = ["--batch-size", "4", "--documents-per-part", "4"]
    for tasks in ([], ["--tasks", "2"]):
        together = tmp_path / ("tasks" if tasks else "one") / "scores"
        assert score(run_dir, *common, *tasks, "--out", str(together), "--baselines", "cosine", "dot") == 0
        assert f"cosine -> {together.with_name('scores-cosine')}" in capsys.readouterr().out
        for method in ("ekfac", "cosine", "dot"):
            alone = tmp_path / ("tasks" if tasks else "one") / f"alone-{method}"
            assert score(run_dir, *common, *tasks, "--method", method, "--out", str(alone)) == 0
            folder = together if method == "ekfac" else together.with_name(f"scores-{method}")
            got, expected = read_scores(folder), read_scores(alone)
            assert got["doc_id"].to_list() == expected["doc_id"].to_list()
            for column in ("doc_grad_norm", "p-sum", "p-fact", "p-ctrl"):
                assert got[column].to_list() == pytest.approx(expected[column].to_list(), rel=1e-4, abs=1e-6)
            made = [json.loads((f / "manifest.json").read_text())["made_from"] for f in (folder, alone)]
            assert made[0] == made[1]
        # the cosine baseline's folder is a cosine scoring run like any other: rerun alone, it keeps every part
        cosine = together.with_name("scores-cosine")
        written = {part: part.stat().st_mtime_ns for part in cosine.glob("part-*.parquet")}
        assert score(run_dir, *common, *tasks, "--method", "cosine", "--out", str(cosine)) == 0
        assert {part: part.stat().st_mtime_ns for part in cosine.glob("part-*.parquet")} == written


def test_baselines_need_gradients_and_differ_from_the_method(run_dir, tmp_path, capsys):
    assert score(run_dir, "--method", "random", "--baselines", "cosine", "--out", str(tmp_path / "r")) == 2
    assert "--baselines share the documents' gradients" in capsys.readouterr().err
    assert score(run_dir, "--method", "cosine", "--baselines", "cosine", "--out", str(tmp_path / "c")) == 2
    assert "repeats --method cosine" in capsys.readouterr().err


def test_bfloat16_contraction_stays_close_to_float32(run_dir):
    """Only the contraction runs in bfloat16: each probe's ranking of documents holds and scores move by well under
    1% of their scale (tiny-model figures; docs/real-track.md gives SmolLM2's)."""
    from scipy.stats import spearmanr

    from attribution.model import load_causal_lm
    from curate.corpus.io import read_documents

    paths = RunDir(run_dir)
    if not (paths.factors / "factors.json").exists():
        assert cli("influence", "fit", "--run-dir", str(run_dir), "--batch-size", "4", "--max-length", "64") == 0
    model, tokenizer = load_causal_lm(paths.model)
    documents = list(read_documents(paths.corpus))
    results = {}
    for dtype in ("float32", "bfloat16"):
        for contraction in ("factorised", "gradient"):
            args = ScoreArguments(batch_size=4, max_length=64, contraction=contraction, score_dtype=dtype, progress=False)
            queries = precondition_queries(model, tokenizer, _probes(paths), Factors.load(paths.factors), args)
            results[dtype, contraction] = score_documents(model, tokenizer, documents, queries).scores.double()
    for contraction in ("factorised", "gradient"):
        exact, fast = results["float32", contraction], results["bfloat16", contraction]
        assert not torch.equal(exact, fast)  # the bfloat16 path did run
        assert ((fast - exact).abs().max(0).values / exact.abs().max(0).values).max() < 2e-2
        assert min(spearmanr(exact[:, j], fast[:, j])[0] for j in range(exact.size(1))) > 0.98
