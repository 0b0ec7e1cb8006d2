"""The workflow on a real (single-node) SLURM cluster, through profiles/slurm, matches a local run.

Starts a throw-away SLURM cluster (tests/slurm_cluster.py: installs Debian's slurm-wlm + munge with
apt-get when missing; skips when that is impossible), then runs the tiny demo up to one training job
(demo data -> FF++ preprocessing -> manifests -> efficientnet_b3 on condition `all`) twice:
with `--workflow-profile <profiles/slurm, resources shrunk to the test node> --executor slurm`, and
locally with `--cores 2`. Checks that every non-local job went through sbatch (job ids in Snakemake's
output, SLURM logs on disk, the GPU request reached SLURM), that local rules stayed local, and that
the outputs agree: sample indexes, crop summaries and manifests byte for byte (paths normalised),
training metrics to float tolerance (same seed, same thread count).
"""
from __future__ import annotations

import csv
import math
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from helpers_workflow import ROOT, snakemake_command, write_config

pytestmark = pytest.mark.slow

# identities 6: 3 FF++ pairs -> 1 train / 1 val / 1 test (with 4 the train split is empty).
DEMO = {"identities": 6, "seconds": 2, "dfdc_parts": 3, "dfdc_videos_per_part": 3, "celebdf_videos": 2}
OVERRIDES = {"demo": DEMO, "models": ["efficientnet_b3"], "conditions": {"all": []}}
REMOTE_RULES = {"demo_data", "sample_frames", "detect_faces", "crop_faces", "train_model"}
LOCAL_RULES = {"manifests_ffpp", "preprocess_report"}
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")


