"""The influence report: every analysis of `curate.analysis` on one scores directory, as CSV tables, PNG
plots and one self-contained `report.html` (plots embedded as data URIs, so the file can be mailed alone).

    headline = build_report("runs/x/scores", "runs/x/probes/probes.jsonl", "runs/x/corpus", "runs/x/report")
    print("\n".join(format_headline(headline)))
"""

from __future__ import annotations

import base64
import html
import json
import logging
from dataclasses import asdict
from pathlib import Path

import polars as pl

from curate.analysis import (
    answer_search,
    compare_slopes,
    correlation_matrix,
    correlation_pairs,
    correlation_summary,
    load_documents,
    ordered_probes,
    over_representation,
    plot_answers,
    plot_correlation_matrix,
    plot_power_law,
    plot_representation,
    plot_separation,
    plot_topk_mass,
    power_law_fits,
    searched_documents,
    separation,
    set_order,
    summarise_answers,
    summarise_representation,
    summarise_separation,
    summarise_topk_mass,
    top_document_ids,
    top_documents,
    topk_mass,
    within_task_by_set,
)
from curate.analysis.power_law import fit_count
from curate.analysis_arguments import ReportArguments
from curate.errors import InputError
from curate.probes.sets import read_probes

log = logging.getLogger(__name__)
SEPARATION_METRICS = ("roc_auc", "average_precision", "roc_auc_against_factual")


def build_report(
    scores_dir: str | Path, probes_path: str | Path, corpus_path: str | Path, out_dir: str | Path,
    args: ReportArguments | None = None,
) -> dict:
    """Run every analysis, write tables, plots and `report.html` into `out_dir`; returns the headline numbers
    (also written to `headline.json`)."""
    from attribution.scores import load_per_nat_scores

    args = args or ReportArguments()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scores, meta = load_per_nat_scores(scores_dir)
    probes = ordered_probes(scores, read_probes(probes_path))
    unscored = [p["id"] for p in meta["probes"] if p["id"] not in {q.id for q in probes}]
    if unscored:
        log.warning("%d scored probes are not in %s and are left out (e.g. %s)", len(unscored), probes_path,
                    unscored[0])
    needed = top_document_ids(scores, probes, args.top_documents)
    for seed in (None, args.seed):
        needed |= {str(i) for ids in searched_documents(scores, probes, args.answer_top_k, seed).values() for i in ids}
    documents = load_documents(corpus_path, needed, args.text_key, args.id_key, truth_keys=(args.truth_key,))
    _check_overlap(scores, documents, corpus_path)

    ks = (*args.source_ks, args.headline_k)
    tables: dict[str, pl.DataFrame] = {}
    plots: dict[str, Path] = {}
    matrix = correlation_matrix(scores, probes)
    pairs = correlation_pairs(matrix, probes)
    tables |= {"correlation_matrix": matrix, "correlation_pairs": pairs,
               "correlation_summary": correlation_summary(pairs),
               "correlation_by_set": correlation_summary(pairs, by=("set_a", "set_b")),
               "correlation_within_task_by_set": within_task_by_set(pairs)}
    plots["correlations"] = plot_correlation_matrix(matrix, probes, out / "correlations.png")

    mass = topk_mass(scores, probes, args.percentiles)
    tables |= {"topk_mass": mass, "topk_mass_by_kind": summarise_topk_mass(mass)}
    plots["topk_mass"] = plot_topk_mass(mass, out / "topk_mass.png")

    fits = power_law_fits(scores, probes, args.top_fraction, args.min_docs)
    slope_test = compare_slopes(fits)
    tables |= {"power_law": fits, "power_law_test": pl.DataFrame([slope_test])}
    plots["power_law"] = plot_power_law(scores, probes, fits, out / "power_law.png", args.top_fraction, args.min_docs)

    answers = pl.concat([answer_search(scores, probes, documents, args.answer_top_k, seed)
                         for seed in (None, args.seed)])
    tables |= {"answers": answers, "answers_by_set": summarise_answers(answers),
               "answers_by_kind": summarise_answers(answers, by="kind")}
    plots["answers"] = plot_answers(answers, out / "answers.png")

    columns = ["source"] + ([args.truth_key] if args.truth_key in documents.columns else [])
    for column in columns:
        rows = over_representation(scores, probes, documents, column, ks)
        tables |= {f"{column}_representation": rows,
                   f"{column}_representation_by_kind": summarise_representation(rows, column),
                   f"{column}_representation_by_set": summarise_representation(rows, column, by="set")}
        plots[f"{column}_representation"] = plot_representation(rows, out / f"{column}_representation.png", column)
    if args.truth_key in documents.columns:
        tables["separation"] = separation(scores, probes, documents, args.truth_key)
        plots["separation"] = plot_separation(tables["separation"], out / "separation.png")

    tables["top_documents"] = top_documents(scores, probes, documents, args.top_documents, args.snippet_chars)
    for name, table in tables.items():
        table.write_csv(out / f"{name}.csv")

    headline = _without_nan(_headline(scores, probes, tables, slope_test, args))
    (out / "headline.json").write_text(json.dumps(headline, indent=1) + "\n")
    context = {"scores": str(scores_dir), "probes": str(probes_path), "corpus": str(corpus_path),
               "method": meta.get("arguments", {}).get("method", "unknown"),
               "fit_documents": fit_count(scores.height, args.top_fraction, args.min_docs), **asdict(args)}
    (out / "report.html").write_text(render_html(headline, tables, plots, probes, context), encoding="utf-8")
    return headline


