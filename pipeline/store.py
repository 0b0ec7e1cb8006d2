"""HDF5 clip stores: the face crops of many videos, one group per video, frames as JPEG bytes.

Layout of one store (one per preprocessing shard):
    /<video_key>/frames   vlen uint8, one JPEG per sampled frame (square crop, `crop_size`)
    /<video_key>/crc32    uint32 CRC-32 of each frame's JPEG bytes (format 2 on)
    /<video_key>/times    float64 seconds (presentation time of each kept frame)
    /<video_key>/pts      int64 presentation timestamps in stream time base
    /<video_key>/boxes    float32 (N, 4) crop box x0, y0, x1, y1 in source-frame pixels
    group attrs: video_id, n_frames, crop_size, source_width, source_height
    file attrs: crop_size, jpeg_quality, format_version
JPEG q95 keeps 224-299 px crops at ~20-26 KB a frame and decodes at ~4,000 frames/s.

Silent corruption is noticed on read: HDF5 refuses filters on variable-length data, so the JPEG bytes
carry a CRC-32 each (~1% of a decode), and the fixed-size datasets HDF5's fletcher32 checksum. A frame
whose bytes fail their checksum or do not decode is replaced by the nearest good frame of its video
(`ClipStore.read_checked` reports which); a video without any good frame raises `UnreadableVideo`.
Stores of format 1 (no checksums) still read; only decoding failures are found there.

`detect`'s temporary pre-crop stores use the same layout without a file attr `crop_size`: their frames
are regions of varying sizes (`boxes` gives each one's place in the frame), read with `read_each`.
"""
from __future__ import annotations

import os
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import h5py
import numpy as np

from pipeline.io import atomic_path, video_key

FORMAT_VERSION = 2  # 2: per-frame CRC-32 and fletcher32 checksums; 1 (still read): none
UNDECODABLE, CHECKSUM, UNREADABLE = "undecodable JPEG", "checksum mismatch", "unreadable HDF5 data"
REASONS = (UNDECODABLE, CHECKSUM, UNREADABLE)  # a reason's position is its code in loader flags


class StoreError(ValueError):
    """A clip store that cannot be opened at all: missing, truncated, not HDF5."""


class UnreadableVideo(ValueError):
    """A video of a clip store without a single good frame (or whose HDF5 group cannot be read)."""

    def __init__(self, store: str | os.PathLike, key: str, frame: int, reason: str):
        where = f"frame {frame}: " if frame >= 0 else ""
        super().__init__(f"{os.fspath(store)}: video {key}: {where}{reason}")
        self.store, self.key, self.frame, self.reason = os.fspath(store), key, frame, reason

    def __reduce__(self):  # picklable across DataLoader workers despite the four-argument constructor
        return type(self), (self.store, self.key, self.frame, self.reason)


@dataclass(frozen=True)
class BadFrame:
    """A requested frame that could not be used, and why (one of `REASONS`)."""

    index: int
    reason: str


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


def frame_crc(data: bytes | np.ndarray) -> int:
    """The CRC-32 stored with a frame's JPEG bytes."""
    return zlib.crc32(data if isinstance(data, bytes | bytearray) else np.ascontiguousarray(data).data)


def decode_checked(data: bytes | np.ndarray, crc: int | None = None,
                   shape: tuple[int, ...] | None = None) -> tuple[np.ndarray | None, str]:
    """Decode one stored frame: (RGB frame, "") or (None, reason) when its bytes fail `crc`, do not decode,
    or decode to another `shape` than the store's crops (a damaged header)."""
    if crc is not None and frame_crc(data) != crc:
        return None, CHECKSUM
    try:
        rgb = decode_jpeg(data) if len(data) else None
    except cv2.error:
        rgb = None
    if rgb is None or rgb.ndim != 3 or rgb.shape[2] != 3 or (shape is not None and rgb.shape != shape):
        return None, UNDECODABLE
    return rgb, ""


