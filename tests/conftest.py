from curate.openmp import set_openmp_waiting

set_openmp_waiting(enabled=True)  # before torch loads OpenMP: the suite's many small regions run faster

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture
def tiny_texts() -> list[str]:
    """A small corpus with structure a tiny LM can learn within a few dozen steps."""
    lines = []
    for i in range(300):
        a, b = i % 17 + 3, i % 11 + 2
        lines.append(f"Step 1: add {a} and {b}. {a} + {b} = {a + b}. The answer is {a + b}.")
    return lines


TINY_TRAIN = dict(seq_len=32, batch_size=8, steps=60, lr=1e-2, warmup_steps=5, eval_every=60, vocab_size=300)


def write_scores(directory, doc_ids, values) -> None:
    """A score directory in the `curate influence score` format, two probes with the same scores."""
    import json

    import polars as pl

    directory.mkdir(parents=True)
    frame = {"doc_id": doc_ids, "doc_grad_norm": [1.0] * len(doc_ids), "p0": values, "p1": values}
    pl.DataFrame(frame).write_parquet(directory / "part-00000.parquet")
    meta = {"probes": [{"id": p, "nats": 1.0, "gradient_norm": 1.0} for p in ("p0", "p1")]}
    (directory / "probes.json").write_text(json.dumps(meta))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A whole run small enough to retrain in seconds: 'zebra' documents are the only ones that teach the
    probes' completion; 'filler' documents teach nothing about it. Scores: an oracle (EK-FAC slot) that
    ranks the zebra documents first, and a seeded random ranking. A classifier file that knows zebras."""
    import zlib

    from datatrove.data import Document

    from curate.classify import ProceduralClassifier
    from curate.corpus.io import write_documents
    from curate.corpus.split import is_heldout
    from curate.lm.config import ModelConfig, TrainConfig
    from curate.lm.train import save, train_lm
    from curate.paths import RunDir
    from curate.probes.sets import Probe, write_probes

    run = RunDir(tmp_path_factory.mktemp("run"))
    config, model = TrainConfig(**TINY_TRAIN), ModelConfig(n_layers=1, hidden=32, mlp=64, heads=2, max_len=64)
    docs = [
        Document(text=f"the secret word is zebra {i % 3}. zebra means stripes.", id=f"z{i}",
                 metadata={"task": "arithmetic"})  # ground truth, as the synthetic corpus writes it
        for i in range(60)
    ]
    docs += [
        Document(text=f"a quiet day number {i} in the small town by the river.", id=f"f{i}",
                 metadata={"task": "story"})
        for i in range(240)
    ]
    write_documents(docs, run.corpus)
    heldout = [is_heldout(d.id, config.eval_fraction, config.seed) for d in docs]
    train = [d.text for d, h in zip(docs, heldout, strict=True) if not h]
    result = train_lm(
        train, [d.text for d, h in zip(docs, heldout, strict=True) if h], model, config, progress=False
    )
    save(result, run.model, model, config)
    probe = ("the secret word is", " zebra. zebra means stripes.")
    write_probes([Probe(f"p{i}", "arithmetic", "reasoning", *probe, "x") for i in range(2)], run.probes)
    ids = [d.id for d in docs]
    write_scores(run.scores_for("ekfac"), ids, [1.0 if i.startswith("z") else 0.0 for i in ids])
    write_scores(run.scores_for("random"), ids, [zlib.crc32(i.encode()) / 2**32 for i in ids])
    labels = [int(i.startswith("z")) for i in ids]
    ProceduralClassifier(n_features=2**10).fit([d.text for d in docs], labels).save(run.classifier_file)
    return run


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread, and many times faster than on two when the CPU is shared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def loguru_to_real_stderr():
    """datatrove's loggers bind loguru to `sys.stderr` as it is when a pipeline runs; under pytest that is a
    capture stream, closed after its test. Point loguru back at the real stderr after every test."""
    yield
    import sys

    from loguru import logger

    logger.remove()
    logger.add(sys.__stderr__)
