"""`predict` on new videos: same preprocessing and scores as the workflow, JSON record, Grad-CAM strips,
checkpoints that must be refused (unsafe pickles, other models, other format versions, impossible recorded
settings), an `--out` that cannot be written, and a model that gives no finite score.

Bad video files given to `predict` are in tests/test_bad_inputs.py.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import pipeline.models.registry
from pipeline.models.pretrained import PretrainedInfo
from helpers_evaluate import TinyImage, TinyVideo, models_available, real_checkpoint
from helpers_videos import write_video
from pipeline.__main__ import main
from pipeline.checkpoint import FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from pipeline.evaluate.inference import InferenceParams, load_model, predict_manifest
from pipeline.models.pretrained import PretrainedError, read_weights
from pipeline.preprocess.crop import crop_shard
from pipeline.preprocess.detect import detect_shard
from pipeline.preprocess.params import CropParams, DetectParams, SampleParams
from pipeline.preprocess.sample import sample_shard
from pipeline.predict import Prediction, Preprocessing, write_json

torch.set_num_threads(1)
PREPROCESS = {"shards": 4, "fps": 3, "detector": "hog", "landmarks": "dlib68", "detect_max_side": 480,
              "upsample": 1, "size_outlier_threshold": 10, "margin": 0.4, "crop_size": 48, "jpeg_quality": 95,
              "min_frames": 16, "strict": False}  # the workflow's `preprocess` section, small crops


class NanVideo(TinyVideo):
    """`tiny_3d` whose logits are all NaN: a model that gives no usable score."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * float("nan")


@pytest.fixture
def tiny_models(monkeypatch):
    """Registry stand-ins: `tiny_3d` (4-frame windows, with a Grad-CAM layer), `nan_3d` (NaN logits) and
    `tiny_image`, 16 px, or of the image size and clip length a checkpoint records."""
    def build(name, *, image_size=None, clip_len=None, **_):
        torch.manual_seed(0)
        size = 16 if image_size is None else image_size
        video = {"tiny_3d": TinyVideo, "nan_3d": NanVideo}.get(name)
        model = video(size, clip_len=4 if clip_len is None else clip_len) if video else TinyImage(size)
        return model, PretrainedInfo(False, "test")
    monkeypatch.setattr(pipeline.models.registry, "build_model", build)


def tiny_checkpoint(tmp: Path, name: str = "tiny_3d", preprocess: object = PREPROCESS, config: dict | None = None,
                    ) -> Path:
    """A checkpoint of a stand-in model (needs the `tiny_models` fixture to load), recording `preprocess`
    and `config` (default: none, so the model's own image size and clip length)."""
    model = pipeline.models.registry.build_model(name)[0]
    path = tmp / f"{name}.pt"
    save_checkpoint(path, model=name, state_dict=model.state_dict(), config=config or {}, preprocess=preprocess,
                    epoch=1)
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
    assert "tiny_image declares no Grad-CAM layer; no Grad-CAM written" in err and not (tmp_path / "cam").exists()
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


class RunsCommand:
    """Unpickling this runs a shell command (`os.system`): what a malicious checkpoint would do."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.mark.parametrize("payload, refers", [(WritesMarker, "io.open"),
                                             (lambda marker: RunsCommand(f"touch '{marker}'"), "posix.system")])
def test_malicious_pickle_does_not_run(payload, refers, tmp_path, capsys):
    """Refused without running it, and without passing on torch's advice to load it with weights_only=False."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "format_version": 1, "payload": payload(marker)}, path)
    message = (f"{path}: not a plain checkpoint (it refers to {refers}): it cannot be loaded safely, and was not "
               "loaded")
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert str(refused.value) == message
    with pytest.raises(PretrainedError) as refused:
        read_weights(path)
    assert str(refused.value) == message.replace("plain checkpoint", "plain state_dict file")
    assert predict(tmp_path, "--checkpoint", path) == 2
    assert capsys.readouterr().err == f"pipeline predict: error: {message}\n"
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
                         (junk, "not a loadable weights-only checkpoint (Unsupported operand 0)"),
                         (tmp_path / "missing.pt", "no such checkpoint")):
        assert predict(tmp_path, "--checkpoint", path) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(path) in err and needle in err and "weights_only" not in err, err


