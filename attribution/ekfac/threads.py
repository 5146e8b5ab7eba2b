"""Small dense decompositions on one thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block's torch ops on one thread, then restore the count.

    LAPACK decomposes a small matrix in many tiny parallel regions, and where idle threads sleep at once
    (OMP_WAIT_POLICY=PASSIVE, which a user may set) every region wakes them, so one thread is faster
    for small matrices; large ones still gain from more threads, so this is for the per-batch decompositions of
    query preconditioning, not for the factors' one-off eigendecompositions (see docs/performance.md).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
