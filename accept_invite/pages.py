"""The customer's pages: server-rendered HTML in the reader's language, with the headers every page sends.

Templates live in `accept_invite/templates/`; their strings are the "pages" gettext domain
(`shared/locales/<lang>/LC_MESSAGES/pages.po`), including the sentences the Python side needs (field
reasons, labels, role names), which are macros in `_texts.html`. Scripts and styles
are files served from /api/assets, so the Content-Security-Policy allows no inline code at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from babel import Locale
from markupsafe import Markup

from accept_invite.company_form import Reason, countries
from shared import i18n
from shared.settings import get_settings

if TYPE_CHECKING:  # Jinja loads with the first page or email rendered (i18n.template_environment), not at start
    from jinja2 import Environment

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
DOMAIN = "pages"
# The agreement step's page keeps its own template folder and gettext domain ("agreements"), rendered by this one renderer.
AGREEMENT_TEMPLATES_DIR = Path(__file__).parent / "agreement_templates"
AGREEMENT_DOMAIN = "agreements"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


# Languages that put the family name first (and address people by it).
_FAMILY_FIRST = ("ja", "ko", "zh-Hant", "zh-Hans", "hu")


def _environment(language: str) -> Environment:
    return i18n.template_environment((TEMPLATES_DIR, AGREEMENT_TEMPLATES_DIR), (DOMAIN, AGREEMENT_DOMAIN), language, html=True)


def _texts(language: str) -> Any:
    """The macros of `_texts.html` in a language: the sentences Python code needs (reasons, labels, role names)."""
    return _environment(i18n.negotiate([language])).get_template("_texts.html").module


def _plain(markup: Any) -> str:
    # Macros answer escaped HTML; callers get plain text, escaped again wherever it lands in a page.
    return Markup(str(markup)).unescape()


def country_name(code: str | None, language: str) -> str:
    if not code:
        return ""
    return i18n.babel_locale(language).territories.get(code.upper(), code.upper())


def country_options(language: str) -> list[tuple[str, str]]:
    return sorted(((c, country_name(c, language)) for c in countries()), key=lambda item: item[1].casefold())


@cache  # computed once per language and process, not on every page's language switcher
def language_name(code: str) -> str:
    """A language's name in itself (Deutsch, 한국어, 中文（繁體）), as a switcher shows it."""
    locale = Locale.parse(code.replace("-", "_"))
    name = locale.get_display_name(locale) or code
    return name[:1].upper() + name[1:]


def reason_text(reason: Reason, language: str) -> str:
    """Why a field must change, as a sentence in `language` (country codes become the country's name)."""
    params = dict(reason.params)
    if "country" in params:
        params["country"] = country_name(str(params["country"]), language)
    return _plain(_texts(language).reason(reason.code, params))


def field_label(name: str, language: str) -> str:
    return _plain(_texts(language).label(name))


def role_label(role: str, language: str) -> str:
    return _plain(_texts(language).role_label(str(role)))


def role_description(role: str, language: str) -> str:
    return _plain(_texts(language).role_description(str(role)))


def full_name(first: str | None, last: str | None, language: str) -> str:
    parts = [last, first] if language in _FAMILY_FIRST else [first, last]
    return " ".join(p for p in parts if p)


def switcher(language: str, path: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
    """One link per supported language to the same page (GET) with `lang` set."""
    # The page's own query is encoded once; language codes need no escaping (letters and a hyphen).
    base = urlencode({k: v for k, v in params.items() if k != "lang" and v})
    prefix = f"{path}?{base}&lang=" if base else f"{path}?lang="
    return [
        {"code": code, "name": language_name(code), "current": code == language, "url": prefix + code}
        for code in i18n.SUPPORTED_LANGUAGES
    ]


def render(template: str, language: str, *, path: str = "/api/InviteUser", params: Mapping[str, str] | None = None,
           person: Any = None, **context: Any) -> str:
    """A whole page, every page of the journey (the agreement step's too): `path` and `params` are the GET address of
    this page, for the language switcher."""
    s = get_settings()
    lang = i18n.negotiate([language])
    env = _environment(lang)
    support = Markup('<a href="mailto:{0}">{0}</a>').format(s.support_email)
    values = {
        "lang": lang,
        "dir": i18n.text_direction(lang),
        "platform_name": s.platform_name,
        "support_email": s.support_email,
        "support_link": support,
        "docs_url": s.docs_url,
        "version": s.app_version,
        "languages": switcher(lang, path, params or {}),
        "language_name": language_name(lang),
        "person": person,
        "csrf": getattr(person, "csrf", None),
        "date": lambda value: format_date(value, lang),
        "role_label": lambda role: role_label(role, lang),
        "role_description": lambda role: role_description(role, lang),
        "country_name": lambda code: country_name(code, lang),
        "full_name": lambda first, last: full_name(first, last, lang),
        **context,
    }
    return env.get_template(template).render(values)


def format_date(value: date | datetime | None, language: str) -> str:
    return i18n.format_date(value, language) if value else ""


@lru_cache(maxsize=8)
def asset(name: str) -> tuple[bytes, str] | None:
    """A static file of the pages (only the listed ones), with its content type."""
    types = {"pages.css": "text/css", "pages.js": "text/javascript"}
    if name not in types:
        return None
    return (STATIC_DIR / name).read_bytes(), types[name]