@pytest.mark.parametrize("preprocess, config, setting", [
    ({"fps": 0}, None, "preprocess.fps = 0: 0 is less than or equal to the minimum of 0"),
    ({"fps": "abc"}, None, "preprocess.fps = 'abc': 'abc' is not of type 'number'"),
    ({"fps": float("nan")}, None, "preprocess.fps = nan: not a finite number"),
    ({"margin": float("inf")}, None, "preprocess.margin = inf: not a finite number"),
    ({"crop_size": 0}, None, "preprocess.crop_size = 0: 0 is less than the minimum of 32"),
    ({"crop_size": 47.5}, None, "preprocess.crop_size = 47.5: 47.5 is not of type 'integer'"),
    ({"margin": -0.1}, None, "preprocess.margin = -0.1: -0.1 is less than the minimum of 0"),
    ({"jpeg_quality": 0}, None, "preprocess.jpeg_quality = 0: "),
    ({"jpeg_quality": 101}, None, "preprocess.jpeg_quality = 101: 101 is greater than the maximum of 100"),
    ({"precrop_margin": 0.2}, None, "preprocess.precrop_margin = 0.2: below preprocess.margin 0.4 (the pre-crops "
                                    "must hold the crops)"),
    ({"full_scan_every": 0}, None, "preprocess.full_scan_every = 0: "),
    ({"detect_max_side": -5}, None, "preprocess.detect_max_side = -5: "),
    ({"min_frames": 0}, None, "preprocess.min_frames = 0: "),
    ({"detector": "eyeball"}, None, "preprocess.detector = 'eyeball': "),
    ({"jpg_quality": 90}, None, "preprocess = {"),  # a misspelt key, as the config refuses it
    ({}, {"train": {"clip_len": 0}}, "train.clip_len = 0: 0 is less than the minimum of 1"),
    ({}, {"train": {"image_size": 0}}, "train.image_size = 0: 0 is less than the minimum of 16"),
    ({}, {"hparams": {"image_size": -3}}, "train.image_size = -3: "),  # a model's hparams win over train
    ("junk", None, "preprocess = 'junk': 'junk' is not of type 'object'"),
])
def test_impossible_recorded_settings_are_refused_before_any_video(preprocess, config, setting, tiny_models,
                                                                   videos, tmp_path, capsys):
    record = {**PREPROCESS, **preprocess} if isinstance(preprocess, dict) else preprocess
    ckpt = tiny_checkpoint(tmp_path, preprocess=record, config=config)
    assert predict(videos / "a.mp4", "--checkpoint", ckpt, "--out", tmp_path / "p.json") == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, err  # no video was read: no line about it
    assert err.startswith(f"pipeline predict: error: {ckpt}: impossible recorded setting {setting}"), err
    assert not (tmp_path / "p.json").exists()


def test_the_workflow_config_preprocessing_is_possible():
    """The rules come from the config schema: the shipped config's own settings pass them."""
    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow_config.yaml").read_text())
    prep = Preprocessing.from_record(config["preprocess"])
    assert prep.sample.fps == config["preprocess"]["fps"] and prep.crop.crop_size == config["preprocess"]["crop_size"]
    Preprocessing.from_record(PREPROCESS)


def read_only_folder(tmp_path: Path) -> Path:
    """A folder that takes no new file: made read-only, or for root (whom permissions do not stop) /sys."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    return Path("/sys") if os.geteuid() == 0 else folder


def test_an_unwritable_out_is_refused_before_any_video(tiny_models, videos, tmp_path, monkeypatch, capsys):
    ckpt = tiny_checkpoint(tmp_path)
    regular = tmp_path / "file.txt"
    regular.write_text("a file, not a folder\n")
    read_only = read_only_folder(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    scored = []
    with monkeypatch.context() as spy:
        spy.setattr("pipeline.predict.predict_video", lambda path, *a, **k: scored.append(path))
        for out, why in ((tmp_path, "it is a folder"), (regular / "p.json", "Not a directory"),
                         (regular / "sub" / "p.json", "Not a directory"), (read_only / "p.json", None)):
            assert predict(videos / "a.mp4", "--checkpoint", ckpt, "--out", out) == 2, out
            captured = capsys.readouterr()
            assert captured.out == "" and len(captured.err.splitlines()) == 1, captured
            assert captured.err.startswith(f"pipeline predict: error: {out}: cannot write the results there ("), \
                captured
            assert why is None or captured.err.endswith(f"({why})\n"), captured
    assert scored == []
    assert sorted(tmp_path.rglob("*")) == before  # no probe file left behind
    # a missing folder is made, as for every output
    out = tmp_path / "new" / "deeper" / "p.json"
    assert predict(videos / "a.mp4", "--checkpoint", ckpt, "--out", out) == 0
    assert json.loads(out.read_text())["videos"][0]["probability"] > 0
    assert [p.name for p in out.parent.iterdir()] == ["p.json"]


def test_an_unwritable_gradcam_folder_is_refused_before_any_video(tiny_models, videos, tmp_path, capsys):
    regular = tmp_path / "file.txt"
    regular.write_text("a file, not a folder\n")
    assert predict(videos / "a.mp4", "--checkpoint", tiny_checkpoint(tmp_path), "--gradcam", regular) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"pipeline predict: error: {regular}: cannot write Grad-CAM images there (Not a " \
        "directory)\n"


def test_a_model_that_gives_no_finite_score_gives_no_probability(tiny_models, videos, tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path, "nan_3d")
    assert predict(videos, "--checkpoint", ckpt, "--out", tmp_path / "p.json") == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert [line.split(": ", 2)[1] for line in lines] == [str(videos / "a.mp4"), str(videos / "b clip é.mp4")]
    assert all(line.split(": ", 2)[2].startswith("model gave a non-finite score (") for line in lines), err
    text = (tmp_path / "p.json").read_text()
    record = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert all(set(v) == {"path", "error"} for v in record["videos"]) and "NaN" not in text


def test_the_json_never_holds_nan(tmp_path):
    """The guard behind the check above: json.dumps would write NaN, which is not JSON."""
    prep = Preprocessing.from_record(PREPROCESS)
    ckpt = {"model": "tiny_3d", "code_version": "0"}
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_json(tmp_path / "p.json", ckpt, "c.pt", prep, InferenceParams(), [Prediction("v.mp4", float("nan"))])
    assert list(tmp_path.iterdir()) == []  # nor a temporary file
