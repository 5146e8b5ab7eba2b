"""The procedural-document classifier: labels from an influence ranking, a fast CPU model, evaluation."""

from curate.classify.labels import LabelArguments, label_from_scores
from curate.classify.model import ProceduralClassifier, load_classifier

__all__ = ["LabelArguments", "ProceduralClassifier", "label_from_scores", "load_classifier"]
