"""Nothing silently wrong in fitting and scoring: manifests of what made factors and scores, queries reused on
resume, score readers that check ids, a model fingerprint over every weight, memory held to a budget, bounded
tokenisation of huge documents, and every flag of `influence fit` and `influence score` reaching both execution paths."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import shutil
from pathlib import Path

import pytest
import test_ekfac_files
import torch
from test_ekfac_errors import PROBES, QUIET, TextProbe, documents, tiny_llama
from test_ekfac_files import TEXTS, character_tokenizer, cli, read_scores

from attribution.ekfac import (
    FactorArguments,
    Factors,
    ScoreArguments,
    Skipped,
    Statistics,
    fit_factors,
    precondition_queries,
)
from attribution.ekfac import stages as stages_module
from attribution.ekfac.factors import FACTORS_FILE, load_tensors, save_tensors
from attribution.io import MANIFEST_FILE
from attribution.scores import load_per_nat_scores
from attribution.task import encode_document
from curate.cli import build_parser
from curate.errors import InputError
from curate.paths import RunDir
from filters import influence as influence_module
from filters.pipeline import EXECUTOR_ONLY

SMALL = ["--max-length", "64", "--threads", "1"]
run_dir = test_ekfac_files.run_dir  # the tiny run directory (model, corpus of 11 documents, 3 probes)


def copy_run(run_dir, tmp_path) -> Path:
    """A private copy of the tiny run (model, corpus, probes), so a test may change its inputs."""
    root = tmp_path / "run"
    for name in ("model", "corpus", "probes"):
        shutil.copytree(Path(run_dir) / name, root / name)
    return root


def test_scores_resume_with_their_saved_queries_and_refuse_other_inputs(run_dir, tmp_path, monkeypatch, capsys):
    root = copy_run(run_dir, tmp_path)
    paths = RunDir(root)
    run = ["--run-dir", str(root), *SMALL]
    assert cli("influence", "fit", *run) == 0
    assert cli("influence", "score", *run, "--documents-per-part", "4") == 0
    assert "memory estimate, within the budget" in capsys.readouterr().out
    whole = read_scores(paths.scores)
    assert json.loads((paths.scores / MANIFEST_FILE).read_text())["complete"] == {"documents": 11, "parts": 3}

    # killed after the first part: the rerun reuses the saved queries and scores only what is missing, identically
    for part in sorted(paths.scores.glob("part-*.parquet"))[1:]:
        part.unlink()
    monkeypatch.setattr(stages_module, "precondition_queries", lambda *a, **k: pytest.fail("queries rebuilt"))
    assert cli("influence", "score", *run, "--documents-per-part", "4") == 0
    assert "2 parts written, 1 kept" in capsys.readouterr().out
    assert read_scores(paths.scores).equals(whole)
    monkeypatch.undo()

    # another partitioning, probes file, corpus or method: refused in one line naming what differs
    changes = {"documents_per_part": ["--documents-per-part", "5"], "tasks": ["--tasks", "2"],
               "method": ["--method", "dot"], "rank": ["--rank", "4"]}
    for key, flags in changes.items():
        assert cli("influence", "score", *run, "--documents-per-part", "4", *flags) == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert "made from other inputs or settings" in error and key in error and "--overwrite" in error
    with paths.probes.open("a") as handle:
        handle.write(json.dumps({"id": "p-new", "set": "factual", "kind": "factual", "prompt": "the sea is",
                                 "completion": " wet.", "answer": "wet"}) + "\n")
    assert cli("influence", "score", *run, "--documents-per-part", "4") == 2
    assert "(probes differs)" in capsys.readouterr().err
    # with --overwrite the queries are rebuilt and every part is scored again
    assert cli("influence", "score", *run, "--documents-per-part", "4", "--overwrite") == 0
    assert "3 parts written, 0 kept" in capsys.readouterr().out
    assert "p-new" in read_scores(paths.scores).columns


def test_score_readers_check_ids_against_the_manifest(run_dir, tmp_path):
    root = copy_run(run_dir, tmp_path)
    paths = RunDir(root)
    assert cli("influence", "fit", "--run-dir", str(root), *SMALL) == 0
    assert cli("influence", "score", "--run-dir", str(root), *SMALL, "--documents-per-part", "4") == 0
    scores, _ = load_per_nat_scores(paths.scores)
    assert scores.height == 11
    parts = sorted(paths.scores.glob("part-*.parquet"))
    shutil.copy(parts[0], paths.scores / "part-00009.parquet")  # a stray part of another run
    with pytest.raises(InputError, match="15 rows, but the finished scores held 11 documents"):
        load_per_nat_scores(paths.scores)
    manifest = json.loads((paths.scores / MANIFEST_FILE).read_text())
    (paths.scores / MANIFEST_FILE).write_text(json.dumps({"made_from": manifest["made_from"]}))
    with pytest.raises(InputError, match="scoring has not finished"):
        load_per_nat_scores(paths.scores)
    (paths.scores / MANIFEST_FILE).unlink()  # scores from elsewhere, without a manifest: ids are still checked
    with pytest.raises(InputError, match="has more than one row"):
        load_per_nat_scores(paths.scores)

    # a corpus that repeats an id is refused when the scores are finished, not by a later reader
    with (paths.corpus / "part-0.jsonl").open("a") as handle:
        handle.write(json.dumps({"id": "doc1-0", "text": "the same id again"}) + "\n")
    assert cli("influence", "score", "--run-dir", str(root), *SMALL, "--out", str(tmp_path / "again")) == 2


def test_factors_refuse_other_inputs_and_are_not_silently_kept(run_dir, tmp_path, capsys):
    root = copy_run(run_dir, tmp_path)
    run = ["influence", "fit", "--run-dir", str(root), *SMALL]
    assert cli(*run) == 0
    assert cli(*run) == 0
    assert "already fitted" in capsys.readouterr().out
    assert cli(*run, "--fisher", "empirical") == 2  # before: "already fitted", exit 0, the true-Fisher factors
    assert "fisher differ" in capsys.readouterr().err
    (RunDir(root).factors / FACTORS_FILE).unlink()  # as if killed after the covariance sums
    assert cli(*run, "--documents", "5") == 2
    assert "max_documents differ" in capsys.readouterr().err
    assert cli(*run, "--documents", "5", "--overwrite") == 0
    assert Factors.load(RunDir(root).factors).header["covariance_documents"] == 5


def test_the_fingerprint_covers_the_tracked_layers_and_the_format_is_checked(tmp_path):
    model = tiny_llama()
    factors = fit_factors(model, None, documents(), FactorArguments(batch_size=4, **QUIET))
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight.mul_(1.5)  # a tracked layer, and nothing else, changed
    with pytest.raises(InputError, match="fitted on another model"):
        precondition_queries(model, None, PROBES, factors, ScoreArguments(**QUIET))

    factors.save(tmp_path)
    tensors, header = load_tensors(tmp_path / FACTORS_FILE)
    save_tensors(tensors, tmp_path / FACTORS_FILE, {**header, "version": 1})
    with pytest.raises(InputError, match="version 1.*refit them with `curate influence fit --overwrite`"):
        Factors.load(tmp_path)
    (tmp_path / FACTORS_FILE).write_bytes((tmp_path / "factors.json").read_bytes())
    with pytest.raises(InputError, match="is cut short or corrupt"):
        Factors.load(tmp_path)
    with pytest.raises(InputError, match="is cut short or corrupt"):
        Statistics.load(tmp_path / "factors.json")


def test_scoring_memory_is_held_to_the_budget(run_dir, tmp_path, capsys):
    out = tmp_path / "scores"
    assert cli("influence", "score", "--run-dir", str(run_dir), *SMALL, "--method", "dot", "--out", str(out),
               "--memory-budget", "0.1") == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: building the queries would need about 0.7 GB (runtime 0.70")
    assert "memory budget is 0.1 GB (--memory-budget)" in error and "--rank, --batch-size or --max-length" in error
    assert not list(out.glob("part-*"))


def test_full_queries_are_built_only_within_the_budget(run_dir):
    from attribution.ekfac.scoring import Scorer, score_documents
    from attribution.model import load_causal_lm

    model, tokenizer = load_causal_lm(RunDir(run_dir).model)
    probes = [TextProbe(f"p{i}", "2 + 2 =", f" {i}.") for i in range(3)]
    queries = precondition_queries(model, tokenizer, probes, None, ScoreArguments(method="dot", max_length=64, **QUIET))
    unbounded, bounded = Scorer(model, queries), Scorer(model, queries, materialise_limit=0)
    assert unbounded.gradient_layers and not bounded.gradient_layers
    texts = TEXTS * 2
    expected = score_documents(model, tokenizer, texts, queries, scorer=unbounded).scores
    torch.testing.assert_close(score_documents(model, tokenizer, texts, queries, scorer=bounded).scores, expected,
                               rtol=1e-4, atol=1e-6)
    assert not bounded.materialised


def test_huge_documents_are_tokenised_in_bounded_prefixes():
    tokenizer, lengths = character_tokenizer(), []

    class Recording:
        bos_token_id = tokenizer.bos_token_id

        def __call__(self, text, **kwargs):
            lengths.append(len(text))
            return tokenizer(text, **kwargs)

    huge = "7 * 3 = 21. rivers flow to the sea. " * 150_000  # 5.4 MB
    encoded = encode_document(Recording(), huge, max_length=64)
    assert max(lengths) <= 64 * 32 and len(encoded.input_ids) == 64
    assert encoded.input_ids == [tokenizer.bos_token_id, *tokenizer(huge[:200], add_special_tokens=False)["input_ids"]][:64]
    for text in [*TEXTS, "x" * 5000, "word " * 1000]:  # whatever fits the first bound is tokenised whole, as before
        whole = [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]][:64]
        assert encode_document(tokenizer, text, max_length=64).input_ids == whole


# ---------------------------------------------------------------------------------------------------------
# Every flag reaches both execution paths (one process, and --tasks N), or the command refuses it


# each command's two library calls, one process and --tasks, patched where they live (commands import them in run)
LIBRARY = {"fit": ((stages_module, "fit_factors_stage"), (influence_module, "fit_factors_on_tasks")),
           "score": ((stages_module, "score_stage"), (influence_module, "score_on_tasks"))}
ONLY_ONE_PROCESS = {"--shard", "--merge"}  # the manual sharding steps: --tasks runs them itself
PARAMETERS = {"model": "model_path", "probes": "probes_path", "factors": "factors_path", "merge": "merge_only"}


def flags(command: str) -> list[argparse.Action]:
    """The command's flags, less `--index`: it selects a third path, scoring from a gradient store, which
    tests/test_store_files.py covers (and which refuses --tasks with one line)."""
    influence = build_parser("influence")._subparsers._group_actions[0].choices["influence"]
    parser = influence._subparsers._group_actions[0].choices[command]
    return [a for a in parser._actions if a.option_strings and a.dest not in ("help", "tasks", "num_shards", "index")]


def other_value(action: argparse.Action, tmp_path: Path) -> tuple[list[str], object]:
    """Command-line words that set `action` to a value other than its default, and that value."""
    flag = action.option_strings[0]
    if isinstance(action, argparse.BooleanOptionalAction):
        return ([f"--no-{flag[2:]}"] if action.default else [flag]), not action.default
    if action.nargs == 0:
        return [flag], True
    if action.choices:
        value = next(c for c in action.choices if c != action.default)
    elif action.type is Path:
        value = tmp_path / action.dest
    elif action.type is int:
        value = 3
    elif action.type is float:
        value = 2.5
    else:
        value = "elsewhere"
    return [flag, str(value)], [value] if action.nargs == "+" else value


def reached(call: dict) -> set[tuple[str, object]]:
    """(name, value) of every argument the library call got, dataclass fields included."""
    found = set()
    for name, value in call.items():
        if dataclasses.is_dataclass(value):
            found |= {(f.name, repr(getattr(value, f.name))) for f in dataclasses.fields(value)}
            if hasattr(value, "path"):
                found.add(("corpus", repr(value.path)))
        found.add((name, repr(value)))
    return found


@pytest.mark.parametrize("tasks", [False, True], ids=["one-process", "tasks"])
@pytest.mark.parametrize("command", list(LIBRARY))
def test_every_flag_reaches_both_paths_or_is_refused(command, tasks, tmp_path, monkeypatch, capsys):
    (_, single), (_, on_tasks) = LIBRARY[command]
    calls = []

    def recorder(name):
        def record(*args, **kwargs):
            calls.append((name, inspect.signature(original[name]).bind(*args, **kwargs).arguments))
            if command == "fit":
                return Statistics("covariance", {})
            return {"documents": 0, "parts": 0} if name == on_tasks else {
                "documents_scored": 0, "probes": 0, "seconds": 0.0, "parts_written": 0, "parts_kept": 0,
                "skipped": Skipped()}

        return record

    original = {name: getattr(module, name) for module, name in LIBRARY[command]}
    for module, name in LIBRARY[command]:
        monkeypatch.setattr(module, name, recorder(name))
    base = ["influence", command, "--run-dir", str(tmp_path / "run")] + (["--tasks", "2"] if tasks else [])
    for action in flags(command):
        words, value = other_value(action, tmp_path)
        if action.dest == "shard":
            words += ["--num-shards", "4"]
        if tasks and action.dest in EXECUTOR_ONLY:  # a Slurm or Ray setting, given with its executor
            words += ["--executor", EXECUTOR_ONLY[action.dest][0]]
        calls.clear()
        code = cli(*base, *words)
        flag = action.option_strings[0]
        if code == 2:  # refused: a flag of the other path
            refused = flag in ONLY_ONE_PROCESS if tasks else action.container.title == "executor (with --tasks)" \
                or flag == "--workers"
            assert refused, f"{command} {' '.join(words)} refused: {capsys.readouterr().err}"
            assert capsys.readouterr().err.count("\n") == 1
            continue
        assert code == 0 and len(calls) == 1, f"{command} {' '.join(words)}: exit {code}"
        name, call = calls[0]
        assert name == (on_tasks if tasks else single)
        if action.dest == "run_dir":  # the default of every path: here the output's
            value = value / ("factors" if command == "fit" else "scores")
        expected = {"exact": ("rank", "None"), "shard": ("shard", repr((3, 4))), "run_dir": ("out", repr(value))}
        expected = expected.get(action.dest, (PARAMETERS.get(action.dest, action.dest), repr(value)))
        assert expected in reached(call), f"{command} {' '.join(words)} did not reach {name}"


def test_both_paths_agree_with_every_setting_changed(run_dir, tmp_path):
    """One real run per path at tiny size, every result-changing flag away from its default."""
    root = copy_run(run_dir, tmp_path)
    shard = root / "corpus" / "part-1.jsonl"
    shard.write_text('{"id": "bad", "text": 5}\n' + shard.read_text())  # among the first 7 records: fitted on
    common = ["--run-dir", str(root), "--max-length", "32", "--batch-size", "3", "--threads", "1", "--device", "cpu",
              "--skip-bad-records"]
    fit = ["influence", "fit", *common, "--documents", "7", "--fisher", "empirical", "--seed", "3",
           "--modules", r"mlp\.(up|down)_proj"]
    one, tasks = tmp_path / "factors", tmp_path / "factors-tasks"
    assert cli(*fit, "--out", str(one)) == 0
    assert cli(*fit, "--out", str(tasks), "--tasks", "2") == 0
    expected, got = Factors.load(one), Factors.load(tasks)
    assert got.header == expected.header and expected.header["covariance_documents"] == 7
    for name, layer in expected.layers.items():
        torch.testing.assert_close(got.layers[name].corrected_eigenvalues, layer.corrected_eigenvalues,
                                   rtol=1e-4, atol=1e-8)

    score = ["influence", "score", *common, "--factors", str(one), "--method", "cosine", "--rank", "4", "--documents-per-part", "3",
             "--memory-budget", "4"]
    assert cli(*score, "--out", str(tmp_path / "scores")) == 0
    assert cli(*score, "--out", str(tmp_path / "scores-tasks"), "--tasks", "2") == 0
    single, sharded = read_scores(tmp_path / "scores"), read_scores(tmp_path / "scores-tasks")
    assert sorted(p.name for p in (tmp_path / "scores-tasks").glob("part-*")) == [
        "part-00000-00000.parquet", "part-00000-00001.parquet", "part-00001-00000.parquet", "part-00001-00001.parquet"]
    assert single["doc_id"].to_list() == sharded["doc_id"].to_list() and single.height == 11
    for probe in ("p-sum", "p-fact", "p-ctrl"):
        assert sharded[probe].to_list() == pytest.approx(single[probe].to_list(), rel=1e-4, abs=1e-6)
    for out in (one, tasks, tmp_path / "scores", tmp_path / "scores-tasks"):  # each path counts the bad record once
        assert len((out / "bad_records.jsonl").read_text().splitlines()) == 1


def test_the_default_budget_leaves_out_memory_other_processes_hold(monkeypatch):
    from attribution.ekfac import memory

    total = memory.device_memory("cpu")
    monkeypatch.setattr(memory, "_available_now", lambda: 2 * 10**9)
    assert memory.device_memory("cpu") == min(total, 2 * 10**9)
    assert memory.default_budget("cpu", processes=2) == pytest.approx(0.8 * min(total, 2e9) / 2 / 1e9)
    monkeypatch.setattr(memory, "_available_now", lambda: None)  # no /proc/meminfo: the total
    assert memory.device_memory("cpu") >= total


def test_fit_factors_prints_its_plan_and_the_disk_estimate_holds(run_dir, tmp_path, capsys):
    root = copy_run(run_dir, tmp_path)
    assert cli("influence", "fit", "--run-dir", str(root), *SMALL) == 0
    plan = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("factors plan:"))
    estimate = float(plan.rsplit("disk about ", 1)[1].split(" MB")[0]) * 1e6
    written = sum(path.stat().st_size for path in RunDir(root).factors.glob("*.safetensors"))
    assert abs(estimate - written) <= 0.2 * written, (plan, written)
