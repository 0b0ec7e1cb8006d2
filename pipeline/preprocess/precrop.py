"""Pre-crops: the generous face regions `detect` keeps so that `crop` reads no video.

For each face found, `detect` cuts the square of `square_box` at `precrop_margin` (twice crop's 40% by
default) from the decoded frame, clipped to the frame, and stores it as JPEG in a temporary store (the
clip-store layout, `boxes` = the region each one covers). Crop's square has the same centre and a
smaller side for any `margin` <= `precrop_margin`, so it lies inside; the part of it outside the frame is
padded black by `cut_square` as it is when cutting the frame. Crops therefore differ from those cut from
the decoded frame only by the pre-crop's JPEG loss.
"""
from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np

from pipeline.preprocess.geometry import cut_square, square_box
from pipeline.preprocess.problems import StageError
from pipeline.preprocess.video import clip_box, region_array, upright_size
from pipeline.store import ClipStore, decode_checked, encode_jpeg

PRECROP_QUALITY = 95  # its round trip adds ~1 grey level of mean absolute difference to the crops


def precrops_path(detections: str | os.PathLike) -> Path:
    """Where the pre-crops of a detections file are unless named: `<stem>.precrops.h5` beside it."""
    path = Path(detections)
    return path.with_name(f"{path.stem}.precrops.h5")


def cut_precrop(frame: av.VideoFrame, box: np.ndarray, landmarks: np.ndarray, margin: float
                ) -> tuple[bytes, np.ndarray]:
    """The JPEG pre-crop of one face of the upright frame and the region (x0, y0, x1, y1) it covers."""
    size = upright_size(frame.width, frame.height, frame.rotation)
    region = clip_box(square_box(box, landmarks, margin), *size)
    return encode_jpeg(region_array(frame, *region), PRECROP_QUALITY), np.array(region, np.int64)


def check_margin(store: ClipStore, margin: float) -> None:
    """Refuse a crop `margin` wider than the pre-crops (whose squares would not hold its squares)."""
    kept = float(store.h5.attrs["precrop_margin"])
    if margin > kept:
        raise StageError(f"{store.path}: crop margin {margin} exceeds the pre-crops' precrop_margin {kept}; "
                         "raise preprocess.precrop_margin (detect reruns)")


class PreCrops:
    """The pre-crops of one video, by pts: decoded image (None when its bytes are bad) and region."""

    def __init__(self, regions: dict[int, tuple[np.ndarray | None, np.ndarray]], bad: int = 0):
        self.regions, self.bad = regions, bad

    @classmethod
    def from_store(cls, store: ClipStore, key: str) -> PreCrops:
        """A video's pre-crops in a pre-crop store; none for a video without a face (it has no group)."""
        if key not in store.h5:
            return cls({})
        images, bad = store.read_each(key)
        g = store.h5[key]
        return cls(dict(zip(g["pts"][()].tolist(), zip(images, g["boxes"][()].astype(np.int64)))), len(bad))

    @classmethod
    def from_jpegs(cls, pts: list[int], precrops: dict[int, tuple[bytes, np.ndarray]]) -> PreCrops:
        """Pre-crops held in memory, {sampled frame index: (JPEG, region)} as `detect_video` keeps them,
        decoded as from a store, so that `predict` can crop a video exactly as the workflow does."""
        images = {int(pts[i]): (decode_checked(data)[0], region) for i, (data, region) in precrops.items()}
        return cls(images, sum(image is None for image, _ in images.values()))

    def cut(self, pts: int, box: np.ndarray, size: int) -> np.ndarray | None:
        """`cut_square` of the frame at `pts` for the square `box` (frame pixels); None without a good pre-crop."""
        image, region = self.regions.get(pts, (None, None))
        if image is None:
            return None
        return cut_square(image, np.asarray(box, np.int64) - np.tile(region[:2], 2), size)
