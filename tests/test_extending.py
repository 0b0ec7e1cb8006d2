"""docs/extending.md, walked through: each file it tells a reader to write is taken from the page as written,
and the workflow's real rules run with it, in a private copy of the workflow.

- a detector: one new module plus its name in `models:` trains, evaluates and appears in Table 1; the same
  file outside the package, named under `plugins:`, does too;
- a test-only dataset: one new module plus its `datasets:` section is preprocessed, gets its manifests, is
  tested by the FF++ `all` models and appears in the cross-dataset table;
- a table: one new module, its line in `TABLES` and its caption give a new table.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from helpers_workflow import ROOT, WORKFLOW_FILES, PrivateWorkflow

pytestmark = pytest.mark.slow

GUIDE = ROOT / "docs" / "extending.md"
TINY_DEMO = {"identities": 6, "seconds": 2, "dfdc_parts": 2, "dfdc_videos_per_part": 3, "celebdf_videos": 1}


def guide_files() -> dict[str, str]:
    """`{path: content}` of every file the guide tells the reader to write (a `<!-- file: PATH -->` marker
    followed by a fenced block)."""
    pattern = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", re.S)
    return {path: body for path, body in pattern.findall(GUIDE.read_text())}


def workflow_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for name in WORKFLOW_FILES for p in ([root / name] if (root / name).is_file()
            else (root / name).rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The tiny demo with FF++ alone, Table 1's `all` and `wo_DF` runs, and the guide's detector added twice:
    as a module of the package and as a plugin file outside it."""
    tmp = tmp_path_factory.mktemp("extending")
    files = guide_files()
    plugin = tmp / "my_lab" / "detectors.py"
    plugin.parent.mkdir()
    plugin.write_text(files["pipeline/models/tiny3d.py"].replace('name="tiny3d"', 'name="tiny3d_plugin"')
                      .replace('display="Tiny3D"', 'display="Tiny3D plugin"'))
    overrides = {"demo": TINY_DEMO, "models": ["efficientnet_b3", "tiny3d", "tiny3d_plugin"],
                 "plugins": [str(plugin)], "conditions": {"all": [], "wo_DF": ["Deepfakes"]},
                 "robustness": {"models": []}, "evaluate": {"perturbation": {"models": []}}}
    wf = PrivateWorkflow(tmp, overrides, ("ffpp",))
    cfg = yaml.safe_load(wf.config.read_text())
    cfg["demo"]["overrides"]["robustness"] = {"models": []}
    wf.config.write_text(yaml.safe_dump(cfg))
    (wf.dir / "pipeline/models/tiny3d.py").write_text(files["pipeline/models/tiny3d.py"])
    result = wf.snakemake("-c2", "--replace-workflow-config", str(wf.results / "tables/tables.md"))
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    return wf, files


def test_a_detector_is_one_file_and_one_config_line(run):
    wf, _ = run
    assert workflow_files(wf.dir) - workflow_files(ROOT) == {"pipeline/models/tiny3d.py"}
    table1 = pd.read_csv(wf.results / "tables/table1.csv")
    models = set(table1.iloc[:, 0])
    assert {"Tiny3D", "Tiny3D plugin", "EfficientNet-B3"} <= models, models
    for name in ("tiny3d", "tiny3d_plugin"):
        for condition in ("all", "wo_DF"):
            assert (wf.results / f"eval/ffpp/{condition}/{name}/seed0/ffpp.metrics.csv").is_file()


def test_a_test_only_dataset_is_one_file_and_one_config_section(run):
    wf, files = run
    (wf.dir / "pipeline/datasets/folders.py").write_text(files["pipeline/datasets/folders.py"])
    videos = wf.results.parent / "demo_data" / "FaceForensics++"
    root = wf.results.parent / "my_videos"
    for folder, source in (("real", "original_sequences/youtube/c23/videos"),
                           ("fake", "manipulated_sequences/FaceSwap/c23/videos")):
        (root / folder).mkdir(parents=True)
        for video in sorted((videos / source).glob("*.mp4"))[:2]:
            shutil.copy2(video, root / folder / video.name)
    cfg = yaml.safe_load(wf.config.read_text())
    cfg["datasets"]["folders"] = {"root": str(root)}
    wf.config.write_text(yaml.safe_dump(cfg))
    result = wf.snakemake("-c2", "--replace-workflow-config", str(wf.results / "tables/tables.md"))
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    manifest = pd.read_csv(wf.results / "manifests/folders/all/test.csv")
    assert sorted(manifest["label"]) == [0, 0, 1, 1]
    cross = pd.read_csv(wf.results / "tables/table_cross.csv")
    assert "Folders" in cross.columns and cross["Folders"].notna().all()


def test_a_table_is_one_module_one_line_and_a_caption(run):
    wf, files = run
    for path in ("pipeline/tables/auc.py", "report/table_auc.rst"):
        (wf.dir / path).write_text(files[path])
    index = wf.dir / "pipeline/tables/__init__.py"
    text = index.read_text()
    index.write_text(text.replace('\n}\n', '\n    "table_auc": "pipeline.tables.auc:table_auc",\n}\n', 1))
    result = wf.snakemake("-c2", "--replace-workflow-config", str(wf.results / "tables/tables.md"))
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    table = pd.read_csv(wf.results / "tables/table_auc.csv")
    assert set(table.columns[1:]) >= {"all", "wo_DF"} and "Tiny3D" in set(table.iloc[:, 0])
    assert "Video-level AUC (%) on the FF++ test set, per training condition." in (wf.results / "tables/tables.md").read_text()
