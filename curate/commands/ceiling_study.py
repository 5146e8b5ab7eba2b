"""`curate study ceiling`: classifiers trained on the evaluation-only labels, judged on the held-out sources: how
far any labels could go with these training sources, and how far more diverse sources would take them."""

from __future__ import annotations

from attribution.options import add_options, options_from
from curate.paths import RunDir, add_run_dir_argument
from curate.validate.arguments import CeilingArguments


def register(experiments) -> None:
    parser = experiments.add_parser("ceiling", help="the held-out-source ceiling: classifiers on the true labels")
    add_run_dir_argument(parser)
    add_options(parser, CeilingArguments)
    parser.set_defaults(func=run)


def run(args) -> None:
    from curate.tables import as_text
    from curate.validate.ceiling import measure_ceiling

    report = measure_ceiling(options_from(CeilingArguments, args), RunDir(args.run_dir))
    print(as_text(report.pooled))
    print(f"tables and plot in {report.files[0].parent}")
