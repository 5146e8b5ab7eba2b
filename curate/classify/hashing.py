"""Tokenising and hashing a batch of documents with numpy alone, no Python loop over tokens.

Tokens are what the regular expression `\\w+|[^\\w\\s]` finds in the lower-cased text: runs of word characters,
and every other non-space character (punctuation, operators, symbols) on its own. They are found from a
per-character class (space / word / other) over the whole batch's code points: ASCII by table, the batch's
few distinct non-ASCII characters with `str.isalnum` and `str.isspace`, which is how `re` decides `\\w` and
`\\s`. Each token's hash is a polynomial hash of its code points, computed for all tokens at once from one
prefix sum (modulo 2**64; P is odd, so P has an inverse and a token's hash does not depend on where it
starts), then mixed with splitmix64's finaliser so that the low bits, which pick the feature column, depend
on every character. Profiling `curate bench filter` showed the regular expression and hashing each token
string were most of the classifier's time; this does the same work in a few array passes.
"""

from __future__ import annotations

import numpy as np

P = np.uint64(0x100000001B3)  # odd
P_INVERSE = np.uint64(pow(int(P), -1, 2**64))
MIX = np.uint64(1_000_003)  # combines token hashes into n-gram hashes

SPACE, WORD, OTHER = 0, 1, 2
_ASCII_CLASS = np.array(
    [SPACE if chr(c).isspace() else WORD if chr(c).isalnum() or chr(c) == "_" else OTHER for c in range(128)],
    dtype=np.int8,
)


def finalise(x: np.ndarray) -> np.ndarray:
    """splitmix64's output function: every output bit depends on every input bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _code_points(text: str) -> np.ndarray:
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8).astype(np.uint64)
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def _classes(points: np.ndarray) -> np.ndarray:
    classes = _ASCII_CLASS[np.minimum(points, 127)]
    wide = points >= 128
    if wide.any():
        distinct, inverse = np.unique(points[wide], return_inverse=True)
        chars = [chr(c) for c in distinct.tolist()]
        table = np.array([SPACE if c.isspace() else WORD if c.isalnum() else OTHER for c in chars], dtype=np.int8)
        classes[wide] = table[inverse]
    return classes


def token_spans(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(code points of the batch, lower-cased and joined by newlines; token starts; token ends; each token's
    document index)."""
    lowered = [text.lower() for text in texts]  # per text: lower() may change a text's length
    points = _code_points("\n".join(lowered))
    classes = _classes(points)
    word = classes == WORD
    previous_word = np.concatenate(([False], word[:-1]))
    next_word = np.concatenate((word[1:], [False]))
    starts = np.flatnonzero((classes == OTHER) | (word & ~previous_word))
    ends = np.flatnonzero((classes == OTHER) | (word & ~next_word)) + 1
    lengths = np.fromiter(map(len, lowered), np.int64, len(lowered))
    document_starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))  # +1: the joining newline
    document = np.searchsorted(document_starts, starts, side="right") - 1
    return points, starts, ends, document


_powers: list[np.ndarray] = [np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64)]


def powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(P**i, P**-i) for i < n, modulo 2**64; kept between batches and grown by doubling."""
    global _powers
    if len(_powers[0]) < n:
        size = max(n, 2 * len(_powers[0]))
        with np.errstate(over="ignore"):
            _powers = [
                np.cumprod(np.full(size, base, dtype=np.uint64)) * inverse
                for base, inverse in ((P, P_INVERSE), (P_INVERSE, P))
            ]
    return _powers[0][:n], _powers[1][:n]


def token_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 hash of every token of the batch, in order; each token's document index)."""
    points, starts, ends, document = token_spans(texts)
    with np.errstate(over="ignore"):  # wrapping modulo 2**64 is the hash
        forward, inverse_powers = powers(len(points) + 1)
        prefix = np.concatenate(([np.uint64(0)], np.cumsum((points + np.uint64(1)) * forward[: len(points)])))
        raw = (prefix[ends] - prefix[starts]) * inverse_powers[starts]
        hashes = finalise(raw + (ends - starts).astype(np.uint64))
    return hashes, document
