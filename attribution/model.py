"""The one way the toolkit loads a causal LM and its tokenizer, with every check in one place.

A model is a local Hugging Face directory (config, weights, tokenizer); nothing is downloaded at run time.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from attribution.errors import ModelError

log = logging.getLogger(__name__)

CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(device: str) -> torch.device:
    """`auto` is CUDA when present; asking for a device that is absent is refused here, not deep in torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ModelError(f"unknown device {device!r}: {error}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but torch sees no CUDA device")
    return resolved


def check_causal(config, path: Path) -> None:
    """Refuse encoders and encoder-decoders: their gradients are not a causal LM's next-token loss."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    architectures = getattr(config, "architectures", None) or []
    causal = (
        any(name.endswith(CAUSAL_SUFFIXES) for name in architectures)
        if architectures
        else config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    )
    if getattr(config, "is_encoder_decoder", False) or not causal:
        kind = ", ".join(architectures) or config.model_type
        raise ModelError(f"{path} holds a {kind}, not a causal language model")


def model_positions(model) -> int | None:
    """How many positions the model can attend over, if its config says."""
    config = model.config
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        if isinstance(getattr(config, name, None), int):
            return getattr(config, name)
    return None


def check_max_length(model, max_length: int) -> int:
    """`max_length` itself, or a clear error when the model has fewer positions."""
    positions = model_positions(model)
    if positions is not None and max_length > positions:
        raise ModelError(
            f"--max-length {max_length} exceeds the model's {positions} positions; pass --max-length {positions} or less"
        )
    return max_length


def load_causal_lm(
    path: str | Path,
    device: str = "cpu",
    dtype: str = "float32",
    threads: int | None = None,
    max_length: int | None = None,
):
    """A causal LM (eval mode, on `device`, in `dtype`) and its tokenizer from a local HF directory.

    Raises `ModelError` with one line for a missing path or file, a non-causal model, an unknown dtype or
    device, and a `max_length` beyond the model's positions.
    """
    from safetensors import SafetensorError
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if threads:
        torch.set_num_threads(threads)
    if not path.is_dir():
        raise ModelError(f"no model at {path}; train one (`curate model train`), import one (`curate model import`) or pass --model DIR")
    if not (path / "config.json").is_file():
        raise ModelError(f"{path} has no config.json; it is not a Hugging Face model directory")
    if dtype not in DTYPES:
        raise ModelError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    torch_device = resolve_device(device)
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot read the model config in {path}: {error}") from None
    check_causal(config, path)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[dtype]).to(torch_device).eval()
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, RuntimeError, SafetensorError) as error:  # missing or cut-short weights or tokenizer
        raise ModelError(f"cannot load a causal LM and tokenizer from {path}: {str(error).splitlines()[0]}") from None
    if max_length is not None:
        check_max_length(model, max_length)
    return model, tokenizer
