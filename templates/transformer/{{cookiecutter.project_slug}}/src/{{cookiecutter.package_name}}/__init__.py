"""Transformer training, pre-training, fine-tuning and inference."""

__version__ = "0.1.0"
