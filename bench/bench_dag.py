"""DAG-building cost of the workflow at DFDC scale, against the cost floor of Snakemake itself.

Builds (in a temporary folder) a DFDC-sized tree: 120,000 EMPTY .mp4 files in 50 `dfdc_train_part_N`
folders, each with a `metadata.json` of ~2,400 entries (1 REAL per 5 FAKE, fakes name their
`original`). Then times, in the same run and on the same tree:

* floor: a trivial one-rule workflow (bench/out/trivial/Snakefile) with ONE job whose inputs are all
  120,000 videos: what Snakemake needs just to start, parse and stat every file once;
* full: `snakemake -n` of the real workflow (default target `all`), the demo disabled, DFDC as the
  only dataset, parts split 40/5/5, `datasets.dfdc.shards` shards (default 200), every model.
  `--replace-workflow-config`: without it Snakemake deep-merges the config file into
  workflow_config.yaml, and the other three datasets (in the defaults) would stay in the DAG.

Each dry run is measured in its own wrapper process: wall time and peak RSS (ru_maxrss of the
wrapper's children, i.e. snakemake and anything it started). Goal: full <= 2x floor, <= 4 GB.
Results go to bench/out/dag.json and a Markdown table on stdout.

    .venv/bin/python bench/bench_dag.py [--videos 120000] [--parts 50] [--shards 200] [--repeat 1]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

TRIVIAL_SNAKEFILE = '''\
# The cost floor: one rule, one job, every video of the tree as its input.
import os


def videos(root):
    found = []
    for part in sorted(os.listdir(root)):
        folder = os.path.join(root, part)
        if os.path.isdir(folder):
            found += [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".mp4")]
    return found


rule all:
    input:
        videos(config["root"]),
    output:
        config["out"],
    shell:
        "touch {output}"
'''

# Wrapper: runs the command, prints wall seconds and the peak RSS (KiB) of its children as JSON.
MEASURE = '''\
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "w"), stderr=subprocess.STDOUT).returncode
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - t,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
'''


def build_tree(root: Path, n_videos: int, n_parts: int) -> int:
    """Empty videos + DFDC metadata, 1 REAL : 5 FAKE per part; returns the number of files made."""
    per_part = n_videos // n_parts
    made = 0
    for part in range(n_parts):
        folder = root / f"dfdc_train_part_{part}"
        folder.mkdir(parents=True)
        metadata: dict[str, dict] = {}
        reals: list[str] = []
        for i in range(per_part):
            name = f"p{part:02d}_{i:05d}.mp4"
            if i % 6 == 0:
                metadata[name] = {"label": "REAL", "split": "train", "original": None}
                reals.append(name)
            else:
                metadata[name] = {"label": "FAKE", "split": "train", "original": reals[-1]}
            (folder / name).touch()
            made += 1
        (folder / "metadata.json").write_text(json.dumps(metadata))
    return made


def write_full_config(tmp: Path, tree: Path, n_parts: int, shards: int) -> Path:
    cfg = yaml.safe_load((ROOT / "workflow_config.yaml").read_text())
    cfg["results"] = str(tmp / "results")
    cfg["demo"]["enabled"] = False
    cfg["demo"]["root"] = str(tmp / "demo_unused")
    n_train, n_val = n_parts * 4 // 5, n_parts // 10
    dfdc = cfg["datasets"]["dfdc"]
    dfdc.update({
        "root": str(tree),
        "parts": {"train": list(range(n_train)), "val": list(range(n_train, n_train + n_val)),
                  "test": list(range(n_train + n_val, n_parts))},
        "shards": shards,
    })
    cfg["datasets"] = {"dfdc": dfdc}
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def measure(cmd: list[str], log: Path, cwd: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, str(log), *cmd], cwd=cwd, capture_output=True,
                         text=True, check=True)
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({result['rc']}); see {log}:\n"
                         + log.read_text()[-3000:])
    return result


def planned_jobs(log: Path) -> int:
    """The `total` of the first 'Job stats' table of a dry-run log."""
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "total" and parts[1].isdigit():
            return int(parts[1])
    return -1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=120_000)
    parser.add_argument("--parts", type=int, default=50)
    parser.add_argument("--shards", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1, help="dry runs of each workflow (best time kept)")
    parser.add_argument("--keep", type=Path, default=None, help="build the tree here and keep it")
    args = parser.parse_args(argv)

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench_dag_") as scratch:
        tmp = args.keep or Path(scratch)
        tree = tmp / "DFDC"
        t0 = time.perf_counter()
        n_files = build_tree(tree, args.videos, args.parts) if not tree.exists() else args.videos
        tree_seconds = time.perf_counter() - t0
        config = write_full_config(tmp, tree, args.parts, args.shards)
        trivial = OUT / "trivial"
        trivial.mkdir(exist_ok=True)
        (trivial / "Snakefile").write_text(TRIVIAL_SNAKEFILE)

        common = ["--nolock", "-n", "--workflow-profile", "none"]
        runs = {
            "floor (1 rule, 1 job, all videos as input)": (
                [SNAKEMAKE, "--snakefile", str(trivial / "Snakefile"), "--directory", str(tmp), *common,
                 "--config", f"root={tree}", f"out={tmp / 'trivial.done'}"], tmp),
            "full workflow (-n, target all)": (
                [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(ROOT),
                 "--configfile", str(config), "--replace-workflow-config", *common], ROOT),
        }
        results: dict[str, dict] = {}
        for name, (cmd, cwd) in runs.items():
            best: dict | None = None
            for attempt in range(args.repeat):
                log = OUT / f"dag_{'full' if name.startswith('full') else 'floor'}.log"
                res = measure(cmd, log, cwd)
                res["jobs"] = planned_jobs(log)
                print(f"  {name}: {res['seconds']:.1f} s, {res['peak_rss_kib'] / 2**20:.2f} GiB, "
                      f"{res['jobs']} jobs", file=sys.stderr)
                if best is None or res["seconds"] < best["seconds"]:
                    best = res
            results[name] = best  # type: ignore[assignment]

    floor, full = results[next(iter(runs))], results[list(runs)[1]]
    ratio = full["seconds"] / floor["seconds"]
    peak_gb = full["peak_rss_kib"] * 1024 / 1e9
    report = {
        "videos": n_files, "parts": args.parts, "shards": args.shards, "tree_build_seconds": tree_seconds,
        "runs": results, "time_ratio": ratio, "peak_gb_full": peak_gb,
        "goal": {"time_ratio_max": 2.0, "peak_gb_max": 4.0},
        "meets_goal": ratio <= 2.0 and peak_gb <= 4.0,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    (OUT / "dag.json").write_text(json.dumps(report, indent=2))
    print(f"\n{n_files:,} videos in {args.parts} parts, {args.shards} shards per stage\n")
    print("| dry run | jobs | wall time (s) | peak RSS (GB) |")
    print("|---|---:|---:|---:|")
    for name, res in results.items():
        print(f"| {name} | {res['jobs']} | {res['seconds']:.1f} | {res['peak_rss_kib'] * 1024 / 1e9:.2f} |")
    print(f"\nfull / floor time: {ratio:.2f}x (goal <= 2x); full peak: {peak_gb:.2f} GB (goal <= 4 GB)"
          f" -> {'OK' if report['meets_goal'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
