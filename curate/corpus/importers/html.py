"""HTML: the main text, through trafilatura with the settings datatrove's `Trafilatura` extractor uses, so
imported pages read like the crawl text the filters later see. Headings are handed to it as paragraphs:
trafilatura drops `<h1>`..`<h6>` outside an `<article>` in plain-text output, and a page's title and section
names are part of its text (boilerplate headings still go, with the navigation they sit in)."""

from __future__ import annotations

import logging
import re

_HEADING_TAG = re.compile(r"<(/?)h[1-6](?=[\s/>])", re.IGNORECASE)


def html_sections(html: str) -> list[str]:
    from trafilatura import extract  # heavy (lxml); only when a corpus holds HTML

    # a page with no text left is recorded, with its file, in import_skipped.tsv; trafilatura's own warning
    # ("discarding data: None") would only repeat it on the terminal without saying which file
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    html = _HEADING_TAG.sub(r"<\1p", html)
    text = extract(html, favor_precision=True, include_comments=False, deduplicate=True)
    return [text] if text else []
