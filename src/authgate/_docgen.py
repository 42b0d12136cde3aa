"""The generated pages of the documentation site: settings, endpoints and errors.

``docs/hooks.py`` (a MkDocs hook, run by ``make docs``) replaces the markers
``<!-- generated: settings -->``, ``<!-- generated: endpoints -->`` and
``<!-- generated: errors -->`` in the Markdown sources with what these functions
return, so the reference always says what the installed package does:

- :func:`settings_markdown` reads the :class:`~authgate.settings.Settings`
  dataclass (names, types, defaults) and the ``#:`` comments above each field;
- :func:`endpoints_markdown` renders the OpenAPI document the package serves
  (:mod:`authgate.web.openapi`), with every feature switched on, each route
  labelled with the setting that lists it;
- :func:`errors_markdown` lists every :class:`~authgate.errors.ErrorCode` with the
  HTTP status and the exception class that carry it.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import warnings
from collections.abc import Iterator
from typing import Any

from authgate import errors, settings as settings_module
from authgate.settings import Settings

__all__ = [
    "MARKERS",
    "all_features_openapi",
    "default_openapi",
    "endpoints_markdown",
    "errors_markdown",
    "render",
    "setting_entries",
    "settings_markdown",
]

#: Settings that switch on routes which are off by default (for the endpoints page).
_FEATURES_ON: dict[str, Any] = {
    "usernames": True,
    "multiple_emails": True,
    "passwordless": True,
    "confirmable": True,
    "auth101_compat": True,  # lists the token routes (jwt_enabled) and auth101's own
}


@dataclasses.dataclass(frozen=True)
class SettingEntry:
    """One setting as the settings page shows it."""

    name: str
    section: str
    annotation: str
    default: str
    doc: str


def _rst_to_markdown(text: str) -> str:
    """The ``#:`` comments' reStructuredText roles and literals, as Markdown."""
    text = re.sub(r":(?:class|mod|func|meth|attr|data):`~?([\w.]+)`", r"`\1`", text)
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _default_text(field: dataclasses.Field[Any], source: str | None) -> str:
    if field.default is dataclasses.MISSING:
        return "required"
    value = field.default
    if source is not None and "os." in source:  # depends on the machine: show the rule
        return f"`{source}`"
    text = f"`{value!r}`"
    timed = source is not None and any(unit in source for unit in ("MINUTE", "HOUR", "DAY"))
    if isinstance(value, int) and not isinstance(value, bool) and timed:
        text += f" ({_duration(value)})"
    return text


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def setting_entries() -> list[SettingEntry]:
    """Every field of :class:`~authgate.settings.Settings`, in source order, documented.

    Raises:
        ValueError: a setting has no ``#:`` comment (every setting must say what it does).
    """
    source = inspect.getsource(settings_module)
    lines = source.splitlines()
    tree = ast.parse(source)
    cls = next(
        node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Settings"
    )
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    entries: list[SettingEntry] = []
    section = "General"
    previous_end = cls.body[0].end_lineno or cls.lineno
    for node in cls.body:
        # Section comments (``# -- features ---``) between the fields.
        for line in lines[previous_end : node.lineno - 1]:
            match = re.match(r"\s*# -- (.+?) -+\s*$", line)
            if match:
                section = match.group(1).capitalize()
        previous_end = node.end_lineno or node.lineno
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        name = node.target.id
        doc: list[str] = []
        index = node.lineno - 2
        while index >= 0 and lines[index].strip().startswith("#:"):
            doc.insert(0, lines[index].strip()[2:].strip())
            index -= 1
        if not doc:
            raise ValueError(f"the setting {name!r} has no #: comment")
        value_source = ast.get_source_segment(source, node.value) if node.value else None
        entries.append(
            SettingEntry(
                name=name,
                section=section,
                annotation=ast.get_source_segment(source, node.annotation) or "",
                default=_default_text(fields[name], value_source),
                doc=_rst_to_markdown(" ".join(doc)),
            )
        )
    missing = set(fields) - {entry.name for entry in entries}
    if missing:
        raise ValueError(f"settings not found in the source: {sorted(missing)}")
    return entries


