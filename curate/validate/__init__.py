"""Validation experiments: removal-and-retrain, curated-mix comparison."""
