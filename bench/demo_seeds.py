"""Does the demo's conclusion hold on every seed and both arithmetic paths?

Runs the real workflow on the demo config (its `demo.overrides`, pretraining included) for FF++ `all`
only, with `train.seeds` [0, 1, 2], once with bf16 autocast forced on and once forced off (STDD_BF16), and
prints per model, seed and arithmetic the in-domain video-level AUC and the accuracies at 0.5, then the
goal's checks: mean AUC >= 0.90 and every run >= 0.85, real and fake-mean accuracy >= 0.80, and the
standard deviation over seeds of the overall accuracy <= 5 points, then mean ± std per model (the README's
table) and a bar chart of it.

    python bench/demo_seeds.py [--out bench/out/demo_seeds] [--models m1 m2 ...] [--seeds 0 1 2]
        [--arithmetic true false] [--cores 2] [--set KEY=YAML ...]

`--set demo.overrides.hparams.i3d_rgb.lr=1e-3` changes one config value (for probes). Writes
<out>/runs.csv (one row per run), <out>/summary.md and <out>/demo_auc.png.
"""
from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
GOAL = {"auc_mean": 0.90, "auc_min": 0.85, "accuracy": 0.80, "overall_std_points": 5.0}


def set_key(cfg: dict, assignment: str) -> None:
    key, value = assignment.split("=", 1)
    *path, last = key.split(".")
    node = cfg
    for part in path:
        node = node.setdefault(part, {})
    node[last] = yaml.safe_load(value)


def config(out: Path, models: list[str] | None, seeds: list[int], sets: list[str]) -> dict:
    cfg = yaml.safe_load((ROOT / "workflow_config.yaml").read_text())
    cfg["results"] = str(out / "results")
    cfg["train"]["seeds"] = seeds
    cfg["conditions"] = {"all": []}
    if models:
        cfg["models"] = models
    for assignment in sets:
        set_key(cfg, assignment)
    return cfg


def run(cfg: dict, out: Path, bf16: str, cores: int) -> Path:
    """One workflow run with bf16 forced to `bf16`, in a results folder (and demo data) of its own."""
    cfg = copy.deepcopy(cfg)
    results = out / f"bf16_{bf16}"
    cfg["results"] = str(results)
    cfg["demo"]["root"] = str(results / "demo_data")
    folders = {name: section["root"].split("demo_data/", 1)[1] for name, section in cfg["datasets"].items()}
    for name, folder in folders.items():
        cfg["datasets"][name]["root"] = str(results / "demo_data" / folder)
    path = out / f"config_{bf16}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    targets = [str(results / f"eval/ffpp/all/{m}/seed{s}/ffpp.metrics.csv") for m in cfg["models"]
               for s in cfg["train"]["seeds"]]
    env = {**os.environ, "STDD_BF16": bf16}
    cmd = [str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(ROOT / "Snakefile"), "--directory",
           str(ROOT), "--configfile", str(path), "--replace-workflow-config", "--cores", str(cores), *targets]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    return results


def collect(results: Path, bf16: str) -> pd.DataFrame:
    rows = []
    for path in sorted(results.glob("eval/ffpp/all/*/seed*/ffpp.metrics.csv")):
        m = pd.read_csv(path)
        v = {(r["class"], r["metric"]): r["value"] for _, r in m.iterrows()}
        rows.append({"model": m["model"].iloc[0], "seed": int(m["seed"].iloc[0]), "bf16": bf16,
                     "auc": v[("all", "auc")], "real": v[("real", "accuracy")], "fake": v[("fake", "accuracy")],
                     "overall": v[("overall", "accuracy")]})
    return pd.DataFrame(rows)


def checks(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model and arithmetic: the goal's numbers and whether each holds (every run for the accuracies)."""
    out = []
    for (model, bf16), g in runs.groupby(["model", "bf16"], sort=False):
        out.append({"model": model, "bf16": bf16, "auc_mean": g["auc"].mean(), "auc_min": g["auc"].min(),
                    "real_min": g["real"].min(), "fake_min": g["fake"].min(),
                    "overall_std_points": 100 * g["overall"].std(ddof=1) if len(g) > 1 else 0.0})
    df = pd.DataFrame(out)
    df["ok"] = ((df["auc_mean"] >= GOAL["auc_mean"]) & (df["auc_min"] >= GOAL["auc_min"])
                & (df["real_min"] >= GOAL["accuracy"]) & (df["fake_min"] >= GOAL["accuracy"])
                & (df["overall_std_points"] <= GOAL["overall_std_points"]))
    return df


def mean_std(runs: pd.DataFrame) -> pd.DataFrame:
    """Model x arithmetic: AUC and accuracies as mean ± std over seeds."""
    cells = {}
    for (model, bf16), g in runs.groupby(["model", "bf16"], sort=False):
        arith = "bf16" if bf16 == "true" else "float32"
        for column in ("auc", "real", "fake", "overall"):
            cells.setdefault(model, {})[f"{column}, {arith}"] = f"{g[column].mean():.3f} ± {g[column].std(ddof=1):.3f}"
    return pd.DataFrame.from_dict(cells, orient="index").rename_axis("model")


def bar_chart(runs: pd.DataFrame, path: Path) -> None:
    """In-domain AUC and overall accuracy at 0.5 per model, one bar per arithmetic (mean over seeds, ± std),
    with the goal's lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = ", ".join(str(int(s)) for s in sorted(runs.seed.unique()))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, (column, label, goal) in zip(axes, (("auc", "video AUC", GOAL["auc_mean"]),
                                                ("overall", "overall accuracy at 0.5", GOAL["accuracy"]))):
        stats = runs.groupby(["model", "bf16"])[column].agg(["mean", "std"]).unstack("bf16")
        models = list(stats.index)
        for i, (bf16, name) in enumerate((("true", "bf16 autocast"), ("false", "float32"))):
            if ("mean", bf16) in stats:
                x = [j + (i - 0.5) * 0.38 for j in range(len(models))]
                ax.bar(x, stats[("mean", bf16)], 0.36, yerr=stats[("std", bf16)], capsize=3, label=name)
        ax.axhline(goal, color="grey", lw=0.8, ls="--")
        ax.set_xticks(range(len(models)), models, rotation=20, ha="right", fontsize=8)
        ax.set_ylim(0.5, 1.0)
        ax.set_ylabel(label)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Demo, trained and tested on FF++ (all methods): mean ± std over seeds {seeds}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "demo_seeds")
    ap.add_argument("--models", nargs="*", default=None, help="default: the demo's")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--arithmetic", nargs="*", default=["true", "false"], help="STDD_BF16 values to run")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], dest="sets", metavar="KEY=YAML")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = config(args.out, args.models, args.seeds, args.sets)
    frames = [collect(run(cfg, args.out, bf16, args.cores), bf16) for bf16 in args.arithmetic]
    runs = pd.concat(frames, ignore_index=True).sort_values(["model", "bf16", "seed"])
    runs.to_csv(args.out / "runs.csv", index=False)
    summary = checks(runs)
    text = ("## Runs (FF++ `all`, in-domain, video level)\n\n" + runs.to_markdown(index=False, floatfmt=".3f")
            + "\n\n## Goal per model and arithmetic\n\n" + summary.to_markdown(index=False, floatfmt=".3f")
            + "\n\n## Mean ± std over seeds\n\n" + mean_std(runs).to_markdown() + "\n")
    bar_chart(runs, args.out / "demo_auc.png")
    (args.out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
