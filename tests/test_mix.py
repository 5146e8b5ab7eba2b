"""`curate mix`: planning copies under a token budget, the written shards, and the manifest's honesty."""

import gzip
import json
import re
from collections import Counter, defaultdict

import numpy as np
import pytest
from datatrove.data import Document

from curate.cli import main
from curate.corpus.io import BadRecords, read_documents, write_documents
from curate.errors import InputError
from curate.mix import build_mix, hf_token_counter, load_mix_spec, mix_spec_from_dict, plan_copies


def make_annotated(n: int, seed: int) -> list[Document]:
    """Documents of 5-40 words with a procedural_score and a source, as `curate filter` leaves them."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        words = int(rng.integers(5, 41))
        source = ["code", "math", "wiki", "web"][int(rng.integers(4))]
        text = " ".join(f"w{int(rng.integers(1000))}" for _ in range(words))
        docs.append(Document(text=text, id=f"a{i}", metadata={"source": source, "procedural_score": float(rng.random())}))
    return docs


@pytest.fixture
def corpus(tmp_path):
    docs = make_annotated(600, seed=0)
    write_documents(docs, tmp_path / "in", docs_per_shard=200)
    return tmp_path / "in", docs


SPEC = {
    "total_tokens": 6000,
    "max_repetitions": 3,
    "seed": 0,
    "shards": 3,
    "bucket": [
        {"name": "procedural", "score": [0.8, 1.0], "weight": 0.5},
        {"name": "code", "source": ["code"], "weight": 0.2},
        {"name": "rest", "weight": 0.3},
    ],
}


def tally_shards(out) -> dict:
    """Per bucket, recounted from the written shards: copies, tokens, documents, copies per document."""
    per_bucket = defaultdict(lambda: {"copies": 0, "tokens": 0, "per_doc": Counter()})
    for doc in read_documents(out / "shards"):
        bucket = per_bucket[doc.metadata["mix_bucket"]]
        bucket["copies"] += 1
        bucket["tokens"] += len(doc.text.split())
        bucket["per_doc"][doc.metadata.get("repeat_of", doc.id)] += 1
    return per_bucket


def test_plan_copies_reaches_the_target_within_one_document():
    rng = np.random.default_rng(0)
    tokens = rng.integers(5, 50, size=400)
    for target in (0.3 * tokens.sum(), 1.0 * tokens.sum(), 2.4 * tokens.sum()):
        copies = plan_copies(tokens, target, max_repetitions=3, rng=rng)
        achieved = (copies * tokens).sum()
        assert target <= achieved < target + tokens.max()
        assert copies.max() - copies.min() <= 1  # repetitions spread evenly, never one document many times
    capped = plan_copies(tokens, 10 * tokens.sum(), max_repetitions=3, rng=rng)
    assert (capped == 3).all()  # the cap binds: every document 3 times, no more
    assert not plan_copies(tokens, 0, 3, rng).any()


def test_manifest_matches_the_written_shards(corpus, tmp_path):
    path, docs = corpus
    spec = mix_spec_from_dict(SPEC)
    manifest = build_mix(path, spec, tmp_path / "mix")
    assert json.loads((tmp_path / "mix" / "manifest.json").read_text()) == manifest
    tally = tally_shards(tmp_path / "mix")
    for bucket in manifest["buckets"]:
        seen = tally[bucket["name"]]
        assert bucket["copies"] == seen["copies"]
        assert bucket["tokens"] == seen["tokens"]
        assert bucket["documents"] == len(seen["per_doc"])
        by_copies = Counter(seen["per_doc"].values())
        by_copies[0] = bucket["available_documents"] - bucket["documents"]
        assert bucket["repetitions"]["documents_by_copies"] == {str(k): v for k, v in sorted(by_copies.items()) if v}
        assert bucket["repetitions"]["max"] == max(seen["per_doc"].values())
    assert manifest["total_tokens"]["achieved"] == sum(t["tokens"] for t in tally.values())
    assert sum(s["documents"] for s in manifest["shards"]) == sum(t["copies"] for t in tally.values())
    for shard in manifest["shards"]:
        shard_docs = list(read_documents(tmp_path / "mix" / shard["path"]))
        assert len(shard_docs) == shard["documents"]
        assert sum(len(d.text.split()) for d in shard_docs) == shard["tokens"]


def test_buckets_take_documents_by_first_match_and_reach_feasible_shares(corpus, tmp_path):
    path, docs = corpus
    manifest = build_mix(path, mix_spec_from_dict(SPEC), tmp_path / "mix")
    expected = {"procedural": set(), "code": set(), "rest": set()}
    for d in docs:
        name = "procedural" if d.metadata["procedural_score"] >= 0.8 else "code" if d.metadata["source"] == "code" else "rest"
        expected[name].add(d.id)
    tally = tally_shards(tmp_path / "mix")
    for name, ids in expected.items():
        assert set(tally[name]["per_doc"]) <= ids
        report = next(b for b in manifest["buckets"] if b["name"] == name)
        assert report["available_documents"] == len(ids)
        assert report["reached_target"]
        # each bucket overshoots its target by less than one document (at most 40 words)
        assert report["target_tokens"] <= report["tokens"] < report["target_tokens"] + 40
    assert manifest["warnings"] == [] and manifest["unassigned"]["documents"] == 0


def test_a_bucket_short_of_documents_is_reported_not_hidden(corpus, tmp_path):
    path, docs = corpus
    spec = dict(SPEC, total_tokens=60_000)  # the procedural bucket would need ~17 copies of each document
    manifest = build_mix(path, mix_spec_from_dict(spec), tmp_path / "mix")
    procedural = manifest["buckets"][0]
    assert not procedural["reached_target"]
    assert procedural["tokens"] == 3 * procedural["available_tokens"]  # everything, max_repetitions times
    assert procedural["shortfall_tokens"] == procedural["target_tokens"] - procedural["tokens"]
    assert procedural["achieved_share"] < procedural["target_share"]
    assert any("procedural" in w and "max_repetitions" in w for w in manifest["warnings"])
    assert manifest["total_tokens"]["achieved"] < manifest["total_tokens"]["budget"]

    keep = build_mix(path, mix_spec_from_dict(dict(spec, on_shortfall="keep_shares")), tmp_path / "keep")
    achieved = keep["total_tokens"]["achieved"]
    assert achieved < keep["total_tokens"]["budget"] and any("keep_shares" in w for w in keep["warnings"])
    for bucket in keep["buckets"]:
        # shares met up to one document's overshoot per bucket
        assert bucket["achieved_share"] == pytest.approx(bucket["target_share"], abs=3 * 40 / achieved)


def test_same_seed_same_mix_other_seed_other_mix(corpus, tmp_path):
    path, _ = corpus

    def ids(out, seed):
        build_mix(path, mix_spec_from_dict(dict(SPEC, seed=seed)), out)
        return sorted(d.id for d in read_documents(out / "shards"))

    assert ids(tmp_path / "a", 0) == ids(tmp_path / "b", 0)
    assert ids(tmp_path / "a", 0) != ids(tmp_path / "c", 1)


def test_reweighting_copies_are_skipped_and_unscored_input_is_refused(tmp_path):
    docs = make_annotated(50, seed=1)
    copies = [Document(text=d.text, id=f"{d.id}#r1", metadata=d.metadata | {"repeat_of": d.id}) for d in docs[:10]]
    write_documents(docs + copies, tmp_path / "in")
    manifest = build_mix(tmp_path / "in", mix_spec_from_dict(SPEC), tmp_path / "mix")
    assert manifest["skipped_reweighting_copies"] == 10
    assert sum(b["available_documents"] for b in manifest["buckets"]) == 50
    write_documents([Document(text="a b c", id="u")], tmp_path / "raw")
    with pytest.raises(InputError, match="no document has 'procedural_score'"):
        build_mix(tmp_path / "raw", mix_spec_from_dict(SPEC), tmp_path / "mix2")


def test_spec_files_and_their_errors(tmp_path):
    toml = tmp_path / "mix.toml"
    toml.write_text('total_tokens = 100\n[[bucket]]\nname = "all"\nweight = 1\n')
    assert load_mix_spec(toml).buckets[0].name == "all"
    assert load_mix_spec("mix_spec_example.toml").shards == 64  # shipped in recipes/
    for text, message in [
        ("total_tokens = 100\n", "no \\[\\[bucket\\]\\]"),
        ('total_tokens = 100\nbudget = 3\n[[bucket]]\nname = "a"\nweight = 1\n', "unknown keys"),
        ('total_tokens = 100\n[[bucket]]\nname = "a"\nweight = 1\nscore = [0.9, 0.1]\n', "low < high"),
        ('total_tokens = 100\n[[bucket]]\nname = "a"\nweight = 1\n[[bucket]]\nname = "a"\nweight = 1\n', "repeat"),
        ("total_tokens = [", "not valid TOML"),
    ]:
        toml.write_text(text)
        with pytest.raises(InputError, match=message):
            load_mix_spec(toml)


def test_cli_with_a_json_spec_and_a_hugging_face_tokenizer(corpus, tmp_path, capsys):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    path, docs = corpus
    vocab = {"[UNK]": 0, **{f"w{i}": i + 1 for i in range(500)}}  # half the words are unknown: still one token
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]").save_pretrained(tmp_path / "tok")
    counts = hf_token_counter(tmp_path / "tok")(["w1 w2, w999!"])
    assert counts == [len(re.findall(r"\w+|[^\w\s]+", "w1 w2, w999!"))]

    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    out = tmp_path / "mix"
    argv = ["mix", "--input", str(path), "--spec", str(tmp_path / "spec.json"), "--out", str(out)]
    assert main([*argv, "--tokenizer", str(tmp_path / "tok"), "--seed", "5"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["token_counter"] == str(tmp_path / "tok") and manifest["seed"] == 5
    assert "procedural" in capsys.readouterr().out
    # these texts are space-separated words, so the tokenizer and the whitespace counter agree
    assert manifest["total_tokens"]["achieved"] == sum(t["tokens"] for t in tally_shards(out).values())


def test_malformed_input_stops_the_mix_or_is_set_aside_once(tmp_path):
    docs = make_annotated(30, seed=2)
    write_documents(docs, tmp_path / "in")
    shard = next((tmp_path / "in").iterdir())
    lines = gzip.open(shard, "rt").read().splitlines()
    with gzip.open(shard, "wt") as f:
        f.write("\n".join([*lines[:5], "{oops", *lines[5:]]) + "\n")
    with pytest.raises(InputError, match=r":6: invalid JSON"):
        build_mix(tmp_path / "in", mix_spec_from_dict(SPEC), tmp_path / "mix")
    bad = BadRecords(tmp_path / "bad.jsonl")
    manifest = build_mix(tmp_path / "in", mix_spec_from_dict(SPEC), tmp_path / "mix", read_options={"bad_records": bad})
    bad.close()
    assert manifest["bad_records"] == 1 and manifest["documents_read"] == 30
    assert len((tmp_path / "bad.jsonl").read_text().splitlines()) == 1  # not once per pass


@pytest.mark.parametrize("text, message", [
    ('total_tokens = "a lot"\n[[bucket]]\nname = "a"\nweight = 1\n', "total_tokens must be a whole number, got 'a lot'"),
    ('total_tokens = 100\nshards = 1.5\n[[bucket]]\nname = "a"\nweight = 1\n', "shards must be a whole number"),
    ('total_tokens = 100\nscore_key = 3\n[[bucket]]\nname = "a"\nweight = 1\n', "score_key must be a string"),
    ('total_tokens = 100\n[[bucket]]\nname = "a"\nweight = "half"\n', "bucket 'a': weight must be a number"),
    ('total_tokens = 100\n[[bucket]]\nname = "a"\nweight = 1\nscore = ["low", 1]\n', "bucket 'a': score must be a number"),
    ('total_tokens = 100\n[[bucket]]\nname = "a"\nweight = 1\nsource = 3\n', "bucket 'a': source must be a name or a list"),
])
def test_spec_values_of_the_wrong_type_are_one_line_naming_the_file(tmp_path, text, message):
    toml = tmp_path / "mix.toml"
    toml.write_text(text)
    with pytest.raises(InputError, match=re.escape(f"{toml}: {message}")):
        load_mix_spec(toml)


def test_a_score_that_is_not_a_number_names_the_document(tmp_path):
    docs = make_annotated(20, seed=2)
    docs[7].metadata["procedural_score"] = "high"
    write_documents(docs, tmp_path / "in")
    with pytest.raises(InputError, match="document 'a7': procedural_score is 'high', not a number"):
        build_mix(tmp_path / "in", mix_spec_from_dict(SPEC), tmp_path / "mix")
    assert not (tmp_path / "mix" / "shards").exists()


def test_an_out_that_is_a_file_is_refused(corpus, tmp_path):
    path, _ = corpus
    (tmp_path / "a-file").write_text("mine\n")
    with pytest.raises(InputError, match="is a file, not a folder"):
        build_mix(path, mix_spec_from_dict(SPEC), tmp_path / "a-file")
    assert (tmp_path / "a-file").read_text() == "mine\n"
