"""Mix validation on `tiny_run`: three arms, two seeds, a curated mix that over-samples what the classifier likes."""

import json

from curate.corpus.io import read_documents
from curate.mix.build import hf_token_counter
from curate.validate.mix import ARMS, MixValidationArguments, run_validation, summarise, write_summary


def test_three_arms_train_on_what_they_should_and_summarise(tiny_run, capsys):
    out = tiny_run.validation / "mix"
    args = MixValidationArguments(budget_share=0.4, procedural_share=0.6, seeds=[0, 1], accuracy=False)
    run_validation(tiny_run, out, args)
    cells = {path.stem: json.loads(path.read_text()) for path in (out / "cells").glob("*.json")}
    assert set(cells) == {f"{arm}__seed{seed}" for arm in ARMS for seed in (0, 1)}

    manifest = cells["curated__seed0"]["manifest"]
    shares = {bucket["name"]: bucket for bucket in manifest["buckets"]}
    assert abs(shares["procedural"]["achieved_share"] - 0.6) < 0.05

    count_tokens = hf_token_counter(tiny_run.model)

    def zebra_token_share(texts: list[str]) -> float:
        tokens = count_tokens(texts)
        return sum(n for n, t in zip(tokens, texts, strict=True) if "zebra" in t) / sum(tokens)

    def arm_texts(arm: str) -> list[str]:
        return [d.text for d in read_documents(out / "mixes" / f"{arm}__seed0" / "shards")]

    # The classifier knows zebras, so the curated mix's "procedural" 60% of tokens are zebra documents;
    # a random sample keeps the crawl's own share.
    crawl = zebra_token_share([d.text for d in read_documents(tiny_run.corpus)])
    assert abs(zebra_token_share(arm_texts("curated")) - 0.6) < 0.05
    assert abs(zebra_token_share(arm_texts("random")) - crawl) < 0.1 and crawl < 0.45
    assert cells["whole__seed0"]["train_documents"] > cells["random__seed0"]["train_documents"]
    # Each arm records its share of tokens in documents the classifier scores procedural: the curated mix
    # holds the share asked for; the random sample, the crawl's own (zebras are what the classifier scores so)
    assert abs(cells["curated__seed0"]["procedural_token_share"] - 0.6) < 0.05
    assert abs(cells["random__seed0"]["procedural_token_share"] - cells["whole__seed0"]["procedural_token_share"]) < 0.1

    summary = summarise(out)
    assert summary["arm"].to_list() == list(ARMS) and summary["n"].to_list() == [2, 2, 2]
    assert summary["procedural_token_share"][1] > summary["procedural_token_share"][0]
    assert "curated" in write_summary(out) and (out / "arms.png").stat().st_size > 0
    assert (out / "summary.md").exists() and (out / "summary.csv").exists()
    capsys.readouterr()
    run_validation(tiny_run, out, args)
    assert "6 of 6 cells already done" in capsys.readouterr().out
