"""Static token embeddings distilled from a packaged sentence encoder with model2vec.

model2vec's `distill` passes every token of the encoder's vocabulary through the encoder once, reduces the
outputs with PCA and weights them by token frequency (SIF): a table of one vector per token. A document's
features are then the mean of its tokens' vectors, a lookup and a sum, with no network to run. Distilling
depends only on the encoder and the settings, never on the training documents, so the result is kept in the
model cache and reused; the fitted transformer holds the static model itself, so a classifier file carries it
and needs numpy and model2vec, not torch or the encoder, to score.
"""

from __future__ import annotations

import functools

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from curate.classify.sentence import EXTRA, MODEL_CACHE, SENTENCE_MODELS, sentence_model_path
from curate.errors import require


@functools.lru_cache(maxsize=2)
def distilled(sentence_model: str, pca_dims: int, seed: int):
    """The static model distilled from packaged encoder `sentence_model`: from the model cache when an earlier
    call saved it, else distilled (the encoder's whole vocabulary through it once) and saved."""
    StaticModel = require("model2vec", EXTRA, "the static backend").StaticModel  # noqa: N806 - a class

    folder = MODEL_CACHE / f"{SENTENCE_MODELS[sentence_model].folder}-static-pca{pca_dims}-seed{seed}"
    if (folder / "config.json").is_file():
        return StaticModel.from_pretrained(folder)
    import torch
    from model2vec.distill import distill

    source = sentence_model_path(sentence_model)
    torch.manual_seed(seed)  # the PCA is an eigendecomposition; seeded all the same, should that change
    np.random.seed(seed)
    model = distill(str(source), pca_dims=pca_dims, device="cpu")
    temporary = folder.with_name(f".{folder.name}.partial")
    model.save_pretrained(temporary)
    temporary.replace(folder)
    return model


class StaticEmbeddings(TransformerMixin, BaseEstimator):
    """Mean of a document's static token vectors (model2vec, distilled from `sentence_model`), L2-normalised.

    Fitting distils (or takes the cached distillation) into `static_model_`, so the fitted transformer is
    self-contained."""

    def __init__(self, sentence_model: str = "minilm", pca_dims: int = 256, max_length: int = 512, seed: int = 0):
        self.sentence_model = sentence_model
        self.pca_dims = pca_dims
        self.max_length = max_length
        self.seed = seed

    def fit(self, texts=None, labels=None) -> StaticEmbeddings:
        self.static_model_ = distilled(self.sentence_model, self.pca_dims, self.seed)
        return self

    def transform(self, texts) -> np.ndarray:
        check_is_fitted(self)
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.static_model_.dim), dtype=np.float32)
        # one process: a datatrove task is the unit of parallelism, and forking per batch costs more than it saves
        embeddings = self.static_model_.encode(texts, max_length=self.max_length, use_multiprocessing=False,
                                               normalize=False).astype(np.float32)
        return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True).clip(min=1e-12)
