"""The neuron study (Rai & Yao 2024) on a run's model, probes, corpus and EK-FAC scores; the mechanics are in
`curate.neurons.mechanics`.

    study = run_neuron_study(NeuronArguments(run_dir=Path("runs/x"), seeds=[0]))
    print(study.summary)

Writes to OUT (RUN_DIR/neurons): neurons.csv (labelled neurons and their top tokens), concept_counts.csv and
concepts_by_layer.png, probe_activation.csv, document_scores.parquet, comparison.csv (against EK-FAC and the
synthetic ground truth), ablation.csv, ablation_summary.csv, ablation.png and summary.md.

Torch, polars and the plots are imported where used, so the CLI builds its flags from `NeuronArguments` quickly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from attribution.options import option
from curate.classify.arguments import AGGREGATIONS, LabelArguments
from curate.paths import RunDir
from curate.tables import as_text

if TYPE_CHECKING:
    import polars as pl


@dataclass
class NeuronArguments:
    """`run_neuron_study`: inputs default to the run directory's."""

    run_dir: Path
    model: Path | None = option(None, "HF model directory (RUN_DIR/model if not given)")
    probes: Path | None = option(None, "probe file (RUN_DIR/probes/probes.jsonl if not given)")
    scores: Path | None = option(None, "EK-FAC scores directory (RUN_DIR/scores if not given)")
    corpus: Path | None = option(None, "corpus to score (RUN_DIR/corpus if not given)")
    out: Path | None = option(None, "output directory (RUN_DIR/neurons if not given)")
    top_tokens: int = option(20, "top vocabulary tokens kept per neuron")
    min_overlap: int = option(3, "distinct words of a concept's list among a neuron's top tokens needed to label it")
    norm: bool = option(True, "project value vectors through the final norm's weight")
    aggregate: str = option(LabelArguments.aggregate, "how EK-FAC scores of the reasoning probes combine per "
                            "document (as for the classifier)", choices=AGGREGATIONS)
    k: int | None = option(None, "top-k for overlap and F1 (the number of procedural documents if not given)")
    max_documents: int | None = option(None, "score only the first N documents", flag="--documents")
    max_length: int = option(512, "tokens read per document")
    documents: bool = option(True, "score documents and compare the neuron scorer with EK-FAC", flag="--score-documents")
    ablate: bool = True  # no option(): its flag is --no-ablation, and --ablation names the corruption
    ablation: str = option("zero", "corrupt the neurons by zeroing them or adding fixed noise", choices=("zero", "noise"))
    noise_scale: float = option(1.0, "noise std in units of each neuron's RMS activation")
    seeds: list[int] = option([0, 1, 2], "seeds of the ablation arms")
    accuracy: bool = option(True, "ablation: greedy accuracy as well as loss")
    threads: int | None = option(None, "torch CPU threads (1 is fastest for small models on a busy CPU)")


@dataclass
class NeuronStudy:
    """What `run_neuron_study` found; every table is also a file in `out`."""

    out: Path
    labels: pl.DataFrame | None = None  # one row per labelled (neuron, concept); empty: no concept neurons
    comparison: dict | None = None  # the neuron scorer against EK-FAC and the ground truth
    ablation: pl.DataFrame | None = None  # mean and 95% CI of the changes, per arm and probe kind
    sections: list[str] = field(default_factory=list)  # of summary.md
    notes: list[str] = field(default_factory=list)  # inputs that were missing, and what was done instead

    @property
    def summary(self) -> str:
        return "\n".join(self.sections)


