"""Fetch a model's published weights through their libraries' own mechanisms, verify and lock them.

Hub files go through huggingface_hub (`get_hf_file_metadata` for the published ETag, then
`hf_hub_download` into its cache), torchvision's through `torch.hub.load_state_dict_from_url(...,
check_hash=True)` and pytorch-i3d's through `torch.hub.download_url_to_file`. A file already in its
cache is verified, not downloaded again. Every network call has a timeout, so an offline machine
fails in seconds with one line instead of hanging.
"""
from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from http.client import HTTPException
from pathlib import Path

import torch

from pipeline.models.pretrained import hf_hub_cache, hub_checkpoints
from pipeline.weights.lock import LockEntry, WeightsLock
from pipeline.weights.registry import HF, RAW, ModelWeights, WeightFile, WeightsError, hf_endpoint
from pipeline.weights.verify import FIRST_FETCH, HUB_ETAG, SHA256_HEX, assess

DEFAULT_TIMEOUT = 15.0  # seconds per network operation


@contextlib.contextmanager
def socket_timeout(seconds: float) -> Iterator[None]:
    """A default timeout for sockets opened without one (urllib's, inside torch.hub)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def cannot_download(model: str, weights: WeightFile, exc: BaseException) -> WeightsError:
    return WeightsError(f"{model}: cannot download {weights.url()} ({first_line(exc)}); put {weights.name} in "
                        f"{weights.where()} or run with network")


def download_hf(model: str, weights: WeightFile, timeout: float) -> tuple[Path, list[tuple[str, str]]]:
    """The hub file in the HF cache, and the SHA-256 the hub publishes for it (its LFS ETag)."""
    import httpx2  # huggingface_hub's HTTP client
    from huggingface_hub import get_hf_file_metadata, hf_hub_download

    try:
        meta = get_hf_file_metadata(weights.url(), timeout=timeout)  # one try: fails fast when offline
        path = hf_hub_download(weights.origin, weights.name, cache_dir=hf_hub_cache(), endpoint=hf_endpoint(),
                               etag_timeout=timeout)
    except (OSError, httpx2.HTTPError) as exc:
        raise cannot_download(model, weights, exc) from None
    etag = meta.etag or ""
    return Path(path), [(etag, HUB_ETAG)] if SHA256_HEX.fullmatch(etag) else []


def download_torch_hub(model: str, weights: WeightFile, timeout: float) -> Path:
    """The file in the torch hub checkpoints; torch.hub checks a SHA-256 prefix in its name and keeps
    nothing when it differs."""
    path = hub_checkpoints() / weights.name
    path.parent.mkdir(parents=True, exist_ok=True)
    progress = sys.stderr.isatty()  # no progress bars in logs
    try:
        with socket_timeout(timeout):
            if weights.kind == RAW:
                torch.hub.download_url_to_file(weights.url(), str(path), progress=progress)
            else:
                torch.hub.load_state_dict_from_url(weights.url(), model_dir=str(path.parent), map_location="cpu",
                                                   progress=progress, check_hash=True, weights_only=True)
    except (OSError, HTTPException) as exc:
        raise cannot_download(model, weights, exc) from None
    except RuntimeError as exc:  # torch.hub: "invalid hash value ...", or a file that does not load
        path.unlink(missing_ok=True)
        raise WeightsError(f"{model}: {weights.url()} refused ({first_line(exc)}); nothing was kept") from None
    return path


def remove(path: Path) -> None:
    """Delete a refused download: the file and, for a HF cache link, the blob it points to."""
    blob = Path(os.path.realpath(path))
    path.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)


def fetch_file(model: str, weights: WeightFile, lock: WeightsLock, timeout: float) -> LockEntry:
    """Make one file present and verified; its lock entry. Raises WeightsError when it cannot."""
    path, published, fresh = weights.cached(), [], False
    if path is None:
        if weights.kind == HF:
            path, published = download_hf(model, weights, timeout)
        else:
            path = download_torch_hub(model, weights, timeout)
        fresh = True
    verdict = assess(model, path, lock, [*published, *weights.published()])
    if verdict.problem:
        if fresh:
            remove(path)
            raise WeightsError(f"{model}: {weights.url()}: {verdict.problem}; the download was removed")
        raise WeightsError(f"{model}: {path}: {verdict.problem}; delete the file to fetch it again, "
                           f"or its entry in {lock.path} to accept it")
    return LockEntry(model, weights.name, weights.url(), str(path), verdict.sha256,
                     ", ".join(verdict.verified_by) or FIRST_FETCH)


def fetch_model(model: str, files: ModelWeights, lock: WeightsLock, timeout: float = DEFAULT_TIMEOUT
                ) -> list[LockEntry]:
    """Fetch every published file of `model` and record it in `lock`."""
    entries = []
    for weights in files.files:
        entries.append(fetch_file(model, weights, lock, timeout))
        lock.record(entries[-1])
    return entries
