"""`curate study register`: which influence label rules rank procedural documents above technical text that
only states things, and above prose."""

from __future__ import annotations

from attribution.options import add_options, options_from
from curate.paths import RunDir, add_run_dir_argument
from curate.validate.arguments import RegisterArguments


def register(experiments) -> None:
    parser = experiments.add_parser("register", help="which label rules rank procedure above technical text")
    add_run_dir_argument(parser)
    add_options(parser, RegisterArguments)
    parser.set_defaults(func=run)


def run(args) -> None:
    from curate.validate.register import measure_register

    report = measure_register(options_from(RegisterArguments, args), RunDir(args.run_dir))
    print(report.aucs.head(10))
    print(f"tables and plot in {report.files[0].parent}")
