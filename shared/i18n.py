"""The one localization machinery: language negotiation, gettext catalogs (.po, loaded in memory) and dates.

Catalogs live as `.po` files in `shared/locales/<language>/LC_MESSAGES/<domain>.po` (domains: "emails",
and any other a feature adds, e.g. "pages"). They are compiled in memory on first use; no `.mo` file is
committed, so a translator edits one file and nothing can go stale. `scripts/extract_messages.py`
regenerates the `.pot` templates and merges new messages into every `.po`.

Nothing here raises for an unknown or malformed language tag: it falls back to English.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import date, datetime, timezone
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date as _babel_format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "en"

# BCP 47 tags, in the spelling used for directories, `lang` attributes and stored preferences.
SUPPORTED_LANGUAGES: tuple[str, ...] = (
    "en", "de", "fr", "es", "it", "ja", "ko", "zh-Hant", "zh-Hans", "hu", "pl", "pt-BR",
)
_BY_LOWER = {tag.lower(): tag for tag in SUPPORTED_LANGUAGES}

# Tags that do not reduce to a supported one by dropping subtags: Chinese is chosen by script, and the
# regions that write Traditional Chinese say so only through the region; Portuguese has one catalog.
_ALIASES = {
    "zh-tw": "zh-Hant",
    "zh-hk": "zh-Hant",
    "zh-mo": "zh-Hant",
    "zh-cn": "zh-Hans",
    "zh-sg": "zh-Hans",
    "zh": "zh-Hans",
    "pt": "pt-BR",
    "pt-pt": "pt-BR",
}

_TAG = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$")
_DOMAIN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Accept-Language comes from the outside: bound the work a hostile header can cause.
_MAX_HEADER = 4096
_MAX_ENTRIES = 32


def _normalize(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None
    tag = tag.strip().replace("_", "-")
    if not tag or len(tag) > 64 or not _TAG.match(tag):
        return None
    return tag.lower()


def _match(tag: str) -> str | None:
    """The supported language for one lower-case tag, trying shorter prefixes (zh-hant-tw -> zh-hant)."""
    subtags = tag.split("-")
    while subtags:
        candidate = "-".join(subtags)
        found = _BY_LOWER.get(candidate) or _ALIASES.get(candidate)
        if found:
            return found
        subtags.pop()
    return None


def negotiate(candidates: Iterable[str | None] | str | None) -> str:
    """The supported language to use, given BCP 47 tags in order of preference; English when none fits.

    Each candidate is tried in turn: exact tag (any case), then a mapped script/region (zh-TW -> zh-Hant,
    zh-CN -> zh-Hans, pt-PT -> pt-BR), then its base language (de-AT -> de). Garbage is skipped.
    """
    if candidates is None:
        return DEFAULT_LANGUAGE
    if isinstance(candidates, str):
        candidates = [candidates]
    try:
        for raw in candidates:
            tag = _normalize(raw)
            if tag is None:
                continue
            found = _match(tag)
            if found:
                return found
    except TypeError:
        # A non-iterable from a sloppy caller: a language choice is never worth an error.
        pass
    return DEFAULT_LANGUAGE


def parse_accept_language(header: str | None) -> list[str]:
    """The language tags of an Accept-Language header, most preferred first (q-values honoured).

    Malformed entries, entries with q=0 ("not acceptable") and the wildcard `*` are left out; entries
    with equal weight keep the header's order.
    """
    if not isinstance(header, str) or not header.strip():
        return []
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header[:_MAX_HEADER].split(",")[:_MAX_ENTRIES]):
        tag, *params = (piece.strip() for piece in part.split(";"))
        if tag == "*" or not _TAG.match(tag) or len(tag) > 64:
            continue
        q = 1.0
        valid = True
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() != "q":
                continue
            try:
                q = float(value.strip())
            except ValueError:
                valid = False
                break
            if not 0.0 <= q <= 1.0:
                valid = False
                break
        if valid and q > 0.0:
            weighted.append((-q, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def babel_locale(language: str | None) -> Locale:
    """The Babel locale of a language (zh-Hant -> zh_Hant, pt-BR -> pt_BR), for formatting dates and numbers."""
    return Locale.parse(negotiate([language]).replace("-", "_"))


def text_direction(language: str | None) -> str:
    """"ltr" or "rtl", for the `dir` attribute of a page or an email in that language."""
    return "rtl" if babel_locale(language).character_order == "right-to-left" else "ltr"


def format_date(value: date | datetime, language: str | None, format: str = "long") -> str:
    """A date as people of that language write it ("5. Dezember 2026", "2026년 12월 5일").

    An aware datetime is taken in UTC: the app stores instants in UTC and does not know the reader's zone.
    """
    if isinstance(value, datetime):
        value = (value.astimezone(timezone.utc) if value.tzinfo else value).date()
    return _babel_format_date(value, format=format, locale=babel_locale(language))


def po_path(domain: str, language: str) -> Path:
    """Where the catalog of a domain for a supported language lives."""
    if not _DOMAIN.match(domain):
        raise ValueError(f"not a catalog domain name: {domain!r}")
    return LOCALES_DIR / negotiate([language]) / "LC_MESSAGES" / f"{domain}.po"


def translations(domain: str, language: str | None) -> NullTranslations:
    """The gettext translations of a domain in a language (negotiated), falling back to the English catalog.

    A missing catalog gives the source strings rather than an error: a mail in English beats no mail.
    """
    return _translations(domain, negotiate([language]))


@cache
def _translations(domain: str, language: str) -> NullTranslations:
    result = _load(domain, language)
    if language != DEFAULT_LANGUAGE:
        result.add_fallback(_translations(domain, DEFAULT_LANGUAGE))
    return result


def _load(domain: str, language: str) -> NullTranslations:
    path = po_path(domain, language)
    if not path.is_file():
        log.warning("no %s catalog for %s at %s; using the source strings", domain, language, path)
        return NullTranslations()
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=language.replace("-", "_"), domain=domain, ignore_obsolete=True)
    buffer = BytesIO()
    # Fuzzy entries are a translator's unconfirmed guess: they must not reach a customer.
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain=domain)


def clear_cache() -> None:
    """Forget the loaded catalogs (after editing a .po file in a running process, or in tests)."""
    _translations.cache_clear()


class _Catalogs:
    """Several gettext domains as one: the first whose catalog translates a message wins."""

    def __init__(self, domains: tuple[str, ...], language: str) -> None:
        self.catalogs = [translations(d, language) for d in domains]

    def gettext(self, message: str) -> str:
        for catalog in self.catalogs:
            text = catalog.gettext(message)
            if text != message:
                return text
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        for catalog in self.catalogs:
            text = catalog.ngettext(singular, plural, n)
            if text not in (singular, plural):
                return text
        return singular if n == 1 else plural


@cache
def template_environment(template_dirs: tuple[Path, ...], domains: tuple[str, ...], language: str, *, html: bool) -> Any:
    """The Jinja2 environment of one language, with its gettext domains installed once.

    One environment per language: installing translations per render on a shared environment would let two
    concurrent renders swap each other's language mid-template. `html` autoescapes every template (pages);
    otherwise only *.html files are escaped (emails have plain-text parts too).
    """
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(d) for d in template_dirs]),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=html, default=html),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["ext.i18n.trimmed"] = True
    catalogs = _Catalogs(domains, language)
    env.install_gettext_callables(catalogs.gettext, catalogs.ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env
