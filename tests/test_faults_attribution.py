"""Fault injection for `curate influence fit`, `curate influence score` and `curate influence index`: `kill -9` at a seeded random
point while their files appear, then a resume that must equal an uninterrupted run bit for bit (for a store, byte
for byte); reruns with changed arguments, which must be refused; corrupt files, which must give one line and no
traceback."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import test_ekfac_files
import torch
from safetensors.torch import load_file
from test_ekfac_files import TEXTS, cli
from transformers import AutoModelForCausalLM

from curate.paths import RunDir

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--max-length", "32", "--batch-size", "4", "--threads", "1"]
run_dir = test_ekfac_files.run_dir  # the tiny run directory: its model and probes


@pytest.fixture(scope="module")
def big_run(run_dir, tmp_path_factory):
    """The tiny model and probes with a corpus of 480 documents in 8 files, long enough to be killed mid-way."""
    root = tmp_path_factory.mktemp("faults")
    for name in ("model", "probes"):
        shutil.copytree(Path(run_dir) / name, root / name)
    (root / "corpus").mkdir()
    for shard in range(8):
        lines = [json.dumps({"id": f"d{shard}-{i}", "text": f"{TEXTS[(shard + i) % len(TEXTS)]} {i}"}) for i in range(60)]
        (root / "corpus" / f"part-{shard}.jsonl").write_text("\n".join(lines) + "\n")
    return root


def killed(args: list[str], watch: Path, pattern: str, rng: random.Random) -> None:
    """Run `curate ARGS`, and once a file matching `pattern` appears under `watch`, wait a random moment and
    kill -9 it with any process it started."""
    process = subprocess.Popen([sys.executable, "-m", "curate.cli", *args], cwd=ROOT, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(watch.glob(pattern)) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.1))
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"


def same_files(expected: Path, got: Path, pattern: str) -> None:
    names = sorted(p.relative_to(expected) for p in expected.glob(pattern))
    assert names and names == sorted(p.relative_to(got) for p in got.glob(pattern))
    for name in names:
        if name.suffix == ".parquet":
            assert pl.read_parquet(got / name).equals(pl.read_parquet(expected / name)), name
        elif name.suffix == ".safetensors":
            want, have = load_file(expected / name), load_file(got / name)
            assert want.keys() == have.keys() and all(torch.equal(want[k], have[k]) for k in want), name
        else:
            assert (got / name).read_bytes() == (expected / name).read_bytes(), name


@pytest.mark.parametrize("tasks", [[], ["--tasks", "3"]], ids=["one-process", "tasks"])
def test_killed_fit_factors_resumes_bit_identically(big_run, tmp_path, tasks, one_thread):
    fit = ["influence", "fit", "--run-dir", str(big_run), *SMALL, *tasks]
    assert cli(*fit, "--out", str(tmp_path / "whole")) == 0
    out = tmp_path / "killed"
    killed([*fit, "--out", str(out)], out, "partial/*.safetensors" if tasks else "covariance.safetensors",
           random.Random(7 + len(tasks)))
    assert not (out / "factors.safetensors").exists()
    assert cli(*fit, "--out", str(out)) == 0
    same_files(tmp_path / "whole", out, "factors.*")


@pytest.mark.parametrize("tasks", [[], ["--tasks", "3"]], ids=["one-process", "tasks"])
def test_killed_score_resumes_bit_identically(big_run, tmp_path, tasks, one_thread):
    factors = tmp_path / "factors"
    assert cli("influence", "fit", "--run-dir", str(big_run), *SMALL, "--out", str(factors), "--documents", "40") == 0
    score = ["influence", "score", "--run-dir", str(big_run), *SMALL, "--factors", str(factors), "--documents-per-part", "8", *tasks]
    assert cli(*score, "--out", str(tmp_path / "whole")) == 0
    out = tmp_path / "killed"
    killed([*score, "--out", str(out)], out, "part-*.parquet", random.Random(11 + len(tasks)))
    done = {part: part.stat().st_mtime_ns for part in out.glob("part-*.parquet")}
    assert 0 < len(done) < len(list((tmp_path / "whole").glob("part-*.parquet")))
    assert cli(*score, "--out", str(out)) == 0
    assert all(part.stat().st_mtime_ns == mtime for part, mtime in done.items())  # kept, not scored again
    same_files(tmp_path / "whole", out, "part-*.parquet")
    same_files(tmp_path / "whole", out, "*.json")  # probes.json, and the manifest with its count of documents


def one_line_error(capsys) -> str:
    """The one line the CLI printed for a refusal (other stderr output is logging and progress bars)."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and lines[-1].startswith("error: ") and "Traceback" not in "\n".join(lines)
    return lines[-1]


