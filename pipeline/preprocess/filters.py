"""Appendix A.1: drop false detections and scale errors from a video's per-frame face boxes.

1. Temporal overlap. Detected frames (NaN rows are frames without a face) are taken in time order; a box
   is kept if its IoU is non-zero with the box of at least one neighbour, i.e. the previous or the next
   *detected* frame, however far apart (a frame with no face is not a neighbour). A lone detection has
   no neighbour and is kept. So a single wrong box between good ones goes, while both sides of a real
   cut (each overlapping its own side) stay.
2. Size outliers, among the survivors: drop boxes with |w - median(w)| / median(w) > threshold, w the
   box width (dlib boxes are square).
"""
from __future__ import annotations

import numpy as np


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes (..., 4) x0, y0, x1, y1, broadcast over leading axes."""
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area = lambda box: (box[..., 2] - box[..., 0]) * (box[..., 3] - box[..., 1])  # noqa: E731
    union = area(a) + area(b) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def overlap_mask(boxes: np.ndarray) -> np.ndarray:
    """Boolean (N,): detected boxes that overlap a neighbouring detection (rule 1 above)."""
    detected = np.flatnonzero(~np.isnan(boxes).any(axis=1))
    keep = np.zeros(len(boxes), bool)
    if len(detected) == 1:
        keep[detected] = True
    elif len(detected) > 1:
        b = boxes[detected]
        linked = iou(b[:-1], b[1:]) > 0  # between consecutive detections
        keep[detected] = np.r_[linked, False] | np.r_[False, linked]
    return keep


def size_mask(boxes: np.ndarray, candidates: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean (N,): candidates whose width is within `threshold` relative distance of the median width."""
    keep = candidates.copy()
    if candidates.any():
        widths = boxes[candidates, 2] - boxes[candidates, 0]
        median = np.median(widths)
        keep[candidates] = np.abs(widths - median) <= threshold * median
    return keep


def filter_boxes(boxes: np.ndarray, size_outlier_threshold: float) -> np.ndarray:
    """Boolean (N,) mask of the frames whose box survives both filters."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return size_mask(boxes, overlap_mask(boxes), size_outlier_threshold)
