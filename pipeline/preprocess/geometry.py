"""Square face crops: box from detection and landmarks, cut with zero padding, resized."""
from __future__ import annotations

import cv2
import numpy as np


def square_box(box: np.ndarray, landmarks: np.ndarray | None, margin: float) -> np.ndarray:
    """Integer square (x0, y0, x1, y1), x1/y1 exclusive, around the union of the detector box and the
    landmark extent: side = max(w, h) * (1 + margin), centred on that union's centre.

    The union keeps the chin and brows that dlib's tight boxes cut off while the box guards against a
    landmark fit gone astray; the margin is the paper's 40% of the face size.
    """
    x0, y0, x1, y1 = np.asarray(box, np.float64)
    if landmarks is not None and not np.isnan(landmarks).any():
        x0, y0 = min(x0, landmarks[:, 0].min()), min(y0, landmarks[:, 1].min())
        x1, y1 = max(x1, landmarks[:, 0].max()), max(y1, landmarks[:, 1].max())
    side = max(int(round(max(x1 - x0, y1 - y0) * (1 + margin))), 1)
    left = int(round((x0 + x1) / 2 - side / 2))
    top = int(round((y0 + y1) / 2 - side / 2))
    return np.array([left, top, left + side, top + side], np.int64)


def cut_square(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """The `box` region of `image` (H, W, C), black where it leaves the frame, resized to `size`².

    Black padding (not edge replication) so that no invented texture reaches the detectors.
    """
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = image.shape[:2]
    region = image[max(y0, 0):max(min(y1, h), 0), max(x0, 0):max(min(x1, w), 0)]  # empty when outside
    pad = (max(-y0, 0), max(y1 - h, 0), max(-x0, 0), max(x1 - w, 0))
    if region.size == 0:
        region = np.zeros((y1 - y0, x1 - x0, image.shape[2]), image.dtype)
    elif any(pad):
        region = cv2.copyMakeBorder(region, *pad, cv2.BORDER_CONSTANT, value=0)
    interpolation = cv2.INTER_AREA if region.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interpolation)
