"""`python -m pipeline`: every command's `--help` works, expected failures are one line naming the file, and
Ctrl-C is one line too.

The failures run in-process through `pipeline.__main__.main` and all stop before a model is built
(a garbage checkpoint fails at `torch.load`), so the whole file takes seconds.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers_videos import write_video
from pipeline.__main__ import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
MANIFEST_HEADER = "video_id,label,method,group,store,key,n_frames\n"
TRAIN_PARAMS = json.dumps({"hparams": {"lr": 1e-4, "batch_size": 2, "weight_decay": 0.0}, "train": {}})


def test_top_level_help_runs_in_a_fresh_interpreter():
    result = subprocess.run([sys.executable, "-m", "pipeline", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "40%-margin" in result.stdout  # the % that once made argparse fail
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m pipeline {command}")
    assert COMMANDS[command][1] in out


def one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"pipeline {command}: error: "), lines[0]
    return lines[0]


def test_unknown_command_and_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as done:
        main(["bogus"])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("pipeline: error: unknown command 'bogus'"), err
    with pytest.raises(SystemExit) as done:
        main(["tables", "--metrics", "m.csv"])
    assert done.value.code == 2
    assert "the following arguments are required: --out" in one_error_line(capsys, "tables")


# ---- expected failures -------------------------------------------------------------------------------------


def write_manifest(path: Path, rows: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"v{i},{i % 2},{'real' if i % 2 == 0 else 'Deepfakes'},g{i},{path.parent}/s.h5,k{i},8\n"
                   for i in range(rows))
    path.write_text(MANIFEST_HEADER + body)
    return path


def files(tmp: Path) -> dict[str, Path]:
    """The inputs of the cases: a CSV without the expected columns, a garbage checkpoint, good manifests."""
    cols = tmp / "no_columns.csv"
    cols.write_text("a,b\n1,2\n")
    junk = tmp / "garbage.pt"
    junk.write_bytes(b"\x00\x01 not a checkpoint \xff" * 8)
    good = tmp / "manifests"
    write_manifest(good / "train.csv")
    write_manifest(good / "val.csv")
    lacking = tmp / "lacking"
    lacking.mkdir()
    (lacking / "train.csv").write_text("video_id,label\nv0,0\n")
    write_manifest(lacking / "val.csv")
    metrics = tmp / "metrics.csv"
    metrics.write_text("model,dataset,condition,testset,class,metric,value\nxception,ffpp,all,ffpp,real,accuracy,0.9\n")
    return {"cols": cols, "metrics": metrics, "junk": junk, "good": good, "lacking": lacking,
            "missing": tmp / "missing.csv", "missing_pt": tmp / "missing.pt", "nowhere": tmp / "nowhere",
            "test": good / "val.csv"}


def evaluate(checkpoint, manifest, params="{}"):
    return ["evaluate", "--checkpoint", checkpoint, "--manifest", manifest, "--testset", "ffpp", "--dataset",
            "ffpp", "--condition", "all", "--out-predictions", "p.csv", "--out-metrics", "m.csv", "--params", params]


def train(manifests, params=TRAIN_PARAMS, init=None):
    return ["train", "--model", "xception", "--dataset", "ffpp", "--condition", "all", "--manifests", manifests,
            "--out", "out", "--state", "state", "--params", params, *(["--init", init] if init else [])]


def manifests(summaries, params="{}"):
    return ["manifests", "--dataset", "ffpp", "--params", params, "--summaries", summaries, "--outdir", "mo",
            "--problems", "mo/problems.csv"]


# (case id, argv from the files above, what the message must name)
CASES = [
    ("tables-missing", lambda f: ["tables", "--metrics", f["missing"], "--out", "t"], "missing.csv"),
    ("tables-columns", lambda f: ["tables", "--metrics", f["cols"], "--out", "t"], "no_columns.csv"),
    ("collect-missing", lambda f: ["collect", "--out", "c.csv", f["missing"]], "missing.csv"),
    ("collect-columns", lambda f: ["collect", "--out", "c.csv", f["metrics"], f["cols"]], "no_columns.csv"),
    ("evaluate-missing", lambda f: evaluate(f["junk"], f["missing"]), "missing.csv"),
    ("evaluate-columns", lambda f: evaluate(f["junk"], f["cols"]), "no_columns.csv"),
    ("evaluate-checkpoint", lambda f: evaluate(f["junk"], f["test"]), "garbage.pt"),
    ("evaluate-no-checkpoint", lambda f: evaluate(f["missing_pt"], f["test"]), "missing.pt"),
    ("evaluate-json", lambda f: evaluate(f["junk"], f["test"], '{"stride": 4,'), "--params"),
    ("train-missing", lambda f: train(f["nowhere"]), "train.csv"),
    ("train-columns", lambda f: train(f["lacking"]), "train.csv"),
    ("train-checkpoint", lambda f: train(f["good"], init=f["junk"]), "garbage.pt"),
    ("train-json", lambda f: train(f["good"], params='{"hparams": '), "--params"),
    ("predict-checkpoint", lambda f: ["predict", "v.mp4", "--checkpoint", f["junk"]], "garbage.pt"),
    ("predict-no-checkpoint", lambda f: ["predict", "v.mp4", "--checkpoint", f["missing_pt"]], "missing.pt"),
    ("manifests-missing", lambda f: manifests(f["missing"]), "missing.csv"),
    ("manifests-columns", lambda f: manifests(f["cols"]), "no_columns.csv"),
    ("manifests-json", lambda f: manifests(f["cols"], "{datasets}"), "--params"),
    ("perturb-checkpoint", lambda f: ["perturb", "--checkpoint", f["junk"], "--manifest", f["test"], "--dataset",
                                      "dfdc", "--condition", "all", "--out-metrics", "m.csv", "--out-predictions",
                                      "p.csv"], "garbage.pt"),
    ("tsne-checkpoint", lambda f: ["tsne", "--checkpoint", f["junk"], "--manifest", f["test"], "--out", "f.png"],
     "garbage.pt"),
    ("gradcam-checkpoint", lambda f: ["gradcam", "--checkpoint", f["junk"], "--manifest", f["test"], "--out",
                                      "f.png"], "garbage.pt"),
    ("detect-missing", lambda f: ["detect", "--index", f["nowhere"] / "i.json", "--out", "d.h5", "--report",
                                  "r.csv"], "i.json"),
    ("sample-json", lambda f: ["sample", "--root", ".", "--out", "i.json", "--report", "r.csv", "--params",
                               "{fps: 3}", "v.mp4"], "--params"),
]


@pytest.mark.parametrize("argv, named", [pytest.param(a, n, id=i) for i, a, n in CASES])
def test_expected_failure_is_one_line_naming_the_file(argv, named, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # outputs, were any written, stay in tmp_path
    args = [str(a) for a in argv(files(tmp_path))]
    assert main(args) == 2
    line = one_error_line(capsys, args[0])
    assert named in line, line
    assert not (tmp_path / "out").exists() and not (tmp_path / "t").exists()


def test_json_params_file_is_named(tmp_path, capsys):
    params = tmp_path / "params.json"
    params.write_text('{"hparams": {"lr": 0.1,}}')
    f = files(tmp_path)
    assert main([str(a) for a in train(f["good"], params=params)]) == 2
    line = one_error_line(capsys, "train")
    assert str(params) in line and "malformed JSON" in line, line


def test_subprocess_failure_has_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pipeline", "tables", "--metrics", str(tmp_path / "missing.csv"),
                             "--out", str(tmp_path / "t")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == f"pipeline tables: error: {tmp_path / 'missing.csv'}: No such file or directory"


# ---- Ctrl-C ---------------------------------------------------------------------------------------------------

def test_ctrl_c_is_one_line_and_status_130(tmp_path, monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("pipeline.tables.cli.run", interrupted)
    argv = ["tables", "--metrics", str(tmp_path / "m.csv"), "--out", str(tmp_path / "t")]
    try:
        assert main(argv) == 130
    except KeyboardInterrupt:  # would stop the whole test session
        pytest.fail("main() let KeyboardInterrupt through")
    assert capsys.readouterr().err == "pipeline tables: interrupted; rerun to resume\n"
    monkeypatch.setenv("PIPELINE_TRACEBACK", "1")  # debugging: the traceback, as for expected errors
    with pytest.raises(KeyboardInterrupt):
        main(argv)


def default_sigint() -> None:
    """In the child before exec: SIGINT back to its default, as in a terminal. A suite started in the background
    (`make test &`) inherits SIGINT ignored, and Python then never turns it into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_a_busy_command_leaves_nothing_half_written(tmp_path):
    """SIGINT to the process group (what Ctrl-C in a terminal sends) while `detect` writes its store: one line
    on stderr, status 130, and neither the store, its temporary file nor the report is left."""
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    for i in range(4):  # ~4 s of detection per 75 frames on 2 busy cores: still busy when interrupted
        write_video(videos / f"v{i}.mp4", n=150, size=(480, 360))
    assert main(["sample", "--root", str(videos), "--out", str(tmp_path / "index.json"), "--report",
                 str(tmp_path / "sample.csv"), *map(str, sorted(videos.iterdir()))]) == 0
    slow = json.dumps({"upsample": 2, "full_scan_every": 1})  # seconds per video
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "detect", "--index", str(tmp_path / "index.json"),
                             "--out", str(out / "d.h5"), "--report", str(out / "detect.csv"), "--params", slow],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    while not list(out.glob(".d.h5.tmp*")):  # the store is being written
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "detect never started its store"
        time.sleep(0.01)
    time.sleep(0.5)
    assert proc.poll() is None, "detect finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert (proc.returncode, stderr) == (130, "pipeline detect: interrupted; rerun to resume\n"), stderr
    assert stdout == "" and list(out.iterdir()) == []
