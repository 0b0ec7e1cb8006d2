"""`robustness sweep`: one model on the FF++ test videos under one perturbation, at level 0 and each level.

Faithful and cheap: the full-resolution decoded frames are perturbed (for video compression the whole
clip is re-encoded) and then cropped from the clean video's detections (the face does not move) with the
crop stage's arithmetic: the Appendix A.1 filters (`filter_boxes`), the square 40%-margin box
(`square_box`), `cut_square`, and JPEG crops in a clip store. Each level's store is a temporary file,
scored with the clean test's inference (`predict_manifest`: same windows, stride and video-level
averaging) and the same metrics (`video_metrics`), then deleted: no perturbed copy of the data set
outlives the job. Level 0 is the null perturbation, the clean reference on the same videos; its crops are
those the crop stage cuts from decoded frames (`crop_video` without pre-crops), which differ from the
workflow's pre-crop-cut crops only by the pre-crops' JPEG loss.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import h5py
import numpy as np
import pandas as pd

from pipeline.evaluate.inference import InferenceParams, predict_manifest, warn
from pipeline.evaluate.metrics import ALL, video_metrics
from pipeline.data.manifest import balanced_sample
from pipeline.io import stable_hash
from pipeline.preprocess.filters import filter_boxes
from pipeline.preprocess.geometry import cut_square, square_box
from pipeline.preprocess.video import FrameReader, probe, upright
from pipeline.robustness.compression import reencode
from pipeline.distortions import LEVELS, PERTURBATIONS, perturb_frame
from pipeline.store import ClipStoreWriter, VideoCrops, encode_jpeg

METRIC_COLUMNS = ["model", "perturbation", "level", "parameter", "class", "metric", "value"]


@dataclass(frozen=True)
class SweepParams:
    """`robustness sweep --params`: severity levels, test-video cap (None: all) and seed; the clean test's
    inference settings (`InferenceParams`) and the crop stage's geometry (`CropParams`), which the rule
    takes from the same config slices."""

    levels: list[int] = field(default_factory=lambda: list(LEVELS))
    max_videos: int | None = None
    seed: int = 0
    stride: int = 16
    threshold: float = 0.5
    batch_size: int = 8
    size_outlier_threshold: float = 10
    margin: float = 0.4
    crop_size: int = 320
    jpeg_quality: int = 95

    def inference(self) -> InferenceParams:
        return InferenceParams(stride=self.stride, threshold=self.threshold, batch_size=self.batch_size)


@dataclass(frozen=True)
class CropPlan:
    """What the crop stage keeps of one video: the sampled frames whose box survives the filters, with
    their square crop boxes, and the source frame size."""

    pts: np.ndarray
    times: np.ndarray
    boxes: np.ndarray
    source_size: tuple[int, int]


def crop_plan(group: h5py.Group, params: SweepParams) -> CropPlan | None:
    """The crop plan of one video's detections group (None: no usable face), as `crop_video` computes it."""
    boxes, landmarks = group["boxes"][()], group["landmarks"][()]
    keep = np.flatnonzero(filter_boxes(boxes, params.size_outlier_threshold))
    if not len(keep):
        return None
    return CropPlan(pts=np.asarray(group["pts"][()], np.int64)[keep], times=group["times"][()][keep],
                    boxes=np.stack([square_box(boxes[i], landmarks[i], params.margin) for i in keep]),
                    source_size=(int(group.attrs["width"]), int(group.attrs["height"])))


class DetectionFiles:
    """The detections groups of many shard files, found by video key."""

    def __init__(self, paths: list[str]):
        self.files = [h5py.File(p, "r") for p in paths]

    def group(self, key: str) -> h5py.Group | None:
        return next((f[key] for f in self.files if key in f), None)

    def close(self) -> None:
        for f in self.files:
            f.close()


