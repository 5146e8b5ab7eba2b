"""`curate classifier train|evaluate|ship`: the procedural classifier learned from an influence ranking.

    curate classifier train --run-dir runs/x            labels from the ranking, no hand labels
    curate classifier evaluate --corpus C --out E --classifier real=builtin
    curate classifier ship --run-dir runs/x --evaluation E

Each action lives in its own module (`train_classifier`, `evaluate_classifier`, `ship_classifier`).
"""

from __future__ import annotations

from curate.commands import evaluate_classifier, ship_classifier, train_classifier


def register(subparsers) -> None:
    parser = subparsers.add_parser("classifier", help="train, evaluate and ship the procedural classifier")
    actions = parser.add_subparsers(dest="classifier_command", required=True, metavar="ACTION")
    for module in (train_classifier, evaluate_classifier, ship_classifier):
        module.register(actions)
