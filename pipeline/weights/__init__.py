"""The models' pretrained weights: where they are published, fetching them through their libraries'
own mechanisms, verifying them against the published checksums, and a lock file of their SHA-256.

    python -m pipeline weights list | fetch [MODEL ...] | check MODEL ...

`check_weights` is what the workflow calls before training on real data.
"""
from pipeline.weights.check import check_weights

__all__ = ["check_weights"]
