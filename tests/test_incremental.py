"""Incremental reruns: after a finished run, a change plans exactly the jobs it affects.

One real run of the tiny demo up to the DFDC manifests (demo data, sample/detect/crop per shard,
report, manifests), in a private copy of the workflow (so touching a code file cannot disturb the
repository or anyone's results), then dry runs (`-n`, default `--rerun-triggers`) after each change:
  (a) changing one video        -> its shard's sample/detect/crop + report + manifests, no other shard
      (its content; and a mere `touch` when the file is above Snakemake's checksum threshold, as real
      videos are: Snakemake 9 checksums inputs <= --max-checksum-file-size (1 MB) and ignores a newer
      mtime when the checksum is unchanged, so touching a small demo video or a code file is a no-op);
  (b) adding one video          -> the same, for the shard it hashes to (and the listing includes it);
  (c) a crop parameter changes  -> every crop_faces job, and detect_faces to recreate the temporary
      pre-crops crop cuts from, + downstream, no sample job;
  (d) a code file is edited     -> the stages that declare it (rules/*.smk `code(...)`) + downstream;
      a comment, docstring or layout edit -> nothing (the fingerprints of pipeline/codedeps.py).
A second run trains four detectors under two conditions, then:
  (e) a detector's module is edited -> that detector's runs (and those of detectors built on it) + downstream;
      a comment in it -> nothing; its `hparams` change -> its runs + downstream.
Each change is undone (file times restored) before the next check, and a no-change dry run plans
nothing.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from helpers_workflow import PrivateWorkflow

pytestmark = pytest.mark.slow

# The tiny demo; DFDC alone (metadata-listed, so a video can be added), 4 shards so that shards differ.
DEMO = {"identities": 6, "seconds": 2, "dfdc_parts": 3, "dfdc_videos_per_part": 3, "celebdf_videos": 2}
OVERRIDES = {
    "demo": DEMO,
    "models": ["efficientnet_b3"],
    "conditions": {"all": []},
    "datasets": {"dfdc": {"parts": {"train": [0], "val": [1], "test": [2]}, "shards": 4}},
}
DOWNSTREAM = {"preprocess_report", "manifests_dfdc"}
STAGES = ("sample_frames", "detect_faces", "crop_faces")


@dataclass
class PlannedJob:
    rule: str
    wildcards: dict[str, str]
    reason: str


def parse_dry_run(stdout: str) -> list[PlannedJob]:
    """Jobs of a `snakemake -n` listing: rule, wildcards and reason of each job block."""
    jobs: list[PlannedJob] = []
    for line in stdout.splitlines():
        head = re.match(r"^(?:local)?(?:rule|checkpoint) (\S+):$", line)
        if head:
            jobs.append(PlannedJob(head.group(1), {}, ""))
        elif jobs and line.startswith("    wildcards: "):
            pairs = line.split(": ", 1)[1].split(", ")
            jobs[-1].wildcards = dict(p.split("=", 1) for p in pairs if "=" in p)
        elif jobs and line.startswith("    reason: "):
            jobs[-1].reason = line.split(": ", 1)[1]
    return jobs


class Workflow(PrivateWorkflow):
    """The tiny DFDC workflow, run with fixed targets."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp, OVERRIDES, ("dfdc",))
        self.dfdc_root = Path(self.cfg["datasets"]["dfdc"]["root"])
        self.targets = [str(self.results / "manifests/dfdc/counts.csv"),
                        str(self.results / "preprocess/dfdc/report.csv")]

    def snakemake(self, *args: str, lock: bool = False, timeout: float = 900) -> subprocess.CompletedProcess:
        return super().snakemake(*args, *self.targets, lock=lock, timeout=timeout)

    def plan(self, *args: str) -> list[PlannedJob]:
        result = self.snakemake("-n", *args)
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        return parse_dry_run(result.stdout)

    def shards_of_videos(self) -> dict[str, str]:
        """video_id -> shard (zero-padded) from the sample indexes the run wrote."""
        out = {}
        for index in sorted((self.results / "preprocess/dfdc/index").glob("shard*.json")):
            for video in json.loads(index.read_text())["videos"]:
                out[video["video_id"]] = index.stem.removeprefix("shard")
        return out


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Workflow:
    wf = Workflow(tmp_path_factory.mktemp("incremental"))
    result = wf.snakemake("--cores", "2")
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    wf.first_run = result.stdout + result.stderr
    return wf


