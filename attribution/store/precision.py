"""How a store keeps its numbers: each document's compressed layer (k_out × k_in) as float32, or as integers with
one float32 step per row (one kept output direction), several to a byte:

  float32  as computed.
  int8     the nearest of −127..127 steps, step = the row's largest magnitude / 127: k_out·(k_in + 4) bytes.
  int4     the same with −7..7, two to a byte: k_out·(⌈k_in/2⌉ + 4) bytes.
  int2     the nearest of ±½, ±1½ steps, step = the row's root mean square (close to the step that minimises the
           squared error of Gaussian numbers, 0.996σ), four to a byte: k_out·(⌈k_in/4⌉ + 4) bytes.
  int1     the sign, times the row's mean magnitude (the least-squares scale of a sign), eight to a byte:
           k_out·(⌈k_in/8⌉ + 4) bytes.
Rounding errors are independent across numbers, so they mostly cancel in the inner products that scores are. At
equal bytes more directions beat more bits, hence int2 by default (figures: docs/performance.md). That holds
because eigen equalises the numbers' weight in the score before they are rounded (`compress`).
Packing puts column j with columns j + m, j + 2m, … (m = ⌈k_in / numbers per byte⌉) in one byte, so unpacking is
a few shifts and one join rather than per-number bit fiddling.
"""

from __future__ import annotations

import torch

BITS = {"int8": 8, "int4": 4, "int2": 2, "int1": 1}
LEVELS = {"int8": 127, "int4": 7}  # rounded to whole steps, zero included; int2 and int1 have no zero level
SCALE_SUFFIX = ":scale"
# float32 numbers decoded at once when scoring: a block small enough to still be in cache when it is multiplied
# (see docs/performance.md)
DECODE_BLOCK = 1 << 22


def numbers_per_byte(precision: str) -> int:
    return 8 // BITS[precision]


def bytes_per_layer(k_out: int, k_in: int, precision: str) -> int:
    if precision == "float32":
        return 4 * k_out * k_in
    return k_out * (-(-k_in // numbers_per_byte(precision)) + 4)


def row_steps(values: torch.Tensor, precision: str) -> torch.Tensor:
    """The step of each row of `values` (…, k_in), keeping the last dimension."""
    if precision in LEVELS:
        return values.abs().amax(-1, keepdim=True).float() / LEVELS[precision]
    if precision == "int2":
        return torch.linalg.vector_norm(values.float(), dim=-1, keepdim=True) / values.size(-1) ** 0.5
    return 2 * values.float().abs().mean(-1, keepdim=True)  # int1: the levels are ±step/2


def _offset(precision: str) -> float:
    """Stored codes are unsigned: code − offset is the number of steps."""
    return 8.0 if precision == "int4" else (2 ** BITS[precision] - 1) / 2


def stored_keys(name: str, precision: str) -> tuple[str, ...]:
    """The tensors `encode` stores under `name`: the layer, and unless float32 its rows' steps."""
    return (name,) if precision == "float32" else (name, name + SCALE_SUFFIX)


def encode(name: str, values: torch.Tensor, precision: str) -> dict[str, torch.Tensor]:
    """A batch of compressed layers (N, k_out, k_in) as the tensors a shard stores under `name`."""
    if precision == "float32":
        return {name: values.float()}
    step = row_steps(values, precision)
    scaled = values / torch.where(step > 0, step, 1.0)
    if precision in LEVELS:
        levels = LEVELS[precision]
        codes = scaled.round_().clamp_(-levels, levels)
    else:  # mid-rise: the nearest of (code − offset) steps, codes 0 .. 2^bits − 1
        codes = scaled.add_(2 ** (BITS[precision] - 1)).floor_().clamp_(0, 2 ** BITS[precision] - 1)
    scale = {name + SCALE_SUFFIX: step.squeeze(-1)}
    if precision == "int8":
        return {name: codes.to(torch.int8), **scale}
    if precision == "int4":
        codes += 8  # 1..15
    per = numbers_per_byte(precision)
    codes = codes.to(torch.uint8)
    codes = torch.nn.functional.pad(codes, (0, -codes.size(-1) % per))
    packed = torch.zeros_like(codes[..., : codes.size(-1) // per])
    for position, chunk in enumerate(codes.chunk(per, dim=-1)):
        packed |= chunk << (BITS[precision] * position)
    return {name: packed, **scale}


def decode(tensors: dict[str, torch.Tensor], name: str, precision: str, k_in: int) -> torch.Tensor:
    """The float32 layers (N, k_out, k_in) back from what `encode` stored under `name`."""
    stored = tensors[name]
    if precision == "float32":
        return stored.float()
    step = tensors[name + SCALE_SUFFIX].float()[..., None]
    if precision == "int8":
        return stored.float().mul_(step)
    bits = BITS[precision]
    mask = 2**bits - 1
    codes = torch.cat([(stored >> (bits * position)) & mask for position in range(numbers_per_byte(precision))], -1)
    return codes[..., :k_in].float().sub_(_offset(precision)).mul_(step)


def inner_products(tensors: dict[str, torch.Tensor], name: str, precision: str, k_in: int, queries: torch.Tensor
                   ) -> torch.Tensor:
    """⟨stored layer, query⟩ for every document of what `encode` stored under `name` and every query (Q, k_out·k_in):
    (N, Q). Documents are decoded a block at a time (`DECODE_BLOCK`), never the whole shard in float32."""
    stored = tensors[name]
    rows = max(1, DECODE_BLOCK // (stored.size(1) * k_in))
    products = torch.empty(stored.size(0), queries.size(0))
    for start in range(0, stored.size(0), rows):
        block = documents(tensors, name, start, start + rows)
        products[start : start + rows] = decode(block, name, precision, k_in).flatten(1) @ queries.mT
    return products


def documents(tensors: dict[str, torch.Tensor], name: str, start: int, stop: int) -> dict[str, torch.Tensor]:
    """What `encode` stored under `name`, for documents start..stop only (views, no copy)."""
    return {key: tensors[key][start:stop] for key in (name, name + SCALE_SUFFIX) if key in tensors}
