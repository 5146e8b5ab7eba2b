"""`curate influence index`, `curate influence score --index` and `curate influence search` on a run directory: store scores equal the full
exact scores when the store keeps everything, shards resume, other inputs are refused, readers read the scores."""

from __future__ import annotations

import json

import pytest
import torch
from test_ekfac_files import cli, read_scores
from test_ekfac_files import run_dir as run_dir  # noqa: F401 (the module-scoped fixture)

from attribution.scores import load_per_nat_scores
from attribution.store.arguments import PRECISIONS
from curate.paths import RunDir

SHORT = ["--max-length", "64", "--batch-size", "4"]


@pytest.fixture(scope="module")
def fitted_run(run_dir):  # noqa: F811
    assert cli("influence", "fit", "--run-dir", str(run_dir), *SHORT) == 0
    return run_dir


def error_lines(stderr: str) -> list[str]:
    """The CLI's `error:` lines (datatrove's readers log to stderr too)."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def index(run_dir, out, *args: str) -> int:
    return cli("influence", "index", "--run-dir", str(run_dir), "--out", str(out), *SHORT, *args)


@pytest.mark.parametrize("compression", ["logra", "eigen", "whitened"])
def test_store_keeping_everything_scores_like_a_full_pass(fitted_run, tmp_path, compression, capsys):
    paths = RunDir(fitted_run)
    store = tmp_path / "store"
    assert index(fitted_run, store, "--compression", compression, "--dims", "0", "--precision", "float32",
                 "--documents-per-shard", "4") == 0
    printed = capsys.readouterr().out
    assert "index plan: 11 documents; memory about" in printed and "11 documents in" in printed
    assert len(list(store.glob("shard-*.safetensors"))) == 3

    assert cli("influence", "score", "--run-dir", str(fitted_run), "--max-length", "64", "--exact", "--out",
               str(tmp_path / "full")) == 0
    assert cli("influence", "score", "--run-dir", str(fitted_run), "--max-length", "64", "--index", str(store), "--out",
               str(tmp_path / "fast")) == 0
    full, fast = read_scores(tmp_path / "full"), read_scores(tmp_path / "fast")
    assert fast.columns == full.columns and fast["doc_id"].to_list() == full["doc_id"].to_list()
    scale = max(abs(v) for p in ("p-sum", "p-fact", "p-ctrl") for v in full[p].to_list())
    for column in ("doc_grad_norm", "p-sum", "p-fact", "p-ctrl"):
        assert fast[column].to_list() == pytest.approx(full[column].to_list(), rel=1e-3, abs=1e-5 * scale)
    per_nat, meta = load_per_nat_scores(tmp_path / "fast")
    assert per_nat.height == 11 and meta["index"]["compression"] == compression
    assert json.loads((tmp_path / "fast" / "manifest.json").read_text())["complete"]["documents"] == 11
    assert paths.scores.name == "scores"


def test_shards_resume_and_other_inputs_are_refused(fitted_run, tmp_path, capsys):
    store = tmp_path / "store"
    assert index(fitted_run, store, "--compression", "logra", "--dims", "4", "--documents-per-shard", "4") == 0
    shards = sorted(store.glob("shard-*.safetensors"))
    before = {path.name: path.read_bytes() for path in shards}
    shards[-1].unlink()
    capsys.readouterr()
    assert index(fitted_run, store, "--compression", "logra", "--dims", "4", "--documents-per-shard", "4") == 0
    assert "1 shards written, 2 kept from an earlier run" in capsys.readouterr().out
    assert {path.name: path.read_bytes() for path in sorted(store.glob("shard-*"))} == before

    # another compression, seed or model into the same store: one error line, exit 2
    assert index(fitted_run, store, "--compression", "logra", "--dims", "4", "--seed", "1",
                 "--documents-per-shard", "4") == 2
    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "seed" in errors[0]
    other = tmp_path / "other-model"
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(RunDir(fitted_run).model)
    with torch.no_grad():
        model.lm_head.weight.mul_(1.5)
    model.save_pretrained(other)
    AutoTokenizer.from_pretrained(RunDir(fitted_run).model).save_pretrained(other)
    assert index(fitted_run, store, "--compression", "logra", "--dims", "4", "--documents-per-shard", "4",
                 "--model", str(other)) == 2
    assert "fingerprint" in capsys.readouterr().err
    # scoring the store with another model is refused too
    assert cli("influence", "score", "--run-dir", str(fitted_run), "--max-length", "64", "--index", str(store), "--model",
               str(other), "--method", "dot", "--out", str(tmp_path / "s")) == 2
    assert "built for another model" in capsys.readouterr().err
    # scoring from a store runs in this process: --tasks is refused, not ignored
    assert cli("influence", "score", "--run-dir", str(fitted_run), "--index", str(store), "--tasks", "2",
               "--out", str(tmp_path / "t")) == 2
    assert "drop --tasks" in capsys.readouterr().err


def test_index_as_datatrove_tasks_matches_one_process(fitted_run, tmp_path):
    args = ["--compression", "whitened", "--dims", "4"]
    assert index(fitted_run, tmp_path / "one", *args) == 0
    assert index(fitted_run, tmp_path / "tasks", *args, "--tasks", "2") == 0
    for store in ("one", "tasks"):
        assert cli("influence", "score", "--run-dir", str(fitted_run), "--max-length", "64", "--index", str(tmp_path / store),
                   "--out", str(tmp_path / f"scores-{store}")) == 0
    one, tasks = read_scores(tmp_path / "scores-one"), read_scores(tmp_path / "scores-tasks")
    assert one["doc_id"].to_list() == tasks["doc_id"].to_list()
    assert tasks["p-sum"].to_list() == pytest.approx(one["p-sum"].to_list(), rel=1e-4, abs=1e-7)


def test_search_finds_the_planted_document(fitted_run, tmp_path, capsys):
    """A document equal to the query text has the query's own gradient (up to the query's first token), so the
    plain inner product ranks it first among documents unrelated to it."""
    store = tmp_path / "store"
    assert index(fitted_run, store, "--compression", "logra", "--dims", "0") == 0
    capsys.readouterr()
    assert cli("influence", "search", "--run-dir", str(fitted_run), "--index", str(store), "--text", "zebra quartz jumps",
               "--top-k", "3", "--plain") == 0
    table = capsys.readouterr().out
    first = [line for line in table.splitlines() if line.startswith("|") and "zebra" in line]
    assert first and "| 1 " in first[0].replace("|  1", "| 1"), table
    assert cli("influence", "search", "--run-dir", str(fitted_run), "--index", str(store), "--probe", "p-sum", "--top-k", "2") == 0
    assert "doc" in capsys.readouterr().out
    assert cli("influence", "search", "--run-dir", str(fitted_run), "--index", str(store), "--probe", "nope") == 2
    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and errors[0].startswith("error: no probe 'nope'")


def test_quantised_stores_are_smaller_and_score_close_to_float32(fitted_run, tmp_path):
    from safetensors import safe_open

    sizes, scores = {}, {}
    for precision in PRECISIONS:
        store = tmp_path / precision
        assert index(fitted_run, store, "--compression", "eigen", "--dims", "5", "--precision", precision) == 0
        assert json.loads((store / "store.json").read_text())["precision"] == precision
        with safe_open(str(next(store.glob("shard-*.safetensors"))), framework="pt") as handle:
            layer = next(key for key in handle.keys() if key.endswith("down_proj"))
            sizes[precision] = handle.get_tensor(layer)
        assert cli("influence", "score", "--run-dir", str(fitted_run), "--max-length", "64", "--index", str(store), "--out",
                   str(tmp_path / f"scores-{precision}")) == 0
        scores[precision] = read_scores(tmp_path / f"scores-{precision}")
    # 5 × 5 kept numbers per document: float32, one byte each, then two, four and eight to a byte (padded)
    assert [(tuple(t.shape[1:]), t.dtype) for t in sizes.values()] == [
        ((5, 5), torch.float32), ((5, 5), torch.int8), ((5, 3), torch.uint8), ((5, 2), torch.uint8),
        ((5, 1), torch.uint8)]
    reference = torch.tensor(scores["float32"]["p-sum"].to_list())
    for precision, tolerance in (("int8", 0.01), ("int4", 0.2)):
        got = torch.tensor(scores[precision]["p-sum"].to_list())
        # per-row rounding: at most half a step of each row's largest number, so errors stay small against scores
        assert (got - reference).abs().max() <= tolerance * reference.abs().max()
        assert torch.corrcoef(torch.stack([got, reference]))[0, 1] > (0.9999 if precision == "int8" else 0.98)
    # rounding Gaussian numbers to ±½, ±1½ steps of their RMS leaves 12% of their variance as error, to their sign
    # 36%: scores made of many such numbers then correlate about 1/√1.12 = 0.94 and 1/√1.36 = 0.86 with float32
    for precision, expected in (("int2", 0.94), ("int1", 0.86)):
        got = torch.tensor(scores[precision]["p-sum"].to_list())
        assert torch.corrcoef(torch.stack([got, reference]))[0, 1] > expected - 0.05


def test_a_shard_missing_a_layers_steps_is_refused_in_one_line(fitted_run, tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.torch import save_file

    store = tmp_path / "store"
    assert index(fitted_run, store, "--precision", "int2") == 0
    shard = next(store.glob("shard-*.safetensors"))
    with safe_open(str(shard), framework="pt") as handle:
        metadata = handle.metadata()
        kept = {key: handle.get_tensor(key) for key in handle.keys() if not key.endswith("down_proj:scale")}
    save_file(kept, str(shard), metadata)
    assert cli("influence", "score", "--run-dir", str(fitted_run), "--max-length", "64", "--index", str(store), "--out",
               str(tmp_path / "scores")) == 2
    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "is cut short or corrupt (" in errors[0] and ":scale" in errors[0]


def test_the_python_api_builds_and_scores_the_store_the_cli_builds(fitted_run, tmp_path):
    from safetensors.torch import load_file

    from attribution.ekfac import ScoreArguments
    from attribution.ekfac.stages import Corpus
    from attribution.store.arguments import IndexArguments
    from attribution.store.index import index_stage
    from attribution.store.query import score_from_store
    from attribution.store.search import search_store
    from curate.probes.sets import find_probe, read_probes

    run = RunDir(fitted_run)
    args = IndexArguments(max_length=64, batch_size=4, progress=False)  # the default store: eigen, 5%, int2
    assert index_stage(Corpus(run.corpus), run.model, run.factors, tmp_path / "api", args)["documents"] == 11
    assert index(fitted_run, tmp_path / "cli") == 0
    shards = [sorted((tmp_path / side).glob("shard-*.safetensors")) for side in ("api", "cli")]
    for api, cli_made in zip(*shards, strict=True):
        made, expected = load_file(str(api)), load_file(str(cli_made))
        assert made.keys() == expected.keys()
        for key, value in expected.items():  # the same codes; steps up to float rounding
            torch.testing.assert_close(made[key], value, rtol=1e-5, atol=0)
    done = score_from_store(tmp_path / "api", run.model, run.probes, run.factors, tmp_path / "scores",
                            ScoreArguments(max_length=64, progress=False), read_probes=read_probes)
    assert done["documents"] == 11 and done["probes"] == 3
    hits = search_store(tmp_path / "api", run.model, run.factors, find_probe(run.probes, "p-sum"), top_k=3)
    scores = read_scores(tmp_path / "scores").sort("p-sum", descending=True)
    assert [hit.doc_id for hit in hits] == scores["doc_id"].head(3).to_list()
    assert [hit.score for hit in hits] == pytest.approx(scores["p-sum"].head(3).to_list(), rel=1e-4)


def test_search_over_many_shards_and_blocks_finds_the_top_scores(fitted_run, tmp_path, monkeypatch):
    """One document a block and four a shard: the heap across blocks still returns the exact top k."""
    from attribution.ekfac import ScoreArguments
    from attribution.store import search
    from attribution.store.query import score_from_store
    from curate.probes.sets import find_probe, read_probes

    run = RunDir(fitted_run)
    assert index(fitted_run, tmp_path / "store", "--documents-per-shard", "4") == 0
    score_from_store(tmp_path / "store", run.model, run.probes, run.factors, tmp_path / "scores",
                     ScoreArguments(max_length=64, progress=False), read_probes=read_probes)
    expected = read_scores(tmp_path / "scores").sort("p-fact", descending=True)
    monkeypatch.setattr(search, "DECODE_BLOCK", 1)
    hits = search.search_store(tmp_path / "store", run.model, run.factors, find_probe(run.probes, "p-fact"),
                               top_k=5)
    assert [hit.doc_id for hit in hits] == expected["doc_id"].head(5).to_list()
    assert [hit.rank for hit in hits] == [1, 2, 3, 4, 5]
