"""Benchmark the preprocessing stages: seconds of work per second of video, and face detection rates.

For each folder of videos (default: the real FF++ c23 samples; add e.g. the demo dataset with --data):
  * sample, detect, crop as the workflow runs them (default params of workflow_config.yaml), one shard;
  * decode only: every frame decoded by PyAV in one thread as the stages do, no conversion (the floor
    for any per-video pass; `detect` and `crop` skip non-reference frames they do not need);
  * naive baseline: dlib HOG with upsample 1 on every frame at full resolution, run on the first
    `--naive-seconds` of each video (it is ~100x slower) and reported per second of video processed.
Work = process CPU seconds (user + system, all threads) and wall seconds; both per second of video.
Writes bench/out/bench_preprocess.{json,md}.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_preprocess.py [--data FOLDER ...]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import av
import dlib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.preprocess.crop import crop_shard  # noqa: E402
from pipeline.preprocess.detect import FaceFinder, detect_shard  # noqa: E402
from pipeline.preprocess.params import CropParams, DetectParams, SampleParams  # noqa: E402
from pipeline.preprocess.sample import sample_shard  # noqa: E402
from pipeline.preprocess.video import probe  # noqa: E402

FFPP_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "ffpp-samples"


@contextmanager
def timer(into: dict, name: str):
    """Store wall and CPU seconds of the block under `into[name]`, keeping the smallest of repeated runs
    (the machine is shared: the minimum is the least disturbed measurement)."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    now = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    into[name] = {k: min(v, into.get(name, now)[k]) for k, v in now.items()}


def decode_all(paths: list[str]) -> None:
    for path in paths:
        with av.open(path) as container:
            for _ in container.decode(container.streams.video[0]):
                pass


def naive_hog(paths: list[str], seconds: float) -> tuple[int, int]:
    """dlib HOG (upsample 1) on every frame of the first `seconds` of each video at full resolution.

    Returns (frames, frames with a face)."""
    detector = dlib.get_frontal_face_detector()
    frames = faces = 0
    for path in paths:
        with av.open(path) as container:
            start = None
            for frame in container.decode(container.streams.video[0]):
                start = frame.time if start is None else start
                if frame.time - start >= seconds:
                    break
                frames += 1
                faces += len(detector(frame.to_ndarray(format="rgb24"), 1)) > 0
    return frames, faces


def bench_folder(folder: Path, naive_seconds: float, max_videos: int | None, repeat: int) -> dict:
    paths = sorted(str(p) for p in folder.rglob("*.mp4"))[:max_videos]
    durations = [probe(p).duration for p in paths]
    video_seconds = sum(durations)
    naive_covered = sum(min(d, naive_seconds) for d in durations)
    times: dict = {}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            with timer(times, "sample"):
                sample_shard(str(folder), paths, out / "index.json", out / "r_sample.csv", SampleParams())
            with timer(times, "detect_start_up"):
                FaceFinder(DetectParams())
            with timer(times, "detect"):
                det = detect_shard(out / "index.json", out / "det.h5", out / "r_detect.csv", DetectParams())
            with timer(times, "crop"):
                crop = crop_shard(out / "index.json", out / "det.h5", out / "crops.h5", out / "crops.csv",
                                  out / "r_crop.csv", CropParams())
        with timer(times, "decode_only"):
            decode_all(paths)
    times["total"] = {k: sum(times[s][k] for s in ("sample", "detect", "crop")) for k in ("wall_s", "cpu_s")}
    # Model loading happens once per shard job, whose videos are hours long at full scale (FF++: ~6,000
    # videos in 16 shards): per second of video it vanishes there, but not in a 1-minute sample.
    start_up = times.pop("detect_start_up")
    times["total_without_start_up"] = {k: times["total"][k] - start_up[k] for k in start_up}
    naive: dict = {}
    with timer(naive, "t"):
        naive_frames, naive_faces = naive_hog(paths, naive_seconds)
    rows = {name: {k: v / video_seconds for k, v in t.items()} for name, t in times.items()}
    ratio = {k: times["total_without_start_up"][k] / times["decode_only"][k] for k in ("cpu_s", "wall_s")}
    rows["naive_hog_full_res_every_frame"] = {k: v / naive_covered for k, v in naive["t"].items()}
    return {
        "folder": str(folder),
        "repeat": repeat,
        "detect_start_up_s": start_up,
        "total_without_start_up_over_decode_only": ratio,
        "videos": len(paths),
        "video_seconds": video_seconds,
        "per_video_second": rows,
        "detection_rate": {
            "ours": det.faces / det.frames if det.frames else None,
            "ours_after_filters": crop.faces / crop.frames if crop.frames else None,
            "naive": naive_faces / naive_frames if naive_frames else None,
        },
        "frames": {"ours": det.frames, "naive": naive_frames, "naive_video_seconds": naive_covered},
    }


def markdown(results: list[dict]) -> str:
    lines = []
    for r in results:
        lines += [
            f"### {r['folder']}: {r['videos']} videos, {r['video_seconds']:.1f} s of video "
            f"(best of {r['repeat']} runs)",
            "",
            "| step | CPU s per video s | wall s per video s |",
            "|---|---:|---:|",
        ]
        lines += [f"| {name} | {v['cpu_s']:.3f} | {v['wall_s']:.3f} |" for name, v in r["per_video_second"].items()]
        rates = r["detection_rate"]
        fmt = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
        ratio, start_up = r["total_without_start_up_over_decode_only"], r["detect_start_up_s"]
        lines += [
            "",
            f"Detector and landmark model loading, once per shard job: {start_up['cpu_s']:.2f} CPU s.",
            f"Total without it / decode only: {ratio['cpu_s']:.2f}x CPU, {ratio['wall_s']:.2f}x wall.",
            f"Face found: ours {fmt(rates['ours'])} of {r['frames']['ours']} sampled frames "
            f"({fmt(rates['ours_after_filters'])} kept after filters); naive {fmt(rates['naive'])} of "
            f"{r['frames']['naive']} frames ({r['frames']['naive_video_seconds']:.1f} s of video).",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", default=[], help="more folders of .mp4 videos (e.g. the demo data)")
    parser.add_argument("--skip-ffpp", action="store_true", help="leave out the FF++ samples")
    parser.add_argument("--naive-seconds", type=float, default=2.0, help="video seconds per file for the naive run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per step; the fastest is reported")
    parser.add_argument("--max-videos", type=int, default=None, help="videos per folder (default all)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "out"))
    args = parser.parse_args()
    folders = ([] if args.skip_ffpp or not FFPP_SAMPLES.is_dir() else [FFPP_SAMPLES]) + [Path(d) for d in args.data]
    if not folders:
        parser.error("no video folder: FF++ samples absent and no --data given")
    results = [bench_folder(f, args.naive_seconds, args.max_videos, args.repeat) for f in folders]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_preprocess.json").write_text(json.dumps(results, indent=2))
    text = markdown(results)
    (out / "bench_preprocess.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
