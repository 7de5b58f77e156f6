#!/usr/bin/env python3
"""Regenerates the gettext templates (shared/locales/<domain>.pot) from the sources, merges them into every .po, compiles every .mo.

    .venv/bin/python scripts/extract_messages.py            # all domains
    .venv/bin/python scripts/extract_messages.py --check    # exit 1 if a .pot/.po is stale or a translation is missing

After adding or changing a string in a template: run this, translate the new (empty or "fuzzy") entries
in each `shared/locales/<lang>/LC_MESSAGES/<domain>.po`, remove the fuzzy flag, run this again (it compiles
the .mo files the app reads; commit them with the .po files), and run the tests
(tests/unit/test_email_catalogs.py fails on anything left untranslated). A new domain (e.g. "pages")
only needs an entry in DOMAINS.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.i18n import DEFAULT_LANGUAGE, LOCALES_DIR, SUPPORTED_LANGUAGES, compile_mo  # noqa: E402

# Domain -> directories (relative to the repository) whose templates hold its messages.
DOMAINS: dict[str, tuple[str, ...]] = {
    "emails": ("notifications/templates",),
    "agreements": ("accept_invite/agreement_templates",),
    "pages": ("accept_invite/templates",),
}
MAPPING_FILE = ROOT / "babel.cfg"
PROJECT = "invitations"
WIDTH = 100


def method_map() -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """The (pattern, extractor) list and per-pattern options of babel.cfg."""
    with MAPPING_FILE.open(encoding="utf-8") as fp:
        return parse_mapping_cfg(fp, str(MAPPING_FILE))


def extract(domain: str) -> Catalog:
    """The template catalog of a domain: every message of its sources, with where it is used."""
    methods, options = method_map()
    catalog = Catalog(project=PROJECT, domain=domain, charset="utf-8", fuzzy=False, header_comment=_header(domain, None))
    for source in DOMAINS[domain]:
        directory = ROOT / source
        for filename, lineno, message, comments, context in extract_from_dir(
            str(directory), methods, options, keywords=DEFAULT_KEYWORDS,
            comment_tags=("Translators:",), strip_comment_tags=True,
        ):
            location = (f"{source}/{filename}", lineno)
            catalog.add(message, None, [location], auto_comments=comments, context=context)
    return catalog


def _header(domain: str, language: str | None) -> str:
    what = f"{language} translations" if language else "Template"
    return (
        f"# {what} of the {domain!r} messages of the invitation service.\n"
        "# Generated and merged by scripts/extract_messages.py; translators edit msgstr only."
    )


def _serialize(catalog: Catalog, *, template: bool) -> bytes:
    buffer = io.BytesIO()
    # No line numbers: they would rewrite every .po whenever a template line moves.
    write_po(buffer, catalog, width=WIDTH, include_lineno=False, omit_header=False, sort_output=False,
             ignore_obsolete=not template)
    return buffer.getvalue()


def _messages(data: bytes) -> list[tuple[object, ...]]:
    """What matters in a .po/.pot, without the header dates that change on every run."""
    catalog = read_po(io.BytesIO(data))
    return [
        (m.id, m.string, m.context, frozenset(m.flags), tuple(m.auto_comments), tuple(sorted(p for p, _ in m.locations)))
        for m in catalog if m.id
    ]


def _write_if_changed(path: Path, data: bytes, check: bool) -> bool:
    old = path.read_bytes() if path.exists() else None
    if old is not None and _messages(old) == _messages(data):
        return False
    if not check:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return True


def update_domain(domain: str, *, check: bool = False) -> list[str]:
    """Regenerate the .pot and merge it into each language's .po; returns what changed or is missing."""
    problems: list[str] = []
    template = extract(domain)
    pot_path = LOCALES_DIR / f"{domain}.pot"
    if _write_if_changed(pot_path, _serialize(template, template=True), check):
        problems.append(f"{pot_path.relative_to(ROOT)} {'is stale' if check else 'updated'}")

    for language in SUPPORTED_LANGUAGES:
        po_path = LOCALES_DIR / language / "LC_MESSAGES" / f"{domain}.po"
        locale = language.replace("-", "_")
        if po_path.exists():
            with po_path.open("rb") as fp:
                catalog = read_po(fp, locale=locale, domain=domain)
        else:
            catalog = Catalog(locale=locale, domain=domain, project=PROJECT, charset="utf-8", fuzzy=False,
                              header_comment=_header(domain, language))
        catalog.update(template, update_header_comment=False)
        if language == DEFAULT_LANGUAGE:
            _fill_source_language(catalog)
        po = _serialize(catalog, template=False)
        if _write_if_changed(po_path, po, check):
            problems.append(f"{po_path.relative_to(ROOT)} {'is stale' if check else 'updated'}")
        # The app reads only the compiled catalogs (Azure runs no build step): compile from the .po as written.
        mo_path = po_path.with_suffix(".mo")
        mo = compile_mo(po_path.read_bytes() if po_path.exists() else po, domain, language)
        if not mo_path.exists() or mo_path.read_bytes() != mo:
            if not check:
                mo_path.write_bytes(mo)
            problems.append(f"{mo_path.relative_to(ROOT)} {'is stale' if check else 'compiled'}")
        problems.extend(
            f"{po_path.relative_to(ROOT)}: {'fuzzy' if m.fuzzy else 'untranslated'}: {m.id!r}"
            for m in _incomplete(catalog)
        )
    return problems


def _fill_source_language(catalog: Catalog) -> None:
    # English is the source language: a new or changed message is its own translation until someone
    # deliberately rewords it in en.po.
    for message in catalog:
        if message.id and (not message.string or message.fuzzy):
            message.string = message.id
            message.flags.discard("fuzzy")


def _incomplete(catalog: Iterable) -> list:
    out = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            out.append(message)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domain", action="append", choices=sorted(DOMAINS), help="only this domain (repeatable)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is stale or missing")
    args = parser.parse_args(argv)
    problems: list[str] = []
    for domain in args.domain or sorted(DOMAINS):
        problems.extend(update_domain(domain, check=args.check))
    for line in problems:
        print(line)
    if args.check:
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