def _check_overlap(scores: pl.DataFrame, documents: pl.DataFrame, corpus_path: str | Path) -> None:
    missing = scores.height - scores.join(documents.select("doc_id"), on="doc_id", how="semi").height
    if missing == scores.height:
        raise InputError(f"none of the scored documents is in {corpus_path}: scores of another corpus?")
    if missing:
        log.warning("%d of %d scored documents are not in %s; their source counts as unknown",
                    missing, scores.height, corpus_path)


def _mean_where(table: pl.DataFrame, value: str, **equal) -> float | None:
    rows = table.filter(*(pl.col(c) == v for c, v in equal.items()))
    return float(rows[value].mean()) if rows.height and rows[value].mean() is not None else None


def _headline(scores: pl.DataFrame, probes, tables: dict[str, pl.DataFrame], slope_test: dict,
              args: ReportArguments) -> dict:
    summary = tables["correlation_summary"]
    correlation = {relation: _mean_where(summary, "mean_r", relation=relation)
                   for relation in ("within_task", "across_task", "factual_factual")}
    k = min(args.headline_k, scores.height)
    top_k = (pl.col("side") == "top") & (pl.col("k") == k)
    sources = tables["source_representation_by_kind"].filter(top_k)
    set_sources = tables["source_representation_by_set"].filter(top_k & (pl.col("kind") == "reasoning"))
    headline = {
        "documents": scores.height,
        "probes": {name: sum(p.set == name for p in probes) for name in dict.fromkeys(p.set for p in probes)},
        "correlation": correlation,
        "within_task_by_set": dict(tables["correlation_within_task_by_set"].select("set", "mean_r").iter_rows()),
        "answer_found": {kind: _mean_where(tables["answers"], "answer_found", kind=kind, ranking="score")
                         for kind in ("factual", "reasoning")},
        "answer_found_random": {kind: _mean_where(tables["answers"], "answer_found", kind=kind, ranking="random")
                                for kind in ("factual", "reasoning")},
        "power_law": slope_test,
        "source_ratio_top_k": {"k": k, **{kind: dict(sources.filter(pl.col("kind") == kind)
                                                     .select("source", "mean_ratio").iter_rows())
                                          for kind in ("reasoning", "factual")}},
        "source_ratio_top_k_by_set": {name: dict(set_sources.filter(pl.col("set") == name)
                                                 .select("source", "mean_ratio").iter_rows())
                                      for name in dict.fromkeys(set_sources["set"])},
    }
    truth = f"{args.truth_key}_representation"
    if f"{truth}_by_kind" in tables:
        is_true = top_k & pl.col(args.truth_key).is_in(["true", "1"])
        rows = tables[f"{truth}_by_kind"].filter(is_true)
        by_set = tables[f"{truth}_by_set"].filter(is_true & (pl.col("kind") == "reasoning"))
        headline["truth_share_top_k"] = {
            "key": args.truth_key, "k": k,
            "corpus": _mean_where(rows, "corpus_share"),
            **{kind: _mean_where(rows, "mean_share", kind=kind) for kind in ("reasoning", "factual")},
            "by_set": dict(by_set.select("set", "mean_share").iter_rows()),
        }
    if "separation" in tables:
        rows = tables["separation"]
        whole = rows.filter(pl.col("without").is_null())
        lowest = rows.filter(pl.col("without").is_not_null() & pl.col("roc_auc").is_not_nan()).sort("roc_auc")
        lowest = {group: {"source": source, "roc_auc": auc} for group, source, auc
                  in lowest.unique("group", keep="first").select("group", "without", "roc_auc").iter_rows()}
        headline["separation"] = {
            "key": args.truth_key, **{m: dict(whole.select("group", m).iter_rows()) for m in SEPARATION_METRICS},
            "lowest_auc_without": {group: lowest[group] for group in whole["group"] if group in lowest},
        }
    return headline