def run_neuron_study(args: NeuronArguments) -> NeuronStudy:
    """Label concept neurons, measure them on the probes and the corpus, ablate them; write every table and plot.
    With no concept neurons, only the labels' tables are written."""
    import polars as pl
    import torch

    from attribution.model import load_causal_lm
    from curate.neurons import mechanics as lens
    from curate.probes.sets import read_probes

    run_dir = RunDir(args.run_dir)
    study = NeuronStudy(args.out or run_dir.neurons)
    out = study.out
    out.mkdir(parents=True, exist_ok=True)
    model, tokenizer = load_causal_lm(args.model or run_dir.model, threads=args.threads)
    probes = read_probes(args.probes or run_dir.probes)
    torch.manual_seed(0)

    # 1. Which neurons stand for which concept.
    layers = lens.mlp_layers(model)
    top_ids = lens.top_tokens(model, layers, args.top_tokens, through_norm=args.norm)
    words = lens.token_words(tokenizer)
    labels = study.labels = lens.label_neurons(top_ids, words, min_overlap=args.min_overlap)
    labels.write_csv(out / "neurons.csv")
    chance = lens.chance_counts(top_ids, words, min_overlap=args.min_overlap)
    per_layer = labels.group_by("concept", "layer").agg(pl.len().alias("neurons"))
    grid = (
        pl.DataFrame([{"concept": c, "layer": layer.layer} for c in lens.CONCEPTS for layer in layers])
        .join(per_layer, on=["concept", "layer"], how="left")
        .with_columns(pl.col("neurons").fill_null(0))
    )
    grid.write_csv(out / "concept_counts.csv")
    plot_counts(grid, len(layers), out / "concepts_by_layer.png")
    totals = (
        grid.group_by("concept", maintain_order=True)
        .agg(pl.col("neurons").sum())
        .with_columns(chance=pl.col("concept").replace_strict(chance, return_dtype=pl.Float64))
    )
    n_neurons = sum(layer.n_neurons for layer in layers)
    study.sections.append(
        f"## Concept neurons ({len(layers)} layers × {n_neurons // len(layers)} neurons; top {args.top_tokens} "
        f"tokens, at least {args.min_overlap} in the concept's list; `chance`: mean count with the vocabulary "
        f"shuffled)\n\n{as_text(totals, float_precision=4)}\n"
    )
    neuron_sets = {c: lens.concept_neurons(labels, c) for c in lens.CONCEPTS}
    neuron_sets["all_concepts"] = lens.concept_neurons(labels)
    neuron_sets = {name: n for name, n in neuron_sets.items() if n}
    if neuron_sets:
        # 2. How strongly they fire while the model reads each probe (prompt and completion).
        activation = lens.contributions(model, tokenizer, [p.text for p in probes], layers, neuron_sets)
        per_probe = pl.DataFrame({"probe_id": [p.id for p in probes], "set": [p.set for p in probes],
                                  "kind": [p.kind for p in probes], **activation})
        per_probe.write_csv(out / "probe_activation.csv")
        by_set = per_probe.group_by("set", "kind", maintain_order=True).agg(pl.col(list(neuron_sets)).mean())
        study.sections.append(
            "## Mean contribution |m|·‖v‖ of concept neurons per token, by probe set\n\n"
            f"{as_text(by_set, float_precision=4)}\n"
        )
        corpus = args.corpus or run_dir.corpus
        if args.documents and Path(corpus).exists():
            _documents(model, tokenizer, probes, layers, neuron_sets, corpus, args.scores or run_dir.scores, args, study)
        if args.ablate:
            _ablate(model, tokenizer, probes, layers, neuron_sets["all_concepts"], args, study)
    (out / "summary.md").write_text(study.summary)
    return study


def _documents(model, tokenizer, probes, layers, neuron_sets, corpus: Path, scores_dir: Path, args: NeuronArguments,
               study: NeuronStudy) -> None:
    """3. Documents: the neuron scorer (each document's mean contribution per neuron set) against EK-FAC, when
    there are scores, and against the ground truth `procedural`, when the corpus has it."""
    import polars as pl

    from attribution.scores import load_per_nat_scores
    from curate.classify.labels import aggregate_scores
    from curate.corpus.io import read_documents
    from curate.errors import InputError
    from curate.neurons import mechanics as lens

    rows = []
    for document in islice(read_documents(corpus), args.max_documents):
        truth = {"procedural": bool(document.metadata["procedural"])} if "procedural" in document.metadata else {}
        rows.append({"doc_id": str(document.id), "text": document.text, **truth})
    documents = pl.DataFrame(rows)
    texts = documents["text"].to_list()
    scores = lens.contributions(model, tokenizer, texts, layers, neuron_sets, max_length=args.max_length)
    documents = documents.drop("text").with_columns(
        pl.Series(f"neurons_{name}", values) for name, values in scores.items()
    )
    documents.write_parquet(study.out / "document_scores.parquet")
    frame = documents.rename({"neurons_all_concepts": "neurons"})
    truth = "procedural" if "procedural" in frame.columns else None
    if (Path(scores_dir) / "probes.json").exists():
        ekfac, _ = load_per_nat_scores(scores_dir)
        reasoning = [p.id for p in probes if p.kind == "reasoning" and p.id in ekfac.columns]
        if not reasoning:
            raise InputError(f"{scores_dir}: no scores for the reasoning probes")
        # the document aggregate the classifier learns from, so both comparisons rank the same way
        aggregate = aggregate_scores(ekfac, reasoning, args.aggregate)
        ranking = ekfac.select("doc_id").with_columns(pl.Series("ekfac", aggregate))
        frame = frame.join(ranking, on="doc_id", how="inner")
        study.comparison = lens.compare_rankings(frame, "neurons", "ekfac", truth, args.k)
        study.comparison["reasoning_probes"] = len(reasoning)
    elif truth is not None:
        study.notes.append(f"no scores in {scores_dir}: comparing the neuron scorer with the ground truth only")
        study.comparison = {"documents": frame.height, **lens.against_truth(frame, ["neurons"], truth, args.k)}
    else:
        return
    pl.DataFrame([study.comparison]).write_csv(study.out / "comparison.csv")
    table = pl.DataFrame({"measure": list(study.comparison), "value": list(map(float, study.comparison.values()))})
    study.sections.append(
        "## Documents: neuron scorer (mean concept-neuron contribution) vs EK-FAC (reasoning probes' "
        f"scores combined by `{args.aggregate}`, as for the classifier); F1 against the ground truth at k"
        f"\n\n{as_text(table, float_precision=4)}\n"
    )


