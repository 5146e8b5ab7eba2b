"""`curate model train` (registered by `curate.commands.model`): tokenizer + small Llama-style LM on a corpus, saved in Hugging Face format."""

from __future__ import annotations

from pathlib import Path

from attribution.options import add_options, options_from
from curate.corpus.options import add_corpus_arguments
from curate.lm.config import ModelConfig, TrainConfig
from curate.paths import RunDir, add_run_dir_argument


def register(actions) -> None:
    parser = actions.add_parser(
        "train", help="train a tokenizer and a small Llama-style LM on a corpus"
    )
    add_run_dir_argument(parser)
    parser.add_argument("--corpus", type=Path, help="corpus to train on (default: RUN_DIR/corpus)")
    parser.add_argument("--out", type=Path, help="model directory (default: RUN_DIR/model)")
    add_corpus_arguments(parser)
    add_options(parser, ModelConfig)
    add_options(parser, TrainConfig)
    parser.add_argument("--retrain", action="store_true", help="train even where the shipped quickstart model was "
                        "trained on exactly these documents with these settings (default: copy it)")
    parser.set_defaults(func=run)


def run(args) -> None:
    from curate.lm.train import train_from_corpus

    out = args.out or RunDir(args.run_dir).model
    log = train_from_corpus(
        args.corpus or RunDir(args.run_dir).corpus,
        out,
        options_from(ModelConfig, args),
        options_from(TrainConfig, args),
        text_key=args.text_key,
        id_key=args.id_key,
        skip_bad_records=args.skip_bad_records,
        reuse_shipped=not args.retrain,
    )
    final_eval = list(log["eval_losses"].values())[-1]
    print(f"held-out loss {final_eval:.3f} nats/token; {log['tokens_per_second']:.0f} tokens/s when trained; "
          f"model saved to {out}")
