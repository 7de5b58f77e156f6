"""The gettext messages of a domain as the repository's own tooling extracts them (scripts/extract_messages.py), and a
language's catalog of them: what the catalog tests of every domain (pages, emails, agreements) compare."""

from __future__ import annotations

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from scripts import extract_messages
from shared.i18n import LOCALES_DIR


def messages(domain: str) -> dict[str, Message]:
    """Every message the domain's templates use, by its text."""
    found: dict[str, Message] = {}
    for message in extract_messages.extract(domain):
        if not message.id:  # the catalog's header
            continue
        # The checks compare singular text; a plural message would need them taught its forms first.
        assert isinstance(message.id, str), f"a plural message in {domain}: {message.id!r}"
        found[message.id] = message
    return found


def catalog(domain: str, language: str) -> Catalog:
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{domain}.po"
    assert path.is_file(), f"missing catalog {path}"
    with path.open("rb") as fp:
        return read_po(fp, locale=language.replace("-", "_"), domain=domain)


def text(entry: Message) -> str:
    """A singular entry's translation ("" when untranslated)."""
    assert isinstance(entry.string, str), f"a plural entry: {entry.id!r}"
    return entry.string
