"""Every code block of the README and the documentation site runs as written.

The blocks are found and classified by :mod:`tests.docs.snippets` (its docstring is
the convention, also in ``docs/contributing.md``); web snippets are then served and
requested by the scenarios of :mod:`tests.docs.scenarios`.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from authgate import Auth
from authgate.cli import cli
from authgate.settings import InsecureSettingWarning

from .scenarios import SCENARIOS
from .snippets import PYTHON, ROOT, SHELL, Block, Program, all_blocks, programs

PROGRAMS = programs()
SHELL_BLOCKS = [
    b for b in all_blocks() if b.lang in SHELL and b.fragment is None and b.program is None
]
#: Shown, never run: output, HTTP exchanges, data and markup.
SHOWN = {"text", "http", "json", "html", "jinja", "toml", "ini", "python-repl", "pycon"}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A temporary working directory and an environment without any ``AUTHGATE_*`` key.

    What a snippet puts in ``os.environ`` is taken out again afterwards.
    """
    for key in list(os.environ):
        if key.startswith(("AUTHGATE_", "DJANGO_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = dict(os.environ)
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)


#: The ``authgate`` commands of shell blocks: a database in the working directory and
#: cheap hashing (the same code; only argon2's cost is lowered).
CLI_ENV = {
    "AUTHGATE_DATABASE_URL": "sqlite:///auth.db",
    "AUTHGATE_ARGON2_MEMORY_COST": "1024",
    "AUTHGATE_ARGON2_TIME_COST": "1",
}


def execute(program: Program, workdir: Path) -> dict[str, Any]:
    """Run ``program``'s blocks in order in one namespace; ``file=`` blocks are written."""
    namespace: dict[str, Any] = {"__name__": "__snippet__"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for block in program.blocks:
            if block.lang in SHELL:
                run_shell(block)
                continue
            if block.file is not None:
                target = workdir / block.file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.code, encoding="utf-8")
                continue
            exec(compile(block.code, block.where, "exec"), namespace)  # noqa: S102
    unexpected = [
        w for w in caught if not issubclass(w.category, (InsecureSettingWarning, ResourceWarning))
    ]
    assert not unexpected, [f"{w.filename}:{w.lineno}: {w.message}" for w in unexpected]
    return namespace


def close(namespace: dict[str, Any]) -> None:
    """Close every ``Auth`` the program made (their database connections)."""
    for value in namespace.values():
        if isinstance(value, Auth):
            value.close()


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_python_snippet_runs(program: Program, clean_env: Path) -> None:
    """The program runs as written; its scenario (if any) serves it and gets what it promises."""
    namespace = execute(program, clean_env)
    try:
        scenario = SCENARIOS.get(program.name)
        if scenario is not None:
            scenario(namespace, clean_env)
    finally:
        close(namespace)
        for name in [m for m in sys.modules if m in {"settings", "urls", "views", "app"}]:
            del sys.modules[name]


def test_every_code_block_is_run_or_a_fragment_with_a_reason() -> None:
    """No Python or shell block is left untested: each runs or says why it does not."""
    code = [b for b in all_blocks() if b.lang in (*PYTHON, *SHELL)]
    assert any(b.lang in PYTHON for b in code), "no Python block found"
    executed = {b.where for p in PROGRAMS for b in p.blocks} | {b.where for b in SHELL_BLOCKS}
    for block in code:
        if block.fragment is not None:
            assert block.fragment.strip(), f"{block.where}: a fragment must say why"
        else:
            assert block.where in executed, block.where


def test_every_block_names_a_known_language() -> None:
    known = {*PYTHON, *SHELL, *SHOWN}
    for block in all_blocks():
        assert block.lang in known, f"{block.where}: fence language {block.lang!r}"
        if block.lang not in (*PYTHON, *SHELL) and block.fragment is None:
            assert block.program is None or block.file, f"{block.where}: shown, not run"


def test_scenarios_match_the_snippets() -> None:
    """Every scenario has its snippet, and every multi-file snippet has a scenario."""
    names = {p.name for p in PROGRAMS}
    assert set(SCENARIOS) <= names, sorted(set(SCENARIOS) - names)
    for program in PROGRAMS:
        if any(b.file for b in program.blocks):
            assert program.name in SCENARIOS, f"{program.where}: {program.name} needs a scenario"


def test_the_site_shows_runnable_snippets() -> None:
    """The site and README do run code: the count guards against a parser gone blind."""
    assert len(PROGRAMS) >= 20, len(PROGRAMS)
    assert sum(len(p.blocks) for p in PROGRAMS) >= 30


# == shell blocks ================================================================

def _extras() -> set[str]:
    import tomllib  # Python 3.11+, as the test environment is

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return set(project["optional-dependencies"])


EXTRAS = _extras()
TARGETS = set(
    re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
)


def commands(block: Block) -> list[list[str]]:
    """The commands of a shell block (``$`` prompts honoured, comments dropped)."""
    lines = block.code.splitlines()
    if block.lang == "console":
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + line
        else:
            joined.append(line)
    return [argv for argv in (shlex.split(line, comments=True) for line in joined) if argv]


def check_pip(argv: list[str], block: Block) -> None:
    assert argv[:2] == ["pip", "install"], f"{block.where}: {argv}"
    for requirement in argv[2:]:
        match = re.fullmatch(r"authgate(?:\[([\w,]+)\])?", requirement)
        assert match, f"{block.where}: installs {requirement!r}, not authgate"
        for extra in (match[1] or "").split(","):
            assert not extra or extra in EXTRAS, f"{block.where}: no extra {extra!r}"


def run_shell(block: Block) -> None:
    """pip lines name real extras, make lines real targets; authgate commands succeed."""
    runner = CliRunner()
    for argv in commands(block):
        if argv[0] == "pip":
            check_pip(argv, block)
        elif argv[0] == "make":
            assert set(argv[1:]) <= TARGETS, f"{block.where}: make {argv[1:]}"
        elif argv[0] == "authgate":
            result = runner.invoke(cli, argv[1:], env=CLI_ENV, catch_exceptions=False)
            assert result.exit_code == 0, f"{block.where}: {shlex.join(argv)}\n{result.output}"
        else:
            pytest.fail(f"{block.where}: cannot check {argv[0]!r}; mark the block as a fragment")


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.where for b in SHELL_BLOCKS])
def test_shell_snippet(block: Block, clean_env: Path) -> None:
    run_shell(block)