def summary(jobs: list[PlannedJob]) -> dict[str, set[str]]:
    """rule -> shards (or {""} for rules without a shard wildcard)."""
    out: dict[str, set[str]] = {}
    for job in jobs:
        out.setdefault(job.rule, set()).add(job.wildcards.get("shard", ""))
    return out


class restored:
    """Context manager: put back the content and access/modification times of `paths` on exit."""

    def __init__(self, *paths: Path) -> None:
        self.saved = {p: (p.read_bytes() if p.is_file() else None, os.stat(p)) for p in paths}

    def __enter__(self) -> "restored":
        return self

    def __exit__(self, *exc: object) -> None:
        for path, (data, st) in self.saved.items():
            if data is not None:
                path.write_bytes(data)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def bump(path: Path) -> None:
    """Make `path` newer than anything the run wrote (now + 10 s, robust to coarse file times)."""
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, time.time_ns() + 10_000_000_000))


def test_nothing_to_do_after_the_run(workflow):
    assert workflow.plan() == []


def test_pre_crops_live_only_while_their_shard_is_in_flight(workflow):
    """At --cores 2 at most 2 shards' temporary pre-crop stores exist at any moment, and none is left at the
    end (the disk claim of docs/benchmarks.md). Snakemake's scheduler already interleaves detect and crop here; crop_faces'
    `priority` makes that a rule rather than a scheduling habit, so this checks the claim, not the priority."""
    live, peak, made = 0, 0, 0
    for line in workflow.first_run.splitlines():
        if re.match(r"Finished jobid: \d+ \(Rule: detect_faces\)", line):
            live, made = live + 1, made + 1
            peak = max(peak, live)
        elif line.startswith("Removing temporary output") and "/precrops/" in line:
            live -= 1
    assert made == OVERRIDES["datasets"]["dfdc"]["shards"] and live == 0
    assert peak <= 2
    assert not list((workflow.results / "preprocess/dfdc/precrops").glob("*.h5"))


def _one_video_per_shard(workflow: Workflow) -> tuple[str, str, str]:
    """(video_id, its shard, a video of ANOTHER shard)."""
    shards = workflow.shards_of_videos()
    assert len(set(shards.values())) >= 2, f"the test needs videos in 2+ shards: {shards}"
    video_id, shard = sorted(shards.items())[0]
    other = next(v for v, s in sorted(shards.items()) if s != shard)
    return video_id, shard, other


def _expect_one_shard(jobs: list[PlannedJob], shard: str) -> None:
    assert summary(jobs) == {**{s: {shard} for s in STAGES}, **{r: {""} for r in DOWNSTREAM}}, jobs
    sample = next(j for j in jobs if j.rule == "sample_frames")
    assert "input" in sample.reason.lower(), sample


def test_changing_one_video_reruns_only_its_shard(workflow):
    video_id, shard, other = _one_video_per_shard(workflow)
    path = workflow.dfdc_root / video_id
    with restored(path):
        shutil.copyfile(workflow.dfdc_root / other, path)  # new content (a re-encoded/replaced video)
        bump(path)
        jobs = workflow.plan()
    _expect_one_shard(jobs, shard)
    assert workflow.plan() == []


def test_touching_one_large_video_reruns_only_its_shard(workflow):
    """Real videos exceed the checksum threshold: then a newer mtime alone means "changed"."""
    video_id, shard, _ = _one_video_per_shard(workflow)
    path = workflow.dfdc_root / video_id
    with restored(path):
        bump(path)
        assert workflow.plan() == [], "same content, small file: Snakemake's checksum says unchanged"
        jobs = workflow.plan("--max-checksum-file-size", "1")  # as if every video were > 1 MB
    _expect_one_shard(jobs, shard)
    assert workflow.plan() == []


