"""The model: a `transformers` Llama (RMSNorm, rotary positions, SwiGLU MLP), sized by a small dataclass."""

from __future__ import annotations

from dataclasses import dataclass

from transformers import LlamaConfig, LlamaForCausalLM


@dataclass
class ModelConfig:
    n_layers: int = 4
    hidden: int = 128
    mlp: int = 512
    heads: int = 4
    max_len: int = 512

    def to_hf(self, tokenizer) -> LlamaConfig:
        return LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=self.hidden,
            intermediate_size=self.mlp,
            num_hidden_layers=self.n_layers,
            num_attention_heads=self.heads,
            num_key_value_heads=self.heads,
            max_position_embeddings=self.max_len,
            hidden_act="silu",
            tie_word_embeddings=False,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )


def build_model(config: ModelConfig, tokenizer) -> LlamaForCausalLM:
    return LlamaForCausalLM(config.to_hf(tokenizer))
