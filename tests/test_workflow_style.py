"""The Snakemake files pass the snakemake-workflows catalogue's checks: `snakefmt --check` and a clean `--lint`."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers_workflow import ROOT, WORKFLOW_FILES, snakemake, snakemake_command, write_config

SNAKEFMT = Path(sys.executable).with_name("snakefmt")
SNAKEFILES = ["Snakefile", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "rules").glob("*.smk"))]


def lint_findings(result: subprocess.CompletedProcess) -> list[str]:
    """The `Lints for ...` headers and their `* finding` lines of a `snakemake --lint` run."""
    lines = (result.stdout + result.stderr).splitlines()
    return [line.strip() for line in lines if line.startswith("Lints for ") or line.startswith("    * ")]


def test_snakefiles_are_snakefmt_formatted():
    if not SNAKEFMT.exists():
        pytest.fail(f"{SNAKEFMT} missing: snakefmt is pinned in requirements.txt (make install)")
    result = subprocess.run([str(SNAKEFMT), "--check", *SNAKEFILES], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "would be changed" not in result.stderr


@pytest.mark.parametrize("config", ["demo", "paper"])
def test_lint_has_no_findings(tmp_path, config):
    """Both rule sets: the demo's (demo_data) and a real-data run's (check_data, check_weights)."""
    if config == "demo":
        result = snakemake(write_config(tmp_path), "--lint", timeout=300)
    else:  # the paper's config with its dataset roots set (empty folders: the plan checks they exist)
        cfg = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
        for name, section in cfg["datasets"].items():
            section["root"] = str(tmp_path / name)
            Path(section["root"]).mkdir()
        paper = tmp_path / "paper.yaml"
        paper.write_text(yaml.safe_dump({**cfg, "results": str(tmp_path / "results")}))
        result = snakemake(paper, "--replace-workflow-config", "--lint", timeout=300)
    findings = lint_findings(result)
    assert not findings, "\n".join(findings)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_lint_check_sees_a_finding(tmp_path):
    """The parsing above is not vacuous: a rule reading a global in its shell command is reported."""
    copy = tmp_path / "workflow"
    copy.mkdir()
    for name in WORKFLOW_FILES:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, copy / name)
    with open(copy / "rules" / "tables.smk", "a") as fh:
        fh.write('\n\nrule lint_probe:\n    output:\n        "probe.txt",\n    log:\n        "probe.log",\n'
                 '    conda:\n        "../envs/tables.yaml"\n    shell:\n        "echo {R} > {output}"\n')
    result = subprocess.run(snakemake_command(copy, write_config(tmp_path), "--lint"), cwd=copy,
                            capture_output=True, text=True, timeout=300, check=False)
    findings = lint_findings(result)
    assert any("rule lint_probe" in f for f in findings), findings
    assert any("directly uses variable R" in f for f in findings), findings
    assert result.returncode != 0
