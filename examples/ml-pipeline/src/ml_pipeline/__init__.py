"""Acme's model-training pipeline."""
