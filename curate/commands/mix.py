"""`curate mix`: a token-budgeted mix of annotated shards, from a spec of buckets and target shares.

Examples:
    curate mix --run-dir runs/r --spec mix.toml                  # input RUN_DIR/filtered/kept, out RUN_DIR/mix
    curate mix --input filtered/kept --spec mix.json --tokenizer runs/r/model --out mixes/a
The spec format is described in `curate.mix.spec`; the manifest (OUT/manifest.json) says, per bucket,
the documents, tokens and repetitions achieved against the target, and where a target was out of reach.
"""

from __future__ import annotations

from pathlib import Path

from curate.corpus.io import FORMATS, BadRecords, add_corpus_arguments
from curate.paths import RunDir, add_run_dir_argument


def register(subparsers) -> None:
    parser = subparsers.add_parser("mix", help="build a token-budgeted mix of annotated documents, with a manifest")
    add_run_dir_argument(parser)
    parser.add_argument("--spec", type=Path, required=True, help="mix spec, TOML or JSON (see curate.mix.spec)")
    parser.add_argument("--input", type=Path, help="annotated shards (default: RUN_DIR/filtered/kept)")
    parser.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/mix)")
    parser.add_argument("--tokenizer", help="count tokens with this HF tokenizer (default: whitespace words)")
    parser.add_argument("--seed", type=int, help="override the spec's seed")
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="output shard format")
    add_corpus_arguments(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from curate.mix import build_mix, hf_token_counter, load_mix_spec, whitespace_token_counter

    run_dir = RunDir(args.run_dir)
    spec = load_mix_spec(args.spec)
    if args.seed is not None:
        spec.seed = args.seed
    input_path = args.input or run_dir.filtered / "kept"
    out = args.out or run_dir.mix
    out.mkdir(parents=True, exist_ok=True)
    bad = BadRecords(out / "bad_records.jsonl") if args.skip_bad_records else None
    counter, counter_name = (
        (hf_token_counter(args.tokenizer), str(args.tokenizer)) if args.tokenizer else (whitespace_token_counter, "whitespace")
    )
    manifest = build_mix(
        input_path,
        spec,
        out,
        counter,
        counter_name,
        fmt=args.format,
        read_options={"text_key": args.text_key, "id_key": args.id_key, "bad_records": bad},
    )
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
    if bad is not None:
        bad.close()
    print(f"manifest: {out / 'manifest.json'}")
    return 0
