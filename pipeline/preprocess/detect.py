"""`detect`: the largest face and its 68 landmarks on every sampled frame of a shard, and its pre-crops.

Each video is decoded once; sampled frames are turned upright (display matrix). A full scan detects on
a copy whose longer side is at most `detect_max_side` (dlib HOG cost grows with pixels, faces in
FF++/DFDC are large; frames without a face are retried with one more upsampling step). Faces move
little between frames sampled 1/3 s apart, so the next frame is first searched near the previous face
only; a full scan runs when that finds nothing and every `full_scan_every` sampled frames (a second,
larger face appears). Landmarks are fitted at full resolution. Boxes and landmarks are in pixels of the
upright full-resolution frame, whose size the group attrs `width`, `height` give. A generous region
around each face is kept as JPEG (`precrop`), from which `crop` cuts its crops without reading the video.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field

import av
import cv2
import h5py
import numpy as np

from pipeline.io import atomic_path, video_key
from pipeline.preprocess.faces import FaceDetector, Landmarker, build_detector, build_landmarker
from pipeline.preprocess.params import DetectParams
from pipeline.preprocess.precrop import PRECROP_QUALITY, cut_precrop, precrops_path
from pipeline.preprocess.problems import ProblemReport
from pipeline.preprocess.stage import ShardStats, guarded, progress
from pipeline.preprocess.video import (FrameReader, VideoError, clip_box, one_line, region_array, upright,
                                       upright_size)
from pipeline.store import ClipStoreWriter, VideoCrops

STAGE = "detect"
HOG_WINDOW = 80  # px: the smallest face dlib's HOG finds without upsampling
TRACK_FACE = 100  # px: the previous face's side in a tracked search (HOG finds it grown or shrunk by ~20%)
TRACK_REGION = 2.5  # side of the tracked search region in previous face sides: the face's move in 1/3 s
LANDMARK_CONTEXT = 3.0  # side of the region the landmarks are fitted in, in face sides: all the model reads


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="shard index JSON from `sample`")
    parser.add_argument("--out", required=True, help="detections HDF5 to write")
    parser.add_argument("--precrops", help="pre-crop store HDF5 to write (default: <out stem>.precrops.h5)")
    parser.add_argument("--report", required=True, help="problem CSV to write")
    parser.add_argument("--params", default="{}", help='JSON, e.g. {"detector": "hog", "landmarks": "dlib68"}')


@dataclass
class Detections:
    """Per sampled frame of one video: largest face box, its score and landmarks (NaN: no face), and
    when asked for, the pre-crops {sampled frame index: (JPEG, region x0, y0, x1, y1)}."""

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    landmarks: np.ndarray  # (N, 68, 2) float32
    width: int
    height: int
    problem: str | None = None
    precrops: dict[int, tuple[bytes, np.ndarray]] = field(default_factory=dict)

    @property
    def n_faces(self) -> int:
        return int((~np.isnan(self.boxes[:, 0])).sum())


def square_around(box: np.ndarray, factor: float) -> np.ndarray:
    """The square of `factor` times the longer side of `box`, on its centre."""
    half = factor * max(box[2] - box[0], box[3] - box[1]) / 2
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return np.array([cx - half, cy - half, cx + half, cy + half])


def largest(boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, float] | None:
    """The largest box and its score (one face per frame is kept: the largest), None without any."""
    if not len(boxes):
        return None
    best = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
    return boxes[best], float(scores[best])


class FaceFinder:
    """Detector + landmarker, built once per process, applied to decoded frames.

    A full scan runs on a grey copy whose longer side is at most `detect_max_side`; a frame where nothing
    is found is tried once more with one more upsampling step (`retry_upsample`), so small faces cost
    time only on the frames that need it. A tracked search (`previous` box given) runs on the grey region
    around the previous face only, at the full scan's scale, smaller where that face would be above
    `TRACK_FACE` px and larger where it would be below HOG's window (as the retry's upsampling). Boxes
    differ from a full scan's by HOG's own jitter (its window grid starts elsewhere). Landmarks are fitted
    at full resolution on the region around the face (the same landmarks as on the whole frame).
    """

    def __init__(self, params: DetectParams):
        self.detector: FaceDetector = build_detector(params.detector)
        self.upsample = params.upsample
        self.retry = params.retry_upsample
        self.landmarker: Landmarker = build_landmarker(params.landmarks)
        self.max_side = params.detect_max_side
        self.full_scan_every = params.full_scan_every

    def __call__(self, frame: av.VideoFrame, previous: np.ndarray | None = None
                 ) -> tuple[np.ndarray, float, np.ndarray] | None:
        """(box, score, landmarks) of the largest face in the upright frame (near `previous`, else
        anywhere), or None."""
        found = self.near(frame, previous) if previous is not None else None
        found = found or self.scan(frame)
        if found is None:
            return None
        box, score = found
        return box.astype(np.float32), score, self.fit(frame, box)

    def scan(self, frame: av.VideoFrame) -> tuple[np.ndarray, float] | None:
        """The largest face of the whole frame, searched at the `detect_max_side` scale."""
        width, height = frame.width, frame.height
        scale = min(1.0, self.max_side / max(width, height))
        small = frame.reformat(
            width=max(int(round(width * scale)), 1), height=max(int(round(height * scale)), 1),
            format="gray", interpolation="AREA",
        ).to_ndarray()
        small = upright(small, frame.rotation)
        boxes, scores = self.detector(small, self.upsample)
        if not len(boxes) and self.retry:
            boxes, scores = self.detector(small, self.upsample + 1)
        width, height = upright_size(width, height, frame.rotation)
        return largest(boxes * np.array([width / small.shape[1], height / small.shape[0]] * 2), scores)

    def near(self, frame: av.VideoFrame, previous: np.ndarray) -> tuple[np.ndarray, float] | None:
        """The largest face in the region around the `previous` face box (full-resolution pixels)."""
        width, height = upright_size(frame.width, frame.height, frame.rotation)
        side = max(float(previous[2] - previous[0]), 1.0)
        scale = min(self.max_side / max(width, height), 1.0, TRACK_FACE / side)
        if side * scale < HOG_WINDOW:  # a small face: enlarge it as the retry's upsampling would
            scale = TRACK_FACE / side
        x0, y0, x1, y1 = clip_box(square_around(previous, TRACK_REGION), width, height)
        region = region_array(frame, x0, y0, x1, y1, "gray")
        size = (max(int(round((x1 - x0) * scale)), 1), max(int(round((y1 - y0) * scale)), 1))
        small = cv2.resize(region, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        boxes, scores = self.detector(small, 0)
        found = largest(boxes, scores)
        if found is None:
            return None
        to_frame = np.array([region.shape[1] / size[0], region.shape[0] / size[1]] * 2)
        return found[0] * to_frame + [x0, y0, x0, y0], found[1]

    def fit(self, frame: av.VideoFrame, box: np.ndarray) -> np.ndarray:
        """The 68 landmarks of the face in `box`, fitted on the full-resolution region around it."""
        width, height = upright_size(frame.width, frame.height, frame.rotation)
        x0, y0, x1, y1 = clip_box(square_around(box, LANDMARK_CONTEXT), width, height)
        region = region_array(frame, x0, y0, x1, y1, self.landmarker.pixel_format)
        return self.landmarker(region, box - [x0, y0, x0, y0]) + np.float32([x0, y0])


def detect_video(entry: dict, find: FaceFinder, precrop_margin: float | None = None) -> Detections:
    """Run `find` on the sampled frames of one index entry, tracking the face from frame to frame; with
    `precrop_margin`, also cut the pre-crop of each face found."""
    n = len(entry["pts"])
    width, height = upright_size(entry["width"], entry["height"], entry["rotation"])
    out = Detections(
        np.full((n, 4), np.nan, np.float32), np.full(n, np.nan, np.float32),
        np.full((n, 68, 2), np.nan, np.float32), width, height,
    )
    reader = FrameReader(entry["path"], entry["pts"])
    previous, count = None, 0
    for i, frame in reader:
        out.width, out.height = upright_size(frame.width, frame.height, frame.rotation)
        found = find(frame, None if count % find.full_scan_every == 0 else previous)
        count += 1
        previous = None if found is None else found[0]
        if found is not None:
            out.boxes[i], out.scores[i], out.landmarks[i] = found
            if precrop_margin is not None:
                out.precrops[i] = cut_precrop(frame, found[0], found[2], precrop_margin)
    out.problem = reader.problem()
    return out


def write_detections(h5: h5py.File, entry: dict, det: Detections) -> None:
    g = h5.create_group(video_key(entry["video_id"]))
    g.create_dataset("pts", data=np.asarray(entry["pts"], np.int64))
    g.create_dataset("times", data=np.asarray(entry["times"], np.float64))
    g.create_dataset("boxes", data=det.boxes)
    g.create_dataset("scores", data=det.scores)
    g.create_dataset("landmarks", data=det.landmarks)
    g.attrs.update(video_id=entry["video_id"], width=det.width, height=det.height, rotation=entry["rotation"])


def write_precrops(store: ClipStoreWriter, entry: dict, det: Detections) -> None:
    """Add a video's pre-crops (none: no group) to the pre-crop store."""
    if det.precrops:
        found = sorted(det.precrops)
        store.add(VideoCrops(
            video_id=entry["video_id"], jpegs=[det.precrops[i][0] for i in found],
            times=np.asarray(entry["times"], np.float64)[found], pts=np.asarray(entry["pts"], np.int64)[found],
            boxes=np.stack([det.precrops[i][1] for i in found]),
        ))


