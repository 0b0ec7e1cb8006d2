"""Bad inputs: each gives one line naming the file and the problem, good inputs of the same run go on.

Covered elsewhere and not repeated here:
- tests/test_preprocess.py::test_bad_files_are_reported_and_good_files_go_through - the real
  sample -> detect -> crop -> report CLI chain over one shard mixing zero-byte, random-byte and text
  `.mp4` files, files truncated with the index at the end and at the front, no face, one frame,
  3840x2160, a rotated video (display matrix written with PyAV's `set_display_rotation`) and a name with
  spaces, quotes and non-ASCII characters; `test_sample_picks_frames_of_cfr_and_vfr_files` (variable
  frame rate), `test_strict_mode_fails_with_the_message`, `test_outputs_exist_when_every_video_fails`.
- tests/test_datasets.py - DFDC metadata entries `../../x.mp4`, absolute, missing, unknown labels,
  malformed JSON; Celeb-DF list lines with unknown labels, escapes, missing files; FF++ bad splits;
  symlinks leaving the dataset root.
- tests/test_manifests.py - listed videos without crops in the manifests' problems CSV, strict mode.
- tests/test_workflow.py::test_bad_config_is_rejected_naming_the_key - wrong types (`train.epochs`,
  a demo override), unknown keys and models, rejected by a Snakemake dry run.
- tests/test_predict.py - unsafe, foreign, incompatible or broken checkpoints.

Here: `predict` on all of those files at once, and on names with control characters; the CLI chain on the cases left (variable frame rate end
to end, audio-only, a folder and a dangling link named `.mp4`, a name that is not UTF-8); listing problems
reaching the manifests' problems CSV; a wrong type deep in a dataset section of the config.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from helpers_videos import truncate, write_broken_files, write_video
from helpers_workflow import snakemake, workflow_messages, write_config
from pipeline.__main__ import main
from pipeline.datasets import list_videos
from pipeline.predict import printable
from pipeline.store import ClipStore
from test_datasets import make_celebdf, make_dfdc
from test_manifests import run_manifests, write_summary
from test_predict import PREPROCESS, predict, stdout_rows, tiny_checkpoint, tiny_models  # noqa: F401 - fixture

NOT_UTF8 = os.fsdecode(b"latin1 caf\xe9.mp4")  # bytes Python can only keep as a surrogate
VFR_MS = [0, 10, 20, 400, 410, 900, 1000, 1500, 2333, 2334, 2700, 4000]
VFR_TIMES = [0, 0.4, 0.9, 1.0, 1.5, 2.333, 2.334, 2.7, 4.0]  # the first frame at or after each k/3 s


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        return list(csv.DictReader(f))


def write_audio_only(path: Path) -> None:
    """An AAC-only .mp4: a valid container with no video stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(5):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    """One folder of good and bad videos."""
    root = tmp_path_factory.mktemp("zoo")
    write_video(root / "good.mp4", n=40)
    write_video(root / "name with spaces 'quoted' \"dq\" é.mp4", n=30)
    write_video(root / "rotated.mp4", n=30, rotation=90)
    write_video(root / "vfr.mp4", pts_ms=VFR_MS)
    write_video(root / "one_frame.mp4", n=1)
    write_video(root / "huge.mp4", n=2, size=(3840, 2160))
    write_video(root / "noface.mp4", n=20, face=False)
    write_video(root / "truncated.mp4", n=30)
    truncate(root / "truncated.mp4")
    write_broken_files(root)
    write_audio_only(root / "audio.mp4")
    write_video(root / NOT_UTF8, n=10)
    return root


SCORED = ["good.mp4", "name with spaces 'quoted' \"dq\" é.mp4", "one_frame.mp4", "rotated.mp4", "vfr.mp4"]
ERRORS = {"audio.mp4": "no video stream", "garbage.mp4": "cannot open: InvalidDataError",
          "huge.mp4": "no face: none in 1 sampled frames",  # its 110 px face is 14 px at the 480 px detection size
          "noface.mp4": "no face: none in 3 sampled frames", "text.mp4": "cannot open: InvalidDataError",
          "truncated.mp4": "cannot open: InvalidDataError", "zero.mp4": "cannot open: InvalidDataError",
          "missing.mp4": "cannot open: FileNotFoundError", NOT_UTF8: "file name is not valid UTF-8"}


