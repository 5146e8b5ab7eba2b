"""`curate influence fit|score|index|search|report`: EK-FAC influence of a corpus's documents on probes.

    curate influence fit --run-dir runs/x       EK-FAC factors of the model on the corpus (RUN_DIR/factors)
    curate influence score --run-dir runs/x     every document's influence on every probe (RUN_DIR/scores)
    curate influence index --run-dir runs/x     every document's compressed gradient (RUN_DIR/store)
    curate influence search --probe p-sum       the top-k stored documents for a probe or a text
    curate influence report --run-dir runs/x    the analyses of a scores directory (RUN_DIR/report)

Each action lives in its own module (`fit_factors`, `score`, `index`, `search`, `report`).
"""

from __future__ import annotations

from curate.commands import fit_factors, index, report, score, search


def register(subparsers) -> None:
    parser = subparsers.add_parser("influence", help="fit EK-FAC factors, score, index and search documents, report")
    actions = parser.add_subparsers(dest="influence_command", required=True, metavar="ACTION")
    for module in (fit_factors, score, index, search, report):
        module.register(actions)
