"""The procedural-document classifier: labels from an influence ranking, a fast CPU model, evaluation."""

SCORE_KEY = "procedural_score"  # the metadata field that holds a document's P(procedural)

_LAZY = {  # name -> module; scikit-learn and polars take seconds to import, so load them only when asked
    "ClassifierArguments": "arguments",
    "LabelArguments": "arguments",
    "label_from_scores": "labels",
    "ProceduralClassifier": "model",
    "load_classifier": "model",
    "TwoStageClassifier": "two_stage",
    "ClassifierReport": "train",
    "train_classifier": "train",
}

__all__ = ["SCORE_KEY", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"curate.classify.{_LAZY[name]}"), name)
    raise AttributeError(name)
