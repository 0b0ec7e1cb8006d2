"""Spatio-temporal deepfake-video detection: the package behind the Snakemake workflow."""
import os as _os

# albumentations asks PyPI for a newer version at import time unless told not to.
_os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
