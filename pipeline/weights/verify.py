"""Is a weights file the published one? Its SHA-256 against what the source publishes and the lock.

Published checksums: a Hugging Face cache file is a link to `blobs/<ETag>`, and the hub's ETag of an
LFS file is its SHA-256; a torch hub file name carries the first hex digits of its SHA-256
(`r3d_18-b3b3357e.pth`, torch.hub's own check). Files without either (pytorch-i3d's) are vouched
for by the lock only, from their first fetch on.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.weights.lock import WeightsLock

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")  # torch.hub.HASH_REGEX, but never the empty prefix
HUB_ETAG, NAME_PREFIX, LOCK, FIRST_FETCH = ("hub ETag", "SHA-256 prefix in the file name", "lock",
                                            "recorded at first fetch (no published checksum)")


@dataclass(frozen=True)
class Verdict:
    """A file's SHA-256, the checks it passed, and why it is refused ("" when it is not)."""

    sha256: str
    verified_by: tuple[str, ...] = ()
    problem: str = ""


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def published_checksums(path: Path) -> list[tuple[str, str]]:
    """`(expected SHA-256 or its prefix, how it is published)` that the file's cache name carries."""
    blob = Path(os.path.realpath(path))
    if blob.parent.name == "blobs" and SHA256_HEX.fullmatch(blob.name):
        return [(blob.name, HUB_ETAG)]
    match = HASH_IN_NAME.search(path.name)
    return [(match.group(1), NAME_PREFIX)] if match else []


def assess(model: str, path: Path, lock: WeightsLock, published: list[tuple[str, str]] = ()) -> Verdict:
    """Check `path` against the published checksums (those of its name and `published`) and the lock."""
    sha = sha256_of(path)
    checks: list[str] = []
    for expected, how in [*published, *published_checksums(path)]:
        if not sha.startswith(expected):
            return Verdict(sha, problem=f"SHA-256 {sha} does not match the {how} {expected}")
        checks.append(how)
    entry = lock.get(model, path.name)
    if entry is not None:
        if entry.sha256 != sha:
            return Verdict(sha, problem=f"SHA-256 {sha} changed since {lock.path} recorded {entry.sha256}")
        checks.append(LOCK)
    return Verdict(sha, tuple(dict.fromkeys(checks)))
