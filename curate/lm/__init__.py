"""The small Llama-style LM the toolkit trains on a corpus: tokenizer, model config and training loop."""
