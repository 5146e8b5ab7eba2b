"""Train the small LM: documents packed into fixed-length sequences, AdamW, warmup + cosine, clipping.

Read top to bottom like nanoGPT's train.py; all knobs are in `TrainConfig`. `train_from_corpus` is the
`curate model train` stage: it also records in train_log.json what the model was made from.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from attribution.model import resolve_device
from attribution.progress import progress_bar
from curate.corpus.io import BadRecords, read_documents
from curate.corpus.split import RULE, split_documents
from curate.lm.config import TRAIN_LOG, ModelConfig, TrainConfig
from curate.lm.model import build_model
from curate.lm.shipped import copy_shipped, matching_shipped_model, training_fingerprint
from curate.lm.tokenizer import train_tokenizer


@dataclass
class TrainResult:
    model: torch.nn.Module
    tokenizer: object
    train_losses: list[float] = field(default_factory=list)
    eval_losses: dict[int, float] = field(default_factory=dict)
    tokens_per_second: float = 0.0
    n_train_tokens: int = 0
    n_eval_tokens: int = 0


def pack(tokenizer, texts: list[str]) -> torch.Tensor:
    """All documents as one token stream, each wrapped in BOS ... EOS so the model learns where they start."""
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    stream = []
    for ids in encoded:
        stream += [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id]
    return torch.tensor(stream, dtype=torch.long)


def lr_at(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


def next_token_loss(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=x).logits
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), y.flatten())


def compiled_loss(config: TrainConfig):
    """`next_token_loss`, compiled when `config.compile` asks for it and torch can: the forward, the loss and their
    backward fused into fewer kernels."""
    if not config.compile:
        return next_token_loss
    # the first step waits for the compiler: say so, or the progress bar's first rate looks like a hang
    print("compiling the training step (slow the first time, quick once torch has cached it)")
    current = torch.compile(next_token_loss)

    def loss(model, x, y):
        nonlocal current
        if current is next_token_loss:
            return current(model, x, y)
        try:
            return current(model, x, y)
        except Exception as error:  # noqa: BLE001 (a missing compiler surfaces as any of several errors)
            print(f"torch.compile failed ({type(error).__name__}: {str(error).splitlines()[0][:200]}); training eagerly")
            current = next_token_loss
            return current(model, x, y)

    return loss


@torch.no_grad()
def evaluate(model, stream: torch.Tensor, config: TrainConfig, device: torch.device) -> float:
    """Mean token loss over fixed, non-overlapping windows of the held-out stream."""
    model.eval()
    n_windows = min((len(stream) - 1) // config.seq_len, config.eval_batches * config.batch_size)
    if n_windows == 0:
        return float("nan")
    windows = stream[: n_windows * config.seq_len + 1]
    losses = []
    for start in range(0, n_windows, config.batch_size):
        rows = range(start, min(n_windows, start + config.batch_size))
        x = torch.stack([windows[r * config.seq_len : (r + 1) * config.seq_len] for r in rows]).to(device)
        y = torch.stack([windows[r * config.seq_len + 1 : (r + 1) * config.seq_len + 1] for r in rows]).to(
            device
        )
        losses.append(next_token_loss(model, x, y).item() * len(rows))
    model.train()
    return sum(losses) / n_windows


def train_lm(
    train_texts: list[str],
    eval_texts: list[str],
    model_config: ModelConfig | None = None,
    config: TrainConfig | None = None,
    tokenizer=None,
    progress: bool = True,
) -> TrainResult:
    """Train a fresh LM on `train_texts`; a given tokenizer is reused (e.g. to retrain on a reduced corpus)."""
    model_config = model_config or ModelConfig()
    config = config or TrainConfig()
    device = resolve_device(config.device)
    tokenizer = tokenizer or train_tokenizer(train_texts, config.vocab_size)
    model_config.max_len = max(model_config.max_len, config.seq_len)

    train_stream, eval_stream = pack(tokenizer, train_texts), pack(tokenizer, eval_texts)
    if len(train_stream) <= config.seq_len:
        raise ValueError(f"corpus too small: {len(train_stream)} tokens for sequences of {config.seq_len}")

    torch.manual_seed(config.seed)
    model = build_model(model_config, tokenizer).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.95),
    )
    batches = torch.Generator().manual_seed(config.seed)
    step_loss = compiled_loss(config)
    result = TrainResult(model, tokenizer, n_train_tokens=len(train_stream), n_eval_tokens=len(eval_stream))

    model.train()
    started, tokens_seen = time.perf_counter(), 0
    bar = progress_bar(range(config.steps), desc="model train", unit="step", disable=not progress)
    for step in bar:
        starts = torch.randint(
            len(train_stream) - config.seq_len - 1, (config.batch_size,), generator=batches
        )
        x = torch.stack([train_stream[s : s + config.seq_len] for s in starts]).to(device)
        y = torch.stack([train_stream[s + 1 : s + 1 + config.seq_len] for s in starts]).to(device)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        loss = step_loss(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()

        tokens_seen += x.numel()
        result.train_losses.append(loss.item())
        postfix = {
            "loss": f"{loss.item():.3f}",
            "tok/s": f"{tokens_seen / (time.perf_counter() - started):.0f}",
        }
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            result.eval_losses[step + 1] = evaluate(model, eval_stream, config, device)
            postfix["eval"] = f"{result.eval_losses[step + 1]:.3f}"
        bar.set_postfix(postfix)
    result.tokens_per_second = tokens_seen / (time.perf_counter() - started)
    model.eval()
    return result


def save(
    result: TrainResult,
    out_dir: str | Path,
    model_config: ModelConfig,
    config: TrainConfig,
    data: dict | None = None,
) -> None:
    """HF format (config.json, model.safetensors, tokenizer files) plus the training log; `data` says what
    the model was trained on (see `train_from_corpus`), so a retrain can use the same documents."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result.model.save_pretrained(out_dir)
    result.tokenizer.save_pretrained(out_dir)
    log = {
        "model_config": asdict(model_config),
        "train_config": asdict(config),
        "data": data,
        "n_parameters": sum(p.numel() for p in result.model.parameters()),
        "n_train_tokens": result.n_train_tokens,
        "n_eval_tokens": result.n_eval_tokens,
        "tokens_per_second": result.tokens_per_second,
        "train_losses": result.train_losses,
        "eval_losses": result.eval_losses,
    }
    (out_dir / TRAIN_LOG).write_text(json.dumps(log, indent=1))


