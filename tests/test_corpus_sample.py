"""A corpus sample is uniform, seeded, disjoint from an excluded corpus, and refuses to draw more than exist."""

import pytest

from curate.corpus.io import read_documents
from curate.corpus.sample import SampleArguments, sample_corpus
from curate.errors import InputError
from curate.world.corpus import SynthArguments, write_synthetic_corpus


def test_sample_is_seeded_and_disjoint_from_excluded(tmp_path):
    write_synthetic_corpus(SynthArguments(out=tmp_path / "corpus", n_docs=200, docs_per_shard=50))
    first = SampleArguments(corpus=tmp_path / "corpus", out=tmp_path / "a", n=40, seed=1)
    assert sample_corpus(first) == 40
    again = sample_corpus(SampleArguments(corpus=tmp_path / "corpus", out=tmp_path / "b", n=40, seed=1))
    ids = lambda path: [d.id for d in read_documents(path)]  # noqa: E731
    assert again == 40 and ids(tmp_path / "a") == ids(tmp_path / "b")
    sample_corpus(SampleArguments(corpus=tmp_path / "corpus", out=tmp_path / "c", n=40, seed=2, exclude=tmp_path / "a"))
    assert not set(ids(tmp_path / "a")) & set(ids(tmp_path / "c"))
    # draws from every shard, not only the first ones
    assert max(int(i.split("-")[-1]) for i in ids(tmp_path / "a")) > 150
    with pytest.raises(InputError, match="cannot sample 500"):
        sample_corpus(SampleArguments(corpus=tmp_path / "corpus", out=tmp_path / "d", n=500))


@pytest.fixture
def corpus(tmp_path):
    write_synthetic_corpus(SynthArguments(out=tmp_path / "corpus", n_docs=60, docs_per_shard=20))
    return tmp_path / "corpus"


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--documents", "-1"], "--documents must be at least 1, got -1"),
     (["--documents", "0"], "--documents must be at least 1, got 0"),
     (["--documents-per-shard", "0"], "--documents-per-shard must be at least 1, got 0"),
     (["--corpus", None], "give the corpus to sample from: --corpus DIR"),
     (["--out", None], "give the output directory: --out DIR"),
     (["--out", "{corpus}"], "overlap"), (["--out", "{corpus}/sample"], "overlap")],
)
def test_cli_mistakes_are_one_line(corpus, tmp_path, capsys, argv, message):
    from curate.cli import main

    given = {"--corpus": str(corpus), "--out": str(tmp_path / "s"), "--documents": "5"}
    flag, value = argv
    given[flag] = value.format(corpus=corpus) if value else None
    assert main(["corpus", "sample", *(a for k, v in given.items() if v is not None for a in (k, v))]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "s").exists() and not (tmp_path / "None").exists()


def test_a_smaller_sample_never_leaves_the_larger_ones_shards_behind(corpus, tmp_path):
    out = tmp_path / "s"
    assert sample_corpus(SampleArguments(corpus=corpus, out=out, n=6, docs_per_shard=2)) == 6
    with pytest.raises(InputError, match="already holds corpus shards; pass --overwrite"):
        sample_corpus(SampleArguments(corpus=corpus, out=out, n=2, docs_per_shard=2))
    assert len(list(read_documents(out))) == 6
    assert sample_corpus(SampleArguments(corpus=corpus, out=out, n=2, docs_per_shard=2, overwrite=True)) == 2
    assert len(list(read_documents(out))) == 2 and len(list(out.glob("part-*"))) == 1


def test_even_allocation_gives_small_groups_all_they_have_and_shares_the_rest():
    from curate.corpus.sample import even_allocation

    assert even_allocation({"a": 100, "b": 100, "c": 100}, 30) == {"a": 10, "b": 10, "c": 10}
    assert even_allocation({"a": 100, "b": 3, "c": 100}, 30) == {"a": 14, "b": 3, "c": 13}
    assert even_allocation({"a": 2, "b": 3}, 5) == {"a": 2, "b": 3}
    assert even_allocation({"a": 5, "b": 5, "c": 5}, 1) == {"a": 1, "b": 0, "c": 0}
    for sizes, n in (({"x": 7, "y": 1, "z": 40, "w": 13}, 37), ({"x": 1000, "y": 1}, 501)):
        counts = even_allocation(sizes, n)
        assert sum(counts.values()) == n and all(0 <= counts[g] <= sizes[g] for g in sizes)


def test_a_per_source_sample_draws_each_source_evenly_and_is_seeded(corpus, tmp_path):
    from collections import Counter

    from curate.corpus.sample import even_allocation

    documents = list(read_documents(corpus))
    sizes = Counter(d.metadata["source"] for d in documents)
    assert len(set(sizes.values())) > 1  # the synthetic sources differ in size: a uniform draw would follow them
    args = dict(corpus=corpus, n=20, seed=3, per_source=True)
    assert sample_corpus(SampleArguments(out=tmp_path / "a", **args)) == 20
    drawn = Counter(d.metadata["source"] for d in read_documents(tmp_path / "a"))
    assert dict(drawn) == {s: c for s, c in even_allocation(dict(sorted(sizes.items())), 20).items() if c}
    sample_corpus(SampleArguments(out=tmp_path / "b", **args))
    assert [d.id for d in read_documents(tmp_path / "a")] == [d.id for d in read_documents(tmp_path / "b")]
