"""How well a model knows each probe: completion NLL in nats (the per-nat normaliser) and greedy accuracy."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import polars as pl
import torch

from attribution.progress import progress_bar
from attribution.task import IGNORE, collate, encode_probe, summed_log_prob
from curate.probes.sets import Probe, final_answer


@torch.no_grad()
def completion_nll(model, tokenizer, probes: list[Probe], batch_size: int = 16) -> list[tuple[float, int]]:
    """(negative log-likelihood of the completion given the prompt in nats, number of completion tokens)."""
    device = next(model.parameters()).device
    model.eval()
    results = []
    for start in range(0, len(probes), batch_size):
        encoded = [
            encode_probe(tokenizer, p.prompt, p.completion) for p in probes[start : start + batch_size]
        ]
        batch = {k: v.to(device) for k, v in collate(encoded, tokenizer.pad_token_id or 0).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        nll = -summed_log_prob(logits, batch["labels"])
        results += [(value, item.n_scored) for value, item in zip(nll.tolist(), encoded, strict=True)]
    return results


@torch.no_grad()
def greedy_complete(
    model, tokenizer, prompts: list[str], max_new_tokens: int = 96, batch_size: int = 32, progress: bool = False
) -> list[str]:
    """The model's own greedy continuation of each prompt, stopped at EOS; prompts batched with left padding."""
    device = next(model.parameters()).device
    model.eval()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    completions = []
    bar = progress_bar(total=len(prompts), desc="generate", unit="probe", disable=not progress)
    for start in range(0, len(prompts), batch_size):
        encoded = [encode_probe(tokenizer, prompt, "").input_ids for prompt in prompts[start : start + batch_size]]
        width = max(map(len, encoded))
        input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in encoded], device=device)
        attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], device=device)
        output = model.generate(
            input_ids,
            attention_mask=attention_mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=pad_id,
        )
        completions += tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
        bar.update(len(encoded))
    bar.close()
    return completions


def is_correct(completion: str, answer: str) -> bool:
    predicted = final_answer(completion)
    return (
        predicted is not None and predicted.strip().rstrip(".").lower() == answer.strip().rstrip(".").lower()
    )


def unigram_nll(
    train_token_ids: Iterable[list[int]], tokenizer, probes: list[Probe]
) -> list[tuple[float, int]]:
    """The same measurement under a unigram model of the training tokens (add-one smoothed): a floor to beat."""
    counts = Counter()
    for ids in train_token_ids:
        counts.update(ids)
    total, vocab = sum(counts.values()), len(tokenizer)
    results = []
    for probe in probes:
        encoded = encode_probe(tokenizer, probe.prompt, probe.completion)
        scored = [label for label in encoded.labels[1:] if label != IGNORE]
        nll = -sum(math.log((counts[t] + 1) / (total + vocab)) for t in scored)
        results.append((nll, len(scored)))
    return results


def probe_table(
    probes: list[Probe], nll: list[tuple[float, int]], correct: list[bool] | None = None
) -> pl.DataFrame:
    """One row per probe: id, set, kind, nats, tokens, nats per token (and greedy correctness if given)."""
    table = pl.DataFrame(
        {
            "probe_id": [p.id for p in probes],
            "set": [p.set for p in probes],
            "kind": [p.kind for p in probes],
            "nll_nats": [n for n, _ in nll],
            "n_tokens": [t for _, t in nll],
        }
    ).with_columns(nll_per_token=pl.col("nll_nats") / pl.col("n_tokens"))
    if correct is not None:
        table = table.with_columns(correct=pl.Series(correct))
    return table


def summarise(table: pl.DataFrame) -> pl.DataFrame:
    """Per probe set: mean completion nats, mean per-token loss (token-weighted), and accuracy if present."""
    aggregations = [
        pl.len().alias("probes"),
        pl.col("nll_nats").mean().alias("mean_nats"),
        (pl.col("nll_nats").sum() / pl.col("n_tokens").sum()).alias("loss_per_token"),
    ]
    if "correct" in table.columns:
        aggregations.append(pl.col("correct").mean().alias("accuracy"))
    return table.group_by("set", "kind", maintain_order=True).agg(aggregations)
