"""HTML: the main text, through trafilatura with the settings datatrove's `Trafilatura` extractor uses, so
imported pages read like the crawl text the filters later see."""

from __future__ import annotations


def html_sections(html: str) -> list[str]:
    from trafilatura import extract  # heavy (lxml); only when a corpus holds HTML

    text = extract(html, favor_precision=True, include_comments=False, deduplicate=True)
    return [text] if text else []
