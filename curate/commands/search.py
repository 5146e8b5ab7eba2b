"""`curate influence search`: the top-k stored documents for a probe or a free text, from a gradient store.

    curate influence search --run-dir runs/x --probe p-sum            by a probe's id (RUN_DIR/probes/probes.jsonl)
    curate influence search --run-dir runs/x --text "2 + 3 = 5" --top-k 20 --plain

Scores are influence with EK-FAC preconditioning (needs the factors), or with --plain the gradient dot product;
the table shows rank, document id, score and the document's first characters.
"""

from __future__ import annotations

from pathlib import Path

from attribution.ekfac.arguments import DeviceArguments
from attribution.options import add_options, options_from
from curate.errors import InputError
from curate.paths import RunDir, add_run_dir_argument


def register(actions) -> None:
    parser = actions.add_parser("search", help="top-k documents of a gradient store for a probe or a text")
    add_run_dir_argument(parser)
    parser.add_argument("--index", type=Path, help="gradient store (default: RUN_DIR/store)")
    parser.add_argument("--model", type=Path, help="HF model directory (default: RUN_DIR/model)")
    parser.add_argument("--factors", type=Path, help="factors directory (default: RUN_DIR/factors)")
    parser.add_argument("--probes", type=Path, help="probes jsonl (default: RUN_DIR/probes/probes.jsonl)")
    parser.add_argument("--probe", help="the id of a probe in --probes")
    parser.add_argument("--text", help="a free text, measured as log p(text)")
    parser.add_argument("--top-k", type=int, default=10, help="documents shown (default: 10)")
    parser.add_argument("--plain", action="store_true", help="gradient dot product instead of EK-FAC influence")
    add_options(parser, DeviceArguments)
    parser.set_defaults(func=run)


def run(args) -> int:
    import polars as pl

    from attribution.store.search import TextQuery, search_store
    from curate.probes.sets import find_probe
    from curate.tables import as_text

    if (args.probe is None) == (args.text is None):
        raise InputError("give one of --probe ID and --text TEXT")
    if args.text is not None and not args.text.strip():
        raise InputError("--text is empty: there is nothing to measure")
    run_dir = RunDir(args.run_dir)
    query = TextQuery("text", "", args.text) if args.text is not None else \
        find_probe(args.probes or run_dir.probes, args.probe)
    hits = search_store(args.index or run_dir.store, args.model or run_dir.model, args.factors or run_dir.factors,
                        query, args.top_k, args.plain, options_from(DeviceArguments, args))
    rows = [{"rank": h.rank, "doc_id": h.doc_id, "score": f"{h.score:.4g}", "snippet": h.snippet} for h in hits]
    print(as_text(pl.DataFrame(rows, schema=["rank", "doc_id", "score", "snippet"])))
    return 0
