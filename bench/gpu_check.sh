#!/usr/bin/env bash
# One prepared GPU check, within GPU_CHECK_SECONDS (default 480 s):
#   1. each model's training step at paper size with bf16 autocast: clips/s and peak GPU memory
#      (bench/bench_train.py);
#   2. the loader's frames/s per worker (bench/bench_loader.py, 224 and 299 px) against the frames one
#      GPU consumes per second: how many loader workers (CPU cores) feed one GPU, per model;
#   3. the wall time of a reduced demo grid (train + evaluate of GPU_CHECK_MODELS on the demo FF++, all
#      condition) with 1 and 4 jobs per GPU ($STDD_GPU_JOBS_PER_DEVICE, read by profiles/default and
#      pipeline/gpu.py); preprocessing runs first and is not timed.
# Writes one Markdown table (and notes under it) to $BENCH_OUT/gpu_check.md (default bench/out/), the
# parts' JSON beside it and their output in gpu_check.log. A part that fails, lacks a package (the
# grid needs snakemake, PyAV, dlib and albumentations; the loader albumentations) or would run past
# the budget is named in the notes; the others still run.
#
#   bench/gpu_check.sh            # on the GPU machine (CUDA when there is one)
#   bench/gpu_check.sh --dry-run  # CPU, tiny sizes, 1 step, all models in one process, the grid only planned
#                                 # (snakemake -n)
#
# Environment: PY (default .venv/bin/python, else python3), BENCH_OUT, GPU_CHECK_SECONDS,
# GPU_CHECK_MODELS (default "xception efficientnet_b3 r3d_18 i3d_rgb").
set -uo pipefail
cd "$(dirname "$0")/.."

DRY=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  "") ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac
if [ -z "${PY:-}" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export BENCH_OUT=${BENCH_OUT:-bench/out} PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
BUDGET=${GPU_CHECK_SECONDS:-480}
read -r -a MODELS <<<"${GPU_CHECK_MODELS:-xception efficientnet_b3 r3d_18 i3d_rgb}"
mkdir -p "$BENCH_OUT"
LOG=$BENCH_OUT/gpu_check.log
NOTES=$BENCH_OUT/gpu_check_notes.txt
GRID=$BENCH_OUT/gpu_check_grid.tsv  # jobs per GPU, wall seconds (or a reason)
: >"$LOG"; : >"$NOTES"; : >"$GRID"

note() { echo "$*" | tee -a "$NOTES" >&2; }
left() { local s=$((BUDGET - SECONDS)); echo $((s > 1 ? s : 1)); }  # timeout 0 would mean none
now() { date +%s.%N; }

# ---- 1 and 2: training steps and loader -------------------------------------------------------------
if [ "$DRY" = 1 ]; then
  train_args=(--sizes 32 --steps 1 --batch-size 2 --clip-len 4 --device cpu --threads 2 --in-process)
  loader_sizes=(32)
  loader_args=(--crop 48 --videos 4 --frames 20 --seconds 0.3)
else
  train_args=(--sizes paper --steps 10)
  loader_sizes=(224 299)
  loader_args=(--seconds 4)
fi
"$PY" bench/bench_train.py "${train_args[@]}" --name gpu_check_train >>"$LOG" 2>&1 ||
  note "training-step benchmark failed: see gpu_check.log"
for size in "${loader_sizes[@]}"; do
  "$PY" bench/bench_loader.py --size "$size" "${loader_args[@]}" --name "gpu_check_loader_$size" >>"$LOG" 2>&1 ||
    note "loader benchmark at $size px failed: see gpu_check.log"
done

# ---- 3: the reduced demo grid ----------------------------------------------------------------------
if ! "$PY" -c "import snakemake, av, dlib, albumentations" 2>/dev/null; then
  note "demo grid skipped: $PY lacks snakemake, av, dlib or albumentations"
elif [ "$(left)" -lt 240 ] && [ "$DRY" = 0 ]; then
  note "demo grid skipped: $(left) s of the budget left, it needs ~4 min"
else
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  # A config like the tests' (helpers_workflow.tiny_config): the demo with FF++ alone, outputs under $WORK.
  mapfile -t PLAN < <("$PY" - "$WORK" "${MODELS[@]}" <<'EOF'
import sys
from pathlib import Path

import yaml

sys.path.insert(0, "tests")
from helpers_workflow import tiny_config  # noqa: E402

work, models = Path(sys.argv[1]), sys.argv[2:]
config = tiny_config(work, {}, ("ffpp",), short_runs=False)  # the demo's own training lengths
results = yaml.safe_load(config.read_text())["results"]
print(config)
print(" ".join(f"{results}/manifests/ffpp/all/{split}.csv" for split in ("train", "val", "test")))
print(" ".join(f"{results}/eval/ffpp/all/{m}/seed0/ffpp.metrics.csv" for m in models))
print(results)
EOF
  )
  SNAKEMAKE=("$PY" -m snakemake --snakefile Snakefile --directory . --configfile "${PLAN[0]}" --nolock)
  read -r -a PREP <<<"${PLAN[1]}"
  read -r -a TARGETS <<<"${PLAN[2]}"
  RESULTS=${PLAN[3]}
  if [ "$DRY" = 1 ]; then
    if "${SNAKEMAKE[@]}" -n "${PREP[@]}" "${TARGETS[@]}" >"$WORK/plan" 2>&1; then
      planned=$(awk '$1 == "total" {print $2; exit}' "$WORK/plan")
      printf '1\tplanned only (dry run): %s jobs\n4\tplanned only (dry run)\n' "${planned:-?}" >>"$GRID"
    else
      cat "$WORK/plan" >>"$LOG"
      note "demo grid: snakemake -n failed: see gpu_check.log"
    fi
  elif ! timeout "$(left)" "${SNAKEMAKE[@]}" "${PREP[@]}" >>"$LOG" 2>&1; then
    note "demo grid skipped: preprocessing the demo failed or ran out of budget: see gpu_check.log"
  else
    for n in 1 4; do
      if [ "$(left)" -lt 60 ]; then
        printf '%s\tskipped: %s s of the budget left\n' "$n" "$(left)" >>"$GRID"
        continue
      fi
      rm -rf "$RESULTS/train" "$RESULTS/eval" "$RESULTS/state"
      start=$(now)
      if STDD_GPU_JOBS_PER_DEVICE=$n timeout "$(left)" "${SNAKEMAKE[@]}" "${TARGETS[@]}" >>"$LOG" 2>&1; then
        printf '%s\t%s\n' "$n" "$(awk -v a="$start" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}')" >>"$GRID"
      else
        printf '%s\tfailed or past the budget after %s s: see gpu_check.log\n' "$n" \
          "$(awk -v a="$start" -v b="$(now)" 'BEGIN {printf "%.0f", b - a}')" >>"$GRID"
      fi
    done
  fi
fi

# ---- the table ---------------------------------------------------------------------------------------
"$PY" - "$BENCH_OUT" "$DRY" "${MODELS[@]}" <<'EOF'
import json
import math
import sys
from pathlib import Path

out, dry, grid_models = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3:]


