"""Documents and probes in, padded batches out.

Documents may be strings, datatrove `Document`s (their `id` is kept), token-id lists or already `Encoded`
items; probes are objects with `id`, `prompt` and `completion` (`attribution.probe.ProbeLike`) or `Encoded`
items. Text needs a tokenizer; token ids don't. A document with fewer than two tokens has no next-token loss:
it is skipped and counted, never an error, so one bad record cannot stop a long run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch

from attribution.errors import InputError
from attribution.task import IGNORE, Encoded, collate, encode_document, encode_probe


@dataclass
class Skipped:
    """Documents left out of a pass, by reason."""

    too_short: int = 0
    non_finite: int = 0

    @property
    def total(self) -> int:
        return self.too_short + self.non_finite

    def __add__(self, other: Skipped) -> Skipped:
        return Skipped(self.too_short + other.too_short, self.non_finite + other.non_finite)

    def __str__(self) -> str:
        return f"{self.too_short} shorter than 2 tokens, {self.non_finite} with non-finite gradients"


def document_id(document: object, index: int) -> str:
    return str(getattr(document, "id", None) or index)


def encode(document: object, tokenizer, max_length: int) -> Encoded:
    if isinstance(document, Encoded):
        return Encoded(document.input_ids[:max_length], document.labels[:max_length])
    if isinstance(document, list | tuple | torch.Tensor):
        ids = [int(token) for token in document][:max_length]
        return Encoded(ids, list(ids))
    text = document if isinstance(document, str) else getattr(document, "text", None)
    if not isinstance(text, str):
        raise InputError(f"cannot read a document from {type(document).__name__}: need text or token ids")
    if tokenizer is None:
        raise InputError("documents given as text need a tokenizer")
    return encode_document(tokenizer, text, max_length=max_length)


SORT_WINDOW = 32  # batches read ahead and grouped by length, so that a batch of real documents pads little


def document_batches(
    documents: Iterable, tokenizer, batch_size: int, max_length: int, skipped: Skipped, start: int = 0
) -> Iterator[tuple[list[int], list[str], list[Encoded]]]:
    """(positions, ids, encodings) of batches of the documents that have a loss. Documents are grouped by
    length within windows of SORT_WINDOW batches; `positions` (counted from `start`, which also numbers
    documents without an id) let a caller restore the input order."""
    window = []
    for position, document in enumerate(documents, start=start):
        encoded = encode(document, tokenizer, max_length)
        if encoded.n_scored == 0:
            skipped.too_short += 1
            continue
        window.append((position, document_id(document, position), encoded))
        if len(window) == batch_size * SORT_WINDOW:
            yield from _by_length(window, batch_size)
            window = []
    yield from _by_length(window, batch_size)


def _by_length(window: list, batch_size: int) -> Iterator[tuple[list[int], list[str], list[Encoded]]]:
    window.sort(key=lambda item: len(item[2].input_ids))
    for offset in range(0, len(window), batch_size):
        positions, ids, encodings = zip(*window[offset : offset + batch_size], strict=True)
        yield list(positions), list(ids), list(encodings)


def encode_probes(probes: Iterable, tokenizer) -> tuple[list[str], list[Encoded]]:
    """Probe ids and encodings; a probe whose completion has no token is the user's error, not a skip."""
    ids, encoded = [], []
    for index, probe in enumerate(probes):
        probe_id = str(getattr(probe, "id", index))
        if isinstance(probe, Encoded):
            item = probe
        else:
            if not getattr(probe, "completion", ""):
                raise InputError(f"probe {probe_id} has an empty completion; there is nothing to measure")
            if tokenizer is None:
                raise InputError("probes given as text need a tokenizer")
            item = encode_probe(tokenizer, probe.prompt, probe.completion)
        if item.n_scored == 0:
            raise InputError(f"probe {probe_id} has no completion token to measure (after the first token)")
        ids.append(probe_id)
        encoded.append(item)
    if not ids:
        raise InputError("no probes given")
    if len(set(ids)) != len(ids):
        raise InputError("probe ids must be unique")
    return ids, encoded


def to_batch(items: list[Encoded], pad_id: int, device: torch.device) -> dict[str, torch.Tensor]:
    return {key: value.to(device) for key, value in collate(items, pad_id).items()}


def stable_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed from `seed` and the given parts, the same in every process and on every machine."""
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def sample_labels(logits: torch.Tensor, batch: dict[str, torch.Tensor], seed: int) -> torch.Tensor:
    """Labels drawn from the model's own predictions (for the true Fisher), where the data has a label.

    Each sequence draws from a generator seeded by its own tokens, so the draw does not depend on how the
    documents are batched or sharded: sharded fitting merges to exactly what one pass computes. Inverse-CDF
    sampling needs one uniform number per token, not one per vocabulary entry.
    """
    labels = batch["labels"]
    uniform = torch.zeros(labels.size(0), labels.size(1) - 1)
    for row, length in enumerate(batch["attention_mask"].sum(dim=1).tolist()):
        generator = torch.Generator().manual_seed(stable_seed(seed, batch["input_ids"][row, :length].tolist()))
        uniform[row, : length - 1] = torch.rand(length - 1, generator=generator)
    cdf = torch.softmax(logits[:, :-1].detach().float(), dim=-1).cumsum_(dim=-1)
    targets = uniform.to(cdf.device).unsqueeze(-1) * cdf[..., -1:]  # the cdf's last entry is 1 up to rounding
    draw = torch.searchsorted(cdf, targets).squeeze(-1).clamp(max=cdf.size(-1) - 1)
    sampled = torch.full_like(labels, IGNORE)
    sampled[:, 1:] = torch.where(labels[:, 1:] != IGNORE, draw, sampled[:, 1:])
    return sampled
