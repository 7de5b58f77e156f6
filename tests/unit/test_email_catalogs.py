"""Every supported language has a complete, well-formed translation of every email message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from shared.i18n import LOCALES_DIR, SUPPORTED_LANGUAGES

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "notifications" / "templates"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")


def _extract() -> dict[str, Message]:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fp:
        methods, options = parse_mapping_cfg(fp)
    # The extractor named in babel.cfg must be Jinja's own, so the test sees what the templates really say.
    assert {method for _, method in methods} == {"jinja2.ext:babel_extract"}
    catalog = Catalog(domain="emails")
    for filename, lineno, message, comments, context in extract_from_dir(str(TEMPLATES), methods, options, keywords=DEFAULT_KEYWORDS):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return {m.id: m for m in catalog if m.id}


MESSAGES = _extract()


def _catalog(language: str) -> Catalog:
    path = LOCALES_DIR / language / "LC_MESSAGES" / "emails.po"
    assert path.is_file(), f"missing catalog {path}"
    with path.open("rb") as fp:
        return read_po(fp, locale=language.replace("-", "_"), domain="emails")


def _has_bare_percent(text: str) -> bool:
    return "%" in PLACEHOLDER.sub("", text)


def _placeholders(text: str) -> list[str]:
    return sorted(m.group(1) or "%%" for m in PLACEHOLDER.finditer(text))


def test_the_templates_have_messages() -> None:
    assert len(MESSAGES) > 30
    assert "Get started now" in MESSAGES
    assert "Hi, %(first_name)s %(last_name)s!" in MESSAGES


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_catalog_translates_every_message(language: str) -> None:
    catalog = _catalog(language)
    problems: list[str] = []
    for msgid in MESSAGES:
        entry = catalog.get(msgid)
        if entry is None:
            problems.append(f"missing: {msgid!r}")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        elif not (entry.string or "").strip():
            problems.append(f"empty: {msgid!r}")
    assert not problems, f"{language}/emails.po:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_translations_keep_the_placeholders(language: str) -> None:
    catalog = _catalog(language)
    problems: list[str] = []
    for msgid in MESSAGES:
        entry = catalog.get(msgid)
        if entry is None or not entry.string:
            continue
        if _placeholders(msgid) != _placeholders(entry.string):
            problems.append(f"{msgid!r}: {_placeholders(msgid)} != {_placeholders(entry.string)} in {entry.string!r}")
        if _has_bare_percent(entry.string):
            # Newstyle gettext always %-formats: a lone % would raise at render time.
            problems.append(f"lone % in {entry.string!r}")
    assert not problems, f"{language}/emails.po:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_catalog_declares_its_language(language: str) -> None:
    assert str(_catalog(language).locale) == language.replace("-", "_")


@pytest.mark.parametrize("language", [lang for lang in SUPPORTED_LANGUAGES if lang != "en"])
def test_catalog_is_a_real_translation(language: str) -> None:
    catalog = _catalog(language)
    same = [msgid for msgid in MESSAGES if catalog.get(msgid) is not None and catalog.get(msgid).string == msgid]
    # A few strings may legitimately read the same (a name-only line); most must not.
    assert len(same) <= 2, f"{language} leaves these untranslated: {same}"


def test_the_placeholder_check_catches_a_mismatch() -> None:
    assert _placeholders("Hi, %(name)s!") != _placeholders("Hallo!")
    assert _placeholders("%(a)s and %(b)s") == _placeholders("%(b)s und %(a)s")
    assert _has_bare_percent("100 % sicher")
    assert _has_bare_percent("%(name)")
    assert not _has_bare_percent("100 %% sicher, %(name)s")