def settings_markdown() -> str:
    """The settings reference: one section per group, one heading per setting."""
    out: list[str] = []
    section = None
    for entry in setting_entries():
        if entry.section != section:
            section = entry.section
            out.append(f"## {section}\n")
        out.append(f"### {entry.name}\n")
        out.append(
            f"Type `{entry.annotation}` · default {entry.default} · "
            f"environment / config key `AUTHGATE_{entry.name.upper()}`\n"
        )
        out.append(entry.doc + "\n")
    return "\n".join(out)


def _error_classes() -> Iterator[type[errors.AuthError]]:
    stack: list[type[errors.AuthError]] = [errors.AuthError]
    while stack:
        cls = stack.pop()
        yield cls
        stack.extend(cls.__subclasses__())


def errors_markdown() -> str:
    """A table of every error code: HTTP status, exception class, what it means."""
    by_code: dict[str, type[errors.AuthError]] = {}
    for cls in _error_classes():
        public = cls.__module__ == errors.__name__ and not cls.__name__.startswith("_")
        if public and cls is not errors.AuthError and cls.default_code.value not in by_code:
            by_code[cls.default_code.value] = cls
    rows = ["| code | status | exception | meaning |", "|---|---|---|---|"]
    for code in errors.ErrorCode:
        if code.value not in by_code:
            raise ValueError(f"no exception class carries {code.value}")
        cls = by_code[code.value]
        meaning = _rst_to_markdown((cls.__doc__ or "").strip().splitlines()[0])
        rows.append(
            f"| `{code.value}` | {cls.default_status} | `authgate.errors.{cls.__name__}` "
            f"| {meaning.replace('|', '&#124;')} |"
        )
    rows += [
        "",
        "`VALIDATION_ERROR` names each failing field with a reason (`fields`):",
        "",
        "| reason | message (English) |",
        "|---|---|",
    ]
    rows += [f"| `{reason}` | {_cell(text)} |" for reason, text in errors.REASON_TEXTS.items()]
    return "\n".join(rows) + "\n"


def default_openapi() -> dict[str, Any]:
    """The OpenAPI document with the default settings (what a new app serves)."""
    from authgate import Auth
    from authgate.web.api import AuthAPI

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AuthAPI(Auth("d" * 32)).openapi()


def all_features_openapi() -> tuple[dict[str, Any], dict[tuple[str, str], str | None]]:
    """The OpenAPI document with every route listed, and the setting each route needs.

    Returns:
        The document (default settings plus the switches of ``_FEATURES_ON``) and a
        map ``(METHOD, path without prefix) -> setting`` (``None``: always there).
    """
    from authgate import Auth
    from authgate.web.api import ROUTES, AuthAPI

    with warnings.catch_warnings():  # no mailer, no base_url: irrelevant to a document
        warnings.simplefilter("ignore")
        document = AuthAPI(Auth("d" * 32, **_FEATURES_ON)).openapi()
    features = {(route.method, route.path): route.feature for route in ROUTES}
    return document, features


def _schema_type(schema: dict[str, Any], schemas: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})" if name in schemas else name
    kind = schema.get("type", "")
    if "const" in schema:
        return f"`{schema['const']!r}`"
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array" and isinstance(schema.get("items"), dict):
        return f"array of {_schema_type(schema['items'], schemas)}"
    if "enum" in schema:
        return " or ".join(f"`{value}`" for value in schema["enum"])
    if "format" in schema and kind == "string":
        return f"string ({schema['format']})"
    return str(kind) or "any"


def _constraints(schema: dict[str, Any]) -> str:
    parts = []
    if "minLength" in schema and schema["minLength"] > 1:
        parts.append(f"at least {schema['minLength']} characters")
    if "maxLength" in schema:
        parts.append(f"at most {schema['maxLength']} characters")
    if "minimum" in schema:
        parts.append(f"≥ {schema['minimum']}")
    if "maximum" in schema:
        parts.append(f"≤ {schema['maximum']}")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "&#124;").replace("\n", " ")


#: Body fields that exist only with a setting switched on, and that setting.
_FIELD_FEATURES = {"username": "usernames"}


