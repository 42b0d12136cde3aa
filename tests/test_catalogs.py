"""The translation catalogs: complete, placeholder-true, up to date, compiled from the sources."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import authgate.errors
from authgate import i18n

ROOT = Path(__file__).resolve().parents[1]
LOCALE_DIR = ROOT / "src" / "authgate" / "locale"
TRANSLATED = [code for code in i18n.LOCALES if code != "en"]
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def catalog(locale: str):  # type: ignore[no-untyped-def]
    with open(LOCALE_DIR / locale / "LC_MESSAGES" / "authgate.po", "rb") as f:
        return read_po(f, locale=locale)


def template_ids() -> set[str]:
    with open(LOCALE_DIR / "authgate.pot", "rb") as f:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}


def test_eleven_languages_are_shipped() -> None:
    assert len(TRANSLATED) == 11
    assert sorted(p.name for p in LOCALE_DIR.iterdir() if p.is_dir()) == sorted(TRANSLATED)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_is_translated_with_its_placeholders(locale: str) -> None:
    po = catalog(locale)
    ids = template_ids()
    found = {m.id if isinstance(m.id, str) else m.id[0]: m for m in po if m.id}
    assert set(found) == ids, f"{locale}: not in step with authgate.pot (run make messages)"
    for key, message in found.items():
        assert not message.fuzzy, (locale, key)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        originals = [message.id] if isinstance(message.id, str) else list(message.id)
        assert len(strings) == (1 if isinstance(message.id, str) else po.num_plurals)
        for text in strings:
            assert text and text.strip(), (locale, key)
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(originals[-1])), (
                locale, key, text,
            )  # fmt: skip
            assert ("<span" in text) == ("<span" in originals[0]), (locale, key)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_the_shipped_mo_is_compiled_from_the_po(locale: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, catalog(locale))
    shipped = (LOCALE_DIR / locale / "LC_MESSAGES" / "authgate.mo").read_bytes()
    assert compiled.getvalue() == shipped, f"{locale}: run make catalogs"


def test_the_template_lists_every_message_of_the_sources(tmp_path: Path) -> None:
    """``make messages`` would add nothing: the catalogs cover the code and templates as they are."""
    pybabel = shutil.which("pybabel", path=str(Path(sys.executable).parent))
    assert pybabel is not None
    out = tmp_path / "fresh.pot"
    subprocess.run(
        [pybabel, "extract", "-F", "babel.cfg", "-o", str(out), "--no-location",
         "-k", "N_", "-k", "ngettext:1,2", "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with open(out, "rb") as f:
        fresh = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    assert fresh == template_ids()


def test_every_literal_message_raised_is_in_the_catalog() -> None:
    """An AuthError raised with a message of its own must be translatable (authgate._messages)."""
    names = set(authgate.errors.__all__)
    ids = template_ids()
    # Never over authgate's HTTP API: the Python admin API, and Django admin forms (whose
    # ``ValidationError`` is Django's own, translated by Django).
    admin_only = {"src/authgate/users.py", "src/authgate/audit.py", "src/authgate/django/admin.py"}
    missing = []
    for path in (ROOT / "src" / "authgate").rglob("*.py"):
        relative = str(path.relative_to(ROOT))
        if relative in admin_only:
            continue
        for match in re.finditer(r'\b([A-Z]\w+)\(\s*"((?:[^"\\]|\\.)+)"\s*[,)]', path.read_text()):
            if match.group(1) in names and match.group(2) not in ids:
                missing.append((relative, match.group(2)))
    assert not missing, missing


def test_default_messages_are_translated() -> None:
    for name in authgate.errors.__all__:
        cls = getattr(authgate.errors, name)
        if isinstance(cls, type) and issubclass(cls, authgate.errors.AuthError):
            if cls is authgate.errors.InternalError:
                continue
            assert cls.default_message in template_ids(), name
            assert i18n.gettext(cls.default_message, "de") != cls.default_message, name


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("en-US,en;q=0.9", "en"),
        ("fr-CA;q=0.5, es;q=0.7", "es"),
        ("zh-Hans-CN", "zh_Hans"),
        ("zh-SG", "zh_Hans"),
        ("zh-TW, zh-HK", None),
        ("pt", "pt_BR"),
        ("pt-PT", "pt_BR"),
        ("fa-IR", "fa"),
        ("ja;q=0, ru", "ru"),
        ("*", None),
        ("", None),
        ("x" * 600, None),
        ("de;q=abc, it", "it"),
    ],
)
def test_accept_language_negotiation(header: str, expected: str | None) -> None:
    assert i18n.negotiate(header) == expected


def test_default_locale_setting_is_checked() -> None:
    from authgate.settings import Settings

    assert Settings(secret="s" * 32, default_locale="pt-br").default_locale == "pt_BR"
    with pytest.raises(ValueError, match="default_locale"):
        Settings(secret="s" * 32, default_locale="klingon")
    with pytest.raises(ValueError, match="locale_selector"):
        Settings(secret="s" * 32, locale_selector="de")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="login_url"):
        Settings(secret="s" * 32, login_url="evil.com/login")
    with pytest.raises(ValueError, match="profile_fields"):
        Settings(secret="s" * 32, profile_fields=("not a name",))


def test_the_gettext_markup_escapes_values_not_translations() -> None:
    from authgate.web.templating import PageTemplates

    env = PageTemplates().environment
    template = env.from_string('{{ _("Your username is %(username)s.", username=name) }}')
    rendered = template.render(name="<b>x</b>", **i18n.jinja_callables("de"))
    assert rendered == "Ihr Benutzername ist &lt;b&gt;x&lt;/b&gt;."
