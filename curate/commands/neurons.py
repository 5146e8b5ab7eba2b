"""`curate neurons`: the neuron-activation lens (Rai & Yao 2024) on a run's model, probes, corpus and scores.

    curate neurons --run-dir runs/x                  label concept neurons, score documents, ablate
    curate neurons --ablation noise --noise-scale 2  corrupt with fixed noise instead of zeroing
    curate neurons --no-ablation --no-documents      only the labels and the probes' activations

Writes to RUN_DIR/neurons: neurons.csv (labelled neurons and their top tokens), concept_counts.csv and
concepts_by_layer.png, probe_activation.csv, document_scores.parquet, comparison.csv (against EK-FAC and the
synthetic ground truth), ablation.csv, ablation_summary.csv, ablation.png and summary.md.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from curate.classify.labels import AGGREGATIONS, LabelArguments, aggregate_scores
from curate.paths import RunDir, add_run_dir_argument
from curate.plots import new_figure, save_figure
from curate.tables import as_text


def register(subparsers) -> None:
    parser = subparsers.add_parser("neurons", help="concept neurons: labels, document scores, ablation")
    add_run_dir_argument(parser)
    parser.add_argument("--model", type=Path, help="HF model directory (default: RUN_DIR/model)")
    parser.add_argument("--probes", type=Path, help="probe file (default: RUN_DIR/probes/probes.jsonl)")
    parser.add_argument("--scores", type=Path, help="EK-FAC scores directory (default: RUN_DIR/scores)")
    parser.add_argument("--corpus", type=Path, help="corpus to score (default: RUN_DIR/corpus)")
    parser.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/neurons)")
    parser.add_argument(
        "--top-tokens", type=int, default=20, help="top vocabulary tokens kept per neuron (default: 20)"
    )
    parser.add_argument(
        "--min-overlap",
        type=int,
        default=3,
        help="distinct words of a concept's list among a neuron's top tokens needed to label it (default: 3)",
    )
    parser.add_argument(
        "--no-norm", action="store_true", help="project value vectors without the final norm's weight"
    )
    parser.add_argument("--aggregate", choices=AGGREGATIONS, default=LabelArguments.aggregate,
                        help="how EK-FAC scores of the reasoning probes combine per document (as for the classifier)")
    parser.add_argument("--k", type=int, help="top-k for overlap and F1 (default: number of procedural docs)")
    parser.add_argument("--max-documents", type=int, help="score only the first N documents")
    parser.add_argument("--max-length", type=int, default=512, help="tokens read per document")
    parser.add_argument("--no-documents", action="store_true", help="skip document scoring and comparison")
    parser.add_argument("--ablation", choices=("zero", "noise"), default="zero")
    parser.add_argument(
        "--noise-scale", type=float, default=1.0, help="noise std in units of each neuron's RMS activation"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds of the ablation arms")
    parser.add_argument("--no-ablation", action="store_true", help="skip the ablation")
    parser.add_argument(
        "--no-accuracy", action="store_true", help="ablation: loss only, no greedy generation"
    )
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (1 is fastest for small models on a busy CPU)"
    )
    parser.set_defaults(func=run)


def plot_counts(counts: pl.DataFrame, n_layers: int, path: Path) -> None:
    """Heatmap of labelled neurons per concept (rows) and layer (columns), counts written in the cells."""
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


def read_corpus(path: Path, limit: int | None) -> pl.DataFrame:
    """doc_id, text and (when the corpus has it) the synthetic ground truth `procedural`."""
    from curate.corpus.io import read_documents

    rows = []
    for document in read_documents(path):
        if limit is not None and len(rows) >= limit:
            break
        row = {"doc_id": str(document.id), "text": document.text}
        if "procedural" in document.metadata:
            row["procedural"] = bool(document.metadata["procedural"])
        rows.append(row)
    return pl.DataFrame(rows)


def run(args) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from attribution import neurons as lens
    from attribution.probes import read_probes
    from attribution.scores import load_per_nat_scores
    from curate.errors import UserFacingError
    from curate.validate.intervals import mean_and_interval

    if args.threads:
        torch.set_num_threads(args.threads)
    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.root / "neurons"
    out.mkdir(parents=True, exist_ok=True)
    model_path = args.model or run_dir.model
    if not Path(model_path).exists():
        raise UserFacingError(f"no model at {model_path}; run `curate train-lm` or pass --model")
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path).eval()
    probes = read_probes(args.probes or run_dir.probes)
    torch.manual_seed(0)
    report = []

    # 1. Which neurons stand for which concept.
    layers = lens.mlp_layers(model)
    top_ids = lens.top_tokens(model, layers, args.top_tokens, through_norm=not args.no_norm)
    words = lens.token_words(tokenizer)
    labels = lens.label_neurons(top_ids, words, min_overlap=args.min_overlap)
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
    report.append(
        f"## Concept neurons ({len(layers)} layers × {n_neurons // len(layers)} neurons; top {args.top_tokens} "
        f"tokens, at least {args.min_overlap} in the concept's list; `chance`: mean count with the vocabulary "
        f"shuffled)\n\n{as_text(totals, float_precision=4)}\n"
    )
    neuron_sets = {c: lens.concept_neurons(labels, c) for c in lens.CONCEPTS}
    neuron_sets["all_concepts"] = lens.concept_neurons(labels)
    neuron_sets = {name: n for name, n in neuron_sets.items() if n}
    if not neuron_sets:
        (out / "summary.md").write_text("\n".join(report))
        print("\n".join(report))
        print("no concept neurons found; lower --min-overlap or raise --top-tokens")
        return

    # 2. How strongly they fire while the model reads each probe (prompt and completion).
    texts = [p.text for p in probes]
    activation = lens.contributions(model, tokenizer, texts, layers, neuron_sets)
    per_probe = pl.DataFrame(
        {
            "probe_id": [p.id for p in probes],
            "set": [p.set for p in probes],
            "kind": [p.kind for p in probes],
            **activation,
        }
    )
    per_probe.write_csv(out / "probe_activation.csv")
    by_set = per_probe.group_by("set", "kind", maintain_order=True).agg(pl.col(list(neuron_sets)).mean())
    report.append(
        f"## Mean contribution |m|·‖v‖ of concept neurons per token, by probe set\n\n{as_text(by_set, float_precision=4)}\n"
    )

    # 3. Documents: the neuron scorer against EK-FAC and the synthetic ground truth.
    corpus = args.corpus or run_dir.corpus
    if not args.no_documents and Path(corpus).exists():
        documents = read_corpus(corpus, args.max_documents)
        scores = lens.contributions(
            model, tokenizer, documents["text"].to_list(), layers, neuron_sets, max_length=args.max_length
        )
        documents = documents.drop("text").with_columns(
            pl.Series(f"neurons_{name}", values) for name, values in scores.items()
        )
        documents.write_parquet(out / "document_scores.parquet")
        frame = documents.rename({"neurons_all_concepts": "neurons"})
        truth = "procedural" if "procedural" in frame.columns else None
        scores_dir = args.scores or run_dir.scores
        if (Path(scores_dir) / "probes.json").exists():
            ekfac, _ = load_per_nat_scores(scores_dir)
            reasoning = [p.id for p in probes if p.kind == "reasoning" and p.id in ekfac.columns]
            if not reasoning:
                raise UserFacingError(f"{scores_dir}: no scores for the reasoning probes")
            # the document aggregate the classifier learns from, so both comparisons rank the same way
            aggregate = aggregate_scores(ekfac, reasoning, args.aggregate)
            ranking = ekfac.select("doc_id").with_columns(pl.Series("ekfac", aggregate))
            frame = frame.join(ranking, on="doc_id", how="inner")
            comparison = lens.compare_rankings(frame, "neurons", "ekfac", truth, args.k)
            comparison["reasoning_probes"] = len(reasoning)
        elif truth is not None:
            print(f"no scores in {scores_dir}: comparing the neuron scorer with the ground truth only")
            comparison = {"documents": frame.height, **lens.against_truth(frame, ["neurons"], truth, args.k)}
        else:
            comparison = None
        if comparison is not None:
            pl.DataFrame([comparison]).write_csv(out / "comparison.csv")
            table = pl.DataFrame(
                {"measure": list(comparison), "value": [float(v) for v in comparison.values()]}
            )
            report.append(
                "## Documents: neuron scorer (mean concept-neuron contribution) vs EK-FAC (reasoning probes' "
                f"scores combined by `{args.aggregate}`, as for the classifier); F1 against the ground truth at k"
                f"\n\n{as_text(table, float_precision=4)}\n"
            )

    # 4. Ablation: corrupt the concept neurons vs as many random neurons of the same layers.
    if not args.no_ablation:
        arguments = lens.AblationArguments(args.ablation, args.noise_scale, args.seeds, not args.no_accuracy)
        kept = [p for p in probes if p.kind in ("reasoning", "factual")]
        results = lens.run_ablation(model, tokenizer, kept, layers, neuron_sets["all_concepts"], arguments)
        results.write_csv(out / "ablation.csv")
        summary = pl.concat(
            mean_and_interval(results, ["arm", "kind"], metric).with_columns(metric=pl.lit(metric))
            for metric in ("delta_loss", "delta_accuracy")
        ).select("metric", "arm", "kind", "n", "mean", "ci95")
        summary.write_csv(out / "ablation_summary.csv")
        plot_ablation(summary, out / "ablation.png")
        intact = results.group_by("kind", maintain_order=True).agg(
            pl.col("intact_loss", "intact_accuracy").first()
        )
        report.append(
            f"## Ablation ({args.ablation}) of {results['neurons'][0]} concept neurons vs as many random neurons "
            f"of the same layers; change from the intact model (mean, 95% CI over seeds)\n\n{as_text(summary, float_precision=4)}\n"
            f"\nIntact model:\n\n{as_text(intact, float_precision=4)}\n"
        )

    text = "\n".join(report)
    (out / "summary.md").write_text(text)
    print(text)
    print(f"tables and plots in {out}")


