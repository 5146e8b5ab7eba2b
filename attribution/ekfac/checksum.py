"""Checksums of the tensor files `factors.save_tensors` writes (factors, queries, a store's compression and shards).

A file's JSON header (its safetensors metadata `header`) ends with a `checksum` field: a CRC-32 of the header
written before it and of every tensor's name, dtype, shape and bytes. Readers recompute it and refuse a file
whose bytes changed, rather than read flipped bits as numbers. The field lives inside the one metadata entry
because safetensors writes several entries in no fixed order, and files must come out byte-identical when
rebuilt; it is checked on the header's text as written, never on a re-serialisation. CRC-32 (zlib's, the check
of gzip and zip) rather than a cryptographic hash: it guards against damage, not tampering, detects every burst
of up to 32 flipped bits, and runs at memory speed, so every read verifies. Files written before checksums were
recorded carry none and are read unchecked, silently: they were whole when written, and rebuilding them is the
only remedy a warning could suggest.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping

import torch

CHECKSUM_KEY = "checksum"
ALGORITHM = "crc32"
_SEAL = re.compile(r'(, )?"checksum": "(crc32:[0-9a-f]{8})"\}\Z')


def _crc(tensors: Mapping[str, torch.Tensor], text: str) -> str:
    crc = zlib.crc32(text.encode())
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        crc = zlib.crc32(f"{name}|{tensor.dtype}|{list(tensor.shape)}".encode(), crc)
        crc = zlib.crc32(tensor.reshape(-1).view(torch.uint8).numpy(), crc)
    return f"{ALGORITHM}:{crc:08x}"


def sealed_header(meta: dict, tensors: Mapping[str, torch.Tensor]) -> str:
    """`meta` as JSON, ending with the checksum of that JSON and of `tensors` (in name order)."""
    text = json.dumps({key: value for key, value in meta.items() if key != CHECKSUM_KEY})
    seal = f'"{CHECKSUM_KEY}": "{_crc(tensors, text)}"}}'
    return f"{text[:-1]}, {seal}" if meta.keys() - {CHECKSUM_KEY} else "{" + seal


def verify(tensors: Mapping[str, torch.Tensor], header: str) -> None:
    """Raise ValueError when `tensors` and the JSON `header` read from a file do not match the checksum the header
    ends with; a header without one passes."""
    found = _SEAL.search(header)
    if found is None:
        return
    text = header[: found.start()] + "}"
    computed = _crc(tensors, text)
    if computed != found.group(2):
        raise ValueError(f"its bytes changed since it was written: checksum {computed}, recorded {found.group(2)}")


def unsealed(meta: dict) -> dict:
    """A header read back, without its checksum."""
    meta.pop(CHECKSUM_KEY, None)
    return meta