def _properties_table(
    schema: dict[str, Any], schemas: dict[str, Any], default: dict[str, Any] | None = None
) -> list[str]:
    """A table of ``schema``'s properties; ``default``: the same schema under default settings."""
    required = set(schema.get("required", ()))
    rows = ["| field | type | required | notes |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        description = prop.get("description", "")
        limits = "" if "characters" in description else _constraints(prop)
        notes = "; ".join(part for part in (description, limits) if part)
        needed = "yes" if name in required else "no"
        if default is not None and name not in default.get("properties", {}):
            feature = _FIELD_FEATURES.get(name)
            switch = f"[`{feature}`](settings.md#{feature})" if feature else "its feature"
            needed = f"with {switch}" if name in required else "no"
            notes = f"only with {switch} on" + (f"; {notes}" if notes else "")
        elif default is not None and name not in default.get("required", ()):
            needed = "no" if needed == "no" else "with its feature"
        rows.append(
            f"| `{name}` | {_cell(_schema_type(prop, schemas))} | {needed} | {_cell(notes)} |"
        )
    return rows


def endpoints_markdown() -> str:
    """Every JSON endpoint, from the OpenAPI document: body, answer, errors, switch."""
    document, features = all_features_openapi()
    defaults = default_openapi()["paths"]
    schemas: dict[str, Any] = document["components"]["schemas"]
    prefix = "/auth"
    out: list[str] = [
        "| method | path | summary |",
        "|---|---|---|",
    ]
    operations: list[tuple[str, str, dict[str, Any]]] = [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]
    for method, path, operation in operations:
        anchor = operation["operationId"].lower()
        out.append(f"| {method} | [`{path}`](#{anchor}) | {_cell(operation['summary'])} |")
    out.append("")
    for method, path, operation in operations:
        out.append(f"### {method} {path} {{#{operation['operationId'].lower()}}}\n")
        out.append(operation["summary"] + ".\n")
        feature = features.get((method, path[len(prefix) :]))
        facts = []
        if feature == "jwt_enabled":
            facts.append(
                "Listed with [`jwt_access_tokens`](settings.md#jwt_access_tokens) or "
                "[`auth101_compat`](settings.md#auth101_compat)."
            )
        elif feature is not None:
            default = getattr(Settings, feature, None)
            state = "on by default" if default is True else "off by default"
            facts.append(f"Listed when [`{feature}`](settings.md#{feature}) is on ({state}).")
        if operation.get("security"):
            facts.append("Needs a signed-in user: `Authorization: Bearer` or the session cookie.")
        out.extend(facts)
        if facts:
            out.append("")
        for parameter in operation.get("parameters", ()):
            description = parameter.get("description", "")
            out.append(
                f"- query `{parameter['name']}`"
                + (" (required)" if parameter.get("required") else "")
                + (f": {description}" if description else "")
            )
        if operation.get("parameters"):
            out.append("")
        body = operation.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            default_op = defaults.get(path, {}).get(method.lower(), {})
            default_body = default_op.get("requestBody", {}).get("content", {})
            default_schema = default_body.get("application/json", {}).get("schema")
            out.append("Body (`application/json`):\n")
            out.extend(
                _properties_table(body["application/json"]["schema"], schemas, default_schema)
            )
            out.append("")
        out.append("Answers:\n")
        for status, response in operation["responses"].items():
            content = response.get("content", {})
            if status.startswith("2") and "application/json" in content:
                kind = _schema_type(content["application/json"]["schema"], schemas)
                out.append(f"- **{status}** {kind}: {response['description']}")
            elif status.startswith("2"):
                out.append(f"- **{status}** {response['description']}")
            elif status == "303":
                out.append(f"- **303** {response['description']}")
            else:
                codes = " or ".join(f"`{code}`" for code in response["description"].split(" or "))
                out.append(f"- **{status}** {codes}")
        out.append("")
    out.append("## Schemas\n")
    for name, schema in schemas.items():
        out.append(f"### {name} {{#{name.lower()}}}\n")
        if schema.get("description"):
            out.append(schema["description"] + "\n")
        if schema.get("type") == "object" and schema.get("properties"):
            out.extend(_properties_table(schema, schemas))
            out.append("")
        else:
            out.append(f"Type: {_schema_type(schema, schemas)}.\n")
    return "\n".join(out)


#: The markers :func:`render` replaces, and what replaces them.
MARKERS = {
    "<!-- generated: settings -->": settings_markdown,
    "<!-- generated: endpoints -->": endpoints_markdown,
    "<!-- generated: errors -->": errors_markdown,
}


def render(markdown: str) -> str:
    """``markdown`` with every generated-section marker replaced by its section."""
    for marker, build in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, build())
    return markdown
