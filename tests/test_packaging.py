"""The pins a reviewer installs from agree: pyproject.toml, requirements.lock, envs/markerflow.yaml."""

from __future__ import annotations

import re
import tomllib

import yaml
from workflow_utils import PROJECT_DIR


def _pins(lines):
    pins = {}
    for line in lines:
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(3)
    return pins


def test_lock_pins_every_direct_dependency_exactly():
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    direct = _pins(project["dependencies"] + project["optional-dependencies"]["dev"])
    lock = _pins((PROJECT_DIR / "requirements.lock").read_text().splitlines())
    assert len(direct) == len(project["dependencies"]) + len(
        project["optional-dependencies"]["dev"]
    )
    for name, version in direct.items():
        assert lock.get(name) == version, f"{name}: pyproject {version}, lock {lock.get(name)}"


def test_conda_env_matches_lock():
    env = yaml.safe_load((PROJECT_DIR / "envs" / "markerflow.yaml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    lock = _pins((PROJECT_DIR / "requirements.lock").read_text().splitlines())
    for name, version in _pins(pip_section).items():
        assert lock.get(name) == version, f"{name}: env {version}, lock {lock.get(name)}"


def test_summary_template_ships_in_the_package():
    """The summary page's skeleton is package data: declared in pyproject and loadable."""
    from fnmatch import fnmatch

    from markerflow.report.summary import TEMPLATE, page_template

    data = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = data["package-data"]["markerflow.report"]
    assert any(fnmatch(f"templates/{TEMPLATE}", g) for g in globs)
    text = page_template().template
    assert all(f"${key}" in text for key in ("title", "toc", "body"))
