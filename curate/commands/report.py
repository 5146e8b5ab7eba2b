"""`curate influence report`: the paper's analyses of a scores directory, as an HTML report with CSV tables and plots.

    curate influence report --run-dir runs/x                     RUN_DIR/scores, probes, corpus -> RUN_DIR/report
    curate influence report --scores other/scores --out other/report --min-documents 50
"""

from __future__ import annotations

from pathlib import Path

from attribution.options import add_options, options_from
from curate.analysis_arguments import ReportArguments
from curate.paths import RunDir, add_run_dir_argument


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(item) for item in text.split(","))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(item) for item in text.split(","))


def _joined(values: tuple) -> str:
    return ",".join(f"{value:g}" for value in values)


def register(actions) -> None:
    parser = actions.add_parser("report", help="analyse influence scores: correlations, top-k mass, power law, "
                                                  "answers, sources, top documents")
    add_run_dir_argument(parser)
    parser.add_argument("--scores", type=Path, help="scores directory (default: RUN_DIR/scores)")
    parser.add_argument("--probes", type=Path, help="probe file (default: RUN_DIR/probes/probes.jsonl)")
    parser.add_argument("--corpus", type=Path, help="the scored corpus (default: RUN_DIR/corpus)")
    parser.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/report)")
    add_options(parser, ReportArguments)
    # Lists as one comma-separated word, as they have always been given.
    parser.add_argument("--percentiles", type=_floats, default=ReportArguments.percentiles,
                        help="top-k percentiles for the influence mass, comma-separated "
                             f"(default: {_joined(ReportArguments.percentiles)})")
    parser.add_argument("--source-ks", type=_ints, default=ReportArguments.source_ks,
                        help=f"k for over-representation, comma-separated (default: {_joined(ReportArguments.source_ks)})")
    parser.set_defaults(func=run)


def run(args) -> None:
    from curate.report import build_report, format_headline

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.report
    headline = build_report(args.scores or run_dir.scores, args.probes or run_dir.probes,
                            args.corpus or run_dir.corpus, out, options_from(ReportArguments, args))
    print("\n".join(format_headline(headline)))
    print(f"report: {out / 'report.html'} (tables as CSV and plots as PNG beside it)")
