"""`curate corpus import` on unusual and bad input: misnamed files, encodings, unreadable paths, links, broken
JSON records, mistaken arguments. Each is either imported as the text it is, or skipped and listed with why,
and a mistaken argument stops the import in one line before the output folder is touched."""

import gzip
import json
import os
from pathlib import Path

import pytest

from curate.cli import main
from curate.corpus.importers import ImportArguments, import_corpus
from curate.corpus.importers.formats import format_of
from curate.corpus.importers.importer import SKIPPED_FILE, SUMMARY_FILE
from curate.corpus.io import read_documents, write_documents
from curate.errors import InputError

PROSE = "To build the package, first run the configure script, then compile it with make and install it. "
MAN_PAGE = ".TH GREET 1\n.SH NAME\ngreet \\- print a greeting\n.SH DESCRIPTION\n" + PROSE + "\n"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def imported(tmp_path, *paths, out="out", **kwargs):
    report = import_corpus(ImportArguments(paths=list(paths), out=tmp_path / out, **kwargs))
    return report, {d.id: d for d in read_documents(tmp_path / out)}


def reasons(report) -> dict[str, str]:
    return {Path(path).name: reason for path, reason in report.skipped}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0]


def test_a_rotated_log_named_like_a_man_page_is_plain_text(tmp_path):
    log = "First line - the newest entry\n" + PROSE + "\nbug-fix release -- see below\nLast line.\n"
    write(tmp_path / "in/changelog.1.gz", log)
    write(tmp_path / "in/greet.1.gz", MAN_PAGE)
    report, docs = imported(tmp_path, tmp_path / "in")
    assert docs["in/changelog.1.gz#0"].metadata["format"] == "text"
    assert docs["in/changelog.1.gz#0"].text == log.strip()  # first and last lines kept, "-" not turned into U+2010
    assert docs["in/greet.1.gz#0"].metadata["format"] == "man" and "NAME" in docs["in/greet.1.gz#0"].text


@pytest.mark.parametrize("name", ["README.Debian", "changelog.Debian.gz", "NEWS.Debian.gz"])
def test_debian_notes_are_text(name):
    assert format_of(name) == "text"


def test_perl_scripts_are_code():
    assert format_of("tool.perl") == "code"


def test_html_headings_outside_an_article_are_kept(tmp_path):
    body = (f"<html><head><title>t</title></head><body><nav><a href='/'>Home</a></nav><h1>Installing the tool</h1>"
            f"<p>{PROSE * 2}</p><h2 class='x'>Testing it</h2><p>{PROSE.upper() * 2}</p></body></html>")
    write(tmp_path / "in/page.html", body)
    _, docs = imported(tmp_path, tmp_path / "in")
    lines = docs["in/page.html#0"].text.splitlines()
    assert lines[0] == "Installing the tool" and "Testing it" in lines and "Home" not in lines


@pytest.mark.parametrize(("encoding", "mark"), [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
                                               ("utf-32-le", b"\xff\xfe\x00\x00")])
def test_text_with_a_utf16_or_utf32_byte_order_mark_is_decoded(tmp_path, encoding, mark):
    text = "Café crème: " + PROSE
    write(tmp_path / "in/notes.txt", mark + text.encode(encoding))
    report, docs = imported(tmp_path, tmp_path / "in")
    assert report.skipped == [] and docs["in/notes.txt#0"].text == text.strip()


def test_jsonl_keeps_valid_records_and_lists_each_bad_one_with_its_line(tmp_path):
    lines = [json.dumps({"text": f"{i}: {PROSE}"}) for i in range(3)]
    lines[1:1] = ['{"text": "cut sho', json.dumps({"title": "no text field"}), "[1, 2]"]
    write(tmp_path / "in/rows.jsonl", "\n".join(lines) + "\n")
    report, docs = imported(tmp_path, tmp_path / "in")
    assert sorted(doc.text[:2] for doc in docs.values()) == ["0:", "1:", "2:"]
    rows = str(tmp_path / "in/rows.jsonl")
    assert report.skipped == [] and [where for where, _ in report.records_skipped] == [
        f"{rows}:2", f"{rows}:3", f"{rows}:4"]
    assert report.records_skipped[0][1].startswith("invalid JSON")
    assert report.records_skipped[1][1] == "no text in field(s) text"
    assert report.records_skipped[2][1] == "not a JSON object (a list)"
    listed = (tmp_path / "out" / SKIPPED_FILE).read_text().splitlines()
    assert listed[1:] == [f"{where}\t{why}" for where, why in report.records_skipped]
    assert "3 JSON records skipped" in (tmp_path / "out" / SUMMARY_FILE).read_text()


def test_a_json_file_that_does_not_parse_names_its_line(tmp_path):
    write(tmp_path / "in/a.txt", PROSE)
    write(tmp_path / "in/pretty.json", '{\n  "text": "x",\n  "oops"\n}\n')
    report, _ = imported(tmp_path, tmp_path / "in")
    assert reasons(report)["pretty.json"] == "invalid JSON (line 4: Expecting ':' delimiter)"


