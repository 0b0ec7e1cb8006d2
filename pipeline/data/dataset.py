"""A torch Dataset of training samples (clips or single frames) read from clip stores.

Items are addressed by `(row index, sample seed)` keys from `BalancedBatchSampler`: the seed picks
the 16-frame window (or the frame, for image models) and the augmentation, so a sample does not
depend on which worker loads it. Samples are uint8 tensors in model layout, (3, T, H, W) for
video models and (3, H, W) for image models, resized to the model's input size; normalisation
happens on the device (`transforms.normalize_batch`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from pipeline.data.augment import ClipAugment
from pipeline.data.manifest import ManifestRow
from pipeline.data.sampler import SampleKey
from pipeline.data.transforms import loop_to_length, resize_frames
from pipeline.store import ClipStore, decode_jpeg


def window_indices(n_frames: int, clip_len: int, rng: np.random.Generator) -> np.ndarray:
    """A random window of `clip_len` consecutive frame indices; shorter videos loop (Appendix A.3)."""
    if n_frames < clip_len:
        return loop_to_length(np.arange(n_frames), clip_len)
    start = int(rng.integers(0, n_frames - clip_len + 1))
    return np.arange(start, start + clip_len)


def read_frames(store: ClipStore, key: str, indices: np.ndarray) -> np.ndarray:
    """Decode the frames at `indices` (N, S, S, 3) uint8, with one HDF5 read and one decode per distinct frame."""
    lo, hi = int(indices.min()), int(indices.max()) + 1
    blobs = store.h5[key]["frames"][lo:hi]
    distinct, inverse = np.unique(indices, return_inverse=True)
    decoded = np.stack([decode_jpeg(blobs[i - lo]) for i in distinct])
    return decoded if np.array_equal(distinct, indices) else decoded[inverse]


class ClipDataset(Dataset):
    """Samples of the videos in `rows`: `clip_len`-frame windows (`clip_len` > 1) or single frames (1).

    `augment` is applied in training only; without it (validation) a key always yields the same tensor.
    """

    def __init__(self, rows: Sequence[ManifestRow], *, clip_len: int, size: int, augment: ClipAugment | None = None):
        self.rows = list(rows)
        self.clip_len, self.size, self.augment = clip_len, size, augment
        self._stores: dict[str, ClipStore] = {}

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

    def __getitem__(self, item: SampleKey) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed = item
        row = self.rows[index]
        rng = np.random.default_rng(seed)
        if self.clip_len > 1:
            indices = window_indices(row.n_frames, self.clip_len, rng)
        else:
            indices = rng.integers(0, row.n_frames, size=1)
        frames = resize_frames(read_frames(self._store(row.store), row.key, indices), self.size)
        if self.augment is not None:
            frames = self.augment(frames, seed)
        x = torch.from_numpy(frames).permute(3, 0, 1, 2)  # (3, T, H, W)
        return (x if self.clip_len > 1 else x[:, 0]), torch.tensor(float(row.label))

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()
