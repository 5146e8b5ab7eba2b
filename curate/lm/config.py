"""Model and training settings as small dataclasses (importable without torch, so the CLI starts fast)."""

from __future__ import annotations

from dataclasses import dataclass

from attribution.options import option

TRAIN_LOG = "train_log.json"  # beside a trained model: its settings, losses, and the data it was made from


@dataclass
class ModelConfig:
    n_layers: int = option(4, "transformer layers")
    hidden: int = option(128, "hidden size")
    mlp: int = option(512, "MLP (intermediate) size")
    heads: int = option(4, "attention heads")
    max_len: int = option(512, "maximum positions (raised to --seq-len if smaller)")


@dataclass
class TrainConfig:
    seq_len: int = option(256, "tokens per training sequence")
    batch_size: int = option(16, "sequences per step")
    steps: int = option(400, "training steps")
    lr: float = option(3e-3, "peak learning rate")
    min_lr_ratio: float = option(0.1, "final learning rate, as a share of the peak (cosine decay)")
    warmup_steps: int = option(40, "linear warmup steps")
    weight_decay: float = option(0.1, "AdamW weight decay (matrices only)")
    grad_clip: float = option(1.0, "gradient norm clip")
    eval_every: int = option(100, "steps between held-out evaluations")
    eval_fraction: float = option(0.05, "share of documents held out (by id hash) and never trained on")
    eval_batches: int = option(8, "batches per held-out evaluation")
    vocab_size: int = option(4096, "tokenizer vocabulary size")
    seed: int = option(0, "seed of the held-out split, initialisation and batches")
    device: str = option("auto", "torch device (auto: cuda if available, else cpu)")
    compile: bool = option(False, "compile the training step with torch.compile (needs a C++ compiler on CPU; "
                           "falls back to eager, saying so, if compiling fails)")
