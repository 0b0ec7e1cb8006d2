"""The conda env files pin the same packages and versions as requirements.txt."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_env_files_match_requirements():
    required = _pins(ROOT / "requirements.txt") | _pins(ROOT / "requirements-nodeps.txt")
    env_files = sorted((ROOT / "envs").glob("*.yaml"))
    assert env_files
    for env_file in env_files:
        env = yaml.safe_load(env_file.read_text())
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        assert pip, env_file
        for entry in pip:
            name, version = entry.split("==")
            key = name.strip().lower().replace("_", "-")
            assert key in required, f"{env_file.name}: {name} is not in requirements"
            assert required[key] == version.strip(), f"{env_file.name}: {name}=={version} vs {required[key]}"


def test_every_rule_env_exists():
    for smk in (ROOT / "rules").glob("*.smk"):
        for line in smk.read_text().splitlines():
            if line.strip().startswith('"../envs/'):
                assert (ROOT / "rules" / line.strip().strip('"')).resolve().exists(), line


def test_only_headless_opencv_is_installed():
    from importlib.metadata import PackageNotFoundError, version

    assert version("opencv-python-headless")
    try:
        version("opencv-python")
    except PackageNotFoundError:
        return
    raise AssertionError("opencv-python is installed beside opencv-python-headless: two packages own cv2/")
