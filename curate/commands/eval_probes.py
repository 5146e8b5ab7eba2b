"""`curate probes eval` (registered by `curate.commands.probes`): completion NLL (nats) and greedy accuracy per probe, summarised per set."""

from __future__ import annotations

from attribution.options import add_options, options_from
from curate.paths import add_run_dir_argument
from curate.probes.stages import ProbeEvalArguments


def register(actions) -> None:
    parser = actions.add_parser(
        "eval", help="completion loss and greedy accuracy of a model on probes"
    )
    add_run_dir_argument(parser)
    add_options(parser, ProbeEvalArguments)
    parser.set_defaults(func=run)


def run(args) -> None:
    from curate.probes.stages import evaluate_probes, format_summary

    result = evaluate_probes(options_from(ProbeEvalArguments, args))
    print(format_summary(result.summary))
    print(f"per-probe results and summary in {result.out}")
