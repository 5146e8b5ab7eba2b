"""`curate mix`: a token-budgeted mix of annotated shards, from a spec of buckets and target shares.

Examples:
    curate mix --run-dir runs/r --spec mix.toml                  # input RUN_DIR/filtered/kept, out RUN_DIR/mix
    curate mix --input filtered/kept --spec mix.json --tokenizer runs/r/model --out mixes/a
The spec format is described in `curate.mix.spec`; the manifest (OUT/manifest.json) says, per bucket,
the documents, tokens and repetitions achieved against the target, and where a target was out of reach.
"""

from __future__ import annotations

from pathlib import Path

from attribution.options import add_options, options_from
from curate.corpus.options import add_corpus_arguments
from curate.mix.arguments import MixArguments
from curate.paths import RunDir, add_run_dir_argument


def register(subparsers) -> None:
    parser = subparsers.add_parser("mix", help="build a token-budgeted mix of annotated documents, with a manifest")
    add_run_dir_argument(parser)
    parser.add_argument("--spec", type=Path, required=True, help="mix spec, TOML or JSON (see curate.mix.spec)")
    parser.add_argument("--input", type=Path, help="annotated shards (default: RUN_DIR/filtered/kept)")
    parser.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/mix)")
    add_options(parser, MixArguments)
    add_corpus_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from curate.mix.build import mix_from_spec

    run_dir = RunDir(args.run_dir)
    out = args.out or run_dir.mix
    arguments = options_from(MixArguments, args, input=args.input or run_dir.filtered / "kept", out=out)
    manifest = mix_from_spec(arguments)
    total = manifest["total_tokens"]
    print(f"mix of {total['achieved']:,} tokens (budget {total['budget']:,}) in {out / 'shards'}")
    for bucket in manifest["buckets"]:
        print(
            f"  {bucket['name']:<16} {bucket['tokens']:>12,} tokens  share {bucket['achieved_share']:6.1%} "
            f"(target {bucket['target_share']:6.1%})  {bucket['documents']:>8,} docs  "
            f"max {bucket['repetitions']['max']} copies"
        )
    for warning in manifest["warnings"]:
        print(f"  warning: {warning}")
    print(f"manifest: {out / 'manifest.json'}")
    return 0
