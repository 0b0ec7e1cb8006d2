"""Same config and seed, same results: demo videos, dataset listings, shard assignments and manifests,
whichever process (and `PYTHONHASHSEED`) computes them.

Same-seed CPU training giving the same metrics is tests/test_train.py::test_same_seed_same_metrics (and,
across a kill and resume, tests/test_kill_resume.py); seeded DFDC caps are
tests/test_manifests.py::test_dfdc_caps_are_seeded_and_deterministic.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.datasets import list_videos
from pipeline.demo.config import DemoConfig
from pipeline.demo.generate import generate
from pipeline.io import shard_of
from test_manifests import run_manifests, write_summary

ROOT = Path(__file__).resolve().parents[1]
DEMO = {"seed": 3, "identities": 4, "seconds": 0.4, "fps": 5, "width": 64, "height": 64, "dfdc_parts": 3,
        "dfdc_videos_per_part": 3, "celebdf_videos": 1}
N_SHARDS = 7


def datasets_config(root: Path) -> dict:
    """The workflow's `datasets` section for demo data under `root`."""
    return {
        "ffpp": {"root": str(root / "FaceForensics++"), "compression": "c23",
                 "methods": ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter"]},
        "dfdc": {"root": str(root / "DFDC"), "parts": {"train": [0], "val": [1], "test": [2]},
                 "caps": {"train": {"real": 1, "fake": 1}}, "seed": 0},
        "deeperforensics": {"root": str(root / "DeeperForensics-1.0"), "subset": "end_to_end"},
        "celebdf": {"root": str(root / "Celeb-DF-v2")},
    }


def python(code: str, *args: str) -> str:
    """Run `code` in a fresh interpreter with another hash seed; its stdout."""
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny demo generated twice: here and in another process."""
    a, b = tmp_path_factory.mktemp("demo_a"), tmp_path_factory.mktemp("demo_b")
    generate(a, DemoConfig.from_params(DEMO), workers=1)
    python("from pipeline.__main__ import main; import sys; sys.exit(main(sys.argv[1:]))",
           "demo", "--out", str(b), "--params", json.dumps(DEMO), "--workers", "1")
    return a, b


def test_demo_videos_are_byte_identical(demos):
    a, b = tree(demos[0]), tree(demos[1])
    # FF++ 4 x (1 real + 5 methods) = 24, DFD 4 + 4, DFDC 3 x 3, DeeperForensics 4, Celeb-DF 3
    assert sum(name.endswith(".mp4") for name in a) == 48 and a == b


def shards(root: Path) -> dict[str, list[tuple[str, int]]]:
    """Every dataset's (video id, shard) list."""
    cfg = datasets_config(root)
    return {name: [(v.video_id, shard_of(v.video_id, N_SHARDS)) for v in list_videos(name, cfg[name]).videos]
            for name in cfg}


def test_listings_and_shards_are_the_same_in_every_process(demos):
    here = shards(demos[0])
    code = ("import json, sys; from pathlib import Path; from test_determinism import shards; "
            "print(json.dumps(shards(Path(sys.argv[1]))))")
    there = {k: [tuple(x) for x in v] for k, v in json.loads(python(code, str(demos[1]))).items()}
    assert here == there and all(here.values())
    assert len({s for ids in here.values() for _, s in ids}) > 1  # ids do spread over the shards
    assert shard_of("original_sequences/youtube/c23/videos/004.mp4", 16) == 9  # pinned: blake2b, not hash()


def test_manifests_are_identical(demos, tmp_path):
    """The manifests of each demo copy, written by two processes from the same crop summaries."""
    def write(root: Path, out: Path, in_subprocess: bool) -> dict[str, bytes]:
        cfg = datasets_config(root)
        summaries = {name: write_summary(tmp_path / name / "crops/shard000.csv",
                                         [v.video_id for v in list_videos(name, cfg[name]).videos])
                     for name in cfg}
        for name in cfg:
            real = [summaries["ffpp"]] if name == "deeperforensics" else []
            if in_subprocess:
                code = ("import sys, json; from pathlib import Path; from test_manifests import run_manifests; "
                        "rc, _ = run_manifests(Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), "
                        "[sys.argv[4]], sys.argv[5:]); sys.exit(rc)")
                python(code, str(out), name, json.dumps(cfg), str(summaries[name]), *map(str, real))
            else:
                assert run_manifests(out, name, cfg, [summaries[name]], real)[0] == 0
        return tree(out / "manifests")

    first = write(demos[0], tmp_path / "a", False)
    assert write(demos[1], tmp_path / "b", True) == first
    tests = [k for k in first if k.endswith("/test.csv")]
    assert len(tests) == 6 and all(first[k].count(b"\n") > 1 for k in tests)  # ffpp: 3 conditions
