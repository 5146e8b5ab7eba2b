"""Corpora: reading and writing shards, and the embedded synthetic corpus."""

from curate.corpus.io import BadRecords, make_reader, make_writer, read_documents, write_documents

__all__ = ["BadRecords", "make_reader", "make_writer", "read_documents", "write_documents"]