def test_predict_reports_each_bad_file_and_scores_the_rest(tiny_models, zoo, tmp_path, capsys):  # noqa: F811
    ckpt = tiny_checkpoint(tmp_path)
    assert predict(zoo, zoo / "missing.mp4", "--checkpoint", ckpt, "--out", tmp_path / "p.json") == 0
    out, err = capsys.readouterr()
    assert sorted(Path(p).name for p in stdout_rows(out)) == SCORED
    lines = err.strip().splitlines()
    assert len(lines) == len(ERRORS)
    shown = {printable(name): reason for name, reason in ERRORS.items()}  # the undecodable byte as \udce9
    for line in lines:
        prefix, path, reason = line.split(": ", 2)
        assert prefix == "predict" and reason.startswith(shown[Path(path).name]), line
    record = {Path(v["path"]).name: v for v in json.loads((tmp_path / "p.json").read_text())["videos"]}
    assert sorted(record) == sorted(SCORED + list(ERRORS))
    for name, reason in ERRORS.items():
        assert set(record[name]) == {"path", "error"} and record[name]["error"].startswith(reason)
    assert record["one_frame.mp4"]["n_windows"] == 1 and record["one_frame.mp4"]["frames"]["n"] == 1
    assert record["vfr.mp4"]["frames"]["times"] == pytest.approx(VFR_TIMES)

    assert predict(*(zoo / n for n in ERRORS), "--checkpoint", ckpt, "--out", tmp_path / "bad.json") == 1
    assert capsys.readouterr().out == ""
    assert all("error" in v for v in json.loads((tmp_path / "bad.json").read_text())["videos"])


CONTROL = "line\nbreak\ttab\rcr\x1besc\x7fdel\u2028sep\x85nel.mp4"  # all would break or hide in a line
CONTROL_SHOWN = r"line\nbreak\ttab\rcr\x1besc\x7fdel\u2028sep\x85nel.mp4"


def test_control_characters_in_names_keep_one_line_per_video(tiny_models, tmp_path, capsys):  # noqa: F811
    """stdout keeps one line per scored video and stderr one per failed one, the names escaped; the JSON keeps
    the exact names."""
    root = tmp_path / "videos"
    root.mkdir()
    write_video(root / "plain.mp4", n=30)
    shutil.copy(root / "plain.mp4", root / CONTROL)
    gone = root / "gone\n\x1b[31m.mp4"
    ckpt = tiny_checkpoint(tmp_path)
    assert predict(root, gone, "--checkpoint", ckpt, "--out", tmp_path / "p.json") == 0
    out, err = capsys.readouterr()
    assert list(stdout_rows(out)) == [str(root / CONTROL_SHOWN), str(root / "plain.mp4")]  # splitlines() splits
    assert printable(str(root / CONTROL)) == str(root / CONTROL_SHOWN)  # on \r, \x85 and \u2028 too
    assert err.splitlines() == [f"predict: {root}/gone\\n\\x1b[31m.mp4: cannot open: FileNotFoundError: No such file "
                                "or directory"]
    record = json.loads((tmp_path / "p.json").read_text())
    assert [v["path"] for v in record["videos"]] == [str(root / CONTROL), str(root / "plain.mp4"), str(gone)]
    assert record["videos"][0]["probability"] == record["videos"][1]["probability"]  # the same video


