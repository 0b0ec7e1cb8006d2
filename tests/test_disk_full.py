"""A full disk while writing a clip store, a checkpoint or the resume state leaves the previous complete
file (or none) under the final name, never a truncated one, and no temporary file; the command ends with
one line naming the file.

Each case runs twice: with the write failing part-way by monkeypatching (h5py's dataset write, `torch.save`)
and, where this machine lets the tests mount a 1 MiB tmpfs (root), on a really full file system.
"""
from __future__ import annotations

import errno
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import h5py
import pytest
import torch

from helpers_videos import write_video
from pipeline.__main__ import main
from pipeline.checkpoint import load_checkpoint, save_checkpoint
from pipeline.preprocess.detect import detect_shard
from pipeline.preprocess.params import DetectParams, SampleParams
from pipeline.preprocess.sample import sample_shard
from test_bad_bytes import tiny_models  # noqa: F401 - fixture
from test_data import make_clip_dataset
from test_kill_resume import h5_contents, temporaries
from test_train import params, train

torch.set_num_threads(1)
NO_SPACE = "No space left on device"
HDF5_NO_SPACE = ("Can't write data (file write failed: file descriptor = 3, errno = 28, "
                 f"error message = '{NO_SPACE}', total write size = 13952)")  # h5py's RuntimeError


@pytest.fixture(scope="module")
def tmpfs(tmp_path_factory) -> Iterator[Path]:
    """A 1 MiB tmpfs, or a skip where mounting is not permitted."""
    mount = tmp_path_factory.mktemp("tmpfs")
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True,
                       capture_output=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False, capture_output=True, timeout=20)


@pytest.fixture
def full_disk(tmpfs) -> Iterator[Path]:
    """A folder on the tmpfs; `fill(keep)` then leaves only `keep` bytes free."""
    folder = tmpfs / "work"
    folder.mkdir()
    yield folder
    shutil.rmtree(folder)


def fill(folder: Path, keep: int) -> None:
    """(Re)write a filler file so that about `keep` bytes stay free."""
    filler = folder / "filler"
    filler.unlink(missing_ok=True)
    filler.write_bytes(bytes(max(shutil.disk_usage(folder).free - keep, 0)))


def fail_hdf5_writes_after(monkeypatch, n: int) -> None:
    """h5py dataset writes succeed `n` times, then fail as h5py reports a full disk."""
    calls = {"n": 0}
    original = h5py.Dataset.__setitem__

    def write(self, key, value):
        calls["n"] += 1
        if calls["n"] > n:
            raise RuntimeError(HDF5_NO_SPACE)
        original(self, key, value)
    monkeypatch.setattr(h5py.Dataset, "__setitem__", write)


def fail_torch_save_after(monkeypatch, n: int) -> None:
    """`torch.save` succeeds `n` times, then writes some bytes and fails with ENOSPC."""
    calls = {"n": 0}
    original = torch.save

    def save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > n:
            f.write(b"\0" * 4096)
            raise OSError(errno.ENOSPC, NO_SPACE)
        original(obj, f, *args, **kwargs)
    monkeypatch.setattr(torch, "save", save)


def error_line(capsys) -> str:
    return capsys.readouterr().err.strip().splitlines()[-1]


# ---- clip stores: the `crop` command --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shard(tmp_path_factory) -> Path:
    """Two sampled and detected videos: `index.json` and `d.h5`."""
    root = tmp_path_factory.mktemp("shard")
    paths = []
    for i in range(2):
        paths.append(str(root / f"v{i}.mp4"))
        write_video(Path(paths[-1]), n=60)
    sample_shard(str(root), paths, root / "index.json", root / "rs.csv", SampleParams(fps=3))
    detect_shard(root / "index.json", root / "d.h5", root / "rd.csv", DetectParams())
    return root


def crop(shard: Path, out: Path, tmp: Path) -> int:
    return main(["crop", "--index", str(shard / "index.json"), "--detections", str(shard / "d.h5"), "--out", str(out),
                 "--summary", str(tmp / "c.csv"), "--report", str(tmp / "rc.csv"), "--params", '{"crop_size": 320}'])


