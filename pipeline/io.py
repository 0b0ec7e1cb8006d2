"""Small I/O helpers shared by every stage: atomic writes and stable ids."""
from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds.

    A killed job therefore never leaves a half-written file under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def stable_hash(text: str) -> int:
    """A hash of `text` that is the same on every machine and Python run (unlike `hash`)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def shard_of(video_id: str, n_shards: int) -> int:
    """The shard a video belongs to: depends only on its id, so adding videos moves no others."""
    return stable_hash(video_id) % n_shards


def video_key(video_id: str) -> str:
    """HDF5-safe group name for a video id (ids are relative paths and may hold any character)."""
    return "v" + hashlib.blake2b(video_id.encode("utf-8"), digest_size=10).hexdigest()