def test_adding_one_video_reruns_only_its_shard(workflow):
    from pipeline.config import n_shards
    from pipeline.datasets import list_videos
    from pipeline.io import shard_of

    cfg = yaml.safe_load(workflow.config.read_text())
    part = workflow.dfdc_root / "dfdc_train_part_0"
    metadata_path = part / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    name, entry = next((n, e) for n, e in metadata.items() if (part / n).exists())
    new_name = "added_video_0001.mp4"
    new_id = f"dfdc_train_part_0/{new_name}"
    before = {ref.video_id for ref in list_videos("dfdc", cfg["datasets"]["dfdc"]).videos}
    original_text = metadata_path.read_text()
    with restored(metadata_path, part):
        try:
            shutil.copy2(part / name, part / new_name)
            metadata_path.write_text(json.dumps({**metadata, new_name: entry}))
            after = {ref.video_id for ref in list_videos("dfdc", cfg["datasets"]["dfdc"]).videos}
            assert after - before == {new_id}, "the listing must pick up exactly the added video"
            jobs = workflow.plan()
        finally:
            (part / new_name).unlink(missing_ok=True)
            metadata_path.write_text(original_text)
    shard = f"{shard_of(new_id, n_shards(cfg, 'dfdc')):03d}"
    assert summary(jobs) == {**{s: {shard} for s in STAGES}, **{r: {""} for r in DOWNSTREAM}}, jobs
    sample = next(j for j in jobs if j.rule == "sample_frames")
    assert "input" in sample.reason.lower(), sample
    assert workflow.plan() == []


def test_changing_a_crop_parameter_reruns_crop_and_downstream_only(workflow):
    original = workflow.config.read_text()
    cfg = yaml.safe_load(original)
    cfg["preprocess"]["margin"] = float(cfg["preprocess"]["margin"]) + 0.1
    try:
        workflow.config.write_text(yaml.safe_dump(cfg, sort_keys=False))
        jobs = workflow.plan()
    finally:
        workflow.config.write_text(original)
    all_shards = {f"{k:03d}" for k in range(OVERRIDES["datasets"]["dfdc"]["shards"])}
    assert summary(jobs) == {"detect_faces": all_shards, "crop_faces": all_shards,
                             **{r: {""} for r in DOWNSTREAM}}, jobs
    crop = next(j for j in jobs if j.rule == "crop_faces")
    assert "params" in crop.reason.lower(), crop
    assert workflow.plan() == []


SHARDED = "all shards"


@pytest.mark.parametrize(
    ("code_file", "expected"),
    [
        # Clip stores are written by detect (the temporary pre-crops) and crop.
        ("pipeline/store.py", {"detect_faces": SHARDED, "crop_faces": SHARDED, "preprocess_report": "",
                               "manifests_dfdc": ""}),
        # crop's own module: crop cuts from detect's temporary pre-crops, so detect reruns to recreate them.
        ("pipeline/preprocess/crop.py", {"detect_faces": SHARDED, "crop_faces": SHARDED, "preprocess_report": "",
                                         "manifests_dfdc": ""}),
        # The report merger: only the report.
        ("pipeline/preprocess/report.py", {"preprocess_report": ""}),
    ],
)
def test_changing_a_stage_code_file_reruns_that_stage_and_downstream(workflow, code_file, expected):
    path = workflow.dir / code_file
    with restored(path):
        path.write_text(path.read_text() + "\n_EDITED = True\n")  # code: the module's syntax tree changes
        bump(path)
        jobs = workflow.plan()
    all_shards = {f"{k:03d}" for k in range(OVERRIDES["datasets"]["dfdc"]["shards"])}
    want = {rule: (all_shards if shards == SHARDED else {shards}) for rule, shards in expected.items()}
    assert summary(jobs) == want, jobs
    assert all(any(w in j.reason.lower() for w in ("input", "code", "missing output")) for j in jobs), jobs
    assert workflow.plan() == []


