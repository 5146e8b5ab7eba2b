"""Does influence separate procedure from technical register? (`curate study register`)

A classifier learned from influence labels can only be as good as the ranking the labels come from. On real
text, procedural sources (manuals, code, worked solutions) are technical, and most non-procedural ones (news,
scripture) are not, so a ranking that only measures register looks perfect against prose. This study asks the
harder question: with technical text that states things but shows no procedure among the negatives (change
records, API listings: the corpus's evaluation-only `category` "technical"), which label rule still ranks the
procedural documents first?

Every rule is a document value from per-nat scores: an aggregate (`aggregate_scores`: magnitude, signed or
breadth) over a group of reasoning sets, optionally divided by the document's gradient norm, and optionally
contrasted with a group of factual sets (`against_factual`: rank by reasoning minus rank by facts). A consensus
group ("code_trace&maths") ranks a document by the lower of its rank percentiles under each part: procedure that
serves several reasoning tasks, where vocabulary shared with one task's probes (a change record naming the
functions a trace calls) lifts one part only. For each rule and each ranking (EK-FAC,
cosine, random), the ROC AUC of procedural documents against technical ones, against prose, and against both;
and per source, the documents' mean value and mean rank percentile. Categories only measure here; nothing is
selected with them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path

import numpy as np
import polars as pl

from curate.errors import InputError
from curate.paths import RunDir
from curate.validate.arguments import RegisterArguments

CATEGORIES = ("procedural", "technical", "prose")
# Groups of the real track's probe sets; a rule needs every named group among the scored probes.
REASONING_GROUPS = {
    "code_trace+howto": ("code_trace", "howto"),
    "all reasoning": ("arithmetic", "slope", "linear", "code_trace", "howto"),
    "maths": ("arithmetic", "slope", "linear"),
    "code_trace": ("code_trace",),
    "howto": ("howto",),
    "code_trace&maths": ("code_trace", "maths"),  # consensus: the lower percentile of the two groups' rules
}
CONTRASTS = {"none": (), "factual": ("factual",), "tech_fact": ("tech_fact",), "factual+tech_fact": ("factual", "tech_fact")}
RULE_AGGREGATES = ("magnitude", "signed", "breadth")  # magnitude, the labels' default, goes unnamed in a rule


@dataclass(frozen=True)
class Rule:
    reasoning: str  # a REASONING_GROUPS key
    against: str  # a CONTRASTS key
    per_grad_norm: bool
    aggregate: str = "magnitude"

    @property
    def name(self) -> str:
        return (f"{self.reasoning}/{self.against}" + (" per norm" if self.per_grad_norm else "")
                + ("" if self.aggregate == "magnitude" else f", {self.aggregate}"))


def rule_values(scores: pl.DataFrame, set_of: dict[str, str], rule: Rule) -> np.ndarray | None:
    """The rule's value per document (higher: more procedural by the rule), or None when the scores lack a set."""
    from curate.analysis.common import against_factual, aggregate_scores, percentiles

    if "&" in rule.reasoning:
        parts = [rule_values(scores, set_of, replace(rule, reasoning=part)) for part in REASONING_GROUPS[rule.reasoning]]
        return None if any(p is None for p in parts) else np.minimum.reduce([percentiles(p) for p in parts])

    def ids(sets: tuple[str, ...]) -> list[str]:
        return [probe for probe, name in set_of.items() if name in sets and probe in scores.columns]

    reasoning, factual = ids(REASONING_GROUPS[rule.reasoning]), ids(CONTRASTS[rule.against])
    if not reasoning or (CONTRASTS[rule.against] and not factual):
        return None
    if rule.per_grad_norm:
        norms = scores["doc_grad_norm"].cast(pl.Float64)
        if not norms.is_finite().all():
            return None  # random scores have no gradients
        scores = scores.with_columns([pl.col(c) / norms.clip(lower_bound=1e-12) for c in reasoning + factual])
    scores = scores.with_columns([pl.col(c).fill_nan(0.0) for c in reasoning + factual])
    values = aggregate_scores(scores, reasoning, rule.aggregate)
    if factual:
        values = against_factual(values, aggregate_scores(scores, factual, rule.aggregate))
    return values


