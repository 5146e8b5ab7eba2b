"""The model: a `transformers` Llama (RMSNorm, rotary positions, SwiGLU MLP), sized by a small dataclass."""

from __future__ import annotations

from transformers import LlamaConfig, LlamaForCausalLM

from curate.lm.config import ModelConfig


def to_hf_config(config: ModelConfig, tokenizer) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden,
        intermediate_size=config.mlp,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.heads,
        num_key_value_heads=config.heads,
        max_position_embeddings=config.max_len,
        hidden_act="silu",
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_model(config: ModelConfig, tokenizer) -> LlamaForCausalLM:
    return LlamaForCausalLM(to_hf_config(config, tokenizer))
