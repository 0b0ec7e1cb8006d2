"""`predict` on new videos: same preprocessing and scores as the workflow, JSON record, Grad-CAM strips,
and checkpoints that must be refused (unsafe pickles, other models, other format versions).

Bad video files given to `predict` are in tests/test_bad_inputs.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import pipeline.models
from helpers_evaluate import TinyImage, TinyVideo, models_available, real_checkpoint
from helpers_videos import write_video
from pipeline.__main__ import main
from pipeline.checkpoint import FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from pipeline.evaluate.inference import InferenceParams, load_model, predict_manifest
from pipeline.preprocess.crop import crop_shard
from pipeline.preprocess.detect import detect_shard
from pipeline.preprocess.params import CropParams, DetectParams, SampleParams
from pipeline.preprocess.sample import sample_shard

torch.set_num_threads(1)
PREPROCESS = {"shards": 4, "fps": 3, "detector": "hog", "landmarks": "dlib68", "detect_max_side": 480,
              "upsample": 1, "size_outlier_threshold": 10, "margin": 0.4, "crop_size": 48, "jpeg_quality": 95,
              "min_frames": 16, "strict": False}  # the workflow's `preprocess` section, small crops


@pytest.fixture
def tiny_models(monkeypatch):
    """Registry stand-ins: `tiny_3d` (4-frame windows, with a Grad-CAM layer) and `tiny_image`."""
    def build(name, *, image_size=None, clip_len=None, pretrained=None, backbone=None):
        torch.manual_seed(0)
        model = TinyVideo(16, clip_len=4) if name == "tiny_3d" else TinyImage(16)
        return model, pipeline.models.PretrainedInfo(False, "test")
    monkeypatch.setattr(pipeline.models, "build_model", build)


def tiny_checkpoint(tmp: Path, name: str = "tiny_3d") -> Path:
    """A checkpoint of a stand-in model (needs the `tiny_models` fixture to load)."""
    model = pipeline.models.build_model(name)[0]
    path = tmp / f"{name}.pt"
    save_checkpoint(path, model=name, state_dict=model.state_dict(), config={}, preprocess=PREPROCESS, epoch=1)
    return path


def predict(*argv: str) -> int:
    return main(["predict", *map(str, argv)])


def stdout_rows(text: str) -> dict[str, list[str]]:
    rows = [line.split("\t") for line in text.splitlines()]
    assert all(len(r) == 4 for r in rows), text
    return {r[0]: r[1:] for r in rows}


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "a.mp4", n=60)
    write_video(root / "b clip é.mp4", n=30, pts_ms=[round(i * 1000 / 15) for i in range(30)])  # 15 fps
    (root / "notes.txt").write_text("not a video, not picked from the folder\n")
    return root


def test_predict_scores_like_the_workflow(tiny_models, videos, tmp_path, capsys):
    """Crops of the sample/detect/crop stages + evaluate's inference give predict's probabilities."""
    ckpt = tiny_checkpoint(tmp_path)
    paths = [str(videos / "a.mp4"), str(videos / "b clip é.mp4")]
    sample_shard(str(videos), paths, tmp_path / "i.json", tmp_path / "rs.csv", SampleParams(fps=3))
    detect_shard(tmp_path / "i.json", tmp_path / "d.h5", tmp_path / "rd.csv", DetectParams())
    crop_params = CropParams(**{k: PREPROCESS[k] for k in ("size_outlier_threshold", "margin", "crop_size",
                                                           "jpeg_quality", "min_frames")})
    crop_shard(tmp_path / "i.json", tmp_path / "d.h5", tmp_path / "c.h5", tmp_path / "c.csv", tmp_path / "rc.csv",
               crop_params)
    summary = pd.read_csv(tmp_path / "c.csv")
    manifest = summary.assign(label=0, method="real", store=str(tmp_path / "c.h5"))
    model, _ = load_model(ckpt, torch.device("cpu"))
    expected = predict_manifest(model, manifest, InferenceParams(stride=2))

    assert predict(videos, "--checkpoint", ckpt, "--out", tmp_path / "p.json", "--stride", 2) == 0
    rows = stdout_rows(capsys.readouterr().out)
    assert list(rows) == paths  # the folder's videos, sorted; notes.txt left out
    record = json.loads((tmp_path / "p.json").read_text())
    assert record["model"] == "tiny_3d" and record["checkpoint_code_version"] and record["stride"] == 2
    assert record["preprocess"]["crop_size"] == 48 and record["preprocess"]["fps"] == 3
    for video, (_, exp) in zip(record["videos"], expected.iterrows(), strict=True):
        p, label, n = rows[video["path"]]
        assert float(p) == pytest.approx(exp["probability"], abs=1e-4)
        assert video["probability"] == pytest.approx(exp["probability"], abs=1e-6)
        assert label == ("fake" if video["probability"] >= 0.5 else "real") == video["label"]
        assert int(n) == video["n_windows"] == exp["n_windows"] == len(video["windows"]) > 1
        starts = [w["start"] for w in video["windows"]]
        assert starts == sorted(starts) and all(w["end"] > w["start"] for w in video["windows"])
        assert np.mean([w["probability"] for w in video["windows"]]) == pytest.approx(video["probability"])
        times = summary.loc[summary["video_id"] == Path(video["path"]).name]
        assert video["frames"]["n"] == int(times["n_frames"].iloc[0])
    assert record["videos"][0]["frames"]["times"][:3] == pytest.approx([0, 0.36, 0.68])


def test_image_model_averages_frames_and_skips_gradcam(tiny_models, videos, tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path, "tiny_image")
    assert predict(videos / "a.mp4", "--checkpoint", ckpt, "--out", tmp_path / "p.json",
                   "--gradcam", tmp_path / "cam") == 0
    out, err = capsys.readouterr()
    assert "tiny_image is not a 3D model; no Grad-CAM written" in err and not (tmp_path / "cam").exists()
    video = json.loads((tmp_path / "p.json").read_text())["videos"][0]
    assert video["n_windows"] == video["frames"]["n"] == 8 and out.split("\t")[3].strip() == "8"
    assert [w["start"] for w in video["windows"]] == [w["end"] for w in video["windows"]] == video["frames"]["times"]


@pytest.mark.skipif(not models_available(), reason="model registry not available")
def test_gradcam_strip_of_a_real_3d_model(videos, tmp_path, capsys):
    ckpt = real_checkpoint(tmp_path, "r3d_18", size=32)  # random weights, default preprocessing
    assert predict(videos / "a.mp4", "--checkpoint", ckpt, "--out", tmp_path / "p.json",
                   "--gradcam", tmp_path / "cam") == 0
    video = json.loads((tmp_path / "p.json").read_text())["videos"][0]
    assert video["gradcam"] == str(tmp_path / "cam" / "a.png") and video["n_windows"] == 1  # 8 frames, looped
    assert (tmp_path / "cam" / "a.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


# --------------------------------------------------------------------------- checkpoints that must be refused
class WritesMarker:
    """Unpickling this runs `open(marker, "w")`: what a malicious checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_malicious_pickle_does_not_run(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "format_version": 1, "payload": WritesMarker(marker)}, path)
    with pytest.raises(CheckpointError, match="not a loadable weights-only checkpoint"):
        load_checkpoint(path)
    assert predict(tmp_path, "--checkpoint", path) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is live: an unsafe load does run it
    assert marker.exists()


def test_other_model_format_version_and_junk_are_refused(tiny_models, tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="of model 'tiny_3d', expected 'r3d_18'"):
        load_checkpoint(ckpt, expect_model="r3d_18")
    future = tmp_path / "future.pt"
    save_checkpoint(future, model="tiny_3d", state_dict={}, config={}, preprocess={})
    torch.save({**torch.load(future, weights_only=True), "format_version": 99}, future)
    with pytest.raises(CheckpointError, match="format version 99 is incompatible with 1"):
        load_checkpoint(future)
    wrong_weights = tmp_path / "wrong.pt"
    save_checkpoint(wrong_weights, model="tiny_3d", state_dict=TinyImage().state_dict(), config={}, preprocess={})
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a checkpoint")
    for path, needle in ((future, "format version 99"), (wrong_weights, "cannot rebuild its model"),
                         (junk, "not a loadable"), (tmp_path / "missing.pt", "no such checkpoint")):
        assert predict(tmp_path, "--checkpoint", path) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(path) in err and needle in err, err
