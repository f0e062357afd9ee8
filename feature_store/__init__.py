"""Seeding the feature store: deterministic features for the first N entities (``python -m feature_store.seed``)."""
