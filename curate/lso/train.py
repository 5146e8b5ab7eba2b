"""A small transformer trained from scratch on a grid task, and its greedy exact-match per grid cell.

Character-level: one token per character, so numbers are read digit by digit. The model is a `transformers`
Llama (as in `curate.lm`), trained on prompt -> target with the loss on the target tokens only (the prompt's
operands are random, nothing to learn). Read top to bottom like nanoGPT's train.py; knobs in `LSOTrainConfig`.
"""

from __future__ import annotations

import string
import time
from collections import defaultdict
from dataclasses import dataclass, field

import torch
from transformers import LlamaForCausalLM

from attribution.model import resolve_device
from attribution.progress import progress_bar
from attribution.task import IGNORE, Encoded, collate
from curate.lm.config import ModelConfig
from curate.lm.model import build_model as build_lm
from curate.lm.train import lr_at
from curate.lso.arguments import LSOTrainConfig
from curate.lso.tasks import Example, final_answer


class CharTokenizer:
    """One id per printable ASCII character (and newline), after the special ids PAD, BOS and EOS."""

    pad_token_id, bos_token_id, eos_token_id = 0, 1, 2

    def __init__(self) -> None:
        self.alphabet = [c for c in string.printable if c not in "\t\r\x0b\x0c"]
        self.index = {c: i + 3 for i, c in enumerate(self.alphabet)}

    def __len__(self) -> int:
        return len(self.alphabet) + 3

    def encode(self, text: str) -> list[int]:
        try:
            return [self.index[c] for c in text]
        except KeyError as error:
            raise ValueError(f"character {error.args[0]!r} is not in the tokenizer's alphabet") from None

    def decode(self, ids: list[int]) -> str:
        """Text up to the first EOS, special ids dropped."""
        text = []
        for i in ids:
            if i == self.eos_token_id:
                break
            if i >= 3:
                text.append(self.alphabet[i - 3])
        return "".join(text)


@dataclass
class Trained:
    model: LlamaForCausalLM
    tokenizer: CharTokenizer
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def encode(tokenizer: CharTokenizer, example: Example) -> Encoded:
    """BOS prompt target EOS; only the target and EOS count in the loss."""
    prompt = [tokenizer.bos_token_id, *tokenizer.encode(example.prompt)]
    target = [*tokenizer.encode(example.target), tokenizer.eos_token_id]
    return Encoded(prompt + target, [IGNORE] * len(prompt) + target)


def build_model(config: LSOTrainConfig, tokenizer: CharTokenizer, max_len: int) -> LlamaForCausalLM:
    """The toolkit's Llama LM (`curate.lm.model`), sized by this config, for sequences up to `max_len`."""
    sizes = ModelConfig(n_layers=config.n_layers, hidden=config.hidden, mlp=config.mlp, heads=config.heads,
                        max_len=max_len)
    return build_lm(sizes, tokenizer)


def train(examples: list[Example], config: LSOTrainConfig, progress: bool = True) -> Trained:
    """Train a fresh model on `examples` for `config.steps` batches drawn with replacement."""
    device = resolve_device(config.device)
    tokenizer = CharTokenizer()
    encoded = [encode(tokenizer, e) for e in examples]
    max_len = max(len(e.input_ids) for e in encoded)

    torch.manual_seed(config.seed)
    model = build_model(config, tokenizer, max_len=2 * max_len).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.98),
    )
    # Each batch draws examples of a single length (a length chosen in proportion to how many examples have
    # it): every example is still drawn with the same probability, and no batch of short direct answers is
    # padded to the length of a worked 3-digit procedural document.
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, e in enumerate(encoded):
        by_length[len(e.input_ids)].append(i)
    groups = list(by_length.values())
    weights = torch.tensor([len(g) for g in groups], dtype=torch.float)
    batches = torch.Generator().manual_seed(config.seed)
    result = Trained(model, tokenizer)

    model.train()
    started = time.perf_counter()
    bar = progress_bar(range(config.steps), desc="train", unit="step", disable=not progress)
    for step in bar:
        group = groups[int(torch.multinomial(weights, 1, generator=batches))]
        rows = [group[i] for i in torch.randint(len(group), (config.batch_size,), generator=batches).tolist()]
        batch = {
            k: v.to(device) for k, v in collate([encoded[r] for r in rows], tokenizer.pad_token_id).items()
        }
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        result.losses.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
    result.seconds = time.perf_counter() - started
    model.eval()
    return result


@torch.no_grad()
def greedy_answers(
    model: LlamaForCausalLM, tokenizer: CharTokenizer, examples: list[Example], batch_size: int = 500
) -> list[str]:
    """The model's greedy target for each example's prompt. Prompts of equal length are batched together, so
    no padding is needed; generation stops at EOS or after the longest reference target plus a margin."""
    device = next(model.parameters()).device
    max_new_tokens = max(len(e.target) for e in examples) + 8
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        by_length[len(example.prompt)].append(i)
    outputs: list[str] = [""] * len(examples)
    for indices in by_length.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            ids = torch.tensor(
                [[tokenizer.bos_token_id, *tokenizer.encode(examples[i].prompt)] for i in chunk],
                device=device,
            )
            generated = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
            for i, row in zip(chunk, generated[:, ids.shape[1] :].tolist(), strict=True):
                outputs[i] = tokenizer.decode(row)
    return outputs


def exact_match(examples: list[Example], generated: list[str]) -> list[bool]:
    """Whether each generated target states the right final answer."""
    return [final_answer(g) == e.answer for e, g in zip(examples, generated, strict=True)]
