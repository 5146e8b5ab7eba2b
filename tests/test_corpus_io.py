import gzip
import json

import datasets
import pytest
from datatrove.data import Document

from curate.corpus.io import BadRecords, read_documents, write_documents
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
