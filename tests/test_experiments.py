"""The experiment matrix (`pipeline/experiments.py`), the demo overrides (`effective_config`) and the code
dependencies a rule declares (`pipeline/codedeps.py`): standard-library modules the Snakefile calls."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from pipeline.codedeps import code_digest, file_imports, fingerprint, module_files
from pipeline.config import effective_config
from pipeline.datasets import dataset_cards
from pipeline.experiments import Evaluation, Experiments, Run
from pipeline.models.card import catalogue

ROOT = Path(__file__).resolve().parents[1]
PAPER = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
SIX = ["xception", "efficientnet_b3", "efficientnet_b3_lstm", "efficientnet_b3_bigru", "r3d_18", "i3d_rgb"]


def experiments(**changes) -> Experiments:
    cfg = copy.deepcopy(PAPER)
    cfg["models"] = SIX
    for key, value in changes.items():
        cfg[key] = value
    return Experiments(cfg, catalogue(), dataset_cards())


# ---- the matrix -----------------------------------------------------------------------------------------------

def test_the_paper_trains_every_model_on_every_ffpp_condition_and_on_dfdc():
    exp = experiments()
    runs = exp.train_runs()
    assert len(runs) == 6 * 10 + 6
    assert Run("ffpp", "wo_NT", "r3d_18") in runs and Run("dfdc", "all", "i3d_rgb") in runs
    assert not [r for r in runs if r.dataset == "dfdc" and r.condition != "all"]


def test_cross_dataset_evaluations_follow_the_cards():
    exp = experiments()
    # Table 2 and Celeb-DF test every FF++ model; DFDC and DFD only the cross-dataset models (here all six)
    assert exp.testsets("ffpp", "xception") == ["dfdc", "deeperforensics", "celebdf", "dfd"]
    assert exp.testsets("dfdc", "xception") == ["ffpp", "celebdf"]
    limited = experiments(evaluate={**PAPER["evaluate"], "cross_dataset": {"models": ["r3d_18"]}})
    assert limited.testsets("ffpp", "xception") == ["deeperforensics", "celebdf"]
    assert limited.testsets("ffpp", "r3d_18") == ["dfdc", "deeperforensics", "celebdf", "dfd"]
    assert limited.testsets("dfdc", "xception") == []
    evaluations = exp.evaluations()
    assert Evaluation("ffpp", "wo_DF", "xception", "ffpp") in evaluations  # own test split, every condition
    assert Evaluation("ffpp", "wo_DF", "xception", "celebdf") not in evaluations  # others: `all` runs only
    assert len(evaluations) == 66 + 6 * 4 + 6 * 2


def test_disabled_datasets_leave_their_runs_and_evaluations_out():
    datasets = copy.deepcopy(PAPER["datasets"])
    datasets["dfdc"]["enabled"] = False
    datasets["celebdf"]["enabled"] = False
    exp = experiments(datasets=datasets)
    assert {r.dataset for r in exp.train_runs()} == {"ffpp"}
    assert exp.testsets("ffpp", "r3d_18") == ["deeperforensics", "dfd"]
    assert exp.perturbation_models() == [] and exp.gradcam_run() == Run("ffpp", "all", "r3d_18")


def test_hparams_are_the_cards_with_the_config_on_top():
    exp = experiments(hparams={"r3d_18": {"lr": 0.5, "steps_per_epoch": 7}})
    assert exp.hparams("r3d_18") == {"lr": 0.5, "batch_size": 4, "weight_decay": 1e-7, "steps_per_epoch": 7}
    assert exp.hparams("xception") == {"lr": 1e-4, "batch_size": 8, "weight_decay": 1e-5}
    assert exp.backbone("efficientnet_b3_bigru") == "efficientnet_b3" and exp.backbone("r3d_18") == ""


def test_problems_stop_the_plan_or_warn(tmp_path):
    datasets = copy.deepcopy(PAPER["datasets"])
    for name, section in datasets.items():
        section["root"] = str(tmp_path)
    exp = experiments(datasets=datasets, robustness={**PAPER["robustness"], "models": ["r3d_18", "nope"]})
    errors, warnings = exp.problems(demo=False)
    assert errors == []
    assert warnings == ["robustness.models: nope not trained here (not in `models`, or its training set is off); "
                        "left out"]
    datasets["dfdc"]["root"] = str(tmp_path / "missing")
    datasets["ffpp"]["methods"] = []
    errors, _ = experiments(datasets=datasets).problems(demo=False)
    assert errors[0] == f"datasets.dfdc.root: '{tmp_path / 'missing'}' is not a folder; set it, or `enabled: false`"
    assert errors[1] == "datasets.ffpp.methods: empty; name at least one FF++ method"
    assert experiments(datasets=datasets).problems(demo=True)[0] == [errors[1]]  # the demo makes its own roots


# ---- demo overrides -------------------------------------------------------------------------------------------

def test_demo_overrides_merge_deeply_and_replace_lists():
    cfg = {"demo": {"enabled": True, "overrides": {"train": {"epochs": 2, "seeds": [5]}, "models": ["r3d_18"]}},
           "train": {"epochs": 30, "steps_per_epoch": 1000, "seeds": [0, 1]}, "models": SIX}
    out = effective_config(cfg)
    assert out["train"] == {"epochs": 2, "steps_per_epoch": 1000, "seeds": [5]}  # merged; the list replaced
    assert out["models"] == ["r3d_18"]
    assert cfg["train"]["epochs"] == 30  # the input is not changed


def test_demo_overrides_tune_enabled_datasets_and_never_add_one():
    cfg = {"demo": {"enabled": True, "overrides": {"datasets": {"ffpp": {"shards": 1}, "dfdc": {"parts": {}}}}},
           "datasets": {"ffpp": {"root": "data/ffpp", "shards": 4}}}
    assert effective_config(cfg)["datasets"] == {"ffpp": {"root": "data/ffpp", "shards": 1}}


def test_demo_overrides_are_ignored_when_the_demo_is_off():
    cfg = {"demo": {"enabled": False, "overrides": {"train": {"epochs": 2}}}, "train": {"epochs": 30}}
    assert effective_config(cfg)["train"] == {"epochs": 30}


# ---- code dependencies ----------------------------------------------------------------------------------------

def test_a_command_depends_on_what_it_imports_and_no_detector_module():
    files = module_files(ROOT, "pipeline.train.cli")
    assert "pipeline/train/loop.py" in files and "pipeline/models/registry.py" in files
    assert "pipeline/data/sampler.py" in files and "pipeline/train/__init__.py" in files  # parents run too
    detectors = {Path(c.path).relative_to(ROOT).as_posix() for c in catalogue().values()}
    assert not detectors & set(files)  # the registry imports a detector's module only to build it


def test_a_detector_depends_on_its_module_and_what_it_imports():
    assert "pipeline/models/efficientnet_b3.py" in module_files(ROOT, "pipeline.models.efficientnet_b3_bigru")
    assert "pipeline/models/recurrent.py" in module_files(ROOT, "pipeline.models.efficientnet_b3_bigru")
    assert "pipeline/models/xception.py" not in module_files(ROOT, "pipeline.models.efficientnet_b3_bigru")


def test_relative_and_lazy_imports_are_followed(tmp_path):
    pkg = tmp_path / "pipeline"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import helper\n")
    (pkg / "sub" / "helper.py").write_text("def f():\n    from pipeline import late\n")
    (pkg / "late.py").write_text("import os\n")
    (pkg / "unused.py").write_text("")
    assert module_files(tmp_path, "pipeline.sub") == [
        "pipeline/__init__.py", "pipeline/late.py", "pipeline/sub/__init__.py", "pipeline/sub/helper.py"]
    plugin = tmp_path / "plugin.py"
    plugin.write_text("import torch\nfrom pipeline.models.registry import ModelSpec\n")
    assert file_imports(plugin) == ["pipeline.models.registry", "pipeline.models.registry.ModelSpec"]


def test_the_code_digest_ignores_comments_docstrings_and_layout(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""Doc."""\nimport os\n\n\ndef f(x):\n    """What f does."""\n    return x + 1  # one\n')
    digest = code_digest(path)
    path.write_text('import os\ndef f(x):\n    # a comment\n    return (x\n            + 1)\n')
    assert code_digest(path) == digest
    path.write_text('import os\ndef f(x):\n    return x + 2\n')
    assert code_digest(path) != digest


def test_a_fingerprint_is_rewritten_only_when_the_code_changes(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("x = 1\n")
    fp = Path(fingerprint(source, tmp_path / "fp", "m.py"))
    assert fp == tmp_path / "fp" / "m.py.sha256" and fp.read_text().strip() == code_digest(source)
    mtime = fp.stat().st_mtime_ns
    source.write_text("x = 1  # same code\n")
    assert fingerprint(source, tmp_path / "fp", "m.py") == str(fp) and fp.stat().st_mtime_ns == mtime
    source.write_text("x = 2\n")
    fingerprint(source, tmp_path / "fp", "m.py")
    assert fp.read_text().strip() == code_digest(source)
    csv = tmp_path / "t.csv"
    csv.write_text("a\n")
    assert fingerprint(csv, tmp_path / "fp", "t.csv") == str(csv)  # other files are their own fingerprint


@pytest.mark.parametrize("name", SIX)
def test_every_paper_detector_has_a_module_of_its_own(name):
    assert Path(catalogue()[name].path).name == f"{name}.py"