def decode_frames(jpegs: list[bytes]) -> tuple[np.ndarray, int]:
    """Decode in-memory crops (N, S, S, 3) and count the failures, each replaced by the nearest good crop."""
    decoded = [decode_checked(data)[0] for data in jpegs]
    good = [i for i, rgb in enumerate(decoded) if rgb is not None]
    if not good:
        raise ValueError("no face crop decodes")
    frames = [rgb if rgb is not None else decoded[min(good, key=lambda g: (abs(g - i), g))]
              for i, rgb in enumerate(decoded)]
    return np.stack(frames), len(decoded) - len(good)


class ClipStoreWriter:
    """Write a clip store under a temporary name; it appears under `path` only when closed cleanly.

    Any failure (a full disk included, even while HDF5 flushes on close) removes the temporary file, so
    the final name keeps its previous complete store or stays absent.
    """

    def __init__(self, path: str | os.PathLike, crop_size: int | None, jpeg_quality: int, attrs: dict | None = None):
        """`crop_size` None: frames of varying sizes (no shape check on read); `attrs`: more file attrs."""
        self._ctx = atomic_path(path)
        tmp = self._ctx.__enter__()
        try:
            self._h5: h5py.File | None = h5py.File(tmp, "w")
            self._h5.attrs.update(jpeg_quality=jpeg_quality, format_version=FORMAT_VERSION, **(attrs or {}))
            if crop_size is not None:
                self._h5.attrs["crop_size"] = crop_size
        except BaseException:
            self._ctx.__exit__(*sys.exc_info())
            raise

    def add(self, crops: VideoCrops) -> str:
        key = video_key(crops.video_id)
        g = self._h5.create_group(key)
        frames = g.create_dataset("frames", (len(crops.jpegs),), dtype=h5py.vlen_dtype(np.uint8))
        for i, data in enumerate(crops.jpegs):
            frames[i] = np.frombuffer(data, dtype=np.uint8)
        checked = dict(fletcher32=True)
        g.create_dataset("crc32", data=np.array([frame_crc(d) for d in crops.jpegs], np.uint32), **checked)
        g.create_dataset("times", data=np.asarray(crops.times, dtype=np.float64), **checked)
        g.create_dataset("pts", data=np.asarray(crops.pts, dtype=np.int64), **checked)
        g.create_dataset("boxes", data=np.asarray(crops.boxes, dtype=np.float32).reshape(-1, 4), **checked)
        g.attrs.update(crops.attrs)
        g.attrs.update(video_id=crops.video_id, n_frames=len(crops.jpegs))
        return key

    def close(self) -> None:
        """Finish the store and move it onto its final name (or remove it and raise if that fails)."""
        error = self._close_h5()
        if error is None:
            self._ctx.__exit__(None, None, None)
            return
        self._abort(error)
        raise error

    def _close_h5(self) -> Exception | None:
        """Close the HDF5 file (once); the error of a failed close (e.g. a full disk while flushing)."""
        h5, self._h5 = self._h5, None
        if h5 is not None:
            try:
                h5.close()
            except Exception as exc:  # noqa: BLE001 - the store is incomplete: the caller aborts it
                return exc
        return None

    def _abort(self, error: BaseException) -> None:
        """Remove the temporary file; a full disk is raised as `OSError(ENOSPC)` naming the store."""
        self._ctx.__exit__(type(error), error, error.__traceback__)

    def __enter__(self) -> ClipStoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
        else:
            self._close_h5()
            self._abort(exc)


