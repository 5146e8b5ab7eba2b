"""`curate train-lm`: tokenizer + small Llama-style LM on a corpus, saved in Hugging Face format."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from curate.corpus.io import BadRecords, add_corpus_arguments, read_documents
from curate.lm.config import ModelConfig, TrainConfig
from curate.paths import RunDir, add_run_dir_argument


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train-lm", help="train a tokenizer and a small Llama-style LM on a corpus"
    )
    add_run_dir_argument(parser)
    parser.add_argument("--corpus", type=Path, help="corpus to train on (default: RUN_DIR/corpus)")
    parser.add_argument("--out", type=Path, help="model directory (default: RUN_DIR/model)")
    add_corpus_arguments(parser)
    for config_class in (ModelConfig, TrainConfig):
        for field in fields(config_class):
            flag = "--" + field.name.replace("_", "-")
            parser.add_argument(
                flag, type=type(field.default), default=field.default, help=f"(default: {field.default})"
            )
    parser.set_defaults(func=run)


def configs_from_args(args) -> tuple[ModelConfig, TrainConfig]:
    def pick(cls):
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})

    return pick(ModelConfig), pick(TrainConfig)


def train_from_corpus(
    corpus: Path, out: Path, model_config: ModelConfig, config: TrainConfig, read_options: dict
):
    from curate.corpus.split import is_heldout
    from curate.lm.train import save, train_lm
    from curate.plots import new_figure, save_figure

    train_texts, eval_texts = [], []
    for document in read_documents(corpus, **read_options):
        heldout = is_heldout(document.id, config.eval_fraction, config.seed)
        (eval_texts if heldout else train_texts).append(document.text)
    print(f"training on {len(train_texts)} documents, evaluating on {len(eval_texts)} held-out documents")
    result = train_lm(train_texts, eval_texts, model_config, config)
    save(result, out, model_config, config)
    fig, ax = new_figure()
    ax.plot(range(1, len(result.train_losses) + 1), result.train_losses, label="train (batch)", alpha=0.6)
    ax.plot(list(result.eval_losses), list(result.eval_losses.values()), "o-", label="held-out")
    ax.set(xlabel="step", ylabel="loss (nats/token)", title="LM training")
    ax.legend()
    save_figure(fig, out / "loss.png")
    return result


def run(args) -> None:
    out = args.out or RunDir(args.run_dir).model
    corpus = args.corpus or RunDir(args.run_dir).corpus
    bad = BadRecords(out / "bad_records.jsonl") if args.skip_bad_records else None
    model_config, config = configs_from_args(args)
    read_options = {"text_key": args.text_key, "id_key": args.id_key, "bad_records": bad}
    result = train_from_corpus(corpus, out, model_config, config, read_options)
    final_eval = list(result.eval_losses.values())[-1]
    print(
        f"held-out loss {final_eval:.3f} nats/token; {result.tokens_per_second:.0f} tokens/s; model saved to {out}"
    )