def detect_shard(index_path: str | os.PathLike, out: str | os.PathLike, report_path: str | os.PathLike,
                 params: DetectParams, precrops: str | os.PathLike | None = None) -> ShardStats:
    """Write the detections of every video of a shard index, their pre-crops (default: `precrops_path`
    of `out`) and the problem report."""
    with open(index_path, encoding="utf-8") as f:
        videos = json.load(f)["videos"]
    find = FaceFinder(params)
    report = ProblemReport(STAGE, params.strict)
    stats = ShardStats(STAGE, videos=len(videos), faces=0)
    store_path = precrops or precrops_path(out)
    with (atomic_path(out) as tmp, h5py.File(tmp, "w") as h5,
          ClipStoreWriter(store_path, None, PRECROP_QUALITY, {"precrop_margin": params.precrop_margin}) as store):
        h5.attrs.update(detector=params.detector, landmarks=params.landmarks,
                        detect_max_side=params.detect_max_side, upsample=params.upsample,
                        retry_upsample=params.retry_upsample, full_scan_every=params.full_scan_every)
        for entry in progress(videos, STAGE, len(videos)):
            try:
                det = detect_video(entry, find, params.precrop_margin)
            except VideoError as e:
                report.add(entry["video_id"], str(e))
                continue
            except Exception as e:  # noqa: BLE001 - any bad input becomes a report line
                report.add(entry["video_id"], f"detection failed: {one_line(e)}")
                continue
            if det.problem:
                report.add(entry["video_id"], det.problem)
            write_detections(h5, entry, det)
            write_precrops(store, entry, det)
            stats.frames += len(det.boxes)
            stats.faces += det.n_faces
    stats.problems = len(report.problems)
    report.write(report_path)
    return stats


def run(args: argparse.Namespace) -> int:
    def main() -> None:
        detect_shard(args.index, args.out, args.report, DetectParams.from_json(args.params), args.precrops).log()

    return guarded(main)
