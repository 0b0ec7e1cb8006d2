"""No path or name can run shell code: every value reaches its shell command quoted by Snakemake (`:q`).

The real rules run (preprocessing, manifests, the CNN and CNN+RNN training that passes `--init`, evaluation,
GPU locks) from a project folder, a virtualenv path, a results folder, a dataset root and video names that
hold a single quote, a double quote, spaces, `$(...)`, a backtick, a semicolon and a non-ASCII letter. Nothing
they name may be executed, and the outputs must match a run with plain names. A dry run's printed commands
are parsed with `shlex`: each path must arrive as one intact argument.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers_workflow import PLUMBING_RUN, ROOT, WORKFLOW_FILES
from pipeline.__main__ import main

pytestmark = pytest.mark.slow

CANARY = "PWNED"  # a file the injected commands would create
NASTY = f"it's \"$(touch {CANARY})\" `touch {CANARY}`; é"  # one name holding every troublemaker
DEMO = {"enabled": True, "root": "x", "seed": 0, "identities": 6, "seconds": 2, "fps": 10, "width": 320,
        "height": 240, "dfdc_parts": 3, "dfdc_videos_per_part": 6, "celebdf_videos": 1}
MODELS = ["efficientnet_b3", "efficientnet_b3_lstm"]  # the LSTM's job passes its backbone with --init


@pytest.fixture(scope="module")
def dfdc(tmp_path_factory) -> Path:
    """A small DFDC tree from the demo generator (three part folders, six videos each)."""
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--params", json.dumps(DEMO), "--workers", "1"]) == 0
    return out / "DFDC"


def nasty_tree(src: Path, root: Path, suffix: str) -> None:
    """`src` copied to `root`, every video renamed `<stem><suffix>.mp4` (its metadata too): names keep their
    order, so runs with and without `suffix` see the same videos in the same order."""
    for part in sorted(src.iterdir()):
        if not part.is_dir():
            continue
        meta = json.loads((part / "metadata.json").read_text())
        rename = {name: f"{name[:-4]}{suffix}.mp4" for name in meta}
        (root / part.name).mkdir(parents=True)
        for name, entry in meta.items():
            shutil.copy2(part / name, root / part.name / rename[name])
            if entry.get("original"):
                entry["original"] = rename[entry["original"]]
        (root / part.name / "metadata.json").write_text(json.dumps({rename[k]: v for k, v in meta.items()}))


def project(base: Path, name: str) -> tuple[Path, Path]:
    """A copy of the workflow in `base/name/wf`, and a link to this virtualenv at `base/name/venv`."""
    wf = base / name / "wf"
    wf.mkdir(parents=True)
    for item in WORKFLOW_FILES:
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, wf / item, *(
            [shutil.ignore_patterns("__pycache__")] if src.is_dir() else []))
    venv = base / name / "venv"
    venv.symlink_to(Path(sys.executable).parent.parent)
    return wf, venv / "bin" / "python"


def config(base: Path, name: str, data: Path) -> Path:
    """A real-data config (demo off) over the DFDC tree `data`, results in `base/name/results`, tiny runs."""
    cfg = yaml.safe_load((ROOT / "workflow_config.yaml").read_text())
    cfg["results"] = str(base / name / "results")
    cfg["demo"] = {"enabled": False}
    cfg["datasets"] = {"dfdc": {**cfg["datasets"]["dfdc"], "root": str(data), "shards": 1,
                                "parts": {"train": [0], "val": [1], "test": [2]}}}
    cfg["models"] = MODELS
    cfg["pretrained"] = {"allow_random_init": True}
    cfg["preprocess"].update(crop_size=48, shards=1)
    cfg["train"].update(epochs=1, steps_per_epoch=2, val_steps=1, image_size=32, clip_len=4, num_workers=0,
                        threads=1, precise_bn_batches=1, keep_state=False, bf16=False)
    cfg["hparams"] = {m: {"batch_size": 2, **PLUMBING_RUN, "steps_per_epoch": 2} for m in MODELS}
    cfg["evaluate"].update(cross_dataset={"models": []}, perturbation={"models": []}, bootstrap={"resamples": 10, "seed": 0},
                           stride={"dfdc": 4})
    cfg["robustness"]["models"] = []
    path = base / name / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path


def run(wf: Path, python: Path, cfg: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    """Snakemake through the linked virtualenv, in the workflow copy; no GPU settings but those of `env`."""
    results = Path(yaml.safe_load(cfg.read_text())["results"])
    targets = [str(results / "metrics.csv"), str(results / "tables" / "tables.md")]
    cmd = [str(python), "-m", "snakemake", "--snakefile", str(wf / "Snakefile"), "--directory", str(wf),
           "--configfile", str(cfg), "--replace-workflow-config", "-c2", *args, *targets]
    base = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "STDD_GPUS")}
    return subprocess.run(cmd, cwd=wf, capture_output=True, text=True, timeout=900, check=False, env={**base, **env})


def outputs(results: Path, suffix: str) -> dict:
    """What a run computed, with `suffix` taken out of the video names: crop counts, manifests, predictions."""
    crops = pd.read_csv(results / "preprocess/dfdc/crops/shard000.csv")
    manifests = {s: pd.read_csv(results / f"manifests/dfdc/all/{s}.csv") for s in ("train", "val", "test")}
    predictions = pd.read_csv(results / "eval/dfdc/all/efficientnet_b3_lstm/seed0/dfdc.predictions.csv")
    plain = (lambda names: [n.replace(suffix, "") for n in names]) if suffix else list
    return {
        "crops": sorted(zip(plain(crops["video_id"]), crops["status"], crops["n_frames"])),
        "manifests": {s: (plain(m["video_id"]), list(m["label"]), list(m["n_frames"])) for s, m in manifests.items()},
        "predictions": (plain(predictions["video_id"]), [round(p, 4) for p in predictions["probability"]]),
    }


def test_nasty_paths_run_nothing_and_compute_what_plain_paths_do(dfdc, tmp_path):
    fake_smi = tmp_path / "bin" / "nvidia-smi"  # the workflow then sees one GPU and locks it per job
    fake_smi.parent.mkdir()
    fake_smi.write_text("#!/bin/sh\necho 'GPU 0: Stand-in GPU (UUID: GPU-0)'\n")
    fake_smi.chmod(0o755)
    env = {"PATH": f"{fake_smi.parent}:{os.environ['PATH']}"}
    results = {}
    for name, suffix in (("plain", ""), (NASTY, f" {NASTY}")):
        data = tmp_path / name / f"DFDC {NASTY}" if suffix else tmp_path / name / "DFDC"
        nasty_tree(dfdc, data, suffix)
        wf, python = project(tmp_path, name)
        cfg = config(tmp_path, name, data)
        result = run(wf, python, cfg, env=env)
        assert result.returncode == 0, result.stderr[-4000:]
        results[name] = outputs(Path(yaml.safe_load(cfg.read_text())["results"]), suffix)
        locks = Path(yaml.safe_load(cfg.read_text())["results"]) / ".gpu_locks"
        assert (locks / "gpu0.lock").is_file(), "the GPU jobs did not lock the stand-in GPU"
    assert not list(tmp_path.rglob(CANARY)) and not (ROOT / CANARY).exists(), "a name ran as a command"
    assert results["plain"] == results[NASTY]
    assert len(results["plain"]["predictions"][0]) == 6


def strings_in(value) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [s for item in items for s in strings_in(item)]


def test_every_path_of_the_plan_arrives_as_one_argument(dfdc, tmp_path):
    """`snakemake -n -p` with nasty names everywhere and a forced GPU pool (STDD_GPUS=1 alone, no GPU tool):
    each printed command parses, and every argument mentioning a nasty name holds it whole."""
    data = tmp_path / NASTY / f"DFDC {NASTY}"
    nasty_tree(dfdc, data, f" {NASTY}")
    wf, python = project(tmp_path, NASTY)
    cfg = config(tmp_path, NASTY, data)
    result = run(wf, python, cfg, "-n", "-p", "--forceall", env={"STDD_GPUS": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    commands = [line.strip().removeprefix("Shell command:").strip() for line in result.stdout.splitlines()
                if " -m pipeline " in line]
    assert {c.split(" -m pipeline ")[1].split()[0] for c in commands} >= {
        "check-data", "sample", "detect", "crop", "manifests", "train", "evaluate", "collect", "tables"}
    pieces = ["it's", '"$(touch', "`touch", "PWNED)\"", "PWNED`;"]
    for command in commands:
        args = shlex.split(command)
        assert args[0] == str(python)
        for arg in args:
            texts = strings_in(json.loads(arg)) if arg.startswith("{") else [arg]  # --params JSON: its strings
            for text in texts:
                if any(p in text for p in pieces):
                    assert NASTY in text, f"{text!r} is a piece of a name in: {command}"
        if " train " in command or " evaluate " in command:
            lock_dir = args[args.index("--gpu-lock-dir") + 1]
            assert lock_dir == str(Path(yaml.safe_load(cfg.read_text())["results"]) / ".gpu_locks")
    init = next(c for c in commands if "efficientnet_b3_lstm" in c and " train " in c)
    args = shlex.split(init)
    assert args[args.index("--init") + 1].endswith("/train/dfdc/all/efficientnet_b3/seed0/model.pt")