def _ablate(model, tokenizer, probes, layers, neurons, args: NeuronArguments, study: NeuronStudy) -> None:
    """4. Probe loss and accuracy with the concept neurons corrupted vs as many random neurons of the same layers."""
    import polars as pl

    from curate.neurons import mechanics as lens
    from curate.validate.intervals import mean_and_interval

    arguments = lens.AblationArguments(args.ablation, args.noise_scale, args.seeds, args.accuracy)
    kept = [p for p in probes if p.kind in ("reasoning", "factual")]
    results = lens.run_ablation(model, tokenizer, kept, layers, neurons, arguments)
    results.write_csv(study.out / "ablation.csv")
    study.ablation = pl.concat(
        mean_and_interval(results, ["arm", "kind"], metric).with_columns(metric=pl.lit(metric))
        for metric in ("delta_loss", "delta_accuracy")
    ).select("metric", "arm", "kind", "n", "mean", "ci95")
    study.ablation.write_csv(study.out / "ablation_summary.csv")
    plot_ablation(study.ablation, study.out / "ablation.png")
    intact = results.group_by("kind", maintain_order=True).agg(pl.col("intact_loss", "intact_accuracy").first())
    study.sections.append(
        f"## Ablation ({args.ablation}) of {results['neurons'][0]} concept neurons vs as many random neurons "
        "of the same layers; change from the intact model (mean, 95% CI over seeds)\n\n"
        f"{as_text(study.ablation, float_precision=4)}\n\nIntact model:\n\n{as_text(intact, float_precision=4)}\n"
    )


def plot_counts(counts: pl.DataFrame, n_layers: int, path: Path) -> None:
    """Heatmap of labelled neurons per concept (rows) and layer (columns), counts written in the cells."""
    from curate.plots import new_figure, save_figure

    concepts = counts["concept"].unique(maintain_order=True).to_list()
    grid = [[0] * n_layers for _ in concepts]
    for concept, layer, count in counts.select("concept", "layer", "neurons").iter_rows():
        grid[concepts.index(concept)][layer] = count
    fig, ax = new_figure(1.2 + 0.6 * n_layers, 1 + 0.45 * len(concepts))
    image = ax.imshow(grid, cmap="Blues", aspect="auto")
    for row, values in enumerate(grid):
        for column, value in enumerate(values):
            ax.text(column, row, str(value), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(n_layers), [str(i) for i in range(n_layers)])
    ax.set_yticks(range(len(concepts)), concepts)
    ax.set(xlabel="layer", title="Concept neurons per layer")
    fig.colorbar(image, ax=ax)
    save_figure(fig, path)


def plot_ablation(summary: pl.DataFrame, path: Path) -> None:
    """Change in probe loss (left) and greedy accuracy (right) per probe kind, concept vs random neurons."""
    import polars as pl

    from curate.plots import new_figure, save_figure

    fig, axes = new_figure(9, 3.5, ncols=2)
    kinds = summary["kind"].unique(maintain_order=True).to_list()
    for ax, metric, label in zip(
        axes, ("delta_loss", "delta_accuracy"), ("Δ loss (nats/token)", "Δ greedy accuracy"), strict=True
    ):
        for i, arm in enumerate(("concept", "random")):
            rows = summary.filter((pl.col("metric") == metric) & (pl.col("arm") == arm))
            values = {kind: (mean, ci) for kind, mean, ci in rows.select("kind", "mean", "ci95").iter_rows()}
            xs = [k + 0.4 * i for k in range(len(kinds))]
            means = [values.get(kind, (float("nan"), 0))[0] for kind in kinds]
            errors = [values.get(kind, (0, float("nan")))[1] for kind in kinds]
            errors = [e if e is not None and e == e else 0.0 for e in errors]  # no CI from a single run
            ax.bar(xs, means, 0.4, yerr=errors, capsize=3, label=f"{arm} neurons")
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks([k + 0.2 for k in range(len(kinds))], kinds)
        ax.set(ylabel=label)
    axes[0].legend()
    fig.suptitle("Ablating concept neurons vs random neurons (mean, 95% CI over seeds)")
    save_figure(fig, path)