def _without_nan(value):
    """NaN (no data: e.g. no factual probes) as None, so headline.json is strict JSON."""
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    return None if isinstance(value, float) and value != value else value


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def _p_value(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.2g}"


def format_headline(headline: dict) -> list[str]:
    """The headline numbers as lines of text (printed by `curate influence report`, listed at the top of the HTML)."""
    c, p = headline["correlation"], headline["power_law"]
    a, chance = headline["answer_found"], headline["answer_found_random"]
    sets = ", ".join(f"{count} {name}" for name, count in headline["probes"].items())
    lines = [
        f"{headline['documents']} documents; probes: {sets}",
        f"mean correlation of document scores: within-task {_number(c['within_task'])}, "
        f"across-task {_number(c['across_task'])}, factual-factual {_number(c['factual_factual'])}",
    ]
    # .get: a headline.json written before the per-set numbers existed (quickstart prints an old run's).
    if headline.get("within_task_by_set"):
        lines.append("within-task correlation per reasoning set: "
                     + ", ".join(f"{name} {_number(r)}" for name, r in headline["within_task_by_set"].items()))
    truth = headline.get("truth_share_top_k")
    if truth:
        lines.append(f"share of top-{truth['k']} documents that are {truth['key']}: reasoning "
                     f"{_number(truth['reasoning'])}, factual {_number(truth['factual'])} "
                     f"(corpus {_number(truth['corpus'])})")
        if truth.get("by_set"):
            lines.append(f"share of top-{truth['k']} documents that are {truth['key']}, per reasoning set: "
                         + ", ".join(f"{name} {_number(share)}" for name, share in truth["by_set"].items()))
    separated = headline.get("separation")
    if separated:
        auc, ap, contrast = (separated[m] for m in SEPARATION_METRICS)
        lines.append(f"{separated['key']} documents ranked by aggregate influence magnitude, ROC AUC (average "
                     "precision): " + ", ".join(f"{g} {_number(auc[g])} ({_number(ap[g])})" for g in auc))
        if any(value is not None and value == value for value in contrast.values()):
            lines.append("ranked by reasoning over factual influence (--against-factual), ROC AUC: " + ", ".join(
                f"{g} {_number(v)}" for g, v in contrast.items() if v is not None and v == v))
        if separated["lowest_auc_without"]:
            lines.append("lowest ROC AUC with one source left out: " + ", ".join(
                f"{g} {_number(v['roc_auc'])} without {v['source']}" for g, v in separated["lowest_auc_without"].items()))
    ratios = headline["source_ratio_top_k"]
    labelled = {f"{kind} probes": ratios.get(kind) for kind in ("reasoning", "factual")}
    labelled |= {f"{name} probes": values for name, values in headline.get("source_ratio_top_k_by_set", {}).items()}
    for label, values in labelled.items():
        if values:
            ordered = sorted(values.items(), key=lambda item: -item[1])
            lines.append(f"top-{ratios['k']} over-representation, {label}: "
                         + ", ".join(f"{source} {ratio:.2f}x" for source, ratio in ordered))
    lines += [
        f"answer found in top documents: factual {_number(a['factual'])}, reasoning {_number(a['reasoning'])} "
        f"(in random documents: factual {_number(chance['factual'])}, reasoning {_number(chance['reasoning'])})",
        f"power-law slope (top of ranking): reasoning {_number(p['reasoning_slope'])}, factual "
        f"{_number(p['factual_slope'])}; Welch t = {_number(p['welch_t'], 2)}, p = {_p_value(p['p_value'])}",
    ]
    return lines


