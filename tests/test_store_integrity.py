"""A gradient store's files on disk: shards carry a checksum, and a damaged, cut short or foreign shard is refused
in one line by every command that reads it (`score --index`, `search`, an `index` resume); factors of another
model are refused before the store is built; the files follow the umask like the JSON beside them."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from test_ekfac_files import cli, read_scores
from test_ekfac_files import run_dir as run_dir  # noqa: F401 (the module-scoped fixture)

from curate.paths import RunDir

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["--max-length", "64", "--batch-size", "4"]


@pytest.fixture(scope="module")
def fitted_run(run_dir):  # noqa: F811
    assert cli("influence", "fit", "--run-dir", str(run_dir), *SHORT) == 0
    return run_dir


@pytest.fixture
def store(fitted_run, tmp_path):
    """A whole store of 3 shards (4, 4 and 3 documents), int2 as by default."""
    out = tmp_path / "store"
    assert cli("influence", "index", "--run-dir", str(fitted_run), "--out", str(out), *SHORT, "--documents-per-shard", "4") == 0
    return out


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def readers(run, store: Path, out: Path) -> dict[str, list[str]]:
    """Each command that reads a store's shards, as arguments to `cli`."""
    return {
        "score --index": ["influence", "score", "--run-dir", str(run), "--max-length", "64", "--index", str(store), "--out", str(out)],
        "search": ["influence", "search", "--run-dir", str(run), "--index", str(store), "--probe", "p-sum"],
        "index resume": ["influence", "index", "--run-dir", str(run), "--out", str(store), *SHORT, "--documents-per-shard", "4"],
    }


def payload_start(path: Path) -> int:
    """Where a safetensors file's tensor bytes begin (after its 8-byte length and JSON header)."""
    return 8 + int.from_bytes(path.read_bytes()[:8], "little")


def flip_bytes(path: Path, count: int, seed: int) -> None:
    data = bytearray(path.read_bytes())
    start = payload_start(path)
    offset = random.Random(seed).randrange(start, max(start + 1, len(data) - count))
    for position in range(offset, min(offset + count, len(data))):
        data[position] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {  # how a shard is damaged -> what the one line says about it
    "4 KB of bytes flipped": (lambda path: flip_bytes(path, 4096, seed=3), "its bytes changed since it was written"),
    "one byte flipped": (lambda path: flip_bytes(path, 1, seed=5), "its bytes changed since it was written"),
    "cut short": (lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]), "is cut short or corrupt"),
    "garbage": (lambda path: path.write_bytes(os.urandom(3000)), "is cut short or corrupt"),
    "empty": (lambda path: path.write_bytes(b""), "is cut short or corrupt"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_shard_is_refused_in_one_line_by_every_reader(fitted_run, store, tmp_path, capsys, damage):
    harm, message = DAMAGE[damage]
    shard = sorted(store.glob("shard-*.safetensors"))[1]
    harm(shard)
    for name, args in readers(fitted_run, store, tmp_path / "scores").items():
        capsys.readouterr()
        assert cli(*args) == 2, name
        errors = error_lines(capsys.readouterr().err)
        assert len(errors) == 1 and str(shard) in errors[0] and message in errors[0], (name, errors)
        assert "Traceback" not in errors[0]
    manifest = tmp_path / "scores" / "manifest.json"  # the scores written before the shard are not taken as whole
    assert "complete" not in json.loads(manifest.read_text())


def test_a_resume_keeps_whole_shards_and_a_deleted_damaged_one_is_rebuilt(fitted_run, store, tmp_path, capsys):
    shards = sorted(store.glob("shard-*.safetensors"))
    whole = {path.name: path.read_bytes() for path in shards}
    flip_bytes(shards[2], 64, seed=1)
    assert cli(*readers(fitted_run, store, tmp_path)["index resume"]) == 2
    shards[2].unlink()  # as the one line says
    capsys.readouterr()
    assert cli(*readers(fitted_run, store, tmp_path)["index resume"]) == 0
    assert "1 shards written, 2 kept from an earlier run" in capsys.readouterr().out
    assert {path.name: path.read_bytes() for path in sorted(store.glob("shard-*"))} == whole


def test_shards_written_without_a_checksum_still_score_the_same(fitted_run, store, tmp_path):
    assert cli(*readers(fitted_run, store, tmp_path / "with")[("score --index")]) == 0
    for shard in store.glob("shard-*.safetensors"):
        with safe_open(str(shard), framework="pt") as handle:
            metadata = handle.metadata()
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        header = json.loads(metadata["header"])
        assert header.pop("checksum").startswith("crc32:")
        save_file(tensors, str(shard), {"header": json.dumps(header)})  # as an earlier version wrote it
    assert cli(*readers(fitted_run, store, tmp_path / "without")[("score --index")]) == 0
    assert read_scores(tmp_path / "without").equals(read_scores(tmp_path / "with"))


def test_index_refuses_factors_of_another_model_before_building_anything(fitted_run, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    other = tmp_path / "other-model"
    model = AutoModelForCausalLM.from_pretrained(RunDir(fitted_run).model)
    with torch.no_grad():
        model.lm_head.weight.mul_(1.5)
    model.save_pretrained(other)
    AutoTokenizer.from_pretrained(RunDir(fitted_run).model).save_pretrained(other)
    out = tmp_path / "store"
    for compression in ("eigen", "whitened", "logra"):  # logra takes the factors' layers when they exist
        capsys.readouterr()
        assert cli("influence", "index", "--run-dir", str(fitted_run), "--out", str(out), *SHORT, "--compression", compression,
                   "--model", str(other)) == 2
        errors = error_lines(capsys.readouterr().err)
        assert len(errors) == 1 and "fitted on another model" in errors[0], errors
        assert not out.exists() or not list(out.iterdir())
    # with its own layers, logra needs no factors: the other model is indexed
    assert cli("influence", "index", "--run-dir", str(fitted_run), "--out", str(out), *SHORT, "--compression", "logra",
               "--model", str(other), "--modules", "mlp") == 0


def test_a_changed_rerun_names_the_store_in_a_sentence(fitted_run, store, capsys):
    capsys.readouterr()
    assert cli(*readers(fitted_run, store, store)["index resume"], "--seed", "1") == 2
    errors = error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and f"{store} holds a gradient store made from other inputs" in errors[0], errors


def test_store_and_factor_files_follow_the_umask_like_the_json_beside_them(fitted_run, tmp_path):
    previous = os.umask(0o027)
    try:
        assert cli("influence", "index", "--run-dir", str(fitted_run), "--out", str(tmp_path / "store"), *SHORT) == 0
        assert cli("influence", "fit", "--run-dir", str(fitted_run), *SHORT, "--out", str(tmp_path / "factors")) == 0
    finally:
        os.umask(previous)
    files = [*(tmp_path / "store").iterdir(), *(tmp_path / "factors").iterdir()]
    modes = {path.name: oct(path.stat().st_mode & 0o777) for path in files if path.is_file()}
    assert any(name.endswith(".safetensors") for name in modes) and any(name.endswith(".json") for name in modes)
    assert set(modes.values()) == {oct(0o640)}, modes


def test_search_prints_no_faiss_loading_message(fitted_run, store):
    # a fresh process: faiss logs which instructions it loaded only when first imported
    done = subprocess.run([sys.executable, "-m", "curate.cli", *readers(fitted_run, store, store)["search"],
                           "--top-k", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "faiss" not in done.stderr.lower(), done.stderr
    assert json.dumps("doc")[1:-1] in done.stdout