def train_from_corpus(
    corpus: str | Path,
    out_dir: str | Path,
    model_config: ModelConfig | None = None,
    config: TrainConfig | None = None,
    text_key: str = "text",
    id_key: str = "id",
    skip_bad_records: bool = False,
    reuse_shipped: bool = True,
) -> dict:
    """Hold out a seeded share of the corpus by id hash, train on the rest, save the model (with its
    provenance in train_log.json) and a plot of the losses; returns the training log. Where the shipped
    quickstart model was trained from exactly these documents and settings, it is copied instead
    (`reuse_shipped=False` trains anyway)."""
    model_config, config, out_dir = model_config or ModelConfig(), config or TrainConfig(), Path(out_dir)
    bad = BadRecords(out_dir / "bad_records.jsonl") if skip_bad_records else None
    documents = read_documents(corpus, text_key=text_key, id_key=id_key, bad_records=bad)
    train, heldout = split_documents(documents, config.eval_fraction, config.seed)
    data = {
        "corpus": str(Path(corpus).resolve()),
        "text_key": text_key,
        "id_key": id_key,
        "skip_bad_records": skip_bad_records,
        "heldout_split": {"rule": RULE, "fraction": config.eval_fraction, "seed": config.seed},
        "train_documents": len(train),
        "heldout_documents": len(heldout),
        "fingerprint": training_fingerprint(train, heldout, model_config, config),
    }
    shipped = matching_shipped_model(data["fingerprint"]) if reuse_shipped else None
    if shipped is not None:
        print(f"the shipped quickstart model was trained on exactly these {len(train)} documents with these "
              "settings: copied it (--retrain trains it again)")
        return copy_shipped(shipped, out_dir, data)
    print(f"training on {len(train)} documents, evaluating on {len(heldout)} held-out documents")
    result = train_lm([d.text for d in train], [d.text for d in heldout], model_config, config)
    save(result, out_dir, model_config, config, data)
    plot_losses(result, out_dir / "loss.png")
    return json.loads((out_dir / TRAIN_LOG).read_text())  # as a copied model's: JSON's string keys either way


def plot_losses(result: TrainResult, path: Path) -> None:
    from curate.plots import new_figure, save_figure

    fig, ax = new_figure()
    ax.plot(range(1, len(result.train_losses) + 1), result.train_losses, label="train (batch)", alpha=0.6)
    ax.plot(list(result.eval_losses), list(result.eval_losses.values()), "o-", label="held-out")
    ax.set(xlabel="step", ylabel="loss (nats/token)", title="LM training")
    ax.legend()
    save_figure(fig, path)
