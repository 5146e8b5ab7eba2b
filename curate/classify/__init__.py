"""The procedural-document classifier: labels from an influence ranking, a fast CPU model, evaluation."""

from curate.classify.model import ProceduralClassifier, load_classifier
from curate.classify.labels import LabelArguments, label_from_scores

__all__ = ["LabelArguments", "ProceduralClassifier", "label_from_scores", "load_classifier"]
