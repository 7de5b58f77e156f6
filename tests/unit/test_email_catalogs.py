"""Every supported language has a complete, well-formed translation of every email message."""

from __future__ import annotations

import re

import pytest
from babel.messages.catalog import Catalog

from scripts import extract_messages
from shared.i18n import SUPPORTED_LANGUAGES
from tests.support import catalogs

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")


MESSAGES = catalogs.messages("emails")


def _catalog(language: str) -> Catalog:
    return catalogs.catalog("emails", language)


def _has_bare_percent(text: str) -> bool:
    return "%" in PLACEHOLDER.sub("", text)


def _placeholders(text: str) -> list[str]:
    return sorted(m.group(1) or "%%" for m in PLACEHOLDER.finditer(text))


def test_the_templates_have_messages() -> None:
    # The extractor named in babel.cfg must be Jinja's own, so the test sees what the templates really say.
    assert {method for _, method in extract_messages.method_map()[0]} == {"jinja2.ext:babel_extract"}
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
        elif not catalogs.text(entry).strip():
            problems.append(f"empty: {msgid!r}")
    assert not problems, f"{language}/emails.po:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_translations_keep_the_placeholders(language: str) -> None:
    catalog = _catalog(language)
    problems: list[str] = []
    for msgid in MESSAGES:
        entry = catalog.get(msgid)
        if entry is None or not (translated := catalogs.text(entry)):
            continue
        if _placeholders(msgid) != _placeholders(translated):
            problems.append(f"{msgid!r}: {_placeholders(msgid)} != {_placeholders(translated)} in {translated!r}")
        if _has_bare_percent(translated):
            # Newstyle gettext always %-formats: a lone % would raise at render time.
            problems.append(f"lone % in {translated!r}")
    assert not problems, f"{language}/emails.po:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_catalog_declares_its_language(language: str) -> None:
    assert str(_catalog(language).locale) == language.replace("-", "_")


@pytest.mark.parametrize("language", [lang for lang in SUPPORTED_LANGUAGES if lang != "en"])
def test_catalog_is_a_real_translation(language: str) -> None:
    catalog = _catalog(language)
    same = [msgid for msgid in MESSAGES if (entry := catalog.get(msgid)) is not None and entry.string == msgid]
    # A few strings may legitimately read the same (a name-only line); most must not.
    assert len(same) <= 2, f"{language} leaves these untranslated: {same}"


def test_the_placeholder_check_catches_a_mismatch() -> None:
    assert _placeholders("Hi, %(name)s!") != _placeholders("Hallo!")
    assert _placeholders("%(a)s and %(b)s") == _placeholders("%(b)s und %(a)s")
    assert _has_bare_percent("100 % sicher")
    assert _has_bare_percent("%(name)")
    assert not _has_bare_percent("100 %% sicher, %(name)s")
