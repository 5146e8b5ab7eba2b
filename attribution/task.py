"""What influence is measured on, for causal LMs.

Training loss of a document: token cross-entropy summed over the document (padding masked).
Measurement of a probe: log p(completion | prompt), completion tokens only.
Both are encoded as (input_ids, labels) pairs where label -100 marks a token that does not count,
so one forward pass and one `summed_log_prob` serve both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

IGNORE = -100


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]

    @property
    def n_scored(self) -> int:
        return sum(label != IGNORE for label in self.labels[1:])


def _bos(tokenizer) -> list[int]:
    return [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []


def encode_probe(tokenizer, prompt: str, completion: str) -> Encoded:
    """Prompt tokens are context only; the completion's tokens are what the measurement scores."""
    prompt_ids = _bos(tokenizer) + tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    return Encoded(prompt_ids + completion_ids, [IGNORE] * len(prompt_ids) + completion_ids)


CHARACTERS_PER_TOKEN = 32  # a first bound on the text `max_length` tokens can span; it doubles where too short


def encode_document(tokenizer, text: str, max_length: int = 512) -> Encoded:
    """Every token of a document counts in its training loss; documents are truncated to `max_length`.

    Only a prefix of the text is tokenised, so a document of many megabytes costs what a long one does: the
    prefix ends before its last, possibly cut, word, and grows until it gives more tokens than are kept."""
    limit = max_length * CHARACTERS_PER_TOKEN
    while True:
        prefix = _prefix(text, limit)
        ids = _bos(tokenizer) + tokenizer(prefix, add_special_tokens=False)["input_ids"]
        if prefix is text or len(ids) > max_length:
            break
        limit *= 2
    ids = ids[:max_length]
    return Encoded(ids, list(ids))


def _prefix(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its first `limit` characters up to the end of their last
    whole word (found as the first whitespace-then-word in the reversed text: linear, whatever the text)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    match = re.search(r"\s\S", head[::-1])
    return head[: limit - 1 - match.start()] if match else head


def collate(batch: list[Encoded], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padded positions get label IGNORE and attention 0."""
    width = max(len(item.input_ids) for item in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, item in enumerate(batch):
        n = len(item.input_ids)
        input_ids[row, :n] = torch.tensor(item.input_ids)
        labels[row, :n] = torch.tensor(item.labels)
        attention_mask[row, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


def summed_log_prob(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sequence sum of log p(label_t | tokens < t) over counted tokens; shape (batch,)."""
    shift_logits = logits[:, :-1].float()
    shift_labels = labels[:, 1:]
    mask = shift_labels != IGNORE
    token_log_probs = -F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)),
        shift_labels.clamp(min=0).reshape(-1),
        reduction="none",
    ).view_as(shift_labels)
    return (token_log_probs * mask).sum(dim=1)
