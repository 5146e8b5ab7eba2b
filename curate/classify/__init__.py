"""The procedural-document classifier: labels from an influence ranking, a fast CPU model, evaluation."""

from curate.classify.labels import LabelArguments, label_from_scores

__all__ = ["LabelArguments", "ProceduralClassifier", "label_from_scores", "load_classifier"]


def __getattr__(name: str):
    # The model pulls in scikit-learn (seconds); load it only when asked, so the CLI starts fast.
    if name in ("ProceduralClassifier", "load_classifier"):
        from curate.classify import model

        return getattr(model, name)
    raise AttributeError(name)
