"""`check-data`: listed videos against present ones, per dataset, method and split, on generated trees."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from test_datasets import make_celebdf, make_dfdc, make_ffpp, tiny_splits, touch, write

from pipeline.__main__ import main

METHODS = ["Deepfakes", "FaceShifter"]


def fill(root: Path) -> None:
    """Give every video some bytes (the tree helpers create empty files)."""
    for path in root.rglob("*.mp4"):
        path.write_bytes(b"\0\0\0\x18ftypmp42")


def make_datasets(tmp_path: Path) -> dict:
    """FF++ (2 methods), DFDC, DeeperForensics with every FF++ id's end_to_end fake, Celeb-DF; all complete."""
    ffpp = make_ffpp(tmp_path / "ffpp", tiny_splits(), methods=METHODS)
    dfo = tmp_path / "dfo"
    touch(dfo, *(f"manipulated_videos/end_to_end/{i:03d}_M001.mp4" for i in range(10)))
    celebdf = make_celebdf(tmp_path / "celebdf", ["1 Celeb-real/id0_0000.mp4", "0 Celeb-synthesis/id0_id1_0000.mp4"])
    datasets = {"ffpp": ffpp, "dfdc": make_dfdc(tmp_path / "dfdc"), "celebdf": celebdf,
                "deeperforensics": {"root": str(dfo), "subset": "end_to_end"}}
    fill(tmp_path)
    return datasets


def check_data(tmp_path: Path, datasets: dict, *extra: str) -> tuple[int, str]:
    """Run the command; its exit status and the report it wrote (which it also printed)."""
    out = tmp_path / "results/check_data.md"
    rc = main(["check-data", "--params", json.dumps({"datasets": datasets}), "--out", str(out), *extra])
    return rc, out.read_text() if out.exists() else ""


def table(report: str) -> dict[tuple[str, str, str], tuple[int, ...]]:
    """(dataset, method, split) -> (listed, present, missing, empty) from the Markdown table."""
    rows = [line.strip("|").split("|") for line in report.splitlines() if re.match(r"\| \w+ \| .* \| \d+ \|$", line)]
    return {tuple(c.strip() for c in r[:3]): tuple(int(c) for c in r[3:]) for r in rows}


def flags(report: str) -> list[str]:
    return [line for line in report.splitlines() if line.startswith(("MISSING:", "PROBLEM:"))]


def test_complete_tree_passes_strict_and_prints_the_report(tmp_path, capsys):
    rc, report = check_data(tmp_path, make_datasets(tmp_path), "--strict")
    assert rc == 0 and capsys.readouterr().out == report and flags(report) == []
    rows = table(report)
    assert rows["ffpp", "real", "train"] == (6, 6, 0, 0) and rows["ffpp", "FaceShifter", "test"] == (2, 2, 0, 0)
    assert rows["deeperforensics", "end_to_end", "test"] == (2, 2, 0, 0)  # the FF++ test targets 008, 009
    assert rows["dfdc", "fake", "train"] == (8, 8, 0, 0) and rows["celebdf", "Celeb-synthesis", "test"] == (1, 1, 0, 0)
    assert list(rows)[:3] == [("ffpp", m, "train") for m in ("real", "Deepfakes", "FaceShifter")]
    assert report.count("| dataset | method |") == 1


def test_missing_method_folder_and_split_file_are_flagged_at_the_top(tmp_path, capsys):
    datasets = make_datasets(tmp_path)
    shutil.rmtree(tmp_path / "ffpp/manipulated_sequences/FaceShifter")
    (tmp_path / "ffpp/splits/val.json").unlink()
    (tmp_path / "dfdc/dfdc_train_part_2/metadata.json").unlink()
    rc, report = check_data(tmp_path, datasets)
    assert rc == 0
    assert flags(report) == ["MISSING: ffpp: file splits/val.json absent",
                             "MISSING: ffpp/FaceShifter: folder manipulated_sequences/FaceShifter/c23/videos absent",
                             "MISSING: dfdc: file dfdc_train_part_2/metadata.json absent"]
    assert report.index("MISSING:") < report.index("| dataset |")
    rows = table(report)
    assert rows["ffpp", "FaceShifter", "train"] == (6, 0, 6, 0) and ("ffpp", "real", "val") not in rows
    assert ("dfdc", "real", "val") not in rows

    assert check_data(tmp_path, datasets, "--strict")[0] == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pipeline check-data: error: ") and "3 folders or list files" in err[0]


def test_partial_download_counts_missing_and_zero_byte_videos(tmp_path, capsys):
    datasets = make_datasets(tmp_path)
    videos = tmp_path / "ffpp/original_sequences/youtube/c23/videos"
    (videos / "000.mp4").unlink()
    (videos / "001.mp4").unlink()
    (videos / "002.mp4").write_bytes(b"")
    (tmp_path / "dfo/manipulated_videos/end_to_end/009_M001.mp4").unlink()
    rc, report = check_data(tmp_path, datasets, "--strict")
    assert rc == 1
    rows = table(report)
    assert rows["ffpp", "real", "train"] == (6, 3, 2, 1) and rows["ffpp", "real", "test"] == (2, 2, 0, 0)
    assert rows["deeperforensics", "end_to_end", "test"] == (2, 1, 1, 0)
    assert flags(report) == [] and "3 missing, 1 empty (zero bytes)" in report
    assert "3 missing, 1 empty" in capsys.readouterr().err


def test_other_listing_problems_disabled_datasets_and_absent_roots(tmp_path):
    datasets = make_datasets(tmp_path)
    write(tmp_path / "celebdf", "List_of_testing_videos.txt", "1 Celeb-real/id0_0000.mp4\nnot a line\n")
    datasets["dfdc"]["enabled"] = False
    datasets["deeperforensics"]["root"] = str(tmp_path / "nowhere")
    rc, report = check_data(tmp_path, datasets)
    assert rc == 0
    assert flags(report) == [f"MISSING: deeperforensics: root {tmp_path / 'nowhere'} absent",
                             "PROBLEM: celebdf: a line: List_of_testing_videos.txt line 2: expected "
                             "'<1|0> <subdir>/<file>.mp4', got 'not a line'"]
    assert not any(key[0] == "dfdc" for key in table(report))


@pytest.mark.parametrize("params, message", [
    ("{not json", "--params is not a JSON object"),
    ('{"conditions": {}}', '--params has no "datasets" object'),
    ('{"datasets": {"dfdc": {"root": ".", "parts": {"train": [0], "test": [0]}}}}',
     "dfdc: dfdc parts: dfdc_train_part_0"),
    ('{"datasets": {"ffpp": {"methods": []}}}', "datasets.ffpp has no root"),
])
def test_bad_params_are_one_line(tmp_path, capsys, params, message):
    assert main(["check-data", "--params", params, "--out", str(tmp_path / "x.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"pipeline check-data: error: {message}")


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["check-data", "--help"])
    assert exit_info.value.code == 0 and "--strict" in capsys.readouterr().out
