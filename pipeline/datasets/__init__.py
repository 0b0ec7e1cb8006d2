"""The datasets: one module each, declaring its card (`DATASET`, a `DatasetCard`) and `list_videos(cfg)`.

A lister turns a dataset's root folder into its usable videos, with labels, methods and splits. Modules are
found by looking in this package, so a dataset is its one file. Standard library only and cheap (no
decoding): the Snakefile lists the datasets while building its DAG.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType

from pipeline.datasets.base import (FAKE, REAL, SPLITS, STAGE, Absent, DatasetCard, Gap, Listing, Problem,
                                    VideoRef, safe_join)

__all__ = ["FAKE", "REAL", "SPLITS", "STAGE", "Absent", "DatasetCard", "Gap", "Listing", "Problem", "VideoRef",
           "dataset_cards", "dataset_module", "list_dataset", "list_videos", "listers", "safe_join"]


@cache
def _modules() -> dict[str, ModuleType]:
    found = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        module = importlib.import_module(f"{__name__}.{info.name}")
        card = getattr(module, "DATASET", None)
        if isinstance(card, DatasetCard):
            found[card.name] = module
    return dict(sorted(found.items(), key=lambda item: item[1].DATASET.rank))


def dataset_cards() -> dict[str, DatasetCard]:
    """Every dataset's card, in table order."""
    return {name: module.DATASET for name, module in _modules().items()}


def dataset_module(name: str) -> ModuleType:
    if name not in _modules():
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(_modules())}")
    return _modules()[name]


def listers() -> dict[str, Callable[[dict], Listing]]:
    return {name: module.list_videos for name, module in _modules().items()}


def list_videos(name: str, cfg: dict) -> Listing:
    """List dataset `name` from its own config section `cfg` (`config["datasets"][name]`)."""
    return dataset_module(name).list_videos(cfg)


def list_dataset(name: str, datasets: dict) -> Listing:
    """List dataset `name` from the whole `config["datasets"]`: a module's `section(cfg, datasets)` first fills
    in what its section refers to in others (DeeperForensics: the FF++ splits folder)."""
    module = dataset_module(name)
    cfg = dict(datasets[name])
    if hasattr(module, "section"):
        cfg = module.section(cfg, datasets)
    return module.list_videos(cfg)