def _auc(values: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    keep = positive | negative
    if not positive.any() or not negative.any():
        return float("nan")
    return float(roc_auc_score(positive[keep], values[keep]))


def separations(values: np.ndarray, categories: np.ndarray) -> dict[str, float]:
    procedural = categories == "procedural"
    return {"auc_vs_technical": _auc(values, procedural, categories == "technical"),
            "auc_vs_prose": _auc(values, procedural, categories == "prose"),
            "auc_vs_both": _auc(values, procedural, ~procedural)}


def per_source(values: np.ndarray, sources: np.ndarray, categories: np.ndarray) -> pl.DataFrame:
    """Per source: documents, category, mean value, mean rank percentile, and its rank by that mean (1: the most
    procedural by the rule)."""
    from curate.analysis.common import percentiles

    frame = pl.DataFrame({"source": sources, "category": categories, "value": values,
                          "percentile": percentiles(values)})
    table = frame.group_by("source", "category").agg(
        documents=pl.len(), mean_value=pl.col("value").mean(), mean_percentile=pl.col("percentile").mean())
    return table.sort("mean_percentile", descending=True).with_row_index("rank", offset=1)


def per_probe(scores: pl.DataFrame, set_of: dict[str, str], steps: dict[str, int], rule: Rule,
              categories: np.ndarray) -> pl.DataFrame:
    """Each reasoning probe of the rule alone (the rule with its group narrowed to that probe): its AUCs and its
    completion's steps, so that what makes a probe separate procedure from register (a longer trace, a set) shows."""
    rows = []
    for group in REASONING_GROUPS[rule.reasoning] if "&" in rule.reasoning else (rule.reasoning,):
        sets = REASONING_GROUPS[group]
        for probe in [p for p, name in set_of.items() if name in sets and p in scores.columns]:
            alone = {p: name for p, name in set_of.items() if p == probe or name not in sets}
            values = rule_values(scores, alone, replace(rule, reasoning=group))
            if values is not None:
                rows.append({"probe": probe, "set": set_of[probe], "steps": steps[probe],
                             **separations(values, categories)})
    return pl.DataFrame(rows)


def steps_against_separation(probes: pl.DataFrame) -> pl.DataFrame:
    """Per set: its probes' mean AUCs, and the Spearman correlation of a probe's steps with its AUC against
    technical text (NaN where every probe has as many steps)."""
    from scipy.stats import spearmanr

    rows = []
    for (name,), group in probes.group_by("set", maintain_order=True):
        varied = group["steps"].n_unique() > 1 and group["auc_vs_technical"].n_unique() > 1
        rho = spearmanr(group["steps"], group["auc_vs_technical"]).statistic if varied else float("nan")
        rows.append({"set": name, "probes": group.height, "mean_steps": group["steps"].mean(),
                     "mean_auc_vs_technical": group["auc_vs_technical"].mean(),
                     "mean_auc_vs_prose": group["auc_vs_prose"].mean(), "spearman_steps_vs_technical": float(rho)})
    return pl.DataFrame(rows)


@dataclass
class RegisterReport:
    aucs: pl.DataFrame
    sources: pl.DataFrame
    files: list[Path]
    probes: pl.DataFrame | None = None  # the first ranking's per-probe table under the label rule


def with_run_defaults(args: RegisterArguments, run_dir: RunDir) -> RegisterArguments:
    """The run directory's files for whatever `args` leaves out: EK-FAC and every `scores-METHOD` beside it, the
    scored sample (or the corpus), the probes, and `validate/register`."""
    rankings = args.rankings or [f"ekfac={run_dir.scores}"] + [
        f"{path.name.removeprefix('scores-')}={path}" for path in sorted(run_dir.root.glob("scores-*")) if path.is_dir()]
    sample = run_dir.root / "sample"
    return replace(args, rankings=rankings, corpus=args.corpus or (sample if sample.is_dir() else run_dir.corpus),
                   probes=args.probes or run_dir.probes, out=args.out or run_dir.validation / "register")


def measure_register(args: RegisterArguments, run_dir: RunDir | None = None) -> RegisterReport:
    """Write auc.csv (every ranking × rule), sources.csv (the label rule's per-source table, every ranking),
    register.md and register.png to `args.out`; a run directory fills in what `args` leaves out."""
    if run_dir is not None:
        args = with_run_defaults(args, run_dir)
    from attribution.scores import load_per_nat_scores
    from curate.corpus.io import read_documents
    from curate.probes.sets import read_probes
    from curate.tables import as_text

    rankings = dict(_named(item) for item in args.rankings)
    if not rankings or args.corpus is None or args.probes is None or args.out is None:
        raise InputError("give the corpus, the probes, an output folder and at least one ranking NAME=SCORES_DIR")
    label_rule = _parse_rule(args.label_rule)
    probes = read_probes(args.probes)
    set_of = {p.id: p.set for p in probes}
    steps = {p.id: len(p.completion.strip().splitlines()) for p in probes}
    meta = {d.id: (str(d.metadata.get("source", "unknown")), d.metadata.get(args.category_key))
            for d in read_documents(args.corpus)}
    rows, source_tables, probe_table = [], [], None
    for method, folder in rankings.items():
        scores, _ = load_per_nat_scores(folder)
        known = [doc_id in meta and meta[doc_id][1] in CATEGORIES for doc_id in scores["doc_id"]]
        scores = scores.filter(pl.Series(known))
        if not scores.height:
            raise InputError(f"{folder}: none of its documents has a {args.category_key!r} in {args.corpus}")
        sources = np.array([meta[i][0] for i in scores["doc_id"]])
        categories = np.array([meta[i][1] for i in scores["doc_id"]])
        for reasoning, against, per_norm, aggregate in product(REASONING_GROUPS, CONTRASTS, (False, True),
                                                               RULE_AGGREGATES):
            rule = Rule(reasoning, against, per_norm, aggregate)
            values = rule_values(scores, set_of, rule)
            if values is None:
                continue
            rows.append({"ranking": method, "rule": rule.name, "reasoning": reasoning, "against": against,
                         "per_grad_norm": per_norm, "aggregate": aggregate, "documents": scores.height, **separations(values, categories)})
            if rule == label_rule:
                source_tables.append(per_source(values, sources, categories).with_columns(ranking=pl.lit(method)))
        if probe_table is None:
            probe_table = per_probe(scores, set_of, steps, label_rule, categories)
    aucs = pl.DataFrame(rows).sort("auc_vs_technical", descending=True)
    sources_table = pl.concat(source_tables) if source_tables else pl.DataFrame()
    args.out.mkdir(parents=True, exist_ok=True)
    aucs.write_csv(args.out / "auc.csv")
    sources_table.write_csv(args.out / "sources.csv")
    shown = ["ranking", "rule", "auc_vs_technical", "auc_vs_prose", "auc_vs_both"]
    counts = pl.DataFrame({"category": categories}).group_by("category").len().sort("category")
    text = (f"# Influence against technical register\n\nDocuments per category (evaluation-only, from each "
            f"document's source): {', '.join(f'{c} {n}' for c, n in counts.iter_rows())}.\n\n"
            f"## ROC AUC of procedural documents against each kind of negative, every rule\n\n"
            f"{as_text(aucs.select(shown))}\n\n## Per source, rule {label_rule.name}\n\n")
    if sources_table.height:
        text += as_text(sources_table.select("ranking", "rank", "source", "category", "documents",
                                             "mean_value", "mean_percentile"))
    files = [args.out / n for n in ("auc.csv", "sources.csv", "register.md")]
    if probe_table is not None and probe_table.height:
        probe_table.write_csv(args.out / "probes.csv")
        files.append(args.out / "probes.csv")
        text += (f"\n\n## Each reasoning probe alone, rule {label_rule.name}, ranking {next(iter(rankings))}\n\n"
                 f"{as_text(steps_against_separation(probe_table))}\n\nEvery probe: probes.csv.")
    (args.out / "register.md").write_text(text + "\n")
    files.append(plot_register(aucs, sources_table, args.out / "register.png", label_rule.name))
    return RegisterReport(aucs, sources_table, files, probe_table)


def plot_register(aucs: pl.DataFrame, sources: pl.DataFrame, path: Path, label_rule: str) -> Path:
    """Left: AUC against technical text and against prose for each EK-FAC rule. Right: each source's mean rank
    percentile under the label rule, coloured by category."""
    from curate.plots import plt, save_figure

    colours = {"procedural": "tab:blue", "technical": "tab:red", "prose": "tab:green"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6))
    first = aucs["ranking"][0]
    shown = aucs.filter(pl.col("ranking") == first).sort("auc_vs_technical")
    y = np.arange(shown.height)
    left.barh(y - 0.2, shown["auc_vs_technical"], 0.4, color="tab:red", label="vs technical")
    left.barh(y + 0.2, shown["auc_vs_prose"], 0.4, color="tab:green", label="vs prose")
    left.set_yticks(y, shown["rule"].to_list(), fontsize=6)
    left.axvline(0.5, color="black", linestyle="--", linewidth=0.7)
    left.set(xlim=(0, 1), xlabel="ROC AUC, procedural first", title=f"{first}: every rule")
    left.legend(fontsize=8)
    if sources.height:
        table = sources.filter(pl.col("ranking") == first).sort("mean_percentile")
        y = np.arange(table.height)
        right.barh(y, table["mean_percentile"], color=[colours.get(c, "grey") for c in table["category"]])
        right.set_yticks(y, table["source"].to_list(), fontsize=7)
        right.axvline(0.5, color="black", linestyle="--", linewidth=0.7)
        right.set(xlim=(0, 1), xlabel="mean rank percentile", title=f"{first}, {label_rule}: per source")
        for category, colour in colours.items():
            right.barh([], [], color=colour, label=category)
        right.legend(fontsize=8)
    return save_figure(fig, path)


def _named(item: str) -> tuple[str, Path]:
    name, sep, folder = item.partition("=")
    if not sep or not name or not folder:
        raise InputError(f"--rankings takes NAME=SCORES_DIR, got {item!r}")
    return name, Path(folder)


def _parse_rule(text: str) -> Rule:
    rule, _, aggregate = text.partition(", ")
    reasoning, _, against = rule.partition("/")
    against, per_norm = against.removesuffix(" per norm"), against.endswith(" per norm")
    if reasoning not in REASONING_GROUPS or against not in CONTRASTS or (aggregate or "magnitude") not in RULE_AGGREGATES:
        raise InputError(f"--label-rule takes GROUP/CONTRAST[ per norm][, AGGREGATE] with GROUP in "
                         f"{', '.join(REASONING_GROUPS)}, CONTRAST in {', '.join(CONTRASTS)} and AGGREGATE in "
                         f"{', '.join(RULE_AGGREGATES[1:])}, got {text!r}")
    return Rule(reasoning, against, per_norm, aggregate or "magnitude")