@pytest.fixture
def finished(big_run, tmp_path):
    """A private copy of the run with factors and scores (8 parts), as a user has them after two commands."""
    root = tmp_path / "run"
    shutil.copytree(big_run, root)
    run = ["--run-dir", str(root), *SMALL]
    assert cli("influence", "fit", *run, "--documents", "40") == 0
    assert cli("influence", "score", *run, "--documents-per-part", "60") == 0
    return root


CHANGED = {  # rerun of a finished output with one thing changed -> the key the refusal names
    "score --documents-per-part": (["influence", "score", "--documents-per-part", "50"], "documents_per_part"),
    "score --tasks": (["influence", "score", "--documents-per-part", "60", "--tasks", "2"], "tasks"),
    "score --rank": (["influence", "score", "--documents-per-part", "60", "--rank", "8"], "rank"),
    "score, corpus changed": (["influence", "score", "--documents-per-part", "60"], "corpus"),
    "score, MLP weights changed": (["influence", "score", "--documents-per-part", "60"], "model"),
    "influence fit --fisher": (["influence", "fit", "--documents", "40", "--fisher", "empirical"], "fisher"),
    "influence fit --documents": (["influence", "fit", "--documents", "50"], "max_documents"),
    "influence fit --tasks": (["influence", "fit", "--documents", "40", "--tasks", "2"], "shares"),
}


@pytest.mark.parametrize("case", list(CHANGED))
def test_reruns_with_changed_inputs_or_arguments_are_refused(finished, case, capsys, one_thread):
    (group, action, *flags), key = CHANGED[case]
    paths = RunDir(finished)
    if "corpus" in case:
        with (paths.corpus / "part-3.jsonl").open("a") as handle:
            handle.write(json.dumps({"id": "new", "text": "a document added later"}) + "\n")
    if "MLP" in case:
        model = AutoModelForCausalLM.from_pretrained(paths.model)
        with torch.no_grad():
            model.model.layers[1].mlp.down_proj.weight.mul_(2)
        model.save_pretrained(paths.model)
    before = {p: p.stat().st_mtime_ns for p in (*paths.scores.iterdir(), *paths.factors.iterdir())}
    capsys.readouterr()
    assert cli(group, action, "--run-dir", str(finished), *SMALL, *flags) == 2
    error = one_line_error(capsys)
    assert f"{key}" in error and "--overwrite" in error, error
    assert before == {p: p.stat().st_mtime_ns for p in (*paths.scores.iterdir(), *paths.factors.iterdir())}


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


