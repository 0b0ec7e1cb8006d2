"""A torch Dataset of training samples (clips or single frames) read from clip stores.

Items are addressed by `(row index, sample seed)` keys from `BalancedBatchSampler`: the seed picks
the 16-frame window (or the frame, for image models) and the augmentation, so a sample does not
depend on which worker loads it. Samples are uint8 tensors in model layout, (3, T, H, W) for
video models and (3, H, W) for image models, resized to the model's input size; normalisation
happens on the device (`transforms.normalize_batch`).

Bad bytes never stop a run by themselves: a frame that fails its checksum or does not decode is
replaced by the nearest good frame of its video, and a video without any good frame by another video
of the same class and group (the first readable one in a seeded order). With `flags=True` every sample
carries what was replaced (`FLAGS`), and `CheckedLoader` sums those flags in the main process, which
also works with loader workers, whose own counters would be lost; past `max_bad_fraction` of the
samples drawn it stops the run (`TooManyBadSamples`).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pipeline.data.augment import ClipAugment
from pipeline.data.manifest import ManifestRow
from pipeline.data.sampler import SampleKey
from pipeline.data.transforms import loop_to_length, resize_frames
from pipeline.store import REASONS, BadFrame, ClipStore, UnreadableVideo, open_store

log = logging.getLogger("pipeline.train")

# A sample's flags: frames replaced, video replaced (STAND_IN) or unreplaceable (NO_STAND_IN), and where
# the first problem was (row index, frame index or -1, reason code in `store.REASONS`); row -1: none.
FLAGS = ("bad_frames", "bad_video", "row", "frame", "reason")
STAND_IN, NO_STAND_IN = 1, 2


class TooManyBadSamples(ValueError):
    """More samples needed a stand-in frame or video than `max_bad_fraction` allows (or one had none)."""


def window_indices(n_frames: int, clip_len: int, rng: np.random.Generator) -> np.ndarray:
    """A random window of `clip_len` consecutive frame indices; shorter videos loop (Appendix A.3)."""
    if n_frames < clip_len:
        return loop_to_length(np.arange(n_frames), clip_len)
    start = int(rng.integers(0, n_frames - clip_len + 1))
    return np.arange(start, start + clip_len)


def read_frames(store: ClipStore, key: str, indices: np.ndarray) -> np.ndarray:
    """Decode the frames at `indices` (N, S, S, 3) uint8, with one HDF5 read and one decode per distinct frame
    (bad frames replaced by the nearest good one)."""
    return store.read_checked(key, indices)[0]


def _flags(bad_frames: int, bad_video: int, row: int, frame: int, reason: str) -> torch.Tensor:
    return torch.tensor([bad_frames, bad_video, row, frame, REASONS.index(reason)], dtype=torch.int64)


NO_FLAGS = (0, 0, -1, -1, REASONS[0])


class ClipDataset(Dataset):
    """Samples of the videos in `rows`: `clip_len`-frame windows (`clip_len` > 1) or single frames (1).

    `augment` is applied in training only; without it (validation) a key always yields the same tensor.
    Items are `(x, y)`, or `(x, y, flags)` with `flags=True` (see `FLAGS`). Every store is opened once
    here, so one that cannot be opened stops the run at once with a one-line `StoreError`.
    """

    def __init__(self, rows: Sequence[ManifestRow], *, clip_len: int, size: int, augment: ClipAugment | None = None,
                 flags: bool = False):
        self.rows = list(rows)
        self.clip_len, self.size, self.augment, self.flags = clip_len, size, augment, flags
        self._stores: dict[str, ClipStore] = {}
        self._unreadable: dict[int, UnreadableVideo] = {}  # rows without a good frame (a cache: same choices)
        for path in sorted({r.store for r in self.rows}):
            open_store(path).close()

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def labels(self) -> list[int]:
        return [r.label for r in self.rows]

    @property
    def groups(self) -> list[str]:
        return [r.group for r in self.rows]

    def _store(self, path: str) -> ClipStore:
        if path not in self._stores:
            self._stores[path] = ClipStore(path)
        return self._stores[path]

    def _read(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, list[BadFrame]]:
        """The sample's frames of row `index` (window or single frame) and the frames that were replaced."""
        row = self.rows[index]
        if self.clip_len > 1:
            indices = window_indices(row.n_frames, self.clip_len, rng)
        else:
            indices = rng.integers(0, row.n_frames, size=1)
        return self._store(row.store).read_checked(row.key, indices)

    def stand_ins(self, index: int, seed: int) -> list[int]:
        """Rows of the same class and group as row `index`, in the seeded order they are tried as its stand-in."""
        row = self.rows[index]
        same = [i for i, r in enumerate(self.rows) if i != index and (r.label, r.group) == (row.label, row.group)]
        return [same[k] for k in np.random.default_rng([seed, index]).permutation(len(same))]

    def _try_read(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, list[BadFrame]] | UnreadableVideo:
        """`_read`, or the row's `UnreadableVideo` (remembered: an unreadable video is decoded only once)."""
        if index not in self._unreadable:
            try:
                return self._read(index, rng)
            except UnreadableVideo as exc:
                self._unreadable[index] = exc.with_traceback(None)
        return self._unreadable[index]

    def _frames(self, index: int, seed: int) -> tuple[np.ndarray | None, torch.Tensor]:
        """Frames of row `index`, or of its first readable stand-in when it has no good frame; with flags."""
        rng = np.random.default_rng(seed)
        read = self._try_read(index, rng)
        if not isinstance(read, UnreadableVideo):
            frames, bad = read
            return frames, _flags(len(bad), 0, index, bad[0].index, bad[0].reason) if bad else _flags(*NO_FLAGS)
        for other in self.stand_ins(index, seed):
            stand_in = self._try_read(other, rng)
            if not isinstance(stand_in, UnreadableVideo):
                return stand_in[0], _flags(len(stand_in[1]), STAND_IN, index, read.frame, read.reason)
        return None, _flags(0, NO_STAND_IN, index, read.frame, read.reason)

    def __getitem__(self, item: SampleKey) -> tuple[torch.Tensor, ...]:
        index, seed = item
        row = self.rows[index]
        frames, flags = self._frames(index, seed)
        if frames is None:  # no readable video of its class and group: the main process stops the run
            side = self.size
            frames = np.zeros((self.clip_len, side, side, 3), np.uint8)
        frames = resize_frames(frames, self.size)
        if self.augment is not None:
            frames = self.augment(frames, seed)
        x = torch.from_numpy(frames).permute(3, 0, 1, 2)  # (3, T, H, W)
        sample = (x if self.clip_len > 1 else x[:, 0]), torch.tensor(float(row.label))
        return (*sample, flags) if self.flags else sample

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()