def sampled_frames(path: str, pts: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(index into `pts`, upright RGB frame) of the frames at `pts`, decoded as the crop stage does."""
    for j, frame in FrameReader(path, pts):
        yield j, upright(frame.to_ndarray(format="rgb24"), frame.rotation)


def frame_rate(path: str) -> Fraction | None:
    """The video stream's average frame rate, which FFmpeg passes to libx264 (its rate control uses it)."""
    with av.open(path) as container:
        return container.streams.video[0].average_rate


def recompressed_frames(path: str, pts: np.ndarray, crf: float, threads: int) -> Iterator[tuple[int, np.ndarray]]:
    """Like `sampled_frames`, after re-encoding every frame of the video at `crf`. The re-encoded frames carry
    the source's colour space and range (so RGB conversion matches) and are turned upright as the source."""
    info = probe(path)
    wanted = {int(p): j for j, p in enumerate(pts)}
    source: list[av.VideoFrame] = []  # the latest source frame, for its colour tags

    def frames() -> Iterator[av.VideoFrame]:
        for _, frame in FrameReader(path, info.pts):
            source[:] = [frame]
            yield frame

    for frame in reencode(frames(), crf, info.time_base, frame_rate(path), threads):
        j = wanted.get(frame.pts)
        if j is not None:
            frame.colorspace, frame.color_range = source[0].colorspace, source[0].color_range
            yield j, upright(frame.to_ndarray(format="rgb24"), info.rotation)


def frame_rng(seed: int, video_id: str, level: int, index: int) -> np.random.Generator:
    """The random stream of one frame at one level: independent of the other frames, videos and jobs."""
    return np.random.default_rng([seed, stable_hash(video_id), level, index])


def perturbed_crops(name: str, level: int, path: str, video_id: str, plan: CropPlan, params: SweepParams,
                    threads: int) -> VideoCrops | None:
    """The JPEG face crops of one video under `name` at `level` (None when no frame decodes)."""
    if name == "video_compression" and level > 0:
        frames = recompressed_frames(path, plan.pts, PERTURBATIONS[name].parameter(level), threads)
    else:
        frames = ((j, perturb_frame(name, rgb, level, frame_rng(params.seed, video_id, level, j)))
                  for j, rgb in sampled_frames(path, plan.pts))
    jpegs = {j: encode_jpeg(cut_square(rgb, plan.boxes[j], params.crop_size), params.jpeg_quality)
             for j, rgb in frames}
    if not jpegs:
        return None
    done = sorted(jpegs)
    return VideoCrops(video_id=video_id, jpegs=[jpegs[j] for j in done], times=plan.times[done], pts=plan.pts[done],
                      boxes=plan.boxes[done], attrs={"crop_size": params.crop_size,
                                                     "source_width": plan.source_size[0],
                                                     "source_height": plan.source_size[1]})


def level_manifest(name: str, level: int, videos: pd.DataFrame, detections: DetectionFiles, root: str,
                   store: Path, params: SweepParams, threads: int) -> pd.DataFrame:
    """Write the clip store of every video at one level; its manifest (the rows of `videos` that have
    crops, pointing at `store`). Videos without detections or usable frames are left out with a warning."""
    rows = []
    with ClipStoreWriter(store, params.crop_size, params.jpeg_quality) as writer:
        for _, row in videos.iterrows():
            group = detections.group(row["key"])
            plan = crop_plan(group, params) if group is not None else None
            crops = None if plan is None else perturbed_crops(name, level, os.path.join(root, row["video_id"]),
                                                              row["video_id"], plan, params, threads)
            if crops is None:
                warn(f"{row['video_id']}: no detections or no usable frame at {name} level {level}; left out")
                continue
            rows.append({**row.to_dict(), "store": str(store), "key": writer.add(crops)})
    return pd.DataFrame(rows, columns=videos.columns)


def selected_videos(manifest: pd.DataFrame, params: SweepParams) -> pd.DataFrame:
    """All test rows in manifest order, or up to `max_videos` of them, half real and half fake, drawn with `seed`."""
    if params.max_videos is None or params.max_videos >= len(manifest):
        return manifest
    return balanced_sample(manifest, params.max_videos, params.seed)


def sweep(model, model_name: str, name: str, manifest: pd.DataFrame, detection_paths: list[str], root: str,
          params: SweepParams, threads: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions (per video and level) and metrics (`METRIC_COLUMNS`) of `model` under perturbation
    `name` at level 0 and `params.levels`."""
    if name not in PERTURBATIONS:
        raise ValueError(f"unknown perturbation {name!r} (choose from {', '.join(PERTURBATIONS)})")
    for level in params.levels:
        PERTURBATIONS[name].parameter(level)  # a level outside 1-5 fails before any work
    videos = selected_videos(manifest, params)
    predictions, metrics = [], []
    detections = DetectionFiles(detection_paths)
    with contextlib.closing(detections), tempfile.TemporaryDirectory(prefix="robustness-") as tmp:
        for level in [0, *params.levels]:
            store = Path(tmp) / f"level{level}.h5"
            perturbed = level_manifest(name, level, videos, detections, root, store, params, threads)
            if perturbed.empty:
                raise ValueError(f"none of the {len(videos)} test videos has detections in {', '.join(detection_paths)}")
            scored = predict_manifest(model, perturbed, params.inference())
            store.unlink()
            parameter = PERTURBATIONS[name].parameter(level) if level else np.nan
            predictions.append(scored.assign(perturbation=name, level=level))
            values = {**video_metrics(scored, params.threshold), (ALL, "videos"): len(scored)}
            metrics += [{"model": model_name, "perturbation": name, "level": level, "parameter": parameter,
                         "class": c, "metric": m, "value": v} for (c, m), v in values.items()]
    return pd.concat(predictions, ignore_index=True), pd.DataFrame(metrics, columns=METRIC_COLUMNS)
