"""Small I/O helpers shared by every stage: atomic writes and stable ids."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds.

    A killed job or a failed write (a full disk included) therefore never leaves a half-written file under
    the final name: that keeps its previous complete file, or stays absent, and the temporary file is
    removed. The file is flushed to disk before the rename, so a write error the system reports late (on
    `fsync`, as network file systems do) fails the block too. A full disk is raised as `OSError(ENOSPC)`
    naming `path`, whatever library noticed it (h5py and torch raise RuntimeError).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except Exception as exc:
        if disk_full(exc):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path)) from exc
        raise
    finally:
        if tmp.is_file():
            tmp.unlink()


def _fsync(path: Path) -> None:
    if path.is_file():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) reports a full disk: ENOSPC, or its message where a library
    (HDF5) wraps it in another exception type."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or os.strerror(errno.ENOSPC) in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def stable_hash(text: str) -> int:
    """A hash of `text` that is the same on every machine and Python run (unlike `hash`)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def shard_of(video_id: str, n_shards: int) -> int:
    """The shard a video belongs to: depends only on its id, so adding videos moves no others."""
    return stable_hash(video_id) % n_shards


def video_key(video_id: str) -> str:
    """HDF5-safe group name for a video id (ids are relative paths and may hold any character)."""
    return "v" + hashlib.blake2b(video_id.encode("utf-8"), digest_size=10).hexdigest()