@dataclass
class BadSampleTally:
    """Samples drawn and those that needed a stand-in frame or video; stops the run past `max_fraction`.

    Counted per draw: `bad_frames` is the frames replaced over all samples drawn, `bad_videos` the samples
    whose video was replaced.

    The fraction is judged at each bad sample once at least 1 / `max_fraction` samples were drawn (before
    that a single bad sample would be above it); 0 stops at the first bad sample, 1 never.
    """

    max_fraction: float
    samples_drawn: int = 0
    bad_samples: int = 0
    bad_frames: int = 0
    bad_videos: int = 0
    _seen: set[tuple[str, str, int]] = field(default_factory=set, repr=False)

    COUNTS = ("samples_drawn", "bad_samples", "bad_frames", "bad_videos")

    def counts(self) -> dict[str, int]:
        """What the run records (resume state, meta.json)."""
        return {name: getattr(self, name) for name in self.COUNTS}

    def restore(self, counts: dict[str, int]) -> None:
        """Continue the counts of a resumed run."""
        for name in self.COUNTS:
            setattr(self, name, int(counts.get(name, 0)))

    def add(self, flags: torch.Tensor, rows: Sequence[ManifestRow]) -> None:
        """Count one batch's flags (B, len(FLAGS)); `TooManyBadSamples` naming the store, video and frame."""
        self.samples_drawn += len(flags)
        for n_frames, video, index, frame, reason in flags[(flags[:, 0] > 0) | (flags[:, 1] > 0)].tolist():
            store, key = rows[index].store, rows[index].key  # `store`: the file the error line names
            where = f"{store}: video {key}: {f'frame {frame}: ' if frame >= 0 else ''}{REASONS[reason]}"
            self.bad_samples += 1
            self.bad_frames += n_frames
            self.bad_videos += int(video > 0)
            if video == NO_STAND_IN:
                raise TooManyBadSamples(f"{where}, and no readable video of its class and group")
            if (store, key, frame) not in self._seen:
                self._seen.add((store, key, frame))
                log.warning("%s: %s", where, "sample replaced by another video of its class and group" if video
                            else "replaced by the nearest good frame")
            if self._above_limit():
                raise TooManyBadSamples(f"{where} ({self.bad_samples} of {self.samples_drawn} samples bad, above "
                                        f"max_bad_fraction {self.max_fraction:g})")

    def _above_limit(self) -> bool:
        judged_from = math.ceil(1 / self.max_fraction) if self.max_fraction > 0 else 1
        return self.samples_drawn >= judged_from and self.bad_samples > self.max_fraction * self.samples_drawn


class CheckedLoader:
    """A DataLoader of flagged samples that yields `(x, y)` batches and sums their flags into `tally` here,
    in the main process."""

    def __init__(self, loader: DataLoader, tally: BadSampleTally):
        self.loader, self.tally = loader, tally

    @property
    def batch_sampler(self):
        return self.loader.batch_sampler

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rows = self.loader.dataset.rows
        for x, y, flags in self.loader:
            self.tally.add(flags, rows)
            yield x, y