# --- HTML ----------------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; vertical-align: top; }
th { background: #f0f0f0; } td.text { text-align: left; max-width: 600px; }
img { max-width: 100%; } details { margin: 0.3em 0; } summary { cursor: pointer; }
.note { color: #555; font-size: 0.9em; }
"""


def _table(table: pl.DataFrame, digits: int = 3, max_rows: int | None = None) -> str:
    """An HTML table; floats rounded, long text left-aligned, every cell escaped."""
    shown = table if max_rows is None else table.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = []
    for row in shown.iter_rows():
        cells = []
        for value in row:
            if isinstance(value, float):
                text, cls = _number(value, digits), ""
            else:
                text = "" if value is None else str(value)
                cls = ' class="text"' if len(text) > 40 or not text.replace(".", "").replace("-", "").isdigit() else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = f'<p class="note">{table.height - shown.height} more rows in the CSV.</p>' if shown.height < table.height else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def _image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _pivot(summary: pl.DataFrame, column: str, side: str, by: str = "kind") -> pl.DataFrame:
    """Mean ratio per (kind or set, value) with one column per k, for one side of the ranking."""
    rows = summary.filter(pl.col("side") == side)
    pivot = rows.pivot(on="k", index=[by, column], values="mean_ratio", sort_columns=False)
    return pivot.sort(set_order() if by == "set" else by, column)


def render_html(headline: dict, tables: dict[str, pl.DataFrame], plots: dict[str, Path], probes, context: dict) -> str:
    """The report page; every section a heading, a plot, and its tables (full tables are in the CSVs)."""
    def section(anchor: str, title: str, *parts: str) -> str:
        return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{"".join(parts)}</section>'

    def note(text: str) -> str:
        return f'<p class="note">{html.escape(text)}</p>'

    summary_lines = "".join(f"<li>{html.escape(line)}</li>" for line in format_headline(headline))
    settings = ", ".join(f"{k}={v}" for k, v in context.items())
    sections = [
        section("summary", "Headline numbers", f"<ul>{summary_lines}</ul>", note(f"Settings: {settings}")),
        section(
            "correlations", "Correlation of document scores between probes",
            note("Pearson r between two probes' per-nat scores over all documents. Probes of one reasoning task "
                 "drawing on the same procedures correlate (within-task); factual probes should not."),
            _image(plots["correlations"], "correlation heatmap"),
            _table(tables["correlation_summary"]),
            "<h3>Within each reasoning set</h3>", _table(tables["correlation_within_task_by_set"]),
            "<h3>By pair of sets</h3>", _table(tables["correlation_by_set"]),
        ),
        section(
            "topk-mass", "Influence carried by the top of each ranking",
            note("Total positive per-nat influence of each top-k percentile, and its share of the probe's total "
                 "positive influence, averaged over the probes of each kind."),
            _image(plots["topk_mass"], "top-k influence mass"), _table(tables["topk_mass_by_kind"]),
        ),
        section(
            "power-law", "Power-law fit to the top of each ranking",
            note(f"log score against log rank over the top {context['fit_documents']} documents of each ranking "
                 f"(top {context['top_fraction']:.4%}, at least {context['min_docs']}); Welch t-test between "
                 "reasoning and factual slopes."),
            _image(plots["power_law"], "power-law fits"), _table(tables["power_law_test"], digits=4),
            _table(tables["power_law"].group_by("set", maintain_order=True).agg(
                kind=pl.col("kind").first(), probes=pl.len(), mean_slope=pl.col("slope").mean(),
                mean_r2=pl.col("r2").mean())),
        ),
        section(
            "answers", "Answers in the top documents",
            note(f"Whether each probe's answer appears in its top {context['answer_top_k']} documents. Reasoning "
                 "answers and steps are searched as the step's equation with its operands (e.g. '5 - 3 = 2'), "
                 "a command (how-to) as written, factual answers as whole words; bare_answer_docs counts "
                 "documents with the bare number or word (a command's program). Ranking 'random' searches the "
                 "same number of randomly drawn documents instead: the rate expected by chance, which is high "
                 "where the corpus is small or repeats a fact often."),
            _image(plots["answers"], "answers found"), _table(tables["answers_by_set"]),
            "<details><summary>Every probe</summary>", _table(tables["answers"]), "</details>",
        ),
    ]
    for column in [c for c in ("source", context["truth_key"]) if f"{c}_representation_by_kind" in tables]:
        summary = tables[f"{column}_representation_by_kind"]
        sections.append(section(
            f"{column}-representation", f"Over-representation by {column}",
            note(f"Share of each {column} among a probe's top-k (bottom-k) documents divided by its share of the "
                 "corpus, averaged over the probes of each kind (and of each set); above 1 means over-represented."),
            _image(plots[f"{column}_representation"], f"{column} over-representation"),
            "<h3>Top k</h3>", _table(_pivot(summary, column, "top")),
            "<h3>Bottom k</h3>", _table(_pivot(summary, column, "bottom")),
            "<h3>Top k, per set</h3>", _table(_pivot(tables[f"{column}_representation_by_set"], column, "top", "set")),
        ))
    if "separation" in tables:
        sections.append(section(
            "separation", f"Separation of {context['truth_key']} documents by aggregate influence",
            note("Per probe set and per kind: each document's mean |score / rms| over the group's probes (how the "
                 f"classifier's labels rank documents), and how well it ranks {context['truth_key']} documents above "
                 "the rest: ROC AUC (0.5 is chance) and average precision (chance: the positives' share). "
                 "auc_without_S repeats the AUC with source S left out: one source can carry the separation. "
                 "The truth is evaluation-only and, on real text, a heuristic from each document's source."),
            _image(plots["separation"], "separation by probe group"), _table(summarise_separation(tables["separation"])),
        ))
    documents = tables["top_documents"]
    shown = [c for c in documents.columns if c not in ("probe", "set", "kind")]
    per_probe = []
    for probe in probes:
        rows = documents.filter(pl.col("probe") == probe.id).select(shown)
        title = f"{probe.id} ({probe.set}): {(probe.prompt.strip().splitlines() or [''])[0]}"
        per_probe.append(f"<details><summary>{html.escape(title)}</summary>{_table(rows)}</details>")
    sections.append(section(
        "top-documents", "Top documents per probe",
        note("Ranked by per-nat score divided by the document's gradient norm (normalised_score)."),
        *per_probe,
    ))
    inputs = note(f"scores {context['scores']} ({context['method']}), probes {context['probes']}, "
                  f"corpus {context['corpus']}")
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>Influence report</title>'
            f"<style>{_STYLE}</style></head><body><h1>Influence report</h1>{inputs}"
            f"{''.join(sections)}</body></html>\n")
