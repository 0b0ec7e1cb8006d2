"""What a listed video is, and the path checks every dataset lister shares.

Standard library only: the Snakefile imports this while building its DAG.
"""
from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("train", "val", "test")
REAL, FAKE = 0, 1
STAGE = "list"
ABSENT = "absent"  # the reason of a gap that does not exist at all


TRAINED_ON = ("every", "cross")  # a test set's `tested_by` values


@dataclass(frozen=True)
class DatasetCard:
    """What the workflow must know of a dataset beyond its listing: declared once, in its module.

    display: its name in the tables. trains: models are trained on it (train/val/test splits); else it is
    a test set only. conditions: the leave-out conditions (`conditions:`) apply to it (FF++).
    real_source: a dataset whose test-split originals are its real class (DeeperForensics: FF++).
    tested_by: training set -> which of its `all` models are evaluated on this dataset: "every" model
    (the paper's cross-dataset tables) or the "cross" models (`evaluate.cross_dataset.models`).
    stride: the default sliding-window stride of video models at evaluation (`evaluate.stride` overrides).
    demo_folder: its folder under the demo root ("" when the synthetic demo has no such dataset).
    rank: its position in tables and plans.
    """

    name: str
    display: str
    rank: int
    trains: bool = False
    conditions: bool = False
    real_source: str = ""
    tested_by: dict = field(default_factory=dict)
    stride: int = 16
    demo_folder: str = ""

    def __post_init__(self) -> None:
        if bad := {k: v for k, v in self.tested_by.items() if v not in TRAINED_ON}:
            raise ValueError(f"dataset {self.name}: tested_by values must be one of {TRAINED_ON}, got {bad}")

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits its manifests hold: all three for a training set, the test split for a test set."""
        return SPLITS if self.trains else ("test",)


@dataclass(frozen=True)
class VideoRef:
    """One video. `video_id` is its POSIX path relative to the dataset root, the same on every machine."""

    video_id: str
    path: Path
    label: int = REAL  # 1 = fake, 0 = real
    method: str = "real"  # "real" or the fake method's name
    group: str = ""  # source folder (DFDC part, FF++ method or `youtube`, Celeb-DF subfolder): varies batches
    split: str = ""  # train | val | test


@dataclass(frozen=True)
class Problem:
    """An input that was left out, and why (one row of a `video,stage,reason` report)."""

    video: str
    stage: str
    reason: str


@dataclass(frozen=True)
class Absent:
    """A video that a list names but that is not usable (missing, escaping the root, not a file)."""

    video: str
    method: str
    split: str


@dataclass(frozen=True)
class Gap:
    """A whole folder or list file the listing needed and could not use (`check-data` flags these)."""

    kind: str  # "folder" | "file"
    path: str  # relative to the dataset root (absolute for files outside it)
    reason: str  # ABSENT, "unreadable: ...", "malformed JSON: ..."


@dataclass
class Listing:
    """The usable videos of a dataset (sorted by id) and the problems met while listing it.

    `absent` and `gaps` repeat, in structured form, the problems that are missing inputs, so that
    `check-data` can count them per method and split without parsing the problems' text.
    """

    videos: list[VideoRef] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    absent: list[Absent] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


def safe_join(root: str | os.PathLike, relpath: str) -> Path | None:
    """The resolved path of `relpath` under `root`, or None if it resolves outside `root`.

    Refuses absolute paths, `..` escapes and symlinks pointing out: paths in metadata and list
    files are not ours, and must not make the pipeline read (or report on) arbitrary files.
    """
    if not relpath or os.path.isabs(relpath):
        return None
    base = os.path.realpath(root)
    target = os.path.realpath(os.path.join(base, relpath))
    return Path(target) if os.path.commonpath([base, target]) == base else None


class FileIndex:
    """Answers whether listed relative paths name usable files, scanning each folder once.

    One `os.scandir` per folder replaces a `stat` per video, which matters for the 120k DFDC
    videos on network file systems; only symlinks cost an extra `realpath`.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._folders: dict[str, tuple[Path, dict[str, os.DirEntry]] | str] = {}
        self.missing_folders: list[str] = []  # folders looked into that do not exist, in order

    def locate(self, relpath: str, within: str = "") -> tuple[str, Path] | str:
        """`(video_id, path)` of `within/relpath`, or the reason it is not usable.

        `within` (a folder relative to the root) confines `relpath`: a DFDC metadata entry may not
        name a file of another part folder.
        """
        if not relpath or os.path.isabs(relpath):
            return "absolute or empty path"
        video_id = posixpath.normpath(posixpath.join(within, relpath))
        prefix = within.rstrip("/") + "/" if within else ""
        if video_id == ".." or video_id.startswith("../") or not video_id.startswith(prefix):
            return f"path escapes {within or 'the dataset root'}"
        folder, name = posixpath.split(video_id)
        scanned = self._scan(folder)
        if isinstance(scanned, str):
            return scanned
        real_folder, entries = scanned
        entry = entries.get(name)
        if entry is None:
            return "file not found"
        if entry.is_symlink():
            target = safe_join(self.root, video_id)
            if target is None:
                return "symlink escapes the dataset root"
            if not target.is_file():
                return "file not found (broken symlink or not a file)"
        elif not entry.is_file(follow_symlinks=False):
            return "not a regular file"
        return video_id, real_folder / name

    def names(self, folder: str) -> list[str] | str:
        """The sorted entry names of `folder` (relative to the root), or why it cannot be read."""
        scanned = self._scan(folder)
        return scanned if isinstance(scanned, str) else sorted(scanned[1])

    def _scan(self, folder: str) -> tuple[Path, dict[str, os.DirEntry]] | str:
        if folder not in self._folders:
            real = safe_join(self.root, folder or ".")
            if real is None:
                self._folders[folder] = f"folder {folder} escapes the dataset root"
            else:
                try:
                    with os.scandir(real) as it:
                        self._folders[folder] = (real, {entry.name: entry for entry in it})
                except (FileNotFoundError, NotADirectoryError):
                    self._folders[folder] = f"file not found (no folder {folder or '.'})"
                    self.missing_folders.append(folder or ".")
                except OSError as err:
                    self._folders[folder] = f"cannot read folder {folder or '.'}: {err.strerror}"
        return self._folders[folder]


