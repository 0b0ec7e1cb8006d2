"""config/paper.yaml plans the paper's experiments at full size: a tree of empty files with the real
datasets' layout and sizes (1,000 FF++ originals with the official 360/70/70 split pairs and all five
methods' fakes, 50 DFDC part folders, DeeperForensics end_to_end fakes of every FF++ id, Celeb-DF v2's
test list, DFD's actors and DeepFakeDetection folders inside FF++), planned with
`snakemake -n --configfile ... --replace-workflow-config`.

Manifests are written by jobs, not at plan time, so their sizes are checked by calling the manifests
code on the same listing.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from helpers_workflow import ROOT, planned_jobs, snakemake_command

from pipeline.config import as_json
from pipeline.datasets import FAKE, REAL, list_dataset
from pipeline.manifests import Crops, build_manifests, dataset_listing

PAPER = ROOT / "config" / "paper.yaml"
METHODS = ["Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter"]
SPLIT_PAIRS = {"train": 360, "val": 70, "test": 70}  # FF++'s official split: 720/140/140 originals
DFDC_PARTS, DFDC_FAKES, DFDC_REALS = 50, 300, 60  # per part folder: enough that the val fake cap bites
CELEBDF_REAL, CELEBDF_FAKE = 178, 340  # Celeb-DF v2's List_of_testing_videos.txt
DFD_REAL, DFD_FAKE = 363, 3068  # DeepFakeDetection, shipped inside FF++
FOLDERS = {"ffpp": "FaceForensics++", "dfdc": "DFDC", "deeperforensics": "DeeperForensics-1.0",
           "celebdf": "Celeb-DF-v2", "dfd": "FaceForensics++"}


def touch_all(root: Path, relpaths) -> int:
    n = 0
    made: set[Path] = set()
    for rel in relpaths:
        path = root / rel
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.touch()
        n += 1
    return n


def write_text(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def ffpp_pairs() -> dict[str, list[list[str]]]:
    pairs = [[f"{2 * i:03d}", f"{2 * i + 1:03d}"] for i in range(500)]
    out, start = {}, 0
    for split, n in SPLIT_PAIRS.items():
        out[split], start = pairs[start:start + n], start + n
    return out


def make_ffpp(root: Path) -> int:
    splits = ffpp_pairs()
    for split, pairs in splits.items():
        write_text(root, f"splits/{split}.json", json.dumps(pairs))
    ids = [i for pairs in splits.values() for pair in pairs for i in pair]
    files = [f"original_sequences/youtube/c23/videos/{i}.mp4" for i in ids]
    files += [f"manipulated_sequences/{m}/c23/videos/{t}_{s}.mp4" for m in METHODS
              for pairs in splits.values() for a, b in pairs for t, s in ((a, b), (b, a))]
    return touch_all(root, files)


def make_dfdc(root: Path) -> int:
    n = 0
    for part in range(DFDC_PARTS):
        folder = f"dfdc_train_part_{part}"
        reals = [f"p{part}r{i:03d}.mp4" for i in range(DFDC_REALS)]
        meta = {name: {"label": "REAL", "split": "train"} for name in reals}
        meta |= {f"p{part}f{i:03d}.mp4": {"label": "FAKE", "split": "train", "original": reals[i % DFDC_REALS]}
                 for i in range(DFDC_FAKES)}
        write_text(root, f"{folder}/metadata.json", json.dumps(meta))
        n += touch_all(root, (f"{folder}/{name}" for name in meta))
    return n


def make_deeperforensics(root: Path) -> int:
    names = [f"{i:03d}_{'WM'[i % 2]}{i % 100:03d}.mp4" for i in range(1000)]
    for split, chunk in (("train", names[:700]), ("val", names[700:800]), ("test", names[800:])):
        write_text(root, f"lists/splits/{split}.txt", "\n".join(chunk) + "\n")
    return touch_all(root, (f"manipulated_videos/end_to_end/{n}" for n in names))


def make_celebdf(root: Path) -> int:
    reals = [f"Celeb-real/id{i}_{i % 10:04d}.mp4" for i in range(108)]
    reals += [f"YouTube-real/{i:05d}.mp4" for i in range(CELEBDF_REAL - 108)]
    fakes = [f"Celeb-synthesis/id{i}_id{i + 1}_{i % 10:04d}.mp4" for i in range(CELEBDF_FAKE)]
    lines = [f"1 {r}" for r in reals] + [f"0 {f}" for f in fakes]
    write_text(root, "List_of_testing_videos.txt", "\n".join(lines) + "\n")
    extra = [f"Celeb-synthesis/id{i}_id{i + 2}_0000.mp4" for i in range(20)]  # not in the test list
    return touch_all(root, reals + fakes + extra)


def make_dfd(root: Path) -> int:
    reals = [f"original_sequences/actors/c23/videos/{i % 28 + 1:02d}__scene{i:03d}.mp4" for i in range(DFD_REAL)]
    fakes = [f"manipulated_sequences/DeepFakeDetection/c23/videos/{i % 28 + 1:02d}_{(i + 1) % 28 + 1:02d}__"
             f"scene{i % DFD_REAL:03d}__{i:08d}.mp4" for i in range(DFD_FAKE)]
    return touch_all(root, reals + fakes)


@pytest.fixture(scope="module")
def paper_tree(tmp_path_factory):
    """(config path, config) of config/paper.yaml with its roots pointed at a full-size tree of empty files."""
    tmp = tmp_path_factory.mktemp("paper")
    makers = {"ffpp": make_ffpp, "dfdc": make_dfdc, "deeperforensics": make_deeperforensics,
              "celebdf": make_celebdf, "dfd": make_dfd}
    cfg = yaml.safe_load(PAPER.read_text())
    n_files = 0
    for name, make in makers.items():
        root = tmp / "data" / FOLDERS[name]
        n_files += make(root)
        cfg["datasets"][name]["root"] = str(root)
    assert 20_000 <= n_files <= 30_000, n_files
    cfg["results"] = str(tmp / "results")
    path = tmp / "paper.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path, cfg


def test_paper_config_is_complete_and_valid():
    text = PAPER.read_text()
    cfg = yaml.safe_load(text)
    validate(cfg, str(ROOT / "schemas" / "config.schema.yaml"))  # also fills in schema defaults
    assert cfg["demo"] == {"enabled": False}, "no demo setting may leak into a real-data run"
    workflow = yaml.safe_load((ROOT / "workflow_config.yaml").read_text())
    assert set(workflow) - {"demo"} <= set(cfg), "every section of the default config is set"
    for section in ("preprocess", "train", "evaluate"):
        assert set(workflow[section]) <= set(cfg[section]), section
    placeholders = [line for line in text.splitlines() if "root: /path/to/" in line]
    assert len(placeholders) == 5 and all("# <- set" in line for line in placeholders)
    dfdc = cfg["datasets"]["dfdc"]
    assert (dfdc["parts"]["train"], dfdc["parts"]["val"], dfdc["parts"]["test"]) == (
        list(range(40)), list(range(40, 45)), list(range(45, 50)))
    assert dfdc["caps"] == {"train": {"real": 10000, "fake": 50000}, "val": {"real": 500, "fake": 500},
                            "test": {"real": 2500, "fake": 2500}}
    assert cfg["datasets"]["ffpp"]["compression"] == "c23" and cfg["datasets"]["ffpp"]["methods"] == METHODS
    assert cfg["datasets"]["deeperforensics"]["split"] == "ffpp"
    assert cfg["evaluate"]["stride"]["ffpp"] == 16 and cfg["evaluate"]["stride"]["dfdc"] == 2
    assert cfg["pretrained"]["allow_random_init"] is False
    assert cfg["preprocess"]["crop_size"] == 320 and cfg["train"]["image_size"] is None
    assert "hparams" not in cfg  # Appendix A.4 is each card's default (tests/test_models.py checks the cards)
    assert len(cfg["conditions"]) == 10  # all, 5 leave-one-out (Tables 1, B.6), 4 group leave-outs (Table 3)


# The paper's method groups, written out from its text (§4.2.2, "Generalization to New Tasks and Architectures":
# "DF, NT, and Fshi all involve decoder networks for synthesis, while F2F and FS are morphable mask models
# ... DF, FS and Fshi perform facial swapping while NT and F2F perform reenactment"); abbreviations as in the
# caption of Table B.6. Not read from the code, so a wrong group in a config or in the tables' names fails.
SHORT = {"DF": "Deepfakes", "F2F": "Face2Face", "FS": "FaceSwap", "NT": "NeuralTextures", "FShi": "FaceShifter"}
PAPER_GROUPS = {  # condition leaving the group out: (Table 3 average column, the group's methods)
    "wo_MM": ("MM", {"F2F", "FS"}),  # morphable mask (Table 3 top)
    "wo_decoder": ("learned", {"DF", "NT", "FShi"}),  # learned decoder (Table 3 top)
    "wo_swap": ("swap", {"DF", "FS", "FShi"}),  # face swapping (Table 3 bottom)
    "wo_reenact": ("reenact", {"F2F", "NT"}),  # facial reenactment (Table 3 bottom)
}
PAPER_CONDITIONS = {  # condition -> FF++ methods left out of training and validation
    "all": set(),  # Table 1 left, Table B.6
    **{f"wo_{short}": {method} for short, method in SHORT.items()},  # Table 1 right, Table B.6
    **{condition: {SHORT[s] for s in group} for condition, (_, group) in PAPER_GROUPS.items()},  # Table 3
}


def test_the_paper_groups_split_the_five_methods_two_ways():
    """The literals above: architecture and task each split FF++'s five methods into two disjoint groups."""
    for first, second in (("wo_MM", "wo_decoder"), ("wo_swap", "wo_reenact")):
        a, b = PAPER_GROUPS[first][1], PAPER_GROUPS[second][1]
        assert not a & b and a | b == set(SHORT)
    assert sorted(SHORT.values()) == sorted(METHODS)


