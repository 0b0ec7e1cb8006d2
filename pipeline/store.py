"""HDF5 clip stores: the face crops of many videos, one group per video, frames as JPEG bytes.

Layout of one store (one per preprocessing shard):
    /<video_key>/frames   vlen uint8, one JPEG per sampled frame (square crop, `crop_size`)
    /<video_key>/times    float64 seconds (presentation time of each kept frame)
    /<video_key>/pts      int64 presentation timestamps in stream time base
    /<video_key>/boxes    float32 (N, 4) crop box x0, y0, x1, y1 in source-frame pixels
    group attrs: video_id, n_frames, crop_size, source_width, source_height
    file attrs: crop_size, jpeg_quality, format_version
JPEG q95 keeps 224-299 px crops at ~20-26 KB a frame and decodes at ~4,000 frames/s.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import h5py
import numpy as np

from pipeline.io import atomic_path, video_key

FORMAT_VERSION = 1


@dataclass
class VideoCrops:
    """The stored crops of one video."""

    video_id: str
    jpegs: list[bytes]
    times: np.ndarray
    pts: np.ndarray
    boxes: np.ndarray
    attrs: dict = field(default_factory=dict)


def encode_jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg(data: bytes | np.ndarray) -> np.ndarray:
    """JPEG bytes -> RGB uint8 (H, W, 3)."""
    arr = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray) else data
    return cv2.imdecode(arr, cv2.IMREAD_COLOR_RGB)


class ClipStoreWriter:
    """Write a clip store under a temporary name; it appears under `path` only when closed cleanly."""

    def __init__(self, path: str | os.PathLike, crop_size: int, jpeg_quality: int):
        self._ctx = atomic_path(path)
        tmp = self._ctx.__enter__()
        self._h5 = h5py.File(tmp, "w")
        self._h5.attrs.update(crop_size=crop_size, jpeg_quality=jpeg_quality, format_version=FORMAT_VERSION)

    def add(self, crops: VideoCrops) -> str:
        key = video_key(crops.video_id)
        g = self._h5.create_group(key)
        frames = g.create_dataset("frames", (len(crops.jpegs),), dtype=h5py.vlen_dtype(np.uint8))
        for i, data in enumerate(crops.jpegs):
            frames[i] = np.frombuffer(data, dtype=np.uint8)
        g.create_dataset("times", data=np.asarray(crops.times, dtype=np.float64))
        g.create_dataset("pts", data=np.asarray(crops.pts, dtype=np.int64))
        g.create_dataset("boxes", data=np.asarray(crops.boxes, dtype=np.float32).reshape(-1, 4))
        g.attrs.update(crops.attrs)
        g.attrs.update(video_id=crops.video_id, n_frames=len(crops.jpegs))
        return key

    def close(self, ok: bool = True) -> None:
        self._h5.close()
        if ok:
            self._ctx.__exit__(None, None, None)
        else:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> ClipStoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)


class ClipStore:
    """Read-only access to a clip store; opens the file lazily so it can cross process boundaries."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._h5: h5py.File | None = None

    @property
    def h5(self) -> h5py.File:
        if self._h5 is None:
            self._h5 = h5py.File(self.path, "r")
        return self._h5

    def __getstate__(self) -> dict:
        return {"path": self.path, "_h5": None}

    def keys(self) -> list[str]:
        return list(self.h5.keys())

    def n_frames(self, key: str) -> int:
        return int(self.h5[key].attrs["n_frames"])

    def attrs(self, key: str) -> dict:
        return dict(self.h5[key].attrs)

    def times(self, key: str) -> np.ndarray:
        return self.h5[key]["times"][()]

    def read(self, key: str, indices: list[int] | np.ndarray | None = None) -> np.ndarray:
        """Decoded RGB frames (N, S, S, 3) uint8 for `indices` (all frames when None)."""
        frames = self.h5[key]["frames"]
        idx = range(len(frames)) if indices is None else [int(i) for i in indices]
        return np.stack([decode_jpeg(frames[i]) for i in idx])

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
