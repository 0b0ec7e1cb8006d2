"""`detect`: the largest face and its 68 landmarks on every sampled frame of a shard.

Each video is decoded once; sampled frames are turned upright (display matrix), detected on a copy whose
longer side is at most `detect_max_side` (dlib HOG cost grows with pixels, faces in FF++/DFDC are large;
frames without a face are retried with one more upsampling step), and the box is mapped back to full
resolution where the landmarks are fitted. Boxes and landmarks are in pixels of the upright
full-resolution frame, whose size the group attrs `width`, `height` give.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass

import av
import h5py
import numpy as np

from pipeline.io import atomic_path, video_key
from pipeline.preprocess.faces import FaceDetector, Landmarker, build_detector, build_landmarker
from pipeline.preprocess.params import DetectParams
from pipeline.preprocess.problems import ProblemReport
from pipeline.preprocess.stage import ShardStats, guarded, progress
from pipeline.preprocess.video import FrameReader, VideoError, one_line, upright, upright_size

STAGE = "detect"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="shard index JSON from `sample`")
    parser.add_argument("--out", required=True, help="detections HDF5 to write")
    parser.add_argument("--report", required=True, help="problem CSV to write")
    parser.add_argument("--params", default="{}", help='JSON, e.g. {"detector": "hog", "landmarks": "dlib68"}')


@dataclass
class Detections:
    """Per sampled frame of one video: largest face box, its score and landmarks (NaN: no face)."""

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    landmarks: np.ndarray  # (N, 68, 2) float32
    width: int
    height: int
    problem: str | None = None

    @property
    def n_faces(self) -> int:
        return int((~np.isnan(self.boxes[:, 0])).sum())


class FaceFinder:
    """Detector + landmarker, built once per process, applied to decoded frames.

    Detection runs on a grey copy whose longer side is at most `detect_max_side`; a frame where nothing
    is found is tried once more with one more upsampling step (`retry_upsample`), so small faces cost
    time only on the frames that need it. Landmarks are fitted at full resolution.
    """

    def __init__(self, params: DetectParams):
        self.detector: FaceDetector = build_detector(params.detector)
        self.upsample = params.upsample
        self.retry = params.retry_upsample
        self.landmarker: Landmarker = build_landmarker(params.landmarks)
        self.max_side = params.detect_max_side

    def __call__(self, frame: av.VideoFrame) -> tuple[np.ndarray, float, np.ndarray] | None:
        """(box, score, landmarks) of the largest face in the upright frame, or None."""
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
        if not len(boxes):
            return None
        best = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
        full = upright(frame.to_ndarray(format=self.landmarker.pixel_format), frame.rotation)
        box = boxes[best] * np.array([full.shape[1] / small.shape[1], full.shape[0] / small.shape[0]] * 2)
        return box.astype(np.float32), float(scores[best]), self.landmarker(full, box)


def detect_video(entry: dict, find: FaceFinder) -> Detections:
    """Run `find` on the sampled frames of one index entry."""
    n = len(entry["pts"])
    width, height = upright_size(entry["width"], entry["height"], entry["rotation"])
    out = Detections(
        np.full((n, 4), np.nan, np.float32), np.full(n, np.nan, np.float32),
        np.full((n, 68, 2), np.nan, np.float32), width, height,
    )
    reader = FrameReader(entry["path"], entry["pts"])
    for i, frame in reader:
        out.width, out.height = upright_size(frame.width, frame.height, frame.rotation)
        found = find(frame)
        if found is not None:
            out.boxes[i], out.scores[i], out.landmarks[i] = found
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


def detect_shard(index_path: str | os.PathLike, out: str | os.PathLike, report_path: str | os.PathLike,
                 params: DetectParams) -> ShardStats:
    """Write the detections of every video of a shard index and the problem report."""
    with open(index_path, encoding="utf-8") as f:
        videos = json.load(f)["videos"]
    find = FaceFinder(params)
    report = ProblemReport(STAGE, params.strict)
    stats = ShardStats(STAGE, videos=len(videos), faces=0)
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update(detector=params.detector, landmarks=params.landmarks,
                        detect_max_side=params.detect_max_side, upsample=params.upsample,
                        retry_upsample=params.retry_upsample)
        for entry in progress(videos, STAGE, len(videos)):
            try:
                det = detect_video(entry, find)
            except VideoError as e:
                report.add(entry["video_id"], str(e))
                continue
            except Exception as e:  # noqa: BLE001 - any bad input becomes a report line
                report.add(entry["video_id"], f"detection failed: {one_line(e)}")
                continue
            if det.problem:
                report.add(entry["video_id"], det.problem)
            write_detections(h5, entry, det)
            stats.frames += len(det.boxes)
            stats.faces += det.n_faces
    stats.problems = len(report.problems)
    report.write(report_path)
    return stats


def run(args: argparse.Namespace) -> int:
    def main() -> None:
        detect_shard(args.index, args.out, args.report, DetectParams.from_json(args.params)).log()

    return guarded(main)