@pytest.mark.parametrize("config", ["workflow_config.yaml", "config/paper.yaml"])
def test_conditions_leave_out_the_paper_groups(config):
    conditions = yaml.safe_load((ROOT / config).read_text())["conditions"]
    assert {name: set(methods) for name, methods in conditions.items()} == PAPER_CONDITIONS
    assert all(len(methods) == len(set(methods)) for methods in conditions.values())  # no method listed twice


def test_table_names_are_the_paper_groups():
    from pipeline.tables.names import GROUPS_ARCHITECTURE, GROUPS_TASK, LEAVE_ONE_OUT
    from pipeline.tables.names import METHODS as SHORT_NAMES

    assert SHORT_NAMES == {method: short for short, method in SHORT.items()}
    assert LEAVE_ONE_OUT == {f"wo_{short}": method for short, method in SHORT.items()}
    halves = ((GROUPS_ARCHITECTURE, ["wo_MM", "wo_decoder"]), (GROUPS_TASK, ["wo_swap", "wo_reenact"]))
    for groups, conditions in halves:
        assert [g.condition for g in groups] == conditions
        for g in groups:
            label, methods = PAPER_GROUPS[g.condition]
            assert g.label == label and sorted(g.methods) == sorted(SHORT[s] for s in methods), g.condition