CORRUPT = {  # file cut short -> the command that meets it, and what its one line says
    "factors": ("factors/factors.safetensors", ["influence", "score", "--out", "{root}/scores-new"], "is cut short or corrupt"),
    "queries": ("scores/queries.safetensors", ["influence", "score", "--documents-per-part", "60"], "is cut short or corrupt"),
    "covariance": ("factors/covariance.safetensors", ["influence", "fit", "--documents", "40"], "cut short or corrupt"),
    "score part": ("scores/part-00001.parquet", ["influence", "score", "--documents-per-part", "60"], "is cut short or corrupt"),
    "scores manifest": ("scores/manifest.json", ["influence", "score", "--documents-per-part", "60"], "not a manifest"),
    "probes": ("probes/probes.jsonl", ["influence", "score", "--out", "{root}/scores-new"], "probes"),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_files_give_one_line(finished, case, capsys, one_thread):
    name, (group, action, *flags), message = CORRUPT[case]
    if case == "queries" or case == "score part":  # as if killed: the run resumes and meets the file
        (finished / "scores" / "part-00007.parquet").unlink()
    if case == "covariance":
        (finished / "factors" / "factors.safetensors").unlink()
    cut_short(finished / name)
    capsys.readouterr()
    flags = [flag.format(root=finished) for flag in flags]
    assert cli(group, action, "--run-dir", str(finished), *SMALL, *flags) == 2
    assert message in one_line_error(capsys)


INDEX = ["influence", "index", *SMALL, "--compression", "logra", "--dims", "4", "--documents-per-shard", "8"]


def same_bytes(expected: Path, got: Path) -> None:
    """Every file of a store (not the tasks' logs, nor a killed write's hidden temporary file) byte for byte."""
    def listed(root: Path) -> list[Path]:
        return sorted(p.relative_to(root) for p in root.glob("*") if p.is_file() and not p.name.startswith("."))
    assert listed(expected) == listed(got)
    for name in listed(expected):
        assert (got / name).read_bytes() == (expected / name).read_bytes(), name


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
@pytest.mark.parametrize("tasks", [[], ["--tasks", "3"]], ids=["one-process", "tasks"])
def test_killed_index_resumes_to_a_byte_identical_store(big_run, tmp_path, tasks, seed, one_thread):
    index = [*INDEX, "--run-dir", str(big_run), *tasks]
    assert cli(*index, "--out", str(tmp_path / "whole")) == 0
    out = tmp_path / "killed"
    killed([*index, "--out", str(out)], out, "shard-*.safetensors", random.Random(17 + 2 * seed + len(tasks)))
    done = {shard: shard.stat().st_mtime_ns for shard in out.glob("shard-*.safetensors")}
    assert 0 < len(done) < len(list((tmp_path / "whole").glob("shard-*.safetensors")))
    assert cli(*index, "--out", str(out)) == 0
    assert all(shard.stat().st_mtime_ns == mtime for shard, mtime in done.items())  # kept, not built again
    same_bytes(tmp_path / "whole", out)


@pytest.fixture
def indexed(big_run, tmp_path):
    """A whole store of the big run (60 shards), and a copy to break."""
    assert cli(*INDEX, "--run-dir", str(big_run), "--out", str(tmp_path / "whole")) == 0
    shutil.copytree(tmp_path / "whole", tmp_path / "broken")
    return tmp_path / "whole", tmp_path / "broken"


def test_index_killed_between_its_compression_and_header_resumes(big_run, indexed, one_thread):
    whole, broken = indexed
    for path in [broken / "store.json", *broken.glob("shard-*")]:  # as if killed right after the compression
        path.unlink()
    assert cli(*INDEX, "--run-dir", str(big_run), "--out", str(broken)) == 0
    same_bytes(whole, broken)


def test_index_resume_refuses_a_shard_left_damaged_in_one_line(big_run, indexed, capsys, one_thread):
    whole, broken = indexed
    shard = broken / "shard-00007.safetensors"
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0x01  # one bit of the last tensor
    shard.write_bytes(bytes(data))
    (broken / "shard-00030.safetensors").unlink()
    capsys.readouterr()
    assert cli(*INDEX, "--run-dir", str(big_run), "--out", str(broken)) == 2
    error = one_line_error(capsys)
    assert str(shard) in error and "delete it and rerun" in error
    shard.unlink()
    assert cli(*INDEX, "--run-dir", str(big_run), "--out", str(broken)) == 0
    same_bytes(whole, broken)


@pytest.mark.parametrize("command", [["influence", "fit", "--documents", "20"], ["influence", "score", "--method", "dot"],
                                     ["influence", "index", "--compression", "logra"]], ids=lambda c: c[1])
def test_an_output_inside_the_corpus_is_refused_before_anything_is_written(big_run, command, tmp_path, capsys,
                                                                           one_thread):
    corpus = tmp_path / "corpus"
    shutil.copytree(big_run / "corpus", corpus)
    before = sorted(corpus.rglob("*"))
    out = corpus / "out"
    capsys.readouterr()
    assert cli(*command, "--run-dir", str(big_run), *SMALL, "--corpus", str(corpus), "--out", str(out)) == 2
    assert "is inside the corpus" in one_line_error(capsys)
    assert sorted(corpus.rglob("*")) == before


def test_reading_a_folder_that_holds_no_store_says_so(big_run, tmp_path, capsys, one_thread):
    for command in (["influence", "score", *SMALL, "--out", str(tmp_path / "s")], ["influence", "search", "--probe", "p-sum"]):
        capsys.readouterr()
        assert cli(*command, "--run-dir", str(big_run), "--index", str(big_run / "corpus")) == 2
        assert f"no gradient store at {big_run / 'corpus'}" in one_line_error(capsys)


@pytest.mark.parametrize("command", [["influence", "fit"], ["influence", "score", "--method", "dot"], ["influence", "index", "--compression", "logra"]],
                         ids=lambda c: c[1])
def test_an_out_that_is_a_file_is_one_line(big_run, command, tmp_path, capsys, one_thread):
    out = tmp_path / "a-file"
    out.write_text("mine\n")
    capsys.readouterr()
    assert cli(*command, "--run-dir", str(big_run), *SMALL, "--out", str(out)) == 2
    assert f"--out {out} is a file, not a folder" in one_line_error(capsys)
    assert out.read_text() == "mine\n"
