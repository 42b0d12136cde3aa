"""``make docs`` builds the site with ``--strict``, offline, and the site fetches nothing.

The build runs in its own process, the way ``make docs`` runs it, with every socket
connection refused: a theme or plugin that fetched a font or a script would fail it.
The generated reference pages are checked against the package itself.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from authgate import _docgen
from authgate.errors import REASON_TEXTS, ErrorCode
from authgate.settings import Settings

from .snippets import ROOT

#: ``mkdocs build`` with the network cut: any connection attempt raises.
OFFLINE_BUILD = """
import socket, sys

def refuse(*args, **kwargs):
    raise OSError("the documentation build must not use the network")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
from mkdocs.__main__ import cli
sys.argv = ["mkdocs", "build", "--strict", "--config-file", sys.argv[1], "--site-dir", sys.argv[2]]
cli()
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_BUILD, str(ROOT / "mkdocs.yml"), str(target)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]  # --strict: no warning
    return target


class Assets(HTMLParser):
    """Every URL a page loads by itself (not the links a reader may follow)."""

    LOADS = {"link": "href", "script": "src", "img": "src", "source": "src",
             "iframe": "src", "audio": "src", "video": "src", "embed": "src"}  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = self.LOADS.get(tag)
        for name, value in attrs:
            if value and name in (wanted, "srcset"):
                self.urls.append(value)


def test_make_docs_is_the_strict_offline_build() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^\.PHONY:.*\bdocs\b", makefile, re.MULTILINE)
    recipe = re.search(r"^docs: install\n\t(.+)$", makefile, re.MULTILINE)
    assert recipe and "mkdocs build --strict --site-dir build/site" in recipe[1]
    make = shutil.which("make")
    assert make is not None
    plan = subprocess.run([make, "-n", "docs"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert "mkdocs build --strict" in plan.stdout, plan.stdout + plan.stderr


def test_the_site_loads_nothing_from_the_network(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert (site / "index.html") in pages and len(pages) >= 15
    for page in pages:
        parser = Assets()
        parser.feed(page.read_text(encoding="utf-8"))
        assert parser.urls, page
        remote = [u for u in parser.urls if re.match(r"(https?:)?//", u)]
        assert not remote, (page, remote)
    for sheet in site.rglob("*.css"):
        css = sheet.read_text(encoding="utf-8")
        assert not re.search(r"@import\s+(url\()?['\"]?(https?:)?//", css), sheet
        assert not re.search(r"url\(['\"]?(https?:)?//", css), sheet
        assert "fonts.googleapis" not in css and "fonts.gstatic" not in css, sheet


def test_the_search_index_is_local(site: Path) -> None:
    index = site / "search" / "search_index.json"
    assert index.exists() and "correct horse battery" in index.read_text(encoding="utf-8")


def test_every_setting_is_on_the_settings_page(site: Path) -> None:
    html = (site / "settings.html").read_text(encoding="utf-8")
    for field in dataclasses.fields(Settings):
        assert f'id="{field.name}"' in html, field.name
        assert f"AUTHGATE_{field.name.upper()}" in html, field.name
    # the #: comment is the description, its ``literals`` as code
    assert "Absolute lifetime of a session" in html and "<code>604800</code> (7 days)" in html


def test_every_error_code_is_on_the_errors_page(site: Path) -> None:
    html = (site / "errors.html").read_text(encoding="utf-8")
    for code in ErrorCode:
        assert f"<code>{code.value}</code>" in html, code
    assert re.search(r"<code>RATE_LIMITED</code></td>\s*<td>429</td>", html)
    for reason in REASON_TEXTS:
        assert f"<code>{reason}</code>" in html, reason


def test_every_endpoint_is_on_the_endpoints_page(site: Path) -> None:
    html = (site / "endpoints.html").read_text(encoding="utf-8")
    document, _ = _docgen.all_features_openapi()
    assert len(document["paths"]) >= 30
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert f'id="{operation["operationId"].lower()}"' in html, (method, path)
            assert f"{method.upper()} {path}" in html
    assert (site / "openapi.json").exists()
    # a route behind a switch says which
    assert 'href="settings.html#passwordless"' in html


def test_generated_settings_need_a_doc_comment(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = _docgen.setting_entries()
    assert [e.name for e in entries] == [f.name for f in dataclasses.fields(Settings)]
    assert all(e.doc for e in entries)
    assert {e.section for e in entries} >= {"Features", "Throttling", "Web"}
    session_lifetime = next(e for e in entries if e.name == "session_lifetime")
    assert session_lifetime.annotation == "int" and "(7 days)" in session_lifetime.default
    hash_concurrency = next(e for e in entries if e.name == "hash_concurrency")
    assert "os.cpu_count()" in hash_concurrency.default  # the rule, not this machine's value


def test_the_readme_links_to_pages_that_exist() -> None:
    """The README is the entry point: its links into the repository (the site's pages) resolve."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?!https?:|#)[^)#\s]+)(?:#[^)]*)?\)", readme)
    assert "docs/index.md" in targets
    for target in targets:
        assert (ROOT / target).exists(), target
