"""`crop`: filter each video's face boxes (Appendix A.1) and store square face crops in a clip store.

Frames without a face or whose box the filters drop are left out (not interpolated), so a video's
stored frames are its usable sampled frames in time order. Videos with none are reported and absent.
The crops are cut from `detect`'s pre-crops (pipeline/preprocess/precrop.py): no video is read.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
from contextlib import closing

import av
import h5py
import numpy as np

from pipeline.io import atomic_path, video_key
from pipeline.preprocess.filters import filter_boxes
from pipeline.preprocess.geometry import cut_square, square_box
from pipeline.preprocess.params import CropParams
from pipeline.preprocess.precrop import PreCrops, check_margin, precrops_path
from pipeline.preprocess.problems import ProblemReport
from pipeline.preprocess.stage import ShardStats, guarded, progress
from pipeline.preprocess.video import FrameReader, clip_box, one_line, region_array, upright_size
from pipeline.store import ClipStore, ClipStoreWriter, UnreadableVideo, VideoCrops, encode_jpeg

STAGE = "crop"
SUMMARY_COLUMNS = ("video_id", "key", "n_frames", "status")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="shard index JSON from `sample`")
    parser.add_argument("--detections", required=True, help="detections HDF5 from `detect`")
    parser.add_argument("--precrops", help="pre-crop store HDF5 from `detect` (default: <detections stem>.precrops.h5)")
    parser.add_argument("--out", required=True, help="clip store HDF5 to write")
    parser.add_argument("--summary", required=True, help="per-video CSV video_id,key,n_frames,status")
    parser.add_argument("--report", required=True, help="problem CSV to write")
    parser.add_argument("--params", default="{}", help='JSON, e.g. {"margin": 0.4, "crop_size": 320}')


def crop_frame(frame: av.VideoFrame, box: np.ndarray, size: int) -> np.ndarray:
    """`cut_square` of the upright frame, converting to RGB only the part of the frame inside `box`."""
    x0, y0, x1, y1 = clip_box(box, *upright_size(frame.width, frame.height, frame.rotation))
    inside = region_array(frame, x0, y0, x1, y1)
    return cut_square(inside, np.asarray(box, np.int64) - [x0, y0, x0, y0], size)


def cut_from_video(path: str, pts: np.ndarray, boxes: np.ndarray, params: CropParams
                   ) -> tuple[list[bytes | None], str | None]:
    """JPEG crops of the frames at `pts` cut from the decoded video (None: not decoded), and its problem."""
    jpegs: list[bytes | None] = [None] * len(pts)
    reader = FrameReader(path, pts)
    for j, frame in reader:
        jpegs[j] = encode_jpeg(crop_frame(frame, boxes[j], params.crop_size), params.jpeg_quality)
    return jpegs, reader.problem()


def cut_from_precrops(precrops: PreCrops, pts: np.ndarray, boxes: np.ndarray, params: CropParams
                      ) -> tuple[list[bytes | None], str | None]:
    """JPEG crops of the frames at `pts` cut from their pre-crops (None: none or a bad one), and a problem."""
    cuts = [precrops.cut(int(p), box, params.crop_size) for p, box in zip(pts, boxes)]
    jpegs = [None if rgb is None else encode_jpeg(rgb, params.jpeg_quality) for rgb in cuts]
    missing = sum(data is None for data in jpegs)
    if not missing:
        return jpegs, None
    bad = f" ({precrops.bad} failed their checksum or did not decode)" if precrops.bad else ""
    return jpegs, f"pre-crops unusable: {missing} of {len(pts)} usable frames{bad}"


def crop_video(entry: dict, boxes: np.ndarray, landmarks: np.ndarray, source_size: tuple[int, int],
               params: CropParams, precrops: PreCrops | None = None) -> tuple[VideoCrops | None, str | None]:
    """The crops of one video (None when no frame is usable) and a one-line problem, if any.

    `boxes` (N, 4) and `landmarks` (N, 68, 2) are the detections of the N sampled frames of the index
    `entry` (NaN: no face), in pixels of the upright frame of `source_size` (width, height). The crops are
    cut from `precrops`, or without them from the decoded video (as before pre-crops; `predict` still
    does, bench/bench_preprocess.py compares with it).
    """
    keep = np.flatnonzero(filter_boxes(boxes, params.size_outlier_threshold))
    if not len(keep):
        n_faces = int((~np.isnan(boxes[:, 0])).sum())
        if n_faces:
            return None, f"no usable face: all {n_faces} detections dropped by the overlap/size filters"
        return None, f"no face: none in {len(boxes)} sampled frames"
    crop_boxes = np.stack([square_box(boxes[i], landmarks[i], params.margin) for i in keep])
    pts = np.asarray(entry["pts"], np.int64)[keep]
    if precrops is None:
        jpegs, problem = cut_from_video(entry["path"], pts, crop_boxes, params)
    else:
        jpegs, problem = cut_from_precrops(precrops, pts, crop_boxes, params)
    done = np.array([data is not None for data in jpegs], bool)
    if not done.any():
        return None, problem
    crops = VideoCrops(
        video_id=entry["video_id"],
        jpegs=[data for data in jpegs if data is not None],
        times=np.asarray(entry["times"], np.float64)[keep][done],
        pts=pts[done],
        boxes=crop_boxes[done],
        attrs={"crop_size": params.crop_size, "source_width": int(source_size[0]),
               "source_height": int(source_size[1])},
    )
    return crops, problem


def write_summary(path: str | os.PathLike, rows: list[tuple[str, str, int, str]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        writer = csv.writer(f)
        writer.writerow(SUMMARY_COLUMNS)
        writer.writerows(rows)


def crop_shard(index_path: str | os.PathLike, detections_path: str | os.PathLike, out: str | os.PathLike,
               summary_path: str | os.PathLike, report_path: str | os.PathLike, params: CropParams,
               precrops_store: str | os.PathLike | None = None) -> ShardStats:
    """Write the clip store, the per-video summary and the problem report of one shard, from the
    detections and their pre-crops (default: `precrops_path` of the detections).

    Videos absent from the detections failed in `detect` and were reported there.
    """
    with open(index_path, encoding="utf-8") as f:
        videos = json.load(f)["videos"]
    report = ProblemReport(STAGE, params.strict)
    stats = ShardStats(STAGE, videos=len(videos), faces=0)
    rows = []
    with (closing(ClipStore(precrops_store or precrops_path(detections_path))) as source,
          h5py.File(detections_path, "r") as det,
          ClipStoreWriter(out, params.crop_size, params.jpeg_quality) as store):
        check_margin(source, params.margin)
        for entry in progress(videos, STAGE, len(videos)):
            key = video_key(entry["video_id"])
            if key not in det:
                continue
            stats.frames += len(entry["pts"])
            try:
                g = det[key]
                size = (int(g.attrs["width"]), int(g.attrs["height"]))
                crops, problem = crop_video(entry, g["boxes"][()], g["landmarks"][()], size, params,
                                            PreCrops.from_store(source, key))
            except UnreadableVideo as e:
                crops, problem = None, f"pre-crops unreadable: {e}"
            except Exception as e:  # noqa: BLE001 - any bad input becomes a report line
                crops, problem = None, f"cropping failed: {one_line(e)}"
            if problem:
                report.add(entry["video_id"], problem)
            if crops is None:
                continue
            n = len(crops.jpegs)
            rows.append((entry["video_id"], store.add(crops), n, "ok" if n >= params.min_frames else "short"))
            stats.faces += n
    stats.problems = len(report.problems)
    write_summary(summary_path, rows)
    report.write(report_path)
    return stats


def run(args: argparse.Namespace) -> int:
    def main() -> None:
        params = CropParams.from_json(args.params)
        crop_shard(args.index, args.detections, args.out, args.summary, args.report, params, args.precrops).log()

    return guarded(main)
