"""Dataset listers: a dataset's usable videos, with labels and splits, from its root folder.

Standard library only and cheap (no decoding): the Snakefile calls `list_videos` while building its DAG.
"""
from __future__ import annotations

from collections.abc import Callable

from pipeline.datasets import celebdf, deeperforensics, dfdc, ffpp
from pipeline.datasets.base import FAKE, REAL, SPLITS, STAGE, Listing, Problem, VideoRef, safe_join

__all__ = ["FAKE", "LISTERS", "REAL", "SPLITS", "STAGE", "Listing", "Problem", "VideoRef", "list_videos",
           "safe_join"]

LISTERS: dict[str, Callable[[dict], Listing]] = {
    "ffpp": ffpp.list_videos,
    "dfdc": dfdc.list_videos,
    "deeperforensics": deeperforensics.list_videos,
    "celebdf": celebdf.list_videos,
}


def list_videos(name: str, cfg: dict) -> Listing:
    """List dataset `name` from its own config section `cfg` (`config["datasets"][name]`).

    Each lister needs only its own section: the FF++ reals of DeeperForensics are listed by `ffpp`.
    """
    if name not in LISTERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(LISTERS)}")
    return LISTERS[name](cfg)
