"""Running Snakemake on the project's workflow from tests, with every path rooted in a temporary folder."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from pipeline.config import deep_merge

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


# Workflow tests check plumbing, not learning: every run trains 2 x 2 steps at 32 px (a test's own
# `demo.overrides` win). The demo's own 64-px, 20-step runs would cost minutes per test on 2 cores.
PLUMBING_RUN = {"steps_per_epoch": 2, "image_size": 32}


def plumbing(models: list[str]) -> dict:
    """demo.overrides giving every run of `models` PLUMBING_RUN (also over the demo's per-model hparams), and the
    demo's pretraining runs one epoch of PLUMBING_RUN."""
    short = {**PLUMBING_RUN, "epochs": 1, "val_steps": 1}
    return {"demo": {"overrides": {"train": {**PLUMBING_RUN, "precise_bn_batches": 1},
                                   "hparams": {m: PLUMBING_RUN for m in models}},
                     "pretrain": {**short, "hparams": {m: short for m in models}}}}


def resized_demo(demo: dict, asked: dict) -> dict:
    """A test's smaller demo made consistent: FF++'s split proportions unless the test sets `val_pairs` and
    `test_pairs`, and DFDC's part folders split train / val / test over the parts the test asks for."""
    demo = dict(demo)
    if "identities" in asked:
        demo["val_pairs"], demo["test_pairs"] = asked.get("val_pairs", 0), asked.get("test_pairs", 0)
    parts = asked.get("dfdc_parts")
    dfdc = demo.get("overrides", {}).get("datasets", {}).get("dfdc", {})
    if parts and "parts" not in asked.get("overrides", {}).get("datasets", {}).get("dfdc", {}) and "parts" in dfdc:
        if parts >= 3:
            dfdc["parts"] = {"train": list(range(parts - 2)), "val": [parts - 2], "test": [parts - 1]}
        else:  # too few for three splits: the top-level `datasets.dfdc.parts` (a test that uses DFDC sets them)
            del dfdc["parts"]
    return demo


def write_config(tmp: Path, overrides: dict | None = None, short_runs: bool = True) -> Path:
    """The default config with results, demo and dataset folders moved under `tmp`, plus `plumbing`
    runs (unless `short_runs` is false: the demo's own training) and `overrides`.

    `conditions` in `overrides` replaces the default set (merging could only add conditions); pass
    `--replace-workflow-config` to snakemake for that to reach the run (see `snakemake`).
    """
    cfg = yaml.safe_load((ROOT / "workflow_config.yaml").read_text())
    demo_root = tmp / "demo_data"
    cfg["results"] = str(tmp / "results")
    cfg["demo"]["root"] = str(demo_root)
    names = {"ffpp": "FaceForensics++", "dfdc": "DFDC", "deeperforensics": "DeeperForensics-1.0",
             "celebdf": "Celeb-DF-v2", "dfd": "FaceForensics++"}
    for key, folder in names.items():
        cfg["datasets"][key]["root"] = str(demo_root / folder)
    cfg = deep_merge(deep_merge(cfg, plumbing(cfg["models"])) if short_runs else cfg, overrides or {})
    cfg["demo"] = resized_demo(cfg["demo"], (overrides or {}).get("demo", {}))
    if overrides and "conditions" in overrides:
        cfg["conditions"] = overrides["conditions"]
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def snakemake_command(workflow_dir: Path, configfile: Path, *args: str, lock: bool = False) -> list[str]:
    """The snakemake command line for the workflow in `workflow_dir` with `configfile`; `lock=False`
    adds --nolock (runs that cannot collide, and tests that only plan)."""
    return [SNAKEMAKE, "--snakefile", str(workflow_dir / "Snakefile"), "--directory", str(workflow_dir),
            "--configfile", str(configfile), *([] if lock else ["--nolock"]), *args]


def snakemake(configfile: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run snakemake in the repository with `configfile` replacing the default config."""
    return subprocess.run(snakemake_command(ROOT, configfile, *args), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)


SNAKEMAKE_PREAMBLE = ("Using workflow specific profile", "Config file ")


def workflow_messages(result: subprocess.CompletedProcess) -> list[str]:
    """What the workflow itself printed on stderr: its lines without Snakemake's own preamble (the profile
    and config-file notes) and blank lines."""
    return [line for line in result.stderr.splitlines() if line.strip() and not line.startswith(SNAKEMAKE_PREAMBLE)]


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    counts: dict[str, int] = {}
    lines = result.stdout.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("Job stats"))
    except StopIteration:
        return counts
    for line in lines[start + 3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            if parts and parts[0] == "total":
                break
            continue
        counts[parts[0]] = int(parts[1])
    return counts


WORKFLOW_FILES = ("Snakefile", "rules", "schemas", "pipeline", "envs", "report", "profiles",
                  "workflow_config.yaml")


def tiny_config(tmp: Path, overrides: dict, datasets: tuple[str, ...], short_runs: bool = True) -> Path:
    """write_config + only `datasets` enabled (disabled, not removed: a run without --replace-workflow-config
    merges the default config's datasets back in)."""
    path = write_config(tmp, overrides, short_runs)
    cfg = yaml.safe_load(path.read_text())
    for name, section in cfg["datasets"].items():
        section["enabled"] = name in datasets
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


class PrivateWorkflow:
    """A copy of the workflow's files under `tmp/wf`, run with one config: editing its code or killing
    its jobs cannot disturb the repository or anyone's results. Runs use the copied workflow profile
    (`profiles/default`), as a user's runs do."""

    def __init__(self, tmp: Path, overrides: dict, datasets: tuple[str, ...]) -> None:
        self.dir = tmp / "wf"
        self.dir.mkdir()
        for name in WORKFLOW_FILES:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, self.dir / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif src.exists():
                shutil.copy2(src, self.dir / name)
        self.config = tiny_config(tmp, overrides, datasets)
        self.cfg = yaml.safe_load(self.config.read_text())
        self.results = Path(self.cfg["results"])

    def command(self, *args: str, lock: bool = False) -> list[str]:
        return snakemake_command(self.dir, self.config, *args, lock=lock)

    def snakemake(self, *args: str, lock: bool = False, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args, lock=lock), cwd=self.dir, capture_output=True, text=True,
                              timeout=timeout, check=False)
