"""`ProceduralClassifier`: a scikit-learn estimator that scores how procedural a document is.

Default backend "hashed": hashed word 1–2-grams, punctuation and symbols kept as tokens (no vocabulary to fit,
so it scales to any corpus and loads instantly), into a logistic regression, probability-calibrated with
cross-validated sigmoid calibration. Character n-grams are optional (`char_ngrams=(3, 5)`): on the embedded
corpus they cost several times the throughput for no F1 gain (docs/performance.md). Backend
"embedding": mean-pooled hidden states of a local HF model (e.g. the run's LM) into the same linear model.
Backend "sentence": a packaged sentence encoder's mean-pooled embeddings (`curate.classify.sentence`); "static":
model2vec static token vectors distilled from it (`curate.classify.static`); both need the `embed` extra.
The saved file is a joblib pickle of the estimator (plain scikit-learn objects) and its provenance, so a
datatrove worker loads it with scikit-learn alone (the embedding and sentence backends also need torch
and their model; the static backend model2vec).
It is zlib-compressed (lossless): with the default 2**17 hashed features the three calibration folds'
coefficients and the idf weights are dense float64 arrays, which zlib still shrinks (sizes in
docs/performance.md).
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline, make_union
from sklearn.utils.validation import check_is_fitted

from curate import __version__
from curate.classify import builtin, hashing
from curate.classify.arguments import BACKENDS
from curate.classify.arguments import ClassifierArguments as DEFAULTS  # the command line's defaults are ours
from curate.classify.sentence import MeanPooledEncoder, SentenceEmbeddings
from curate.classify.static import StaticEmbeddings
from curate.errors import InputError, MissingDependency

FILE_VERSION = 3  # 2: features hashed by curate.classify.hashing; 3: a scikit-learn estimator (`pipeline_`)
MAX_CHARACTERS = 100_000  # a document is classified by its start: memory stays bounded on a huge one


def bounded(texts) -> list[str]:
    """Each text cut to its first `MAX_CHARACTERS`: featurising a huge document whole takes many times its size in
    memory (docs/performance.md)."""
    return [text[:MAX_CHARACTERS] for text in texts]


EMBED_CHUNK = 256  # documents embedded per progress step


def embed(step, texts: list[str], what: str) -> np.ndarray:
    """A features step's output for `texts` (`step.transform`), a chunk at a time with progress: an embedding
    model's features depend on nothing fitted, so a caller computes them once and fits many heads on them."""
    from attribution.progress import progress_bar

    chunks = [step.transform(bounded(texts[start : start + EMBED_CHUNK])) for start in
              progress_bar(range(0, len(texts), EMBED_CHUNK), desc=what, unit="chunk", leave=False)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 1), dtype=np.float32)


class MeanPooledEmbeddings(MeanPooledEncoder):
    """Mean of a local HF model's last hidden states over each document's tokens; the model loads lazily."""

    def __init__(self, model_path: str, max_length: int = 256, batch_size: int = 16):
        self.model_path = model_path
        self.max_length = max_length
        self.batch_size = batch_size

    def fit(self, texts, labels=None):
        return self

    def _model_files(self) -> str:
        return self.model_path


