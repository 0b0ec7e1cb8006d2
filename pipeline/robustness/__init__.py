"""Robustness sweep: FF++ test videos under the DeeperForensics-1.0 perturbations at five severities."""