def check_crop_on_a_full_disk(shard: Path, out: Path, tmp: Path, capsys, make_full) -> None:
    """A complete store stays under `out` when rewriting it runs out of space; without one nothing appears."""
    assert crop(shard, tmp / "complete.h5", tmp) == 0
    for previous in (None, tmp / "complete.h5"):
        if previous is not None:
            (out.parent / "filler").unlink(missing_ok=True)  # room for the previous store (tmpfs)
            shutil.copyfile(previous, out)
        make_full()
        assert crop(shard, out, tmp) == 2
        assert error_line(capsys) == f"pipeline crop: error: {out}: {NO_SPACE}"
        assert not temporaries(out)
        if previous is None:
            assert not out.exists()
        else:
            assert h5_contents(out) == h5_contents(previous)


def test_crop_keeps_the_previous_store_when_a_write_fails(shard, tmp_path, capsys, monkeypatch):
    check_crop_on_a_full_disk(shard, tmp_path / "c.h5", tmp_path, capsys,
                              lambda: fail_hdf5_writes_after(monkeypatch, 3))


def test_crop_keeps_the_previous_store_on_a_full_tmpfs(shard, tmp_path, full_disk, capsys):
    check_crop_on_a_full_disk(shard, full_disk / "c.h5", tmp_path, capsys, lambda: fill(full_disk, 64 << 10))


# ---- checkpoints ----------------------------------------------------------------------------------------------

def checkpoint(path: Path, value: float) -> None:
    save_checkpoint(path, model="m", state_dict={"w": torch.full((4096,), value)}, config={}, preprocess={})


def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    checkpoint(path, 1.0)
    fail_torch_save_after(monkeypatch, 0)
    with pytest.raises(OSError) as caught:
        checkpoint(path, 2.0)
    assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(path))
    assert load_checkpoint(path)["state_dict"]["w"][0] == 1.0 and not temporaries(path)


def test_a_checkpoint_on_a_full_tmpfs_keeps_the_previous_one(full_disk):
    path = full_disk / "model.pt"
    checkpoint(path, 1.0)
    fill(full_disk, 8 << 10)  # the checkpoint needs ~17 KB
    with pytest.raises(OSError) as caught:
        checkpoint(path, 2.0)
    assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(path))
    assert load_checkpoint(path)["state_dict"]["w"][0] == 1.0 and not temporaries(path)
    path.unlink()
    fill(full_disk, 8 << 10)
    with pytest.raises(OSError):
        checkpoint(path, 2.0)
    assert not path.exists() and not temporaries(path)


# ---- resume state: the `train` command ------------------------------------------------------------------------

def check_train_state_on_a_full_disk(tmp: Path, state: Path, capsys, caplog, make_full, free_again) -> None:
    """Epoch 1 saved; epoch 2's save fails: one error line, epoch 1's state intact; a rerun resumes from it."""
    manifests = make_clip_dataset(tmp / "clips")
    assert train(manifests, tmp / "out1", state, params(epochs=1)) == 0
    make_full()
    assert train(manifests, tmp / "out", state, params(epochs=2)) == 2
    line = error_line(capsys)
    assert line in (f"pipeline train: error: {state / name}: {NO_SPACE}" for name in ("best.pt", "last.pt")), line
    assert not temporaries(state / "best.pt") and not temporaries(state / "last.pt")
    assert torch.load(state / "last.pt", weights_only=True)["run"]["epoch"] == 1
    free_again()
    with caplog.at_level("INFO", logger="pipeline.train"):
        assert train(manifests, tmp / "out", state, params(epochs=2)) == 0
    meta = json.loads((tmp / "out" / "meta.json").read_text())
    assert meta["epochs_run"] == 2 and "resuming after epoch 1" in caplog.text


@pytest.mark.usefixtures("tiny_models")
def test_training_keeps_its_last_state_when_a_save_fails(tmp_path, capsys, caplog):
    with pytest.MonkeyPatch.context() as failing:
        check_train_state_on_a_full_disk(tmp_path, tmp_path / "state", capsys, caplog,
                                         lambda: fail_torch_save_after(failing, 0), failing.undo)


@pytest.mark.usefixtures("tiny_models")
def test_training_keeps_its_last_state_on_a_full_tmpfs(tmp_path, full_disk, capsys, caplog):
    check_train_state_on_a_full_disk(tmp_path, full_disk / "state", capsys, caplog, lambda: fill(full_disk, 0),
                                     (full_disk / "filler").unlink)