def shards(cfg: dict, name: str) -> int:
    return cfg["datasets"][name].get("shards", cfg["preprocess"]["shards"])


@pytest.fixture(scope="module")
def paper_plan(paper_tree) -> str:
    """The printed dry run (jobs, their inputs and shell commands) of the full-size paper config."""
    path, _ = paper_tree
    command = snakemake_command(ROOT, path, "-n", "-p", "--replace-workflow-config")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result.stdout


def planned(out: str) -> list[tuple[str, str, str]]:
    """(rule, input line, shell command) of every job of a printed dry run."""
    jobs, rule, inputs = [], None, ""
    for line in out.splitlines():
        if match := re.match(r"(?:local)?rule (\w+):$", line):
            rule, inputs = match.group(1), ""
        elif rule and line.startswith("    input: "):
            inputs = line[len("    input: "):]
        elif rule and line.startswith("Shell command: "):
            jobs.append((rule, inputs, line[len("Shell command: "):]))
            rule = None
    return jobs


def params_of(command: str) -> dict:
    return json.loads(re.search(r"--params '(\{.*?\})'", command).group(1))


def test_paper_plan_counts_every_experiment(paper_tree, paper_plan):
    _, cfg = paper_tree
    jobs = planned_jobs(subprocess.CompletedProcess([], 0, paper_plan, ""))
    n_shards = sum(shards(cfg, d) for d in FOLDERS)
    ffpp_runs, models = len(cfg["conditions"]) * 6, 6  # 10 FF++ conditions (Tables 1, B.6, 3) x 6 models
    assert jobs == {
        "check_data": 1, "check_weights": 1,
        "sample_frames": n_shards, "detect_faces": n_shards, "crop_faces": n_shards, "preprocess_report": 5,
        "manifests_ffpp": 1, "manifests_dfdc": 1, "manifests_deeperforensics": 1, "manifests_celebdf": 1,
        "manifests_dfd": 1,
        "train_model": ffpp_runs + models,  # 66
        # each on its own test set; FF++ `all` also on DeeperForensics, Celeb-DF, DFDC and DFD, DFDC's on FF++, Celeb-DF
        "evaluate_model": ffpp_runs + models + 6 * models,
        "perturbation": 2, "tsne_figure": 1, "gradcam_figure": 1, "collect_metrics": 1, "tables": 1, "all": 1,
        "families_figure": 1,
        "robustness_sweep": models * 7, "robustness_report": 1,  # every FF++ `all` model x 7 perturbations
    }