def tiny_config(tmp: Path) -> Path:
    """The tiny demo config with FF++ as the only dataset."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = write_config(tmp, OVERRIDES)
    cfg = yaml.safe_load(path.read_text())
    for name, section in cfg["datasets"].items():
        section["enabled"] = name == "ffpp"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def targets(tmp: Path) -> list[str]:
    r = tmp / "results"
    return [str(r / "train/ffpp/all/efficientnet_b3/seed0/model.pt"), str(r / "preprocess/ffpp/report.csv"),
            str(r / "manifests/ffpp/counts.csv")]


def node_profile(cluster, tmp: Path) -> Path:
    """profiles/slurm with every request shrunk to fit the one test node, and fast status polling.

    Everything else (executor, status command, no-account, GPU requests) is the real profile's.
    """
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    # The settings a cluster without accounting needs must be in the shipped profile.
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue"
    assert profile["slurm-no-account"] is True
    for rule in ("train_model", "evaluate_model", "perturbation", "tsne_figure", "gradcam_figure"):
        assert profile["set-resources"][rule]["gpu"] == 1, rule

    def fit(res: dict) -> dict:
        res = {k: v for k, v in res.items() if k not in ("slurm_partition", "slurm_account")}
        if "mem_mb" in res:
            res["mem_mb"] = min(int(res["mem_mb"]), cluster.mem_mb // 2)
        if "cpus_per_task" in res:
            res["cpus_per_task"] = min(int(res["cpus_per_task"]), cluster.cpus)
        return res

    profile["default-resources"] = fit(profile.get("default-resources", {}))
    profile["set-resources"] = {rule: fit(res) for rule, res in profile["set-resources"].items()}
    profile["slurm-init-seconds-before-status-checks"] = 2
    profile["slurm-logdir"] = str(tmp / "slurm_logs")
    profile["latency-wait"] = 5
    profile["retries"] = 0
    folder = tmp / "profile"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from slurm_cluster import SlurmCluster, ensure_slurm

    reason = ensure_slurm()
    if reason:
        pytest.skip(f"no SLURM here: {reason}")
    c = SlurmCluster(tmp_path_factory.mktemp("slurm"), cpus=2, gpus=1)
    try:
        c.start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"could not start a single-node SLURM cluster: {exc}")
    try:
        yield c
    finally:
        c.stop()


def _snakemake(config: Path, args: list[str], env: dict | None, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_command(ROOT, config, *args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def _normalised(path: Path, roots: list[Path]) -> str:
    text = path.read_text()
    for i, root in enumerate(roots):
        text = text.replace(str(root), f"<ROOT{i}>")
    return text


def _compare_tree(a: Path, b: Path, pattern: str, roots_a: list[Path], roots_b: list[Path]) -> int:
    files_a = sorted(p.relative_to(a) for p in a.glob(pattern))
    files_b = sorted(p.relative_to(b) for p in b.glob(pattern))
    assert files_a == files_b, (files_a, files_b)
    assert files_a, f"nothing matches {pattern} under {a}"
    for rel in files_a:
        assert _normalised(a / rel, roots_a) == _normalised(b / rel, roots_b), f"{rel} differs"
    return len(files_a)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_workflow_on_slurm_matches_a_local_run(cluster, tmp_path):
    slurm_tmp, local_tmp = tmp_path / "slurm_run", tmp_path / "local_run"
    slurm_cfg, local_cfg = tiny_config(slurm_tmp), tiny_config(local_tmp)
    profile = node_profile(cluster, tmp_path)
    env = {**cluster.env}
    for var in ("SLURM_JOB_ID", "SLURM_JOBID", "CUDA_VISIBLE_DEVICES"):
        env.pop(var, None)

    started = time.monotonic()
    # Both runs at once: the SLURM run mostly waits on sbatch/squeue polling.
    with ThreadPoolExecutor(2) as pool:
        on_slurm = pool.submit(_snakemake, slurm_cfg,
                               ["--workflow-profile", str(profile), "--executor", "slurm", "--jobs", "4",
                                *targets(slurm_tmp)], env, 900)
        local = pool.submit(_snakemake, local_cfg,
                            ["--workflow-profile", "none", "--cores", "2", *targets(local_tmp)], None, 900)
        on_slurm, local = on_slurm.result(), local.result()
    elapsed = time.monotonic() - started
    slurm_out = on_slurm.stdout + on_slurm.stderr
    assert on_slurm.returncode == 0, slurm_out[-6000:] + "\n" + cluster.logs_tail()
    assert local.returncode == 0, (local.stdout + local.stderr)[-6000:]

    # ---- the jobs went through SLURM -------------------------------------------------------------
    submissions = SUBMITTED.findall(slurm_out)
    assert submissions, slurm_out[-4000:]
    by_rule: dict[str, list[str]] = {}
    for jobid, log in submissions:
        rule = next(part.removeprefix("rule_") for part in Path(log).parts if part.startswith("rule_"))
        by_rule.setdefault(rule, []).append(jobid)
        assert Path(log).is_file(), f"SLURM log of job {jobid} missing: {log}"
    assert set(by_rule) == REMOTE_RULES, by_rule
    assert len(by_rule["sample_frames"]) == len(by_rule["detect_faces"]) == len(by_rule["crop_faces"]) >= 2
    for rule in LOCAL_RULES:  # localrule: True runs on the submit host
        assert re.search(rf"localrule {rule}:", slurm_out), rule
    assert "Falling back to 'sacct'" not in slurm_out  # squeue status checks, as the profile asks
    train_job = cluster.run(["scontrol", "show", "job", by_rule["train_model"][0]], check=False).stdout
    assert re.search(r"gpu[:=]1", train_job), f"the GPU request did not reach SLURM:\n{train_job}"

    # ---- same results as the local run -------------------------------------------------------------
    sr, lr = slurm_tmp / "results", local_tmp / "results"
    roots_s, roots_l = [sr, slurm_tmp / "demo_data", slurm_tmp], [lr, local_tmp / "demo_data", local_tmp]
    _compare_tree(sr / "preprocess/ffpp", lr / "preprocess/ffpp", "index/shard*.json", roots_s, roots_l)
    _compare_tree(sr / "preprocess/ffpp", lr / "preprocess/ffpp", "crops/shard*.csv", roots_s, roots_l)
    _compare_tree(sr / "preprocess/ffpp", lr / "preprocess/ffpp", "report.csv", roots_s, roots_l)
    _compare_tree(sr / "manifests/ffpp", lr / "manifests/ffpp", "**/*.csv", roots_s, roots_l)

    run = "train/ffpp/all/efficientnet_b3/seed0"
    rows_s, rows_l = _rows(sr / run / "metrics.csv"), _rows(lr / run / "metrics.csv")
    assert len(rows_s) == len(rows_l) > 0
    compared = 0
    for row_s, row_l in zip(rows_s, rows_l):
        assert row_s.keys() == row_l.keys()
        for key in row_s:
            if any(word in key.lower() for word in ("time", "second", "duration", "wall")):
                continue  # timings differ between any two runs
            a, b = row_s[key], row_l[key]
            try:
                fa, fb = float(a), float(b)
            except ValueError:
                assert a == b, (key, a, b)
                continue
            assert math.isclose(fa, fb, rel_tol=1e-5, abs_tol=1e-7) or (math.isnan(fa) and math.isnan(fb)), \
                (key, a, b)
            compared += 1
    assert compared > 0
    print(f"SLURM run and local run together: {elapsed:.0f} s; SLURM jobs per rule: "
          f"{ {r: len(j) for r, j in by_rule.items()} }")
    shutil.rmtree(tmp_path / "slurm_logs", ignore_errors=True)