class HashedWordNgrams(TransformerMixin, BaseEstimator):
    """Counts of hashed word n-grams per document: a sparse (documents × n_features) matrix.

    Tokens are words and single punctuation marks or symbols of the lower-cased text (punctuation and symbols
    mark formulas, code and worked steps, so they are kept), found and hashed for a whole batch at once
    (`curate.classify.hashing`); n-gram hashes are combined from token hashes with numpy. The n-grams are
    scikit-learn's word n-grams with the token pattern `\\w+|[^\\w\\s]`. Stateless."""

    def __init__(self, n_features: int = 2**17, ngram_range: tuple[int, int] = (1, 2)):
        self.n_features = n_features
        self.ngram_range = ngram_range

    def fit(self, texts, labels=None) -> HashedWordNgrams:
        return self

    def transform(self, texts) -> sparse.csr_matrix:
        texts = list(texts)
        token_hashes, document = hashing.token_hashes(texts)
        lengths = np.bincount(document, minlength=len(texts))
        position = np.arange(len(token_hashes)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        remaining = np.repeat(lengths, lengths) - position  # tokens from here to the end of the document
        keys = []
        low, high = self.ngram_range
        with np.errstate(over="ignore"):  # wrapping modulo 2**64 is the hash
            for n in range(low, high + 1):
                start = np.flatnonzero(remaining >= n)  # the n-grams that end inside their document
                hashed = token_hashes[start] + np.uint64(n)  # n-grams of different orders hash apart
                for offset in range(1, n):
                    hashed = hashed * hashing.MIX ^ token_hashes[start + offset]
                column = (hashing.finalise(hashed) % np.uint64(self.n_features)).astype(np.int64)
                keys.append(document[start] * self.n_features + column)
        # one sort of (document, column) keys both groups duplicates and orders each row's columns
        keys, counts = np.unique(np.concatenate(keys), return_counts=True)
        rows, columns = np.divmod(keys, self.n_features)
        indptr = np.searchsorted(rows, np.arange(len(lengths) + 1))
        return sparse.csr_matrix(
            (counts.astype(np.float64), columns, indptr), shape=(len(lengths), self.n_features)
        )


def hashed_features(
    n_features: int = 2**17, word_ngrams: tuple[int, int] = (1, 2), char_ngrams: tuple[int, int] | None = None
):
    """Sublinear tf-idf of hashed word n-grams, plus hashed character n-grams (within words) if asked."""

    def tfidf(vectorizer: HashingVectorizer):
        return make_pipeline(vectorizer, TfidfTransformer(sublinear_tf=True))

    words = HashedWordNgrams(n_features, word_ngrams)
    if char_ngrams is None:
        return tfidf(words)
    chars = HashingVectorizer(analyzer="char_wb", ngram_range=tuple(char_ngrams), n_features=n_features,
                              alternate_sign=False, norm=None)
    return make_union(tfidf(words), tfidf(chars))


class ProceduralClassifier(ClassifierMixin, BaseEstimator):
    """P(procedural) of a document: features (hashed n-grams, or a local model's embeddings) into a logistic
    regression, probability-calibrated by cross-validated sigmoid calibration.

    Takes documents (a list of strings), not a numeric matrix. Hyperparameters are the constructor's
    arguments, stored as given. Fitting sets `classes_` (the two labels, sorted: the second is "procedural"),
    `pipeline_` (the features, then the calibrated model) and `provenance_` (what it was trained on; training
    from a ranking adds the run, scores and probes). `predict` thresholds P(procedural) at 0.5; the
    threshold a filter keeps documents at is the filter's own setting.
    """

    def __init__(
        self,
        backend: str = DEFAULTS.backend,
        n_features: int = 2**17,
        word_ngrams: tuple[int, int] = DEFAULTS.word_ngrams,
        char_ngrams: tuple[int, int] | None = DEFAULTS.char_ngrams,  # off by default: slow, no gain measured
        C: float = 4.0,
        embedding_model: str | None = None,  # a local HF model directory, for backend "embedding"
        calibration_folds: int = 3,
        seed: int = DEFAULTS.seed,
        sentence_model: str = "minilm",  # the packaged encoder of backends "sentence" and "static"
        max_length: int = 256,  # tokens per document read by backends "sentence" and "embedding"
    ):
        self.backend = backend
        self.n_features = n_features
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.C = C
        self.embedding_model = embedding_model
        self.calibration_folds = calibration_folds
        self.seed = seed
        self.sentence_model = sentence_model
        self.max_length = max_length

    def __setstate__(self, state: dict) -> None:
        # files saved before a hyperparameter existed get its default, so get_params and clone work on them
        state = {"sentence_model": "minilm", "max_length": 256, **state}
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.classifier_tags.multi_class = False
        return tags

    def make_features(self):
        """The unfitted features step of this classifier's pipeline."""
        if self.backend == "hashed":
            return hashed_features(self.n_features, self.word_ngrams, self.char_ngrams)
        if self.backend == "embedding":
            if not self.embedding_model:
                raise InputError("the embedding backend needs embedding_model (a local HF model directory)")
            return MeanPooledEmbeddings(str(self.embedding_model), max_length=self.max_length)
        if self.backend == "sentence":
            return SentenceEmbeddings(self.sentence_model, max_length=self.max_length)
        if self.backend == "static":
            return StaticEmbeddings(self.sentence_model, seed=self.seed)
        raise InputError(f"unknown backend {self.backend!r}; choose {', '.join(BACKENDS)}")

    def _make_head(self) -> CalibratedClassifierCV:
        linear = LogisticRegression(C=self.C, max_iter=2000, class_weight="balanced", random_state=self.seed)
        return CalibratedClassifierCV(linear, method="sigmoid", cv=self.calibration_folds)

    def _make_pipeline(self) -> Pipeline:
        return make_pipeline(self.make_features(), self._make_head())

    def fit(self, texts: list[str], labels, features: np.ndarray | None = None) -> ProceduralClassifier:
        """Fit on `texts` and their `labels`. `features`, if given, are the features step's output for `texts`,
        computed already (a benchmark embeds each document once for several classifiers); the step is then
        only fitted, not run."""
        texts, labels = bounded(texts), np.asarray(labels)
        if labels.shape != (len(texts),):
            raise InputError(f"{len(texts)} documents, labels of shape {labels.shape}: give one label each")
        classes = np.unique(labels)
        if len(classes) != 2:
            raise InputError(
                f"training needs both positive and negative documents; the labels hold {len(classes)} "
                f"class{'' if len(classes) == 1 else 'es'}. Only binary classification is supported."
            )
        if features is None:
            self.pipeline_ = self._make_pipeline().fit(texts, labels)
        else:
            if features.shape[0] != len(texts):
                raise InputError(f"{len(texts)} documents, {features.shape[0]} rows of features: give one row each")
            step = self.make_features().fit(texts, labels)
            self.pipeline_ = make_pipeline(step, self._make_head().fit(features, labels))
        self.classes_ = classes
        self.provenance_ = {"training_documents": len(labels), "positives": int((labels == classes[1]).sum())}
        return self

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """P(`classes_[0]`), P(`classes_[1]`) per document: shape (n, 2)."""
        check_is_fitted(self)
        texts = bounded(texts)
        if not texts:
            return np.zeros((0, 2))
        return self.pipeline_.predict_proba(texts)

    def procedural_probability(self, texts: list[str]) -> np.ndarray:
        """P(procedural) per document, shape (n,): the probability of the positive label, `classes_[1]`."""
        return self.predict_proba(texts)[:, 1]

    def probability_from_features(self, features: np.ndarray) -> np.ndarray:
        """P(procedural) from the features step's output, computed already (see `fit`)."""
        check_is_fitted(self)
        return self.pipeline_[-1].predict_proba(features)[:, 1]

    def predict(self, texts: list[str]) -> np.ndarray:
        probability = self.procedural_probability(texts)  # first: it raises NotFittedError before fitting
        return self.classes_[(probability >= 0.5).astype(int)]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"file_version": FILE_VERSION, "toolkit_version": __version__, "classifier": self}
        joblib.dump(data, path, compress=3)
        return path


