"""`curate eval-probes`: completion NLL (nats) and greedy accuracy per probe, summarised per set."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from curate.paths import RunDir, add_run_dir_argument
from curate.plots import new_figure, save_figure
from curate.tables import as_text


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval-probes", help="completion loss and greedy accuracy of a model on probes"
    )
    add_run_dir_argument(parser)
    parser.add_argument("--model", type=Path, help="HF model directory (default: RUN_DIR/model)")
    parser.add_argument("--probes", type=Path, help="probe file (default: RUN_DIR/probes/probes.jsonl)")
    parser.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/probes/eval)")
    parser.add_argument(
        "--baselines-corpus",
        type=Path,
        help="also score an untrained model of the same shape and a unigram model of this corpus",
    )
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.set_defaults(func=run)


def evaluate_model(
    model_path: Path, probes_path: Path, max_new_tokens: int = 96, baselines_corpus: Path | None = None
):
    """Per-probe table for the model (and baselines), and the per-set summary with one column per model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from attribution.evaluate import (
        completion_nll,
        greedy_complete,
        is_correct,
        probe_table,
        summarise,
        unigram_nll,
    )
    from attribution.probes import read_probes
    from curate.corpus.io import read_documents

    probes = read_probes(probes_path)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path)
    completions = greedy_complete(model, tokenizer, [p.prompt for p in probes], max_new_tokens, progress=True)
    correct = [is_correct(c, p.answer) for p, c in zip(probes, completions, strict=True)]
    table = probe_table(probes, completion_nll(model, tokenizer, probes), correct)
    tables = {"model": table}
    if baselines_corpus is not None:
        torch.manual_seed(0)
        untrained = AutoModelForCausalLM.from_config(model.config)
        tables["untrained"] = probe_table(probes, completion_nll(untrained, tokenizer, probes))
        token_ids = (
            tokenizer(d.text, add_special_tokens=False)["input_ids"] for d in read_documents(baselines_corpus)
        )
        tables["unigram"] = probe_table(probes, unigram_nll(token_ids, tokenizer, probes))
    summary = summarise(table)
    for name, other in tables.items():
        if name != "model":
            summary = summary.join(
                summarise(other).select("set", pl.col("loss_per_token").alias(f"{name}_loss_per_token")),
                on="set",
            )
    table = table.with_columns(greedy_completion=pl.Series(completions))
    return table, summary


def write_outputs(table: pl.DataFrame, summary: pl.DataFrame, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    table.write_parquet(out / "per_probe.parquet")
    summary.write_csv(out / "summary.csv")
    (out / "summary.md").write_text(as_text(summary) + "\n")
    loss_columns = [c for c in summary.columns if c.endswith("loss_per_token")]
    fig, ax = new_figure(7, 4)
    width = 0.8 / len(loss_columns)
    for i, column in enumerate(loss_columns):
        positions = [x + i * width for x in range(summary.height)]
        ax.bar(
            positions,
            summary[column].to_list(),
            width,
            label=column.removesuffix("loss_per_token").rstrip("_") or "model",
        )
    ax.set_xticks([x + 0.4 - width / 2 for x in range(summary.height)], summary["set"].to_list(), rotation=20)
    ax.set(ylabel="completion loss (nats/token)", title="Probe completion loss")
    ax.legend()
    save_figure(fig, out / "loss.png")


def print_summary(summary: pl.DataFrame) -> None:
    print(as_text(summary, markdown=False))


def run(args) -> None:
    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.probe_eval
    table, summary = evaluate_model(
        args.model or run_dir.model, args.probes or run_dir.probes, args.max_new_tokens, args.baselines_corpus
    )
    write_outputs(table, summary, out)
    print_summary(summary)
    print(f"per-probe results and summary in {out}")
