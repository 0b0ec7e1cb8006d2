"""Where each detector's pretrained weights are published (its card's `weights`) and where they are cached.

Each detector's card (`pipeline/models/<name>.py`, `DETECTOR.weights`) lists its published files; a
detector whose card names a `backbone` has none of its own (the trained backbone detector starts from
that detector's files). Kinds: Hugging Face hub files (the hub publishes an LFS file's SHA-256 as its
ETag), torch hub files whose name carries a SHA-256 prefix (torchvision's), and raw files with no
published checksum (the first fetch records theirs in the lock).

`STDD_WEIGHTS_BASE_URL` replaces the base URL of the torch hub and raw files, `HF_ENDPOINT` the hub's
(the tests serve both from 127.0.0.1).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.models import card
from pipeline.models.card import Weights
from pipeline.models.pretrained import cache_pattern, cached_file, hf_repo_cache, hub_checkpoints

BASE_URL_ENV = "STDD_WEIGHTS_BASE_URL"
HF_DEFAULT_ENDPOINT = "https://huggingface.co"
HF, TORCHVISION, RAW = "hf", "torchvision", "raw"


class WeightsError(Exception):
    """An expected failure (no network, a refused checksum, a missing file): one line for the user."""


def hf_endpoint() -> str:
    """The Hugging Face hub, read at call time (huggingface_hub reads `HF_ENDPOINT` once, at import)."""
    return os.environ.get("HF_ENDPOINT", HF_DEFAULT_ENDPOINT).rstrip("/")


@dataclass(frozen=True)
class WeightFile(Weights):
    """One published weights file (a card's `Weights`), with where it comes from and where it goes."""

    def url(self) -> str:
        if self.kind == HF:
            return f"{hf_endpoint()}/{self.origin}/resolve/main/{self.name}"
        return f"{os.environ.get(BASE_URL_ENV, self.origin).rstrip('/')}/{self.name}"

    def where(self) -> Path:
        """The folder the file goes in; for the hub any snapshot folder works, `manual` for one put by hand."""
        return hf_repo_cache(self.origin) / "snapshots" / "manual" if self.kind == HF else hub_checkpoints()

    def looks_in(self) -> str:
        """Where the models look for the file (a glob over the snapshots for the hub)."""
        return str(Path(cache_pattern(self)).parent)

    def cached(self) -> Path | None:
        """The file in its cache (for the hub, the newest snapshot holding it), or None."""
        return cached_file(self)

    def published(self) -> list[tuple[str, str]]:
        """The full SHA-256 the card pins, as `(checksum, how it is published)` for `verify.assess`."""
        return [(self.sha256, "SHA-256 in the detector's card")] if self.sha256 else []


@dataclass(frozen=True)
class ModelWeights:
    """A model's published files, in the order the model tries them, or the model whose trained
    detector is its backbone (then it has no files of its own)."""

    files: tuple[WeightFile, ...] = ()
    backbone: str = ""


def model_weights(plugins: Iterable[str] = ()) -> dict[str, ModelWeights]:
    """Every detector's published files, from the cards (the package's and the plugins')."""
    return {name: ModelWeights(tuple(WeightFile(**asdict(w)) for w in found.weights), found.backbone)
            for name, found in card.catalogue(tuple(plugins)).items()}



def needed(models: list[str], known: dict[str, ModelWeights] | None = None) -> list[str]:
    """The models whose weights `models` need, in order, without repeats: a detector with a backbone needs
    its backbone's. Raises WeightsError for an unknown name."""
    known = model_weights() if known is None else known
    if unknown := [m for m in models if m not in known]:
        raise WeightsError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return list(dict.fromkeys(known[m].backbone or m for m in models))
