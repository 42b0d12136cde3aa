"""MkDocs hook: the generated reference pages and the OpenAPI document.

``<!-- generated: settings|endpoints|errors -->`` in a page is replaced by what
``authgate._docgen`` builds from the package next to this file (``src/``), and
the site gets ``openapi.json``, the document the JSON API serves with every
feature switched on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:  # document these sources, whatever is installed
    sys.path.insert(0, str(SRC))

from authgate import _docgen  # noqa: E402


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return _docgen.render(markdown)


def on_files(files: Any, config: Any, **kwargs: Any) -> Any:
    from mkdocs.structure.files import File

    document, _ = _docgen.all_features_openapi()
    content = json.dumps(document, indent=2) + "\n"
    files.append(File.generated(config, "openapi.json", content=content))
    return files
