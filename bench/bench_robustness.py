"""Benchmark the robustness sweep: its cost per video at demo size, and a projection to the paper's size.

Demo size (`--results`: a results folder whose FF++ preprocessing ran, e.g. the demo's): every
`robustness sweep` job of the demo setting (models xception and i3d_rgb at the demo's input sizes,
random weights, which cost what trained ones do; all 7 perturbations; levels 0-5; 12 test videos) run
in-process as the rule runs it; CPU and wall seconds per job and per video (all 6 levels).

Paper size: per-frame costs measured on the real FF++ c23 720p samples (`--samples`) - decoding the
sampled frames as the sweep does, each perturbation at each level, cutting and JPEG-encoding a 320-px
crop, H.264 re-encoding at each level's CRF (libx264 medium, one thread), and each model's forward pass
at its paper input size - multiplied by the paper's frame counts: the projection for the FF++ test split
(140 real + 700 fake videos, counted from FF++'s splits/test.json) x 7 perturbations x 6 levels (0-5) x
6 models. Assumptions are printed with the result. Work = process CPU seconds (all threads).
Writes bench/out/bench_robustness.{json,md}.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_robustness.py --results results
"""
from __future__ import annotations

import argparse
import glob
import json
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from pipeline.checkpoint import save_checkpoint  # noqa: E402
from pipeline.evaluate.inference import load_model, unit_indices  # noqa: E402
from pipeline.models import build_model  # noqa: E402
from pipeline.preprocess.geometry import cut_square  # noqa: E402
from pipeline.preprocess.video import pick_by_time, probe  # noqa: E402
from pipeline.robustness.compression import reencode  # noqa: E402
from pipeline.distortions import LEVELS, PERTURBATIONS, perturb_frame  # noqa: E402
from pipeline.robustness.sweep import SweepParams, sampled_frames, sweep  # noqa: E402
from pipeline.store import encode_jpeg  # noqa: E402

FFPP_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "ffpp-samples"
OUT = Path(__file__).resolve().parent / "out"
DEMO_MODELS = {"xception": {"image_size": 64, "clip_len": 8}, "i3d_rgb": {"image_size": 64, "clip_len": 8}}
PAPER_MODELS = ("xception", "efficientnet_b3", "efficientnet_b3_lstm", "efficientnet_b3_bigru", "r3d_18", "i3d_rgb")
# The paper's scale (assumptions, printed with the result)
FFPP_TEST_VIDEOS = 140 + 5 * 140  # splits/test.json: 70 pairs -> 140 originals; 5 methods x 140 fakes
FFPP_FRAMES, FFPP_FPS, SAMPLE_FPS = 510, 25, 3  # FF++: ~510 frames per video (509,914 / 1,000); 25 fps as the samples


