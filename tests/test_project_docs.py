"""What a new user reads and runs first: the README's names and ``make demo`` (findings U10, U11)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from authgate import Auth
from authgate.web.credentials import Credentials

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("secure", [True, False])
def test_readme_names_the_cookies_an_spa_reads(secure: bool) -> None:
    """U10: the README named only ``authgate_csrf``; outside debug it is ``__Host-authgate_csrf``."""
    credentials = Credentials(Auth("s" * 32, cookie_secure=secure, base_url="https://a.example"))
    for name in (credentials.cookie_name, credentials.csrf_cookie_name):
        assert f"`{name}`" in README, name
    assert "X-CSRF-Token" in README


def test_make_demo_installs_no_test_tools(tmp_path: Path) -> None:
    """U11: ``make demo`` installed every dev tool (~100 s) to serve a demo."""
    make = shutil.which("make")
    assert make is not None, "make is needed to build the project"
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "tests").mkdir()
    for name in ("package.json", "package-lock.json"):  # the browser tests' axe-core
        shutil.copy(ROOT / "tests" / name, tmp_path / "tests" / name)
    plan = subprocess.run(
        [make, "-n", "demo"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    installs = [line for line in plan.splitlines() if "pip install" in line and "-e" in line]
    assert installs and all(re.search(r'"\.\[all\]"', line) for line in installs), plan
    test_plan = subprocess.run(
        [make, "-n", "test"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert '".[all,dev]"' in test_plan


def test_the_license_file_matches_pyproject() -> None:
    """U5: ``pyproject.toml`` says MIT but there was no LICENSE file."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert project["license"] == "MIT" and license_text.startswith("MIT License\n")
    authors = [author["name"] for author in project["authors"]]
    assert f"Copyright (c) 2026 {authors[0]}" in license_text
    assert "LICENSE" in README
