"""`curate classifier evaluate`: classifiers against a corpus's evaluation-only labels, on held-out documents.

Examples:
    curate classifier evaluate --corpus /tmp/real_corpus --out runs/real/evaluation \\
        --classifier real=builtin synthetic=runs/quickstart/classifier/classifier.joblib \\
        --exclude runs/real/sample --keep-fraction 0.3
    curate classifier evaluate --info builtin          # a classifier's settings and provenance
"""

from __future__ import annotations

import json
from pathlib import Path

from attribution.options import add_options, options_from
from curate.classify.arguments import EvaluationArguments
from curate.corpus.options import add_corpus_arguments
from curate.errors import InputError


def register(actions) -> None:
    parser = actions.add_parser(
        "evaluate", help="P/R/F1/AP of classifiers against a corpus's labels, on held-out documents"
    )
    parser.add_argument("--corpus", type=Path, help="corpus whose metadata holds the labels and sources")
    parser.add_argument("--out", type=Path, help="output directory")
    parser.add_argument("--info", metavar="PATH", help="print a classifier's settings and provenance (PATH may "
                        "be `builtin`), then stop")
    add_corpus_arguments(parser)
    add_options(parser, EvaluationArguments)
    parser.set_defaults(func=run)


def run(args) -> int:
    if args.info:
        from curate.classify.model import describe_classifier

        print(json.dumps(describe_classifier(args.info), indent=1, default=str))
        return 0
    if args.corpus is None or args.out is None:
        raise InputError("`classifier evaluate` needs --corpus and --out (or --info PATH)")
    from curate.classify.evaluate import evaluate_classifiers

    report = evaluate_classifiers(options_from(EvaluationArguments, args))
    print(
        f"{report.documents} held-out labelled documents ({report.excluded} excluded, {report.unlabelled} "
        f"unlabelled); at threshold {args.threshold} and keeping the top {args.keep_fraction:.0%}:"
    )
    print(report.table)
    print(f"tables, sources and PR curves in {report.out}")
    return 0
