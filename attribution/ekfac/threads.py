"""Small dense decompositions on one thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block's torch ops on one thread, then restore the count.

    LAPACK decomposes a small matrix in many tiny parallel regions, and where idle threads sleep at once
    (OMP_WAIT_POLICY=PASSIVE, which the CLI set until `curate.openmp` bounded the spinning instead, and which a user
    may still set) every region wakes them: a batch of eight 128 × 128 float64 `eigh` took 86 ms on two passive
    threads and 8.4 ms on one (8.0 on two spinning threads). One thread wins up to about 512 × 512 (39 against 130 ms); a 1536 × 1536 `eigh` is faster on
    two (1.4 against 2.2 s), so this is for the per-batch decompositions of query preconditioning, not for the
    factors' one-off eigendecompositions.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
