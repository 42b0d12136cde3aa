"""Every fenced code block of ``README.md`` and ``docs/**/*.md``, classified.

The convention (also in ``docs/contributing.md``):

- A ```` ```python ```` block is **executed**, alone, in a fresh namespace, with a
  temporary directory as the working directory. It must run without an exception
  and without a warning other than :class:`~authgate.settings.InsecureSettingWarning`.
- ``<!-- snippet: NAME -->`` on the line before a block (blank lines allowed) makes it
  part of the program NAME of that file: its blocks run in order in one namespace.
  ``<!-- snippet: NAME file=PATH -->`` writes the block to ``PATH`` in the program's
  directory instead of running it (a project told in several files). After the
  program ran, the scenario registered under NAME in ``tests/docs/scenarios.py``
  (if any; required for ``file=`` programs) serves it and sends requests to it.
- ``<!-- fragment: REASON -->`` before a block: not executed, for the reason given.
- ```` ```sh ```` / ```` ```bash ```` / ```` ```console ```` blocks are checked line by
  line: ``pip install "authgate[...]"`` names existing extras, ``make TARGET`` existing
  targets, and ``authgate ...`` commands run, in order, against a temporary SQLite
  database (``AUTHGATE_DATABASE_URL``). Any other command needs the block marked as a
  fragment. A shell block marked ``<!-- snippet: NAME -->`` runs as a step of that
  program, in its directory (e.g. ``authgate keys generate`` before the Python that
  reads the key).
- Anything else (```` ```text ````, ```` ```http ````, ```` ```json ````, ```` ```html ````...)
  is shown, not run. A fence without a language is refused.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ("python", "py")
SHELL = ("sh", "bash", "console", "shell")

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>`{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<kind>snippet|fragment):\s*(?P<rest>.*?)\s*-->\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its language, its text and its marker."""

    path: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    program: str | None = None  # the snippet NAME
    file: str | None = None  # the snippet's file=PATH
    fragment: str | None = None  # the fragment's reason

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def documents() -> list[Path]:
    """README.md and every Markdown page of the site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def parse(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, ticks = match["indent"], match["ticks"]
        lang = match["info"].strip().split(" ")[0].strip("{}.").lower()
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != ticks:
            line = lines[index]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            index += 1
        if index >= len(lines):
            raise ValueError(f"{path}:{start + 1}: unclosed code block")
        index += 1
        marker = _marker_before(lines, start)
        fields: dict[str, str | None] = {}
        if marker is not None:
            kind, rest = marker
            if kind == "fragment":
                fields["fragment"] = rest
            else:
                name, _, file = rest.partition(" file=")
                fields["program"] = name.strip()
                fields["file"] = file.strip() or None
        blocks.append(Block(path, start + 1, lang, "\n".join(body) + "\n", **fields))
    return blocks


def _marker_before(lines: list[str], fence: int) -> tuple[str, str] | None:
    index = fence - 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    if index < 0:
        return None
    match = _MARKER.match(lines[index])
    return (match["kind"], match["rest"]) if match else None


def all_blocks() -> list[Block]:
    return [block for path in documents() for block in parse(path)]


@dataclasses.dataclass
class Program:
    """Python blocks run together: a named snippet, or one lone block."""

    name: str
    blocks: list[Block]

    @property
    def where(self) -> str:
        return self.blocks[0].where


def programs() -> list[Program]:
    """Every program to execute (fragments excluded), in document order."""
    found: dict[str, Program] = {}
    for block in all_blocks():
        if block.fragment is not None:
            continue
        if block.lang not in (*PYTHON, *SHELL) and not (block.program and block.file):
            continue  # shown, not run (a template written by a program is kept)
        if block.lang in SHELL and block.program is None:
            continue  # a lone shell block: checked by itself
        if block.program is None:
            found[block.where] = Program(block.where, [block])
            continue
        key = block.program
        if key in found and found[key].blocks[0].path != block.path:
            raise ValueError(f"{block.where}: snippet {key!r} is also used in another file")
        found.setdefault(key, Program(key, [])).blocks.append(block)
    return list(found.values())