class ListingBuilder:
    """Collects the videos and problems of one dataset: the code the listers share."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.index = FileIndex(root)
        self._videos: dict[str, VideoRef] = {}
        self._problems: list[Problem] = []
        self._absent: list[Absent] = []
        self._gaps: list[Gap] = []

    def problem(self, video: str, reason: str) -> None:
        self._problems.append(Problem(video, STAGE, reason))

    def absent(self, video: str, reason: str, *, method: str, split: str) -> None:
        """A listed video that is not usable: a problem, and counted as absent for its method and split."""
        self.problem(video, reason)
        self._absent.append(Absent(video, method, split))

    def gap(self, kind: str, path: str, reason: str) -> None:
        """A list file that could not be used: a problem, and flagged by `check-data`."""
        self.problem(path, "file not found" if reason == ABSENT else reason)
        self._gaps.append(Gap(kind, path, reason))

    def add(self, relpath: str, source: str, *, within: str = "", label: int, method: str, group: str,
            split: str) -> None:
        """List `within/relpath`, or record a problem naming `source` (the file and entry it came from)."""
        found = self.index.locate(relpath, within)
        if isinstance(found, str):
            self.absent(posixpath.join(within, relpath), f"{source}: {found}", method=method, split=split)
            return
        video_id, path = found
        previous = self._videos.get(video_id)
        if previous is None:
            self._videos[video_id] = VideoRef(video_id, path, label, method, group, split)
        elif previous.split != split:
            self.problem(video_id, f"{source}: already listed in the {previous.split} split, kept there")

    def read_json(self, relpath: str) -> object | None:
        """The parsed JSON file `relpath`, or None after recording why it is unusable."""
        text = self._read(relpath)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError as err:
            self.gap("file", relpath, f"malformed JSON: {err}")
            return None

    def read_lines(self, relpath: str) -> list[tuple[int, str]]:
        """`(line number, stripped text)` of the non-blank lines of `relpath` (none if unreadable)."""
        text = self._read(relpath)
        lines = enumerate(text.splitlines(), 1) if text is not None else ()
        return [(number, line.strip()) for number, line in lines if line.strip()]

    def _read(self, relpath: str) -> str | None:
        path = safe_join(self.root, relpath)
        if path is None:
            self.gap("file", relpath, "path escapes the dataset root")
            return None
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.gap("file", relpath, ABSENT)
        except (OSError, UnicodeDecodeError) as err:
            self.gap("file", relpath, f"unreadable: {err}")
        return None

    def finish(self) -> Listing:
        gaps = self._gaps + [Gap("folder", folder, ABSENT) for folder in self.index.missing_folders]
        return Listing(sorted(self._videos.values(), key=lambda v: v.video_id), list(self._problems),
                       list(self._absent), gaps)
