"""`sample`: list the frames of every video of a shard at `fps` frames per second, by timestamp.

Output: the shard index JSON of docs/architecture.md. Timestamps come from demuxed packets (no decode).
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path, PurePath

from pipeline.io import atomic_path
from pipeline.preprocess.params import SampleParams
from pipeline.preprocess.problems import ProblemReport
from pipeline.preprocess.stage import ShardStats, guarded, progress
from pipeline.preprocess.video import VideoError, check_utf8, one_line, pick_by_time, probe

STAGE = "sample"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, help="dataset root; video ids are paths relative to it")
    parser.add_argument("--out", required=True, help="index JSON to write")
    parser.add_argument("--report", required=True, help="problem CSV to write")
    parser.add_argument("--params", default="{}", help='JSON, e.g. {"fps": 3, "strict": false}')
    parser.add_argument("videos", nargs="*", help="video files of this shard")


def video_id_of(path: str, root: str) -> str:
    """The path relative to `root`, POSIX separators, symlinks not resolved (datasets are often links)."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        raise VideoError(f"outside root: {path} is not below {root}")
    check_utf8(rel)
    return PurePath(rel).as_posix()


def sample_video(path: str, video_id: str, fps: float) -> tuple[dict, str | None]:
    """The index entry of one video and a warning for damaged files whose first part is usable."""
    info = probe(path)
    picked = [info.pts[i] for i in pick_by_time(info.pts, info.time_base, fps)]
    entry = {
        "video_id": video_id,
        "path": path,
        "time_base": [info.time_base.numerator, info.time_base.denominator],
        "width": info.width,
        "height": info.height,
        "rotation": info.rotation,
        "duration": info.duration,
        "pts": picked,
        "times": [float(p * info.time_base) for p in picked],
    }
    return entry, info.warning


def sample_shard(root: str, paths: list[str], out: str | os.PathLike, report_path: str | os.PathLike,
                 params: SampleParams) -> ShardStats:
    """Write the index of `paths` (sorted by video id) and the problem report."""
    report = ProblemReport(STAGE, params.strict)
    stats = ShardStats(STAGE)
    entries: dict[str, dict] = {}
    for path in progress(paths, STAGE, len(paths)):
        video_id = path
        try:
            video_id = video_id_of(path, root)
            if video_id in entries:
                raise VideoError("duplicate: listed twice")
            entry, warning = sample_video(path, video_id, params.fps)
        except VideoError as e:
            report.add(video_id, str(e))
            continue
        except Exception as e:  # noqa: BLE001 - any bad input becomes a report line
            report.add(video_id, f"unreadable: {one_line(e)}")
            continue
        if warning:
            report.add(video_id, warning)
        entries[video_id] = entry
        stats.frames += len(entry["pts"])
    stats.videos, stats.problems = len(paths), len(report.problems)
    with atomic_path(out) as tmp:
        index = {"videos": [entries[v] for v in sorted(entries)], "fps": params.fps}
        Path(tmp).write_text(json.dumps(index), encoding="utf-8")
    report.write(report_path)
    return stats


def run(args: argparse.Namespace) -> int:
    def main() -> None:
        params = SampleParams.from_json(args.params)
        sample_shard(args.root, args.videos, args.out, args.report, params).log()

    return guarded(main)