def load(name: str) -> dict | None:
    path = out / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


train = load("gpu_check_train")
loaders = {int(p.stem.rsplit("_", 1)[1]): json.loads(p.read_text()) for p in out.glob("gpu_check_loader_*.json")}
header = ["part", "model", "input", "batch", "bf16", "s/step", "clips/s", "peak GPU MiB", "frames/s a GPU takes",
          "loader frames/s per worker", "workers per GPU", "wall s"]
rows = []
for r in (train or {}).get("results", []):
    loader = loaders.get(r["input_size"])
    kind = "video_clips" if r["clip_len"] > 1 else "image_frames"
    per_worker = None if loader is None else loader[kind]["frames_per_s"]
    rows.append(["train step", r["model"], r["input_size"], f"{r['batch_size']}x{r['clip_len']}",
                 "yes" if r["bf16"] else "no", f"{r['seconds_per_step']:.3f}", f"{r['samples_per_s']:.2f}",
                 "–" if r["peak_mib"] is None else f"{r['peak_mib']:.0f}", f"{r['frames_per_s']:.0f}",
                 "–" if per_worker is None else f"{per_worker:.0f}",
                 "–" if per_worker is None else str(math.ceil(r["frames_per_s"] / per_worker)), "–"])
for line in (out / "gpu_check_grid.tsv").read_text().splitlines():
    n, wall = line.split("\t", 1)
    rows.append([f"demo grid, {n} job(s) per GPU", ", ".join(grid_models), *["–"] * 9, wall])
device = "–" if train is None else " ".join(filter(None, (train["device"], train["device_name"])))
title = (f"# GPU check{' (dry run: CPU, tiny sizes, 1 step)' if dry else ''}: {device}, torch "
         f"{'–' if train is None else train['torch']}, {'–' if train is None else train['cpus']} CPUs")
lines = [title, "", "| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|"]
lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
lines += ["", "clips/s: clips (video models) or images per second of forward + backward + Adam on random input. "
          "Workers per GPU: loader workers (one CPU core each) needed to deliver the frames/s a GPU takes, "
          "from one worker's frames/s with augmentation at the model's input size. Demo grid: wall time of the "
          "train and evaluate jobs of the models listed (demo FF++, condition all), preprocessing excluded."]
notes = (out / "gpu_check_notes.txt").read_text().strip()
lines += ["", *(f"- {n}" for n in notes.splitlines())] if notes else []
(out / "gpu_check.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
