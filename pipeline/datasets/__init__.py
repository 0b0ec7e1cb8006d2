"""Dataset listers: a dataset's usable videos, with labels and splits, from its root folder.

Standard library only and cheap (no decoding): the Snakefile calls `list_videos` while building its DAG.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from pipeline.datasets import celebdf, deeperforensics, dfd, dfdc, ffpp
from pipeline.datasets.base import (FAKE, REAL, SPLITS, STAGE, Absent, Gap, Listing, Problem, VideoRef,
                                    safe_join)

__all__ = ["FAKE", "LISTERS", "REAL", "SPLITS", "STAGE", "Absent", "Gap", "Listing", "Problem", "VideoRef",
           "list_dataset", "list_videos", "safe_join"]

LISTERS: dict[str, Callable[[dict], Listing]] = {
    "ffpp": ffpp.list_videos,
    "dfdc": dfdc.list_videos,
    "deeperforensics": deeperforensics.list_videos,
    "celebdf": celebdf.list_videos,
    "dfd": dfd.list_videos,
}


def list_videos(name: str, cfg: dict) -> Listing:
    """List dataset `name` from its own config section `cfg` (`config["datasets"][name]`).

    Each lister needs only its own section: the FF++ reals of DeeperForensics are listed by `ffpp`.
    """
    if name not in LISTERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(LISTERS)}")
    return LISTERS[name](cfg)


def list_dataset(name: str, datasets: dict) -> Listing:
    """List dataset `name` from the whole `config["datasets"]`, filling in what its section refers to.

    DeeperForensics' default split is FF++'s test split, so its section gets `ffpp_splits`, the
    `splits` folder under the FF++ root, unless it sets one.
    """
    cfg = dict(datasets[name])
    if name == "deeperforensics" and "ffpp" in datasets:
        cfg.setdefault("ffpp_splits", os.path.join(datasets["ffpp"]["root"], "splits"))
    return list_videos(name, cfg)