@contextmanager
def timer(into: dict, name: str):
    """Wall and CPU seconds of the block under `into[name]`."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    into[name] = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def random_checkpoint(folder: Path, model: str, train: dict) -> Path:
    """A checkpoint of `model` with random weights, built as `train` would write one with `train` settings."""
    net, _ = build_model(model, pretrained="none", **train)
    path = folder / f"{model}.pt"
    save_checkpoint(path, model=model, state_dict=net.state_dict(), config={"train": train}, preprocess={})
    return path


def demo_size(results: Path, max_videos: int) -> dict:
    """Every sweep job of the demo setting: seconds per job and per video."""
    manifest = pd.read_csv(results / "manifests" / "ffpp" / "all" / "test.csv")
    detections = sorted(glob.glob(str(results / "preprocess" / "ffpp" / "detections" / "shard*.h5")))
    root = json.loads((results / "preprocess" / "ffpp" / "index" / "shard000.json").read_text())["videos"][0]
    root = root["path"][: -len(root["video_id"])]
    params = SweepParams(max_videos=max_videos, stride=8, crop_size=96)  # the demo's stride and crop size
    jobs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model_name, train in DEMO_MODELS.items():
            model, _ = load_model(random_checkpoint(Path(tmp), model_name, train), torch.device("cpu"))
            for name in PERTURBATIONS:
                with timer(jobs, f"{model_name}/{name}"):
                    predictions, _ = sweep(model, model_name, name, manifest, detections, root, params, threads=1)
                jobs[f"{model_name}/{name}"]["videos"] = int(predictions["video_id"].nunique())
    cpu = sum(j["cpu_s"] for j in jobs.values())
    videos = max(j["videos"] for j in jobs.values())
    return {"jobs": jobs, "total_cpu_s": cpu, "total_wall_s": sum(j["wall_s"] for j in jobs.values()),
            "videos": videos, "cpu_s_per_video_per_job": cpu / len(jobs) / videos,
            "note": "model start-up (torch import, model build) not included: measured in-process"}


def per_frame(samples: Path, n_encode: int) -> dict:
    """Per-frame CPU seconds at 720p: sampled decode, each perturbation and level, crop + JPEG, H.264 re-encoding."""
    path = str(sorted(samples.glob("original_sequences/**/*.mp4"))[0])
    info = probe(path)
    pts = np.asarray([info.pts[i] for i in pick_by_time(info.pts, info.time_base, SAMPLE_FPS)])
    out: dict = {"video": path, "frames": len(info.pts), "sampled": len(pts)}
    times: dict = {}
    with timer(times, "decode"):
        frames = [rgb for _, rgb in sampled_frames(path, pts)]
    out["decode_sampled_per_video_frame"] = times["decode"]["cpu_s"] / len(info.pts)
    out["size"] = list(frames[0].shape[:2])
    box = np.array([500, 150, 780, 430])
    with timer(times, "crop"):
        for rgb in frames:
            encode_jpeg(cut_square(rgb, box, 320), 95)
    out["crop_jpeg_per_frame"] = times["crop"]["cpu_s"] / len(frames)
    out["perturb_per_frame"] = {}
    rng = np.random.default_rng(0)
    for name, spec in PERTURBATIONS.items():
        if spec.frame_fn is None:
            continue
        for level in LEVELS:
            with timer(times, "p"):
                for rgb in frames[:10]:
                    perturb_frame(name, rgb, level, rng)
            out["perturb_per_frame"][f"{name}/{level}"] = times["p"]["cpu_s"] / 10
    with av.open(path) as container:
        stream = container.streams.video[0]
        source = [f for _, f in zip(range(n_encode), container.decode(stream))]
        rate = stream.average_rate
    out["reencode_per_frame"] = {}
    for level in LEVELS:
        crf = PERTURBATIONS["video_compression"].parameter(level)
        with timer(times, "vc"):
            n = sum(1 for _ in reencode(iter(source), crf, info.time_base, rate, threads=1))
        out["reencode_per_frame"][str(level)] = times["vc"]["cpu_s"] / n
    with timer(times, "full"):
        with av.open(path) as container:
            for _ in container.decode(video=0):
                pass
    out["decode_all_per_frame"] = times["full"]["cpu_s"] / len(info.pts)
    return out


def forward_per_unit(models: list[str], batch: int) -> dict:
    """CPU seconds of one unit (a frame or a 16-frame window) through each model at its paper input size."""
    out = {}
    for name in models:
        model, _ = build_model(name, pretrained="none")
        model.eval()
        x = torch.randn(batch, *model.spec.input_shape())
        with torch.inference_mode():
            model(x[:1])  # warm-up
            t = time.process_time()
            model(x)
            out[name] = {"cpu_s": (time.process_time() - t) / batch, "kind": model.spec.kind,
                         "input": list(model.spec.input_shape())}
    return out


def projection(frames: dict, forward: dict) -> dict:
    """CPU hours of the whole sweep (FF++ test, 7 perturbations, levels 0-5, every model) at paper size."""
    sampled = FFPP_FRAMES / FFPP_FPS * SAMPLE_FPS
    decode = frames["decode_sampled_per_video_frame"] * FFPP_FRAMES
    crop = frames["crop_jpeg_per_frame"] * sampled
    per_type = {}
    for name, spec in PERTURBATIONS.items():
        if spec.frame_fn is None:
            reencode_s = sum(frames["reencode_per_frame"][str(k)] + frames["decode_all_per_frame"] for k in LEVELS)
            prep = decode + 5 * decode + reencode_s * FFPP_FRAMES + 6 * crop  # level 0 + 5 full passes
        else:
            perturb = sum(frames["perturb_per_frame"][f"{name}/{k}"] for k in LEVELS) * sampled
            prep = 6 * decode + perturb + 6 * crop
        per_type[name] = prep
    per_model = {}
    for model, f in forward.items():
        spec = type("Spec", (), {"kind": f["kind"], "clip_len": 16})()
        units = len(unit_indices(int(round(sampled)), spec, 16))
        infer = 6 * units * f["cpu_s"]  # 6 levels
        per_model[model] = {"prep_s_per_video": sum(per_type.values()) / len(per_type), "units": units,
                            "inference_s_per_video_level": units * f["cpu_s"],
                            "cpu_h": FFPP_TEST_VIDEOS * sum(p + infer for p in per_type.values()) / 3600}
    return {"assumptions": {"test_videos": FFPP_TEST_VIDEOS, "frames_per_video": FFPP_FRAMES, "fps": FFPP_FPS,
                            "sampled_per_video": sampled, "resolution": frames["size"], "levels": "0-5",
                            "window_stride": 16},
            "prep_cpu_s_per_video_job": per_type, "per_model": per_model,
            "total_cpu_h": sum(m["cpu_h"] for m in per_model.values()),
            "compression_share": per_type["video_compression"] / sum(per_type.values())}


def markdown(result: dict) -> str:
    lines = ["# bench_robustness", ""]
    if "demo" in result:
        d = result["demo"]
        lines += [f"Demo size: {len(d['jobs'])} jobs, {d['videos']} videos each, levels 0-5: "
                  f"{d['total_cpu_s']:.1f} CPU-s ({d['total_wall_s']:.1f} s wall) in all; "
                  f"{d['cpu_s_per_video_per_job']:.3f} CPU-s per video per job ({d['note']}).", "",
                  "| job | CPU s | wall s |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['cpu_s']:.2f} | {v['wall_s']:.2f} |" for k, v in d["jobs"].items()]
        lines.append("")
    if "projection" in result:
        p = result["projection"]
        a = p["assumptions"]
        lines += [f"Paper size ({a['test_videos']} FF++ test videos, {a['frames_per_video']} frames at {a['fps']} fps, "
                  f"{a['sampled_per_video']:.0f} sampled, {a['resolution'][1]}x{a['resolution'][0]}, levels 0-5): "
                  f"{p['total_cpu_h']:.0f} CPU-hours for every model, video compression "
                  f"{100 * p['compression_share']:.0f}% of the per-video frame work.", "",
                  "| model | inference CPU s per video and level | CPU h (7 perturbations) |", "|---|---:|---:|"]
        lines += [f"| {k} | {v['inference_s_per_video_level']:.2f} | {v['cpu_h']:.1f} |" for k, v in p["per_model"].items()]
        lines += ["", "| perturbation | frame work CPU s per video and job |", "|---|---:|"]
        lines += [f"| {k} | {v:.2f} |" for k, v in p["prep_cpu_s_per_video_job"].items()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="results folder with the FF++ preprocessing (demo size)")
    parser.add_argument("--max-videos", type=int, default=12)
    parser.add_argument("--samples", type=Path, default=FFPP_SAMPLES, help="real FF++ samples (paper size)")
    parser.add_argument("--encode-frames", type=int, default=60, help="frames re-encoded per CRF level")
    parser.add_argument("--models", nargs="*", default=list(PAPER_MODELS), help="models timed at paper size")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result: dict = {}
    if args.results:
        result["demo"] = demo_size(args.results, args.max_videos)
    if args.samples.is_dir() and args.models:
        result["frames"] = per_frame(args.samples, args.encode_frames)
        result["forward"] = forward_per_unit(args.models, batch=2)
        result["projection"] = projection(result["frames"], result["forward"])
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_robustness.json").write_text(json.dumps(result, indent=2))
    (OUT / "bench_robustness.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
