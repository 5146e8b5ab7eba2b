"""Corpora: reading and writing shards, and the embedded synthetic corpus."""

# curate.corpus.io's names: it imports datatrove, which takes a second, so it loads when a name is first used
_LAZY = ("BadRecords", "make_reader", "make_writer", "read_documents", "write_documents")

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module("curate.corpus.io"), name)
    raise AttributeError(name)
