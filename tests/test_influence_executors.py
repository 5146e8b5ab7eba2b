"""Factor fitting and scoring as datatrove tasks on a local Ray instance give what one process gives."""

import pytest
import torch
from test_ekfac_files import read_scores, run_dir  # noqa: F401  (run_dir: the tiny run directory fixture)

from attribution.ekfac import Factors
from curate.cli import main

SMALL = ["--batch-size", "4", "--max-length", "64", "--threads", "1"]
RAY = ["--executor", "ray", "--tasks", "2", "--workers", "2", "--cpus-per-task", "1", "--mem-per-cpu-gb", "0.25"]


@pytest.fixture(scope="module")
def local_ray():
    """One Ray instance for every run here (the commands leave a running instance alone)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def test_fit_factors_and_score_on_ray_equal_one_process(run_dir, local_ray, tmp_path):  # noqa: F811
    run = ["--run-dir", str(run_dir), *SMALL]
    one, on_ray = tmp_path / "factors", tmp_path / "factors-ray"
    assert main(["influence", "fit", *run, "--out", str(one)]) == 0
    assert main(["influence", "fit", *run, "--out", str(on_ray), *RAY]) == 0
    assert sorted(p.name for p in (on_ray / "partial").iterdir()) == [
        f"{stage}-{rank:05d}-of-00002.safetensors" for stage in ("covariance", "lambda") for rank in (0, 1)
    ]
    expected, got = Factors.load(one), Factors.load(on_ray)
    assert got.header == expected.header
    for name, layer in expected.layers.items():
        torch.testing.assert_close(got.layers[name].corrected_eigenvalues, layer.corrected_eigenvalues,
                                   rtol=1e-4, atol=1e-8)

    scored = ["influence", "score", *run, "--factors", str(one)]
    assert main([*scored, "--out", str(tmp_path / "scores")]) == 0
    assert main([*scored, "--out", str(tmp_path / "scores-ray"), *RAY]) == 0
    single, tasks = read_scores(tmp_path / "scores"), read_scores(tmp_path / "scores-ray")
    assert len(list((tmp_path / "scores-ray").glob("part-*.parquet"))) == 2
    assert tasks["doc_id"].to_list() == single["doc_id"].to_list()
    for probe in ("p-sum", "p-fact", "p-ctrl"):
        assert tasks[probe].to_list() == pytest.approx(single[probe].to_list(), rel=1e-4, abs=1e-6)
    assert tasks.schema == single.schema and tasks.height == 11
