"""The memory and disk `curate influence index` needs, estimated before work starts (the pattern of `ekfac.memory`).

Memory: the runtime and model, one batch's forward pass and captured (a, g) at --max-length tokens, the
compression's maps, and one shard's compressed gradients (encoded batch by batch) held until it is written. Disk:
every document's k_out × k_in numbers per layer in the store's precision and its gradient norm, plus the ids in
each shard's header, and the maps.
"""

from __future__ import annotations

from torch import nn

from attribution.ekfac.memory import FLOAT, ID_BYTES, RUNTIME, _forward, describe
from attribution.ekfac.modules import Tracked
from attribution.store.arguments import IndexArguments
from attribution.store.precision import bytes_per_layer


def bytes_per_document(modules: list[Tracked], args: IndexArguments, precision: str | None = None) -> int:
    """A document's bytes in a shard at `precision` (default: the store's): its layers, its norm and its id."""
    stored = sum(bytes_per_layer(*args.kept(t.out_features, t.in_features), precision or args.precision)
                 for t in modules)
    return stored + FLOAT + ID_BYTES


def index_needs(model: nn.Module, modules: list[Tracked], args: IndexArguments,
                documents: int) -> tuple[dict[str, int], int]:
    """Bytes per component of the peak memory, and bytes of the store: the shards and the compression's maps."""
    tokens = args.batch_size * args.max_length
    maps = sum(2 * sum(width * k for width, k in zip(t.shape, args.kept(*t.shape), strict=True)) * FLOAT
               for t in modules)
    parts = {
        "runtime": RUNTIME,
        "model": sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers())),
        # the batch's compressed gradients are float32 until encoded
        "batch": _forward(model, args.batch_size, args.max_length)
        + sum(tokens * (t.in_features + t.out_features) * FLOAT for t in modules)
        + args.batch_size * bytes_per_document(modules, args, "float32"),
        "maps": maps,
        "shard": min(documents, args.documents_per_shard) * bytes_per_document(modules, args),
    }
    # The maps are saved beside the shards (compression.safetensors), so the disk plan counts them: on a small
    # store they are a large part of it (see docs/performance.md)
    return parts, documents * bytes_per_document(modules, args) + maps


def plan_index(model: nn.Module, modules: list[Tracked], args: IndexArguments, documents: int) -> tuple[str, str]:
    """Descriptions of the peak memory (by component) and of the disk the store will take (`index_needs`)."""
    parts, disk = index_needs(model, modules, args, documents)
    return describe(parts), f"{disk / 1e6:.1f} MB ({bytes_per_document(modules, args)} bytes per document)"
