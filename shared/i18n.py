"""The one localization machinery: language negotiation (Babel), gettext catalogs and dates.

Catalogs live as `.po` files in `shared/locales/<language>/LC_MESSAGES/<domain>.po` (domains: "emails",
"agreements", "pages"), each with its compiled `.mo` next to it. Both are committed: Azure deploys the app
folder as is and runs no build step. `scripts/extract_messages.py` regenerates the `.pot` templates, merges
new messages into every `.po` and compiles the `.mo` files; tests/unit/test_i18n.py fails when a `.mo` does
not match its `.po`. A language's catalog is read on its first use, not at import.

Nothing here raises for an unknown or malformed language tag: it falls back to English.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import date, datetime, timezone
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.core import get_global, negotiate_locale
from babel.dates import format_date as _babel_format_date
from babel.support import NullTranslations, Translations

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT_LANGUAGE = "en"

# BCP 47 tags, in the spelling used for directories, `lang` attributes and stored preferences.
SUPPORTED_LANGUAGES: tuple[str, ...] = (
    "en", "de", "fr", "es", "it", "ja", "ko", "zh-Hant", "zh-Hans", "hu", "pl", "pt-BR",
)
_BY_LOWER = {tag.lower(): tag for tag in SUPPORTED_LANGUAGES}

# Portuguese has one catalog: every Portuguese reader gets it (Babel's negotiation takes aliases for this).
_ALIASES = {"pt": "pt-BR"}

_TAG = re.compile(r"^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$")
_QVALUE = re.compile(r"^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")  # RFC 9110 section 12.4.2
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
    return tag


def _babel_locale(tag: str) -> Locale | None:
    """Babel's reading of a tag, its script implied by the region where one is (zh-TW is written in Hant); None if unknown."""
    for attempt in (tag, tag.split("-")[0]):
        try:
            return Locale.parse(attempt, sep="-")
        except (UnknownLocaleError, ValueError, TypeError):
            continue
    return None


@lru_cache(maxsize=1024)
def _match(tag: str) -> str | None:
    """The supported language for one well-formed tag, or None (cached: the tags come from browsers, a bounded set)."""
    locale = _babel_locale(tag)
    if locale is None:
        return None
    script = locale.script or _likely_script(locale.language)
    forms = [
        "-".join(p for p in (locale.language, script, locale.territory) if p),
        "-".join(p for p in (locale.language, locale.territory) if p),
        "-".join(p for p in (locale.language, script) if p),
        locale.language,
    ]
    found = negotiate_locale(forms, SUPPORTED_LANGUAGES, sep="-", aliases=_ALIASES)
    return _BY_LOWER.get(found.lower()) if found else None


def _likely_script(language: str) -> str | None:
    # CLDR's likely subtags: a bare "zh" is Simplified Chinese (zh_Hans_CN).
    likely = get_global("likely_subtags").get(language, "")
    parts = likely.split("_")
    return parts[1] if len(parts) > 2 else None


def negotiate(candidates: Iterable[str | None] | str | None) -> str:
    """The supported language to use, given BCP 47 tags in order of preference; English when none fits.

    Each candidate is tried in turn, through Babel: exact tag (any case), its script as given or implied by the
    region (zh-TW and zh-HK -> zh-Hant, zh-CN and zh -> zh-Hans), then its base language (de-AT -> de);
    every Portuguese gets pt-BR. Garbage is skipped.
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
            if not _QVALUE.match(value.strip()):
                valid = False
                break
            q = float(value.strip())
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


def mo_path(domain: str, language: str) -> Path:
    """Where the compiled catalog the app reads sits: next to its .po, committed with it."""
    return po_path(domain, language).with_suffix(".mo")


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
    path = mo_path(domain, language)
    if not path.is_file():
        log.warning("no compiled %s catalog for %s at %s; using the source strings", domain, language, path)
        return NullTranslations()
    with path.open("rb") as fp:
        return Translations(fp=fp, domain=domain)


def compile_mo(po: bytes, domain: str, language: str) -> bytes:
    """The .mo file of a .po file's text (scripts/extract_messages.py writes it; the app only reads .mo files)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    catalog = read_po(BytesIO(po), locale=language.replace("-", "_"), domain=domain, ignore_obsolete=True)
    buffer = BytesIO()
    # Fuzzy entries are a translator's unconfirmed guess: they must not reach a customer.
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def clear_cache() -> None:
    """Forget the loaded catalogs (after recompiling a .mo file in a running process, or in tests)."""
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
        auto_reload=False,  # templates never change in a running app: compiled once, no stat per render
    )
    env.policies["ext.i18n.trimmed"] = True
    catalogs = _Catalogs(domains, language)
    env.install_gettext_callables(catalogs.gettext, catalogs.ngettext, newstyle=True)  # type: ignore[attr-defined]
    return env
