"""Training-step throughput per model: clips (or images) per second for forward + backward + Adam step.

Runs `pipeline.train.loop.train_step` on random uint8 batches (normalised as in training) at the demo
input size (64) and at each model's paper size (its card's input size), with the batch sizes of its card's
`hparams`, placed as training places it (`pipeline.runtime.Placement`: CUDA when there is one, channels-last
for 2D models, bf16 autocast as `--bf16` says). Each model and size runs in a process of its own, which reports its peak
resident memory (the CPU's peak memory of the steps, the model and torch included); on CUDA it also records
the peak GPU memory (`torch.cuda.max_memory_allocated`, warm-up included). `--in-process` runs them all in this
process instead (no per-model resident memory; torch is imported once, for quick checks). On CPU a paper-size video step
takes tens of seconds: keep `--steps` small there.

    python bench/bench_train.py [--models r3d_18 ...] [--sizes 64 paper] [--steps 3] [--threads 2]
        [--device auto|cpu] [--bf16 auto|true|false] [--in-process] [--name train]
Writes <name>.json and <name>.md to bench/out/ (or $BENCH_OUT).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from pipeline.models.registry import build_model, cards  # noqa: E402
from pipeline.runtime import Placement, select_device  # noqa: E402
from pipeline.train.loop import Runtime, build_optimizer, seed_everything, train_step  # noqa: E402

OUT = Path(os.environ.get("BENCH_OUT") or Path(__file__).parent / "out")


def bench_model(name: str, size: int | None, batch_size: int, steps: int, clip_len: int,
                device: torch.device, bf16: str) -> dict:
    seed_everything(0, 0)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    model, _ = build_model(name, image_size=size, clip_len=clip_len, pretrained="none")
    spec = model.spec
    video = spec.kind != "image"
    rt = Runtime(Placement.for_model(spec, bf16, device), tuple(spec.mean), tuple(spec.std))
    rt.placement.model(model).train()
    optimizer = build_optimizer(model, lr=1e-5, weight_decay=0.0)
    shape = (batch_size, 3, clip_len, spec.input_size, spec.input_size) if video else \
        (batch_size, 3, spec.input_size, spec.input_size)
    x = torch.randint(0, 256, shape, dtype=torch.uint8)
    y = torch.arange(batch_size, dtype=torch.float32) % 2
    train_step(model, *rt.prepare(x, y), optimizer, rt)  # warm-up (allocations, cudnn autotuning)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, *rt.prepare(x, y), optimizer, rt)
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_step = (time.perf_counter() - start) / steps
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB (Linux)
    return {"model": name, "kind": spec.kind, "peak_rss_mib": rss, "input_size": spec.input_size, "batch_size": batch_size,
            "clip_len": clip_len if video else 1, "steps": steps, "bf16": rt.placement.bf16, "seconds_per_step": per_step,
            "samples_per_s": batch_size / per_step, "frames_per_s": batch_size * (clip_len if video else 1) / per_step,
            "peak_mib": peak}


def mib(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=None, help="default: every registered model")
    ap.add_argument("--sizes", nargs="*", default=["64", "paper"], help="input sizes; 'paper' = the model's own")
    ap.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the batch size of the model's card")
    ap.add_argument("--clip-len", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=["auto", "cpu"], default="auto", help="auto: CUDA when there is one")
    ap.add_argument("--bf16", choices=["auto", "true", "false"], default="auto", help="autocast (pipeline/runtime.py)")
    ap.add_argument("--in-process", action="store_true",
                    help="every model in this process: no per-model peak RSS, one torch import")
    ap.add_argument("--name", default="train", help="output file names under bench/out/")
    ap.add_argument("--one", nargs=2, metavar=("MODEL", "SIZE"), help=argparse.SUPPRESS)  # a child's own job
    args = ap.parse_args()
    known = cards()
    device = select_device(args.threads) if args.device == "auto" else torch.device("cpu")
    torch.set_num_threads(args.threads)

    def here(name: str, size: str) -> dict:
        hparams = known[name].hparams  # a detector with a fixed clip (TALL: 4) keeps it
        return bench_model(name, None if size == "paper" else int(size), args.batch_size or hparams["batch_size"],
                           args.steps, hparams.get("clip_len", args.clip_len), device, args.bf16)

    if args.one:
        print(json.dumps(here(*args.one)))
        return
    rows = []
    for name in args.models or known:
        for size in args.sizes:
            if args.in_process:
                row = {**here(name, size), "peak_rss_mib": None}  # the process's peak so far, not this model's
            else:
                child = [sys.executable, __file__, "--one", name, size, "--steps", str(args.steps), "--threads",
                         str(args.threads), "--clip-len", str(args.clip_len), "--device", args.device, "--bf16",
                         args.bf16, *(["--batch-size", str(args.batch_size)] if args.batch_size else [])]
                row = json.loads(subprocess.run(child, capture_output=True, text=True,
                                                check=True).stdout.splitlines()[-1])
            rows.append(row)
            peak = "" if row["peak_mib"] is None else f"  peak {row['peak_mib']:.0f} MiB"
            print(f"{name:22s} {row['input_size']:4d}px  batch {row['batch_size']}  "
                  f"{row['seconds_per_step']:.3f} s/step  {row['samples_per_s']:.2f} samples/s{peak}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    info = {"device": str(device), "device_name": name, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "host": platform.node(), "cpus": os.cpu_count()}
    (OUT / f"{args.name}.json").write_text(json.dumps({**info, "results": rows}, indent=2) + "\n")
    where = " ".join(filter(None, (info["device"], name)))
    lines = [f"# Training-step throughput ({where}, {info['threads']} threads, {info['host']})", "",
             "| model | input | batch | bf16 | s/step | samples/s | frames/s | peak RSS MiB | peak GPU MiB |",
             "|---|---:|---:|:-:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['input_size']} | {r['batch_size']}x{r['clip_len']} "
              f"| {'yes' if r['bf16'] else 'no'} | {r['seconds_per_step']:.3f} | {r['samples_per_s']:.2f} "
              f"| {r['frames_per_s']:.1f} | {mib(r['peak_rss_mib'])} | {mib(r['peak_mib'])} |" for r in rows]
    (OUT / f"{args.name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