def save_builtin(classifier: ProceduralClassifier, provenance: dict, name: str = builtin.DEFAULT) -> Path:
    """Ship `classifier` as package data (`builtin:NAME`), `provenance` (model, sources, probes, sizes, the
    command that rebuilds it) added to its own; refuses a file over `builtin.MAX_BYTES`."""
    if missing := [key for key in builtin.REQUIRED_PROVENANCE if key not in provenance]:
        raise InputError(f"the provenance lacks {', '.join(missing)}: a shipped classifier states all of "
                         f"{', '.join(builtin.REQUIRED_PROVENANCE)}")
    classifier.provenance_.update(provenance)
    path = classifier.save(builtin.FOLDER / f"{name}.joblib")
    if (size := path.stat().st_size) > builtin.MAX_BYTES:
        path.unlink()
        raise InputError(f"{path}: {size / 1e6:.1f} MB, over the {builtin.MAX_BYTES / 1e6:.0f} MB of package "
                         "data; train it with fewer features (n_features, no character n-grams)")
    return path


def describe_classifier(spec: str | Path) -> dict:
    """A classifier file's size, settings and provenance (`curate classifier evaluate --info`)."""
    path = builtin.classifier_path(spec)
    classifier = load_classifier(path)
    return {"file": str(path), "megabytes": round(path.stat().st_size / 1e6, 3),
            "settings": classifier.get_params(), "provenance": classifier.provenance_}


def load_classifier(path: str | Path) -> ProceduralClassifier:
    """The classifier in a file saved by `ProceduralClassifier.save`, or a shipped one (`builtin[:NAME]`)."""
    path = builtin.classifier_path(path)
    if not path.exists():
        raise InputError(f"{path}: no classifier file (train one with `curate classifier train`)")
    try:
        data = joblib.load(path)
    except ModuleNotFoundError as error:  # a backend's optional package, e.g. model2vec for "static"
        package = (error.name or "?").split(".")[0]
        command = " pip install 'procedural-curate[embed]'" if package == "model2vec" else ""
        raise MissingDependency(f"{path}: loading this classifier needs the optional dependency "
                                f"{package}:{command or ' install it'}") from error
    except Exception as error:  # a corrupt or foreign file: say which, whatever the unpickler raised
        raise InputError(f"{path}: not a classifier file ({error})") from error
    if not isinstance(data, dict) or "file_version" not in data:
        raise InputError(f"{path}: not a classifier file")
    if data["file_version"] != FILE_VERSION:
        raise InputError(
            f"{path}: classifier file version {data['file_version']}, this toolkit reads version "
            f"{FILE_VERSION}; retrain it with `curate classifier train`"
        )
    return data["classifier"]
