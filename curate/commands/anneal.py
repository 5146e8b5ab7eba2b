"""`curate study anneal` (registered by `curate.commands.study`): continued training of a pretrained LM on
each arm's mix with the learning rate decayed to zero, then held-out probes and held-out corpus loss.

    curate study anneal --run-dir runs/real --tokens 1000000 --shard 0/4     (one of four jobs)
    curate study anneal --run-dir runs/real --summarise-only
"""

from __future__ import annotations

from attribution.options import options_from
from curate.paths import RunDir
from curate.validate.arguments import AnnealArguments


def register(experiments, add_experiment_arguments) -> None:
    parser = experiments.add_parser(
        "anneal", help="anneal a pretrained LM on each arm's mix (decay to 0), measure held-out probes and text"
    )
    add_experiment_arguments(parser, AnnealArguments, "RUN_DIR/validate/anneal")
    parser.set_defaults(func=run)


def run(args) -> None:
    from curate.validate.anneal import run_anneal, write_summary
    from curate.validate.cells import parse_shard

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.validation / "anneal"
    arguments = options_from(AnnealArguments, args)
    if not args.summarise_only:
        run_anneal(run_dir, out, arguments, parse_shard(args.shard))
    print(write_summary(out, arguments))
    print(f"frontier, removal tables, plot and any recommended mix in {out}")