def test_cli_chain_on_the_remaining_bad_inputs(tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    write_video(root / "vfr.mp4", pts_ms=VFR_MS)
    write_video(root / NOT_UTF8, n=10)
    write_audio_only(root / "audio.mp4")
    (root / "folder.mp4").mkdir()
    os.symlink(tmp_path / "gone.mp4", root / "dangling.mp4")
    out = tmp_path / "out"
    crop = {k: PREPROCESS[k] for k in ("size_outlier_threshold", "margin", "crop_size", "jpeg_quality")}
    steps = [
        ["sample", "--root", root, "--out", out / "i.json", "--report", out / "sample.csv", "--params", '{"fps": 3}',
         *sorted(root.iterdir())],
        ["detect", "--index", out / "i.json", "--out", out / "d.h5", "--report", out / "detect.csv"],
        ["crop", "--index", out / "i.json", "--detections", out / "d.h5", "--out", out / "c.h5", "--summary",
         out / "c.csv", "--report", out / "crop.csv", "--params", json.dumps({**crop, "min_frames": 5})],
        ["report", "--out", out / "report.csv", *(out / f"{s}.csv" for s in ("sample", "detect", "crop"))],
    ]
    for argv in steps:
        assert main([str(a) for a in argv]) == 0
    problems = {row["video"]: (row["stage"], row["reason"]) for row in read_csv(out / "report.csv")}
    assert problems == {"audio.mp4": ("sample", "no video stream"),
                        "dangling.mp4": ("sample", "cannot open: FileNotFoundError: No such file or directory"),
                        "folder.mp4": ("sample", "cannot open: IsADirectoryError: Is a directory"),
                        str(root / NOT_UTF8): ("sample", r"file name is not valid UTF-8 (rename it): "
                                                         r"'latin1 caf\udce9.mp4'")}
    summary = {row["video_id"]: row for row in read_csv(out / "c.csv")}
    assert list(summary) == ["vfr.mp4"] and summary["vfr.mp4"]["status"] == "ok"
    assert ClipStore(out / "c.h5").times(summary["vfr.mp4"]["key"]) == pytest.approx(VFR_TIMES)


def test_listing_problems_reach_the_manifest_problems_csv(tmp_path):
    dfdc = make_dfdc(tmp_path / "dfdc")
    meta_path = tmp_path / "dfdc/dfdc_train_part_0/metadata.json"
    meta = json.loads(meta_path.read_text())
    meta.update({"../../x.mp4": {"label": "FAKE"}, "gone.mp4": {"label": "REAL"}})
    meta_path.write_text(json.dumps(meta))
    celeb = make_celebdf(tmp_path / "celeb", ["1 Celeb-real/a.mp4", "0 Celeb-synthesis/b.mp4", "7 Celeb-real/a.mp4"])
    for name, cfg, n_good in (("dfdc", dfdc, 24), ("celebdf", celeb, 2)):
        ids = [v.video_id for v in list_videos(name, cfg).videos]
        summary = write_summary(tmp_path / name / "crops/shard000.csv", ids)
        rc, outdir = run_manifests(tmp_path, name, {name: cfg}, [summary])
        assert rc == 0 and len(ids) == n_good
        written = {r["video_id"] for split in ("train", "val", "test") if (outdir / f"all/{split}.csv").exists()
                   for r in read_csv(outdir / f"all/{split}.csv")}
        assert written <= set(ids) and len(written) > 0
        problems = {r["video"]: r["reason"] for r in read_csv(outdir / "problems.csv")}
        if name == "dfdc":
            assert set(problems) == {"dfdc_train_part_0/../../x.mp4", "dfdc_train_part_0/gone.mp4"}
            assert "escapes dfdc_train_part_0" in problems["dfdc_train_part_0/../../x.mp4"]
            assert "file not found" in problems["dfdc_train_part_0/gone.mp4"]
        else:
            [(video, reason)] = problems.items()
            assert reason.startswith("List_of_testing_videos.txt line 3") and "'7 Celeb-real/a.mp4'" in reason


def test_wrong_type_in_a_dataset_section_fails_the_dry_run(tmp_path):
    result = snakemake(write_config(tmp_path, {"datasets": {"dfdc": {"parts": {"train": "0,1"}}}}), "-n")
    lines = workflow_messages(result)
    assert result.returncode != 0
    assert lines[0] == "config error: datasets.dfdc.parts.train: '0,1' is not of type 'array'", result.stderr[-2000:]
    assert len(lines) <= 3 and "Traceback" not in result.stderr
