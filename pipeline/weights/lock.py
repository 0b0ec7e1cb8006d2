"""The weights lock file: the SHA-256 of every pretrained file a run uses, so a changed file is noticed.

JSON `{"files": [{"model", "file", "source", "path", "sha256", "verified_by"}, ...]}`, one entry per
(model, file name), written atomically by `weights fetch`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from pipeline.io import atomic_path
from pipeline.weights.registry import WeightsError

DEFAULT_LOCK = Path("results/weights.lock.json")


@dataclass(frozen=True)
class LockEntry:
    """One recorded file: where it came from, where it is, its SHA-256 and what vouched for it."""

    model: str
    file: str
    source: str
    path: str
    sha256: str
    verified_by: str


class WeightsLock:
    """The entries of one lock file (none when it does not exist yet)."""

    def __init__(self, path: str | Path = DEFAULT_LOCK) -> None:
        self.path = Path(path)
        self._entries = {(e.model, e.file): e for e in self._read()}

    def get(self, model: str, file: str) -> LockEntry | None:
        return self._entries.get((model, file))

    def record(self, entry: LockEntry) -> None:
        self._entries[entry.model, entry.file] = entry

    def save(self) -> None:
        entries = [asdict(self._entries[key]) for key in sorted(self._entries)]
        text = json.dumps({"files": entries}, indent=1) + "\n"
        with atomic_path(self.path) as tmp:
            tmp.write_text(text, encoding="utf-8")

    def _read(self) -> list[LockEntry]:
        if not self.path.exists():
            return []
        try:
            records = json.loads(self.path.read_text(encoding="utf-8"))["files"]
            return [LockEntry(**{f.name: str(r[f.name]) for f in fields(LockEntry)}) for r in records]
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
            raise WeightsError(f"{self.path}: not a readable weights lock file ({type(err).__name__}: {err})") from None
