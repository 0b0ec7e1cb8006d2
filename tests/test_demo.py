"""The synthetic demo datasets: layouts and splits, determinism, and that HOG finds every face."""
from __future__ import annotations

import json
import re
from pathlib import Path

import av
import dlib
import numpy as np
import pytest

from pipeline.__main__ import main
from pipeline.demo import DemoConfig, generate
from pipeline.demo.layouts import build_plan, split_pairs
from pipeline.demo.manipulations import FFPP_METHODS
from pipeline.demo.video import video_writer

PARAMS = {"enabled": True, "root": "ignored", "seed": 0, "identities": 6, "seconds": 2, "fps": 25, "width": 320,
          "height": 240, "dfdc_parts": 2, "dfdc_videos_per_part": 3, "celebdf_videos": 2}
CFG = DemoConfig.from_params(PARAMS)
FFPP = "FaceForensics++"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The small demo, generated once through the CLI (one process)."""
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--out", str(out), "--params", json.dumps(PARAMS), "--workers", "1"]) == 0
    return out


def videos(root: Path) -> list[Path]:
    return sorted(root.rglob("*.mp4"))


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.mp4")}


def test_config_ignores_other_keys_and_checks_values():
    assert DemoConfig.from_params({"enabled": True, "overrides": {}, "seconds": 3}) == DemoConfig(seconds=3.0)
    assert DemoConfig().n_frames == 125
    with pytest.raises(ValueError):
        DemoConfig(identities=5)
    def sizes(n_pairs: int) -> list[int]:
        split = split_pairs([(str(i), str(i + 1)) for i in range(0, 2 * n_pairs, 2)])
        return [len(split[s]) for s in ("train", "val", "test")]
    assert sizes(500) == [360, 70, 70]  # FF++'s own split
    assert sizes(20) == [14, 3, 3] and sizes(12) == [8, 2, 2] and sizes(3) == [1, 1, 1]


def test_layouts_and_splits(demo: Path):
    ffpp = demo / FFPP
    ids = {f"{i:03d}" for i in range(CFG.identities)}
    assert names(ffpp / "original_sequences/youtube/c23/videos") == {f"{i}.mp4" for i in ids}
    splits = {s: json.loads((ffpp / f"splits/{s}.json").read_text()) for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [1, 1, 1]
    split_of = {i: s for s, pairs in splits.items() for pair in pairs for i in pair}
    assert set(split_of) == ids and sum(len(p) for p in splits.values()) * 2 == len(ids)
    fakes = {f"{a}_{b}.mp4" for pairs in splits.values() for a, b in pairs} | {
        f"{b}_{a}.mp4" for pairs in splits.values() for a, b in pairs}
    for method in FFPP_METHODS:
        assert names(ffpp / f"manipulated_sequences/{method}/c23/videos") == fakes

    dfor = demo / "DeeperForensics-1.0"
    e2e = names(dfor / "manipulated_videos/end_to_end")
    assert {n[:3] for n in e2e} == ids and all(re.fullmatch(r"\d{3}_M\d{3}\.mp4", n) for n in e2e)
    for split in splits:
        listed = (dfor / f"lists/splits/{split}.txt").read_text().split()
        assert listed and all(split_of[n[:3]] == split for n in listed)
    assert sum(len((dfor / f"lists/splits/{s}.txt").read_text().split()) for s in splits) == len(e2e)

    parts = sorted((demo / "DFDC").iterdir())
    assert [p.name for p in parts] == [f"dfdc_train_part_{i}" for i in range(CFG.dfdc_parts)]
    for part in parts:
        meta = json.loads((part / "metadata.json").read_text())
        assert set(meta) == names(part) and len(meta) == CFG.dfdc_videos_per_part
        assert all(re.fullmatch(r"[a-z]{10}\.mp4", n) for n in meta)
        for info in meta.values():
            assert info["split"] == "train" and info["label"] in ("REAL", "FAKE")
            assert ("original" in info) == (info["label"] == "FAKE")
            if "original" in info:
                assert meta[info["original"]]["label"] == "REAL"
        assert sum(v["label"] == "FAKE" for v in meta.values()) == 2 * sum(v["label"] == "REAL" for v in meta.values())
    actors = [{s.identity for s in build_plan(CFG).scenes if s.key.startswith(f"DFDC/{p.name}/")} for p in parts]
    assert not set.intersection(*actors)

    celeb = demo / "Celeb-DF-v2"
    for sub in ("Celeb-real", "YouTube-real", "Celeb-synthesis"):
        assert len(names(celeb / sub)) == CFG.celebdf_videos
    lines = [line.split() for line in (celeb / "List_of_testing_videos.txt").read_text().splitlines()]
    assert sorted(p for _, p in lines) == sorted(str(v.relative_to(celeb)) for v in videos(celeb))
    assert all(label == ("0" if p.startswith("Celeb-synthesis/") else "1") for label, p in lines)
    assert all(re.fullmatch(r"id\d+_id\d+_\d{4}\.mp4", n) for n in names(celeb / "Celeb-synthesis"))

    assert len(videos(demo)) == build_plan(CFG).n_videos
    assert not [p for p in demo.rglob(".*")], "temporary files left behind"
    for path in videos(demo)[:: 7]:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.name, stream.width, stream.height) == ("h264", CFG.width, CFG.height)
            assert sum(1 for _ in container.decode(stream)) == CFG.n_frames


def test_deterministic_across_runs_and_workers(demo: Path, tmp_path: Path):
    stale = tmp_path / FFPP / "original_sequences/youtube/c23/videos/999.mp4"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    generate(tmp_path, CFG, workers=2)
    assert not stale.exists()
    files = sorted(p.relative_to(demo) for p in demo.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert [p for p in files if (demo / p).read_bytes() != (tmp_path / p).read_bytes()] == []


def test_hog_finds_a_face_in_every_video(demo: Path):
    detector = dlib.get_frontal_face_detector()
    rates = {}
    for path in videos(demo):
        hits = []
        with av.open(str(path)) as container:
            k = 0
            for frame in container.decode(video=0):
                if frame.time >= k / 3:  # 3 fps by timestamp, as the preprocessing samples
                    k += 1
                    hits.append(len(detector(frame.to_ndarray(format="rgb24"), 1)) > 0)
        rates[str(path.relative_to(demo))] = np.mean(hits)
    assert {p: r for p, r in rates.items() if r < 0.95} == {}


def test_interrupted_video_leaves_no_file(tmp_path: Path):
    path = tmp_path / "v.mp4"
    with pytest.raises(RuntimeError), video_writer(path, 25, 64, 48) as write:
        write(np.zeros((48, 64, 3), np.uint8))
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
