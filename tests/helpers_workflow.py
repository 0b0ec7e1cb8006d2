"""Running Snakemake on the project's workflow from tests, with every path rooted in a temporary folder."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from pipeline.config import deep_merge

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def write_config(tmp: Path, overrides: dict | None = None) -> Path:
    """The default config with results, demo and dataset folders moved under `tmp`, plus `overrides`.

    `conditions` in `overrides` replaces the default set (merging could only add conditions); pass
    `--replace-workflow-config` to snakemake for that to reach the run (see `snakemake`).
    """
    cfg = yaml.safe_load((ROOT / "workflow_config.yaml").read_text())
    demo_root = tmp / "demo_data"
    cfg["results"] = str(tmp / "results")
    cfg["demo"]["root"] = str(demo_root)
    names = {"ffpp": "FaceForensics++", "dfdc": "DFDC", "deeperforensics": "DeeperForensics-1.0",
             "celebdf": "Celeb-DF-v2"}
    for key, folder in names.items():
        cfg["datasets"][key]["root"] = str(demo_root / folder)
    cfg = deep_merge(cfg, overrides or {})
    if overrides and "conditions" in overrides:
        cfg["conditions"] = overrides["conditions"]
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def snakemake(configfile: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run snakemake in the repository with `configfile` replacing the default config."""
    cmd = [SNAKEMAKE, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(ROOT),
           "--configfile", str(configfile), "--nolock", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


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
