"""Training-loader throughput: frames/s per DataLoader worker, with augmentation, from a 320-px clip store.

Generates a clip store of textured face-like crops (JPEG q95, sizes like real 320-px face crops), then
times `ClipDataset.__getitem__` in one process (= one worker) for video clips (16 frames) and single
frames (image models) at the model input size, split into stages (read+decode, resize, augment).
Goal: >= 2,000 frames/s per worker at 224 px.

    python bench/bench_loader.py [--size 224] [--seconds 10] [--workers 0 2] [--name loader]
Writes <name>.json and <name>.md to bench/out/ (or $BENCH_OUT).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import pipeline  # noqa: E402,F401 - sets NO_ALBUMENTATIONS_UPDATE
from pipeline.data.augment import ClipAugment  # noqa: E402
from pipeline.data.dataset import ClipDataset, read_frames, window_indices  # noqa: E402
from pipeline.data.manifest import ManifestRow  # noqa: E402
from pipeline.data.sampler import BalancedBatchSampler  # noqa: E402
from pipeline.data.transforms import resize_frames  # noqa: E402
from pipeline.io import video_key  # noqa: E402
from pipeline.store import ClipStore, ClipStoreWriter, VideoCrops, encode_jpeg  # noqa: E402

OUT = Path(os.environ.get("BENCH_OUT") or Path(__file__).parent / "out")


def face_like_frames(n: int, size: int, rng: np.random.Generator) -> list[bytes]:
    """A smooth, textured image drifting a little per frame: JPEG sizes and decode cost like real crops."""
    import skimage.data

    base = cv2.resize(skimage.data.astronaut()[0:300, 120:420], (size + 32, size + 32), interpolation=cv2.INTER_AREA)
    out = []
    for i in range(n):
        dx, dy = int(16 + 8 * np.sin(i / 5)), int(16 + 8 * np.cos(i / 7))
        frame = base[dy:dy + size, dx:dx + size].astype(np.int16) + rng.normal(0, 3, (size, size, 3)).astype(np.int16)
        out.append(encode_jpeg(np.clip(frame, 0, 255).astype(np.uint8), 95))
    return out


def make_store(folder: Path, videos: int, frames: int, crop: int) -> list[ManifestRow]:
    rng = np.random.default_rng(0)
    path = folder / "store.h5"
    rows = []
    with ClipStoreWriter(path, crop_size=crop, jpeg_quality=95) as writer:
        for v in range(videos):
            vid = f"video{v:03d}.mp4"
            jpegs = face_like_frames(frames, crop, rng)
            writer.add(VideoCrops(vid, jpegs, np.arange(frames) / 3.0, np.arange(frames), np.zeros((frames, 4))))
            method = f"method{v % 3}" if v % 2 else "real"
            rows.append(ManifestRow(vid, v % 2, method, method, str(path), video_key(vid), frames))
    return rows


def timed(fn, seconds: float) -> tuple[int, float]:
    """Call fn() until `seconds` have passed; (calls, elapsed)."""
    fn()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        calls += 1
    return calls, elapsed


def bench_dataset(rows: list[ManifestRow], size: int, clip_len: int, seconds: float) -> dict:
    ds = ClipDataset(rows, clip_len=clip_len, size=size, augment=ClipAugment(size))
    sampler = BalancedBatchSampler(ds.labels, ds.groups, batch_size=8, steps=10**6, seed=0)
    keys = (k for b in sampler for k in b)
    calls, elapsed = timed(lambda: ds[next(keys)], seconds)
    return {"frames_per_s": calls * clip_len / elapsed, "samples_per_s": calls / elapsed}


def bench_stages(rows: list[ManifestRow], size: int, seconds: float) -> dict:
    """Per-stage cost of a 16-frame clip, in frames/s of that stage alone."""
    store, rng, aug = ClipStore(rows[0].store), np.random.default_rng(0), ClipAugment(size)
    row = rows[0]
    clip = read_frames(store, row.key, window_indices(row.n_frames, 16, rng))
    small = resize_frames(clip, size)
    stages = {
        "read_decode": lambda: read_frames(store, row.key, window_indices(row.n_frames, 16, rng)),
        "resize": lambda: resize_frames(clip, size),
        "augment": lambda: aug(small, int(rng.integers(1 << 30))),
    }
    out = {}
    for name, fn in stages.items():
        calls, elapsed = timed(fn, seconds / 3)
        out[name] = calls * 16 / elapsed
    return out


def bench_loader(rows: list[ManifestRow], size: int, workers: int, seconds: float) -> dict:
    """End-to-end DataLoader throughput with `workers` worker processes (0 = in the main process)."""
    ds = ClipDataset(rows, clip_len=16, size=size, augment=ClipAugment(size))
    sampler = BalancedBatchSampler(ds.labels, ds.groups, batch_size=4, steps=10**6, seed=0)
    loader = iter(torch.utils.data.DataLoader(ds, batch_sampler=sampler, num_workers=workers))
    next(loader)
    calls, elapsed = timed(lambda: next(loader), seconds)
    fps = calls * 4 * 16 / elapsed
    return {"workers": workers, "frames_per_s": fps, "frames_per_s_per_worker": fps / max(workers, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224, help="model input size")
    ap.add_argument("--crop", type=int, default=320, help="stored crop size")
    ap.add_argument("--videos", type=int, default=12)
    ap.add_argument("--frames", type=int, default=48, help="frames per video")
    ap.add_argument("--seconds", type=float, default=10.0, help="timing per measurement")
    ap.add_argument("--workers", type=int, nargs="*", default=[], help="also time DataLoaders with these workers")
    ap.add_argument("--name", default="loader", help="output file names under bench/out/")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        rows = make_store(Path(tmp), args.videos, args.frames, args.crop)
        kb = os.path.getsize(rows[0].store) / 1024 / (args.videos * args.frames)
        result = {
            "size": args.size, "crop": args.crop, "kb_per_frame": round(kb, 1), "host": platform.node(),
            "cpus": os.cpu_count(),
            "video_clips": bench_dataset(rows, args.size, 16, args.seconds),
            "image_frames": bench_dataset(rows, args.size, 1, args.seconds),
            "stages_frames_per_s": bench_stages(rows, args.size, args.seconds),
            "loaders": [bench_loader(rows, args.size, w, args.seconds) for w in args.workers],
        }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Loader throughput ({args.crop}-px store -> {args.size}-px input, augmentation on, 1 thread)", "",
             f"{result['kb_per_frame']} KB/frame on {result['host']} ({result['cpus']} CPUs)", "",
             "| what | frames/s |", "|---|---:|",
             f"| video clips (16 frames), one worker | {result['video_clips']['frames_per_s']:.0f} |",
             f"| single frames (image models), one worker | {result['image_frames']['frames_per_s']:.0f} |"]
    lines += [f"| stage: {k} | {v:.0f} |" for k, v in result["stages_frames_per_s"].items()]
    lines += [f"| DataLoader, {r['workers']} workers (per worker) | {r['frames_per_s']:.0f} "
              f"({r['frames_per_s_per_worker']:.0f}) |" for r in result["loaders"]]
    (OUT / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
