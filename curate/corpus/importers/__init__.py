"""`curate corpus import`: folders and files of real text (plain text, Markdown, reST, HTML, man pages,
Texinfo/Info, POD, TeX, source code, JSON fields) become corpus shards."""

from curate.corpus.importers.importer import (
    DocumentBuilder,
    ImportArguments,
    ImportReport,
    import_corpus,
    import_documents,
)

__all__ = ["DocumentBuilder", "ImportArguments", "ImportReport", "import_corpus", "import_documents"]
