"""`curate report`: the paper's analyses of a scores directory, as an HTML report with CSV tables and plots.

    curate report --run-dir runs/x                     RUN_DIR/scores, probes, corpus -> RUN_DIR/report
    curate report --scores other/scores --out other/report --min-docs 50
"""

from __future__ import annotations

from pathlib import Path

from curate.paths import RunDir, add_run_dir_argument


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(item) for item in text.split(","))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(item) for item in text.split(","))


def register(subparsers) -> None:
    # Defaults live in `attribution.report.ReportArguments`; options left unset keep them. Not imported here,
    # so building the CLI does not load scipy and matplotlib.
    parser = subparsers.add_parser("report", help="analyse influence scores: correlations, top-k mass, power law, "
                                                  "answers, sources, top documents")
    add_run_dir_argument(parser)
    parser.add_argument("--scores", type=Path, help="scores directory (default: RUN_DIR/scores)")
    parser.add_argument("--probes", type=Path, help="probe file (default: RUN_DIR/probes/probes.jsonl)")
    parser.add_argument("--corpus", type=Path, help="the scored corpus (default: RUN_DIR/corpus)")
    parser.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/report)")
    parser.add_argument("--text-key", help="field holding the document text (default: text)")
    parser.add_argument("--id-key", help="field holding the document id (default: id)")
    parser.add_argument("--percentiles", type=_floats,
                        help="top-k percentiles for the influence mass, comma-separated (default: 0.01,0.1,1,5,10,20,50)")
    parser.add_argument("--top-fraction", type=float,
                        help="power-law fit over this share of the top of each ranking (default: 0.0001) ...")
    parser.add_argument("--min-docs", type=int, help="... but over at least this many documents (default: 20)")
    parser.add_argument("--answer-top-k", type=int, help="search each probe's answer in its top k documents (default: 500)")
    parser.add_argument("--source-ks", type=_ints,
                        help="k for over-representation, comma-separated (default: 50,100,500,1000,5000,10000,50000)")
    parser.add_argument("--headline-k", type=int, help="the k whose over-representation is printed (default: 100)")
    parser.add_argument("--top-documents", type=int, help="documents shown per probe (default: 10)")
    parser.add_argument("--truth-key",
                        help="ground-truth metadata field to report on, if the corpus has it (default: procedural)")
    parser.add_argument("--seed", type=int, help="seed of the answer search's random-documents baseline (default: 0)")
    parser.set_defaults(func=run)


def run(args) -> None:
    from dataclasses import fields

    from attribution.report import ReportArguments, build_report, format_headline

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.report
    given = {f.name: getattr(args, f.name) for f in fields(ReportArguments) if getattr(args, f.name, None) is not None}
    headline = build_report(args.scores or run_dir.scores, args.probes or run_dir.probes,
                            args.corpus or run_dir.corpus, out, ReportArguments(**given))
    print("\n".join(format_headline(headline)))
    print(f"report: {out / 'report.html'} (tables as CSV and plots as PNG beside it)")
