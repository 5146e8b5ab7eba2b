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
