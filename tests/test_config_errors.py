"""A bad config stops the plan before any job runs, in at most three lines (the key, what is wrong, what is
allowed); where the run can sensibly go on, one warning line says what is left out."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers_workflow import snakemake, workflow_messages, write_config
from pipeline.configcheck import ConfigError, validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "schemas" / "config.schema.yaml"


def plan(tmp_path: Path, overrides: dict | None = None, edit=None):
    """`snakemake -n` of the demo config with `overrides`, and `edit(cfg)` applied to the file."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = write_config(tmp_path, overrides)
    if edit is not None:
        cfg = yaml.safe_load(path.read_text())
        edit(cfg)
        path.write_text(yaml.safe_dump(cfg))
    return snakemake(path, "-n", "--replace-workflow-config", timeout=300)


def demo_config() -> dict:
    return yaml.safe_load((ROOT / "workflow_config.yaml").read_text())


@pytest.mark.parametrize("edit, first, allowed", [
    (lambda c: c.update(resluts="x"), "config error: (top level): Additional properties are not allowed "
     "('resluts' was unexpected)", "  allowed: results, plugins, preload, gpu_jobs_per_device, demo, datasets, "),
    (lambda c: c["train"].update(epoch=3), "config error: train: Additional properties are not allowed "
     "('epoch' was unexpected)", "  allowed: seeds, epochs, steps_per_epoch, "),
    (lambda c: c["train"].update(bf16="maybe"), "config error: train.bf16: 'maybe' is not one of "
     "['auto', True, False, None]", "  allowed: auto, True, False, None"),
    (lambda c: c.update(results=""), "config error: results: '' should be non-empty", "  allowed: output folder"),
])
def test_schema_errors_are_three_lines_at_most(edit, first, allowed):
    cfg = demo_config()
    edit(cfg)
    with pytest.raises(ConfigError) as info:
        validate(cfg, SCHEMA)
    lines = str(info.value).splitlines()
    assert len(lines) <= 3 and lines[0] == first and lines[1].startswith(allowed)


def test_a_typo_stops_the_plan_with_those_lines_and_nothing_else(tmp_path):
    result = plan(tmp_path, edit=lambda c: c["train"].update(epoch=3))
    lines = workflow_messages(result)
    assert result.returncode != 0 and 1 <= len(lines) <= 3, result.stderr
    assert lines[0].startswith("config error: train: Additional properties are not allowed ('epoch'")
    assert "Traceback" not in result.stderr and "File " not in result.stderr


def test_an_unknown_detector_names_the_known_ones(tmp_path):
    result = plan(tmp_path, edit=lambda c: c.update(models=["xception", "resnet"]))
    lines = workflow_messages(result)
    assert result.returncode != 0 and len(lines) == 2
    assert lines[0] == "config error: models[1]: unknown detector 'resnet'"
    assert lines[1].startswith("  allowed: xception, efficientnet_b3, ")


def test_a_missing_dataset_root_and_an_empty_method_list_stop_the_plan(tmp_path):
    def real_data(root: str):
        def edit(cfg):
            cfg["demo"] = {"enabled": False}
            cfg["datasets"] = {"ffpp": {**cfg["datasets"]["ffpp"], "root": root}}
            cfg["pretrained"] = {"allow_random_init": True}
        return edit

    result = plan(tmp_path / "a", edit=real_data(str(tmp_path / "nowhere")))
    assert result.returncode != 0 and workflow_messages(result) == [
        f"config error: datasets.ffpp.root: '{tmp_path / 'nowhere'}' is not a folder; set it, or `enabled: false`"]

    def no_methods(cfg):
        real_data(str(tmp_path))(cfg)
        cfg["datasets"]["ffpp"]["methods"] = []
    result = plan(tmp_path / "b", edit=no_methods)
    assert result.returncode != 0
    assert workflow_messages(result) == ["config error: datasets.ffpp.methods: empty; name at least one FF++ method"]


def test_a_figure_model_that_is_not_trained_is_one_warning_and_the_plan_goes_on(tmp_path):
    def edit(cfg):
        cfg["models"] = ["xception", "r3d_18"]
        cfg["demo"]["overrides"]["robustness"]["models"] = ["xception", "i3d_rgb"]
    result = plan(tmp_path, edit=edit)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "config warning: robustness.models: i3d_rgb not trained here (not in `models`, or its training set is " \
           "off); left out" in workflow_messages(result)
