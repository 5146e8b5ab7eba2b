"""procedural-curate: find, learn and curate the pretraining documents that teach reasoning."""

__version__ = "0.1.0"