class ClipStore:
    """Read-only access to a clip store; opens the file lazily so it can cross process boundaries."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._h5: h5py.File | None = None

    @property
    def h5(self) -> h5py.File:
        if self._h5 is None:
            self._h5 = open_store(self.path)
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
        """Decoded RGB frames (N, S, S, 3) uint8 for `indices` (all frames when None); bad frames replaced."""
        return self.read_checked(key, indices)[0]

    def read_checked(self, key: str, indices: list[int] | np.ndarray | None = None
                     ) -> tuple[np.ndarray, list[BadFrame]]:
        """Frames at `indices` (all when None), one HDF5 read and one decode per distinct frame, and the
        requested frames that failed (each replaced by the nearest good frame of the video, the earlier on
        a tie). Raises `UnreadableVideo` when the video has no good frame at all."""
        frames, crcs, shape = self._video(key)
        idx = np.arange(len(frames)) if indices is None else np.asarray(indices, dtype=np.int64).reshape(-1)
        distinct, inverse = np.unique(idx, return_inverse=True)
        cache = self._decode(frames, crcs, shape, distinct)
        bad = [BadFrame(i, cache[i][1]) for i in map(int, distinct) if cache[i][0] is None]
        decoded = np.stack([self._good(key, frames, crcs, shape, i, cache) for i in map(int, distinct)])
        return (decoded if np.array_equal(distinct, idx) else decoded[inverse]), bad

    def read_each(self, key: str) -> tuple[list[np.ndarray | None], list[BadFrame]]:
        """Every frame of a video, decoded one by one (sizes may differ), None where it is bad, with no
        replacement (a neighbour's region would be in the wrong place), and the bad ones."""
        frames, crcs, shape = self._video(key)
        cache = self._decode(frames, crcs, shape, np.arange(len(frames)))
        bad = [BadFrame(i, reason) for i, (rgb, reason) in cache.items() if rgb is None]
        return [cache[i][0] for i in range(len(frames))], bad

    def _video(self, key: str) -> tuple[h5py.Dataset, np.ndarray | None, tuple[int, int, int] | None]:
        """A video's frames dataset, its CRCs (None in format-1 stores) and the crops' decoded shape."""
        try:
            g = self.h5[key]
            frames = g["frames"]
            crcs = g["crc32"][()] if "crc32" in g else None
        except (KeyError, OSError, RuntimeError) as exc:
            reason = "not in the store" if isinstance(exc, KeyError) and key not in self.h5 else UNREADABLE
            raise UnreadableVideo(self.path, key, -1, reason) from None
        if not len(frames):
            raise UnreadableVideo(self.path, key, -1, "no frames")
        size = self.h5.attrs.get("crop_size")
        return frames, crcs, (int(size), int(size), 3) if size is not None else None

    @staticmethod
    def _decode(frames: h5py.Dataset, crcs: np.ndarray | None, shape: tuple[int, int, int] | None,
                wanted: np.ndarray) -> dict[int, tuple[np.ndarray | None, str]]:
        """Decode the (sorted, distinct) frames `wanted`: one HDF5 read of their span, frame by frame where
        that read fails; {index: (frame or None, reason)}."""
        lo, hi = int(wanted[0]), int(wanted[-1]) + 1
        try:
            span = frames[lo:hi]
            blobs = {int(i): span[i - lo] for i in wanted}
        except (OSError, RuntimeError):
            blobs = {int(i): ClipStore._blob(frames, int(i)) for i in wanted}
        return {i: (None, UNREADABLE) if blob is None else
                decode_checked(blob, None if crcs is None else int(crcs[i]), shape) for i, blob in blobs.items()}

    @staticmethod
    def _blob(frames: h5py.Dataset, i: int) -> np.ndarray | None:
        try:
            return frames[i]
        except (OSError, RuntimeError):
            return None

    def _good(self, key: str, frames: h5py.Dataset, crcs: np.ndarray | None, shape: tuple[int, int, int] | None,
              i: int, cache: dict[int, tuple[np.ndarray | None, str]]) -> np.ndarray:
        """Frame `i`, or when it is bad the nearest good frame, decoding outwards (the earlier on a tie);
        `UnreadableVideo` when the video has none."""
        n = len(frames)
        for j in (i, *(k for d in range(1, n) for k in (i - d, i + d) if 0 <= k < n)):
            if j not in cache:
                cache.update(self._decode(frames, crcs, shape, np.array([j])))
            if cache[j][0] is not None:
                return cache[j][0]
        raise UnreadableVideo(self.path, key, i, cache[i][1])

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None


def open_store(path: str | os.PathLike) -> h5py.File:
    """Open a clip store for reading; `StoreError` naming it when it is missing, truncated or not HDF5."""
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise StoreError(f"{os.fspath(path)}: no such clip store") from None
    except (OSError, RuntimeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StoreError(f"{os.fspath(path)}: cannot open clip store, truncated or not HDF5 ({reason})") from None
