"""The workflow skeleton: the default DAG plans every stage; bad configs are rejected by name."""
from __future__ import annotations

import pytest

from helpers_workflow import planned_jobs, snakemake, write_config


def test_dry_run_lists_the_stages(tmp_path):
    result = snakemake(write_config(tmp_path), "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned_jobs(result)
    for rule in ("demo_data", "all"):
        assert rule in jobs, jobs
    # the demo's data and random initialisation are its own: no real-data preflight checks
    assert "check_data" not in jobs and "check_weights" not in jobs, jobs


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"train": {"epochs": "many"}}, "epochs"),
        ({"preprocess": {"margin_typo": 0.4}}, "margin_typo"),
        ({"unknown_section": 1}, "unknown_section"),
        ({"models": ["resnet50"]}, "resnet50"),
        ({"demo": {"overrides": {"train": {"image_size": "big"}}}}, "big"),
    ],
)
def test_bad_config_is_rejected_naming_the_key(tmp_path, override, needle):
    result = snakemake(write_config(tmp_path, override), "-n")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if line.startswith("config error:")]
    assert errors and needle in errors[0], output[-2000:]
