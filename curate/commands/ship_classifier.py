"""`curate classifier ship`: a run's classifier becomes package data, `--classifier builtin` everywhere.

Example (after `curate run recipes/real.toml`):
    curate classifier ship --run-dir runs/real --evaluation runs/real/evaluation \
        --heldout-evaluation runs/real/evaluation-heldout --as influence
"""

from __future__ import annotations

from pathlib import Path

from curate.paths import add_run_dir_argument


def register(actions) -> None:
    parser = actions.add_parser("ship", help="ship a run's classifier as the built-in one")
    add_run_dir_argument(parser)
    parser.add_argument("--classifier", type=Path, help="classifier file (RUN_DIR/classifier/classifier.joblib)")
    parser.add_argument("--evaluation", type=Path, required=True,
                        help="`curate classifier evaluate` output holding its held-out evaluation")
    parser.add_argument("--heldout-evaluation", type=Path,
                        help="`curate classifier evaluate --sources` output: its evaluation on whole held-out sources")
    parser.add_argument("--as", dest="as_name", default="influence", help="its name in that evaluation")
    parser.add_argument("--name", help="built-in name (default: the default built-in classifier)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from curate.classify.ship import ship_classifier

    path = ship_classifier(args.run_dir, args.evaluation, args.as_name, args.classifier, args.name,
                           heldout=args.heldout_evaluation)
    print(f"shipped {path} ({path.stat().st_size / 1e6:.2f} MB): `--classifier builtin`")
    return 0
