"""Model and training settings as small dataclasses (importable without torch, so the CLI starts fast)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelConfig:
    n_layers: int = 4
    hidden: int = 128
    mlp: int = 512
    heads: int = 4
    max_len: int = 512


@dataclass
class TrainConfig:
    seq_len: int = 256
    batch_size: int = 16
    steps: int = 400
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 40
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 100
    eval_fraction: float = 0.05
    eval_batches: int = 8
    vocab_size: int = 4096
    seed: int = 0
    device: str = "auto"