@pytest.mark.parametrize("edit", ["\n# a comment\n", '\n\ndef _f():\n    """A docstring."""\n', "\n\n\n"])
def test_a_comment_docstring_or_layout_edit_reruns_nothing(workflow, edit):
    path = workflow.dir / "pipeline/preprocess/crop.py"
    with restored(path):
        text = path.read_text()
        path.write_text(text + edit if "def _f" not in edit else text)
        if "def _f" in edit:  # a docstring edit: the module's own docstring changes
            path.write_text(text.replace('"""', '"""An edited docstring. ', 1))
        bump(path)
        assert workflow.plan() == []
    assert workflow.plan() == []


# ---- detectors ------------------------------------------------------------------------------------------------

MODELS = ["efficientnet_b3", "efficientnet_b3_lstm", "efficientnet_b3_bigru", "i3d_rgb"]
MODEL_OVERRIDES = {"demo": DEMO, "models": MODELS, "conditions": {"all": [], "wo_DF": ["Deepfakes"]},
                   "evaluate": {"gradcam": {"model": "i3d_rgb"}}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> PrivateWorkflow:
    """Four detectors (three built on EfficientNet-B3) trained on the tiny FF++ under two conditions, evaluated,
    tabled and plotted."""
    wf = PrivateWorkflow(tmp_path_factory.mktemp("detectors"), MODEL_OVERRIDES, ("ffpp",))
    cfg = yaml.safe_load(wf.config.read_text())
    cfg["demo"]["overrides"]["robustness"] = {"models": []}  # the sweep is tested elsewhere
    wf.config.write_text(yaml.safe_dump(cfg))
    result = wf.snakemake("--cores", "2", "--replace-workflow-config")
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return wf


def model_plan(wf: PrivateWorkflow) -> dict[str, set[str]]:
    """rule -> models of the jobs a dry run plans ({""} for jobs without a model)."""
    result = wf.snakemake("-n", "--replace-workflow-config")
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    out: dict[str, set[str]] = {}
    for job in parse_dry_run(result.stdout):
        out.setdefault(job.rule, set()).add(job.wildcards.get("model", ""))
    return out


DOWNSTREAM_OF_TRAINING = {"collect_metrics": {""}, "tables": {""}, "tsne_figure": {""}, "families_figure": {""},
                          "all": {""}}


@pytest.mark.parametrize(("module", "rerun"), [
    ("pipeline/models/i3d_rgb.py", {"i3d_rgb"}),
    # the sequence models are built from EfficientNet-B3's module and start from its trained checkpoint
    ("pipeline/models/efficientnet_b3.py", {"efficientnet_b3", "efficientnet_b3_lstm", "efficientnet_b3_bigru"}),
])
def test_editing_a_detector_reruns_only_its_runs_and_downstream(trained, module, rerun):
    path = trained.dir / module
    with restored(path):
        path.write_text(path.read_text() + "\n# a comment\n")
        bump(path)
        assert model_plan(trained) == {}, "a comment reran jobs"
        path.write_text(path.read_text() + "\n_EDITED = True\n")
        bump(path)
        plan = model_plan(trained)
    gradcam = {"gradcam_figure": {""}} if "i3d_rgb" in rerun else {}
    assert plan == {"train_model": rerun, "evaluate_model": rerun, **DOWNSTREAM_OF_TRAINING, **gradcam}, plan
    assert model_plan(trained) == {}


def test_changing_one_models_hparams_reruns_only_its_runs(trained):
    original = trained.config.read_text()
    cfg = yaml.safe_load(original)
    cfg["demo"]["overrides"]["hparams"]["i3d_rgb"]["lr"] = 0.0123  # the demo's overrides win over `hparams`
    try:
        trained.config.write_text(yaml.safe_dump(cfg))
        plan = model_plan(trained)
    finally:
        trained.config.write_text(original)
    assert plan == {"train_model": {"i3d_rgb"}, "evaluate_model": {"i3d_rgb"}, "gradcam_figure": {""},
                    **DOWNSTREAM_OF_TRAINING}, plan
    assert model_plan(trained) == {}