def test_unreadable_files_and_folders_links_and_special_files_are_listed(tmp_path, monkeypatch):
    root = tmp_path / "in"
    write(root / "good.txt", PROSE)
    secret = write(root / "secret.txt", PROSE + "secret")
    write(root / "locked/inner.txt", PROSE + "locked")
    write(tmp_path / "elsewhere/x.txt", PROSE + "elsewhere")
    (root / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    (root / "folder-link").symlink_to(tmp_path / "elsewhere")
    os.mkfifo(root / "pipe.txt")  # a read would block forever
    # the tests run as root, whom chmod does not stop: make the file and the folder unreadable another way
    read_bytes, scandir = Path.read_bytes, os.scandir

    def refuse_file(path):
        if path == secret:
            raise PermissionError(13, "Permission denied", str(path))
        return read_bytes(path)

    def refuse_folder(path="."):
        if Path(path) == root / "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(Path, "read_bytes", refuse_file)
    monkeypatch.setattr(os, "scandir", refuse_folder)
    report, docs = imported(tmp_path, root)
    assert list(docs) == ["in/good.txt#0"]
    assert reasons(report) == {
        "dangling.txt": f"dangling symbolic link (to {tmp_path / 'nowhere.txt'})",
        "folder-link": f"symbolic link to a folder (to {tmp_path / 'elsewhere'})",
        "locked": "unreadable folder (Permission denied)",
        "pipe.txt": "not a regular file",
        "secret.txt": "unreadable (Permission denied)",
    }
    listed = (tmp_path / "out" / SKIPPED_FILE).read_text().splitlines()
    assert len(listed) == 1 + 5 and "unreadable" in (tmp_path / "out" / SUMMARY_FILE).read_text()


def test_a_symlinked_input_folder_is_named_as_given(tmp_path):
    write(tmp_path / "store/2f9a/guide.md", PROSE)
    (tmp_path / "docs").symlink_to(tmp_path / "store/2f9a")
    _, docs = imported(tmp_path, tmp_path / "docs")
    assert list(docs) == ["docs/guide.md#0"] and docs["docs/guide.md#0"].metadata["source"] == "docs"


def test_an_output_folder_inside_the_input_is_not_imported(tmp_path):
    write(tmp_path / "in/a.txt", PROSE)
    first, _ = imported(tmp_path, tmp_path / "in", out="in/corpus")
    again, docs = imported(tmp_path, tmp_path / "in", out="in/corpus", overwrite=True)
    assert list(docs) == ["in/a.txt#0"] and again.files == first.files == 1 and again.skipped == []
    with pytest.raises(InputError, match="inside --out"):
        imported(tmp_path, tmp_path / "in", out=".", overwrite=True)


def test_a_source_rule_that_names_no_file_is_reported(tmp_path, capsys):
    write(tmp_path / "in/a.md", PROSE)
    write(tmp_path / "in/b.py", f"# {PROSE}\n")
    argv = ["corpus", "import", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--source", "*.md=docs",
            "--source", "*.mdx=typo", "--source", "a.*=shadowed"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "warning: --source '*.mdx=typo' named no file's source: it matched no file" in printed
    assert "warning: --source 'a.*=shadowed' named no file's source: earlier rules took every file" in printed
    assert "'*.md=docs'" not in printed


def test_write_documents_refuses_shards_of_no_documents(tmp_path):
    for count in (0, -1):
        with pytest.raises(InputError, match="--documents-per-shard must be at least 1"):
            write_documents([], tmp_path / "out", docs_per_shard=count)


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--source", "no-equals-sign"], "--source expects GLOB=NAME"),
     (["{missing}"], "missing: no such file or directory"),
     (["--min-chars", "200", "--max-chars", "100"], "need 1 <= min-chars <= max-chars"),
     (["--documents-per-shard", "0"], "--documents-per-shard must be at least 1, got 0"),
     (["--documents-per-shard", "-1"], "--documents-per-shard must be at least 1, got -1"),
     (["--sources-file", "{missing}.toml"], "cannot read the source mapping")],
)
def test_a_refused_overwrite_keeps_the_earlier_corpus(tmp_path, capsys, argv, message):
    write(tmp_path / "in/a.txt", PROSE)
    out = tmp_path / "out"
    assert main(["corpus", "import", str(tmp_path / "in"), "--out", str(out)]) == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    places = {"missing": tmp_path / "missing"}
    argv = [arg.format(**places) for arg in argv]
    assert main(["corpus", "import", str(tmp_path / "in"), *argv, "--out", str(out), "--overwrite"]) == 2
    assert message in one_error_line(capsys)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_one_document_shards_are_numbered_as_usual(tmp_path):
    for name in "abc":
        write(tmp_path / f"in/{name}.txt", f"{name}: {PROSE}")
    imported(tmp_path, tmp_path / "in", docs_per_shard=1)
    assert sorted(path.name for path in (tmp_path / "out").glob("part-*")) == [
        f"part-{i:05d}.jsonl.gz" for i in range(3)]


def test_a_killed_import_is_never_taken_for_a_finished_one(tmp_path, capsys):
    write(tmp_path / "in/a.txt", PROSE)
    out = tmp_path / "out"
    argv = ["corpus", "import", str(tmp_path / "in"), "--out", str(out)]
    assert main(argv) == 0
    expected = gzip.decompress((out / "part-00000.jsonl.gz").read_bytes())
    # what a kill -9 mid-import leaves: the partial marker with the run's settings, and a shard cut short
    assert main([*argv, "--overwrite"]) == 0
    (out / ".partial.json").write_text(json.dumps({"settings": {"paths": [str(tmp_path / "in")], "max_chars": 1}}))
    (out / "part-00000.jsonl.gz").write_bytes(b"\x1f\x8b cut")
    assert main(argv) == 2
    line = one_error_line(capsys)
    assert "holds a partial import" in line and "--overwrite" in line
    assert main([*argv, "--overwrite"]) == 0
    assert gzip.decompress((out / "part-00000.jsonl.gz").read_bytes()) == expected
    assert not (out / ".partial.json").exists()


def test_an_include_that_matches_nothing_says_so(tmp_path):
    write(tmp_path / "in/a.txt", PROSE)
    with pytest.raises(InputError, match=r"no file found under .*in matching --include and not --exclude"):
        imported(tmp_path, tmp_path / "in", include=["*.zzz"])
