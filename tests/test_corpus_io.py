import gzip
import json

import datasets
import pytest
from datatrove.data import Document

from curate.corpus.io import BadRecords, corpus_fingerprint, read_documents, write_documents
from curate.errors import InputError


def make_docs(n: int) -> list[Document]:
    return [Document(text=f"document {i}", id=f"d{i}", metadata={"source": "web", "procedural": i % 2 == 0}) for i in range(n)]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_round_trip_keeps_text_ids_metadata_and_order(tmp_path, fmt):
    docs = make_docs(25)
    assert write_documents(docs, tmp_path / "c", fmt, docs_per_shard=10) == 25
    assert len(list((tmp_path / "c").iterdir())) == 3
    back = list(read_documents(tmp_path / "c"))
    assert [(d.id, d.text, d.metadata) for d in back] == [(d.id, d.text, d.metadata) for d in docs]


def test_datasets_directory_and_custom_keys(tmp_path):
    rows = [{"content": f"row {i}", "uid": i, "source": "wiki"} for i in range(5)]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "ds"))
    back = list(read_documents(tmp_path / "ds", text_key="content", id_key="uid"))
    assert [d.text for d in back] == [r["content"] for r in rows]
    assert [d.id for d in back] == [str(r["uid"]) for r in rows]
    assert all(d.metadata["source"] == "wiki" for d in back)


def write_jsonl(path, lines: list[str]) -> None:
    with gzip.open(path, "wt") if str(path).endswith(".gz") else open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def test_malformed_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "shard.jsonl.gz"
    write_jsonl(path, [json.dumps({"text": "fine", "id": "a"}), "{not json", json.dumps({"text": "ok"})])
    with pytest.raises(InputError, match=r"shard\.jsonl\.gz:2: invalid JSON"):
        list(read_documents(path))


@pytest.mark.parametrize(
    ("record", "reason"),
    [({"id": "x"}, "no 'text' field"), ({"text": 7}, "not a string"), ({"text": "  "}, "empty"), ([1, 2], "not an object")],
)
def test_bad_record_kinds_are_named(tmp_path, record, reason):
    path = tmp_path / "c.jsonl"
    write_jsonl(path, [json.dumps({"text": "good"}), json.dumps(record)])
    with pytest.raises(InputError, match=f"c.jsonl:2: .*{reason}"):
        list(read_documents(path))


def test_skipping_bad_records_counts_and_sets_them_aside(tmp_path):
    path = tmp_path / "c.jsonl"
    write_jsonl(path, [json.dumps({"text": "good 1"}), "garbage", json.dumps({"txt": "x"}), json.dumps({"text": "good 2"})])
    bad = BadRecords(tmp_path / "bad.jsonl")
    kept = list(read_documents(path, bad_records=bad))
    bad.close()
    assert [d.text for d in kept] == ["good 1", "good 2"]
    assert bad.count == 2
    aside = [json.loads(line) for line in (tmp_path / "bad.jsonl").read_text().splitlines()]
    assert [a["where"].rsplit(":", 1)[1] for a in aside] == ["2", "3"]
    assert aside[0]["record"].startswith("garbage")


def test_parquet_row_errors_and_corrupt_files(tmp_path):
    import polars as pl

    pl.DataFrame({"text": ["a", None, "c"], "id": ["1", "2", "3"]}).write_parquet(tmp_path / "p.parquet")
    with pytest.raises(InputError, match=r"p\.parquet: row 1: .*'text'"):
        list(read_documents(tmp_path / "p.parquet"))
    pl.DataFrame({"body": ["a"]}).write_parquet(tmp_path / "q.parquet")
    with pytest.raises(InputError, match="no 'text' column"):
        list(read_documents(tmp_path / "q.parquet"))
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="broken.parquet: not a readable parquet file"):
        list(read_documents(tmp_path / "broken.parquet"))


def test_missing_or_unknown_corpus_path(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list(read_documents(tmp_path / "missing"))
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InputError, match="no jsonl"):
        list(read_documents(tmp_path))


def test_a_run_folder_reads_as_its_shards_only_and_a_file_alone(tmp_path):
    write_documents(make_docs(5), tmp_path / "out" / "kept")
    for name in ["manifest.json", "summary.json", "filter_config.json", "bad_records.jsonl", "logs/stats.json",
                 "logs/executor.json", "logs/stats/00000.json", "eval_summary.json", ".summary.json.41.tmp"]:
        (tmp_path / "out" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "out" / name).write_text('{"not": "a document"}\n')
    assert [d.id for d in read_documents(tmp_path / "out")] == [f"d{i}" for i in range(5)]
    write_jsonl(tmp_path / "c.jsonl", [json.dumps({"text": "c"})])
    write_jsonl(tmp_path / "abc.jsonl", [json.dumps({"text": "abc"})])  # ends like c.jsonl: datatrove's suffix match
    assert [d.text for d in read_documents(tmp_path / "c.jsonl")] == ["c"]


def test_corpus_fingerprint_follows_the_shards_content(tmp_path):
    write_documents(make_docs(25), tmp_path / "c", docs_per_shard=10)
    before = corpus_fingerprint(tmp_path / "c")
    (tmp_path / "c" / "manifest.json").write_text("{}")
    assert corpus_fingerprint(tmp_path / "c") == before
    write_documents(make_docs(24), tmp_path / "c", docs_per_shard=10)  # the last shard rewritten shorter
    assert corpus_fingerprint(tmp_path / "c") != before


def test_corpus_fingerprint_of_a_relative_path(tmp_path, monkeypatch):
    """`make quickstart` names its corpus runs/quickstart/corpus, relative; datatrove lists its files absolute."""
    write_documents(make_docs(25), tmp_path / "runs" / "c", docs_per_shard=10)
    monkeypatch.chdir(tmp_path)
    assert corpus_fingerprint("runs/c") == corpus_fingerprint(tmp_path / "runs" / "c")


def test_bad_records_after_a_killed_run_start_on_a_line_of_their_own(tmp_path):
    path = tmp_path / "bad_records.jsonl"
    path.write_text('{"where": "a:1", "reason": "cut sh')  # the last record of a run killed mid-write
    bad = BadRecords(path)
    bad.add("b:2", "invalid JSON", "{oops")
    bad.close()
    assert json.loads(path.read_text().splitlines()[1])["where"] == "b:2"