VIDEO_DETECTORS = ROOT / "config" / "video_detectors.yaml"


def test_the_video_detectors_config_plans_every_detector_through_every_condition(paper_tree, tmp_path):
    """config/video_detectors.yaml over the paper's config: 13 detectors, each trained on the 10 FF++ conditions
    and DFDC, tested on every test set, swept for robustness; the paper's own settings otherwise."""
    path, cfg = paper_tree
    command = snakemake_command(ROOT, path, "-n", "--replace-workflow-config")
    command[command.index("--configfile") + 1:command.index("--configfile") + 2] = [str(path), str(VIDEO_DETECTORS)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    jobs = planned_jobs(result)
    models = len(yaml.safe_load(VIDEO_DETECTORS.read_text())["models"])
    assert models == 13
    ffpp_runs = len(cfg["conditions"]) * models
    assert jobs["train_model"] == ffpp_runs + models
    assert jobs["evaluate_model"] == ffpp_runs + models + 6 * models
    assert jobs["robustness_sweep"] == models * 7 and jobs["tsne_figure"] == 1 and jobs["families_figure"] == 1
    assert jobs["check_weights"] == 1 and jobs["perturbation"] == 2


def test_paper_plan_checks_first_and_has_no_demo_setting(paper_tree, paper_plan):
    """check-data before any preprocessing, the weights check before any training, and the paper's
    settings in the planned commands: none of the demo's overrides leaked in."""
    _, cfg = paper_tree
    results = cfg["results"]
    by_rule: dict[str, list[tuple[str, str]]] = {}
    for rule, inputs, command in planned(paper_plan):
        by_rule.setdefault(rule, []).append((inputs, command))
    assert len(by_rule["sample_frames"]) == sum(shards(cfg, d) for d in FOLDERS) and len(by_rule["train_model"]) == 66
    assert "demo_data" not in by_rule and "demo_data" not in paper_plan
    assert all(f"{results}/check_data.md" in inputs.split(", ") for inputs, _ in by_rule["sample_frames"])
    assert all(f"{results}/weights/check.txt" in inputs.split(", ") for inputs, _ in by_rule["train_model"])
    (check_data,) = [c for _, c in by_rule["check_data"]]
    assert params_of(check_data) == {"datasets": json.loads(as_json(cfg["datasets"]))}
    assert "--strict" not in check_data  # preprocess.strict: false
    (weights,) = [c for _, c in by_rule["check_weights"]]
    assert re.search(r"weights check (.*?) --lock", weights).group(1).split() == cfg["models"]
    assert f"--lock {results}/weights.lock.json" in weights
    assert all(params_of(c)["crop_size"] == 320 for _, c in by_rule["crop_faces"])
    for _, command in by_rule["train_model"]:
        p = params_of(command)
        assert (p["train"]["epochs"], p["train"]["steps_per_epoch"], p["train"]["image_size"]) == (30, 1000, None)
        assert (p["train"]["num_workers"], p["train"]["keep_state"], p["preprocess"]["crop_size"]) == (4, True, 320)
    strides = {re.search(r"--testset (\w+)", c).group(1): params_of(c)["stride"] for _, c in by_rule["evaluate_model"]}
    assert strides == {"ffpp": 16, "dfdc": 2, "deeperforensics": 16, "celebdf": 16, "dfd": 16}


# ---- manifest sizes, from the manifests code on the same listing ---------------------------------------


def manifests_of(name: str, cfg: dict, caps: dict | None = None) -> dict:
    datasets = json.loads(as_json(cfg["datasets"]))
    if caps is not None:
        datasets[name]["caps"] = caps
    listing = dataset_listing(name, datasets)
    crops = {v.video_id: Crops("store.h5", v.video_id, 30) for v in listing.videos}
    manifests, problems = build_manifests(name, {"datasets": datasets, "conditions": cfg["conditions"]}, crops)
    assert not problems, problems[:5]
    return manifests


def counts(entries) -> Counter:
    return Counter(e.video.method for e in entries)


def test_ffpp_manifests_have_the_official_split_sizes(paper_tree):
    _, cfg = paper_tree
    manifests = manifests_of("ffpp", cfg)
    assert len(manifests) == len(cfg["conditions"]) * 3
    for split, n_pairs in SPLIT_PAIRS.items():
        assert counts(manifests["all", split]) == {"real": 2 * n_pairs, **{m: 2 * n_pairs for m in METHODS}}
    for condition, left_out in cfg["conditions"].items():
        for split in ("train", "val"):
            n = 2 * SPLIT_PAIRS[split]
            assert counts(manifests[condition, split]) == {"real": n, **{m: n for m in METHODS if m not in left_out}}
        assert counts(manifests[condition, "test"]) == counts(manifests["all", "test"])  # test keeps every method


@pytest.mark.parametrize("scale", [1, 10])
def test_dfdc_manifests_respect_the_caps(paper_tree, scale):
    """At the paper's caps (only the validation fakes are capped by this tree) and at a tenth of them
    (every cap bites): each split holds min(available, cap) videos per class, from its own folders."""
    _, cfg = paper_tree
    caps = {split: {k: v // scale for k, v in c.items()} for split, c in cfg["datasets"]["dfdc"]["caps"].items()}
    manifests = manifests_of("dfdc", cfg, caps)
    parts = cfg["datasets"]["dfdc"]["parts"]
    for split in ("train", "val", "test"):
        entries = manifests["all", split]
        n_parts = len(parts[split])
        assert counts(entries) == {"real": min(n_parts * DFDC_REALS, caps[split]["real"]),
                                   "fake": min(n_parts * DFDC_FAKES, caps[split]["fake"])}, split
        assert {e.video.group for e in entries} <= {f"dfdc_train_part_{p}" for p in parts[split]}
    if scale == 1:
        assert counts(manifests["all", "val"]) == {"real": 300, "fake": 500}


def test_deeperforensics_manifest_holds_the_ffpp_test_targets_only(paper_tree):
    _, cfg = paper_tree
    manifests = manifests_of("deeperforensics", cfg)
    assert list(manifests) == [("all", "test")]
    test = manifests["all", "test"]
    test_ids = {i for pair in ffpp_pairs()["test"] for i in pair}
    fakes = [e.video for e in test if e.video.label == FAKE]
    reals = [e.video for e in test if e.video.label == REAL]
    assert len(fakes) == 140 and len(reals) == 140
    assert {Path(v.video_id).name.split("_")[0] for v in fakes} == test_ids
    assert {Path(v.video_id).stem for v in reals} == test_ids
    # the paper's split, not DeeperForensics' own test list (which names ids 800-999)
    assert len(list_dataset("deeperforensics", cfg["datasets"]).videos) == 140


# ---- the preflight switches and jobs ---------------------------------------------------------------------


def variant(paper_tree, tmp_path, **sections) -> Path:
    """The full-size paper config with some sections' keys changed."""
    _, cfg = paper_tree
    cfg = json.loads(json.dumps(cfg))
    for section, values in sections.items():
        cfg[section].update(values)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_random_init_skips_the_weights_check_and_strict_makes_check_data_strict(paper_tree, tmp_path):
    path = variant(paper_tree, tmp_path, pretrained={"allow_random_init": True}, preprocess={"strict": True})
    command = snakemake_command(ROOT, path, "-n", "-p", "--replace-workflow-config")
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    jobs = planned_jobs(result)
    assert "check_weights" not in jobs and jobs["train_model"] == 66 and jobs["check_data"] == 1
    (check_data,) = [command for rule, _, command in planned(result.stdout) if rule == "check_data"]
    assert check_data.split(" > ")[0].endswith("--strict")


def test_preflight_jobs_report_what_is_missing(paper_tree, tmp_path):
    """Run in a copy of the workflow, with empty weight caches: check_data writes its report (every video
    of the tree is empty, which only --strict fails on); check_weights fails naming every model to fetch
    and writes no stamp, so no training job could start."""
    import shutil

    from helpers_workflow import WORKFLOW_FILES

    wf = tmp_path / "wf"
    wf.mkdir()
    for name in WORKFLOW_FILES:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, wf / name)
    path, cfg = paper_tree
    results = Path(cfg["results"])
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "TORCH_HOME": str(tmp_path / "torch"),
           "HF_HUB_OFFLINE": "1"}
    targets = [str(results / "check_data.md"), str(results / "weights" / "check.txt")]
    command = snakemake_command(wf, path, "--replace-workflow-config", "--cores", "1", "--keep-going", *targets)
    result = subprocess.run(command, cwd=wf, capture_output=True, text=True, timeout=300, check=False, env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    report = (results / "check_data.md").read_text()
    assert "0 of 28,089 listed videos present; 0 missing, 28,089 empty" in report  # 3,431 of them DFD
    assert "| ffpp | real | train | 720 | 0 | 0 | 720 |" in report
    assert "| dfd | DeepFakeDetection | test | 3068 | 0 | 0 | 3068 |" in report
    assert not (results / "weights" / "check.txt").exists()
    for model in ("xception", "efficientnet_b3", "r3d_18", "i3d_rgb"):
        assert f"pipeline weights: error: {model}: " in output and f"weights fetch {model}`" in output, model
