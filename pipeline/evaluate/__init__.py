"""Evaluation: video-level inference, metrics, the perturbation experiment and metric collection."""
