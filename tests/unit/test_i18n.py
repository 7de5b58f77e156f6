"""Language negotiation, Accept-Language parsing, catalogs and dates of shared.i18n."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from io import BytesIO

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from shared import i18n


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        (["de"], "de"),
        (["DE"], "de"),
        (["zh-hant"], "zh-Hant"),
        (["pt-br"], "pt-BR"),
        (["pt_BR"], "pt-BR"),
        (["zh-TW"], "zh-Hant"),
        (["zh-HK"], "zh-Hant"),
        (["zh-MO"], "zh-Hant"),
        (["zh-Hant-TW"], "zh-Hant"),
        (["zh-CN"], "zh-Hans"),
        (["zh-SG"], "zh-Hans"),
        (["zh"], "zh-Hans"),
        (["zh-Hans-HK"], "zh-Hans"),
        (["pt"], "pt-BR"),
        (["pt-PT"], "pt-BR"),
        (["de-AT"], "de"),
        (["fr-CA"], "fr"),
        (["ko-KR"], "ko"),
        (["hu-HU"], "hu"),
        (["en-GB"], "en"),
        (["zh-Hant-HK"], "zh-Hant"),
        (["zh-Hans-TW"], "zh-Hans"),
        (["ja-JP"], "ja"),
        (["de-XX"], "de"),
        (["en-US-x-private"], "en"),
        (["i-klingon"], "en"),
        (["tlh"], "en"),
        (["xx"], "en"),
        ([], "en"),
    ],
)
def test_negotiate_maps_tags_to_supported_languages(candidates: list[str], expected: str) -> None:
    assert i18n.negotiate(candidates) == expected


def test_negotiate_takes_the_first_candidate_that_fits() -> None:
    assert i18n.negotiate(["xx-YY", "nl", "pl-PL", "de"]) == "pl"
    assert i18n.negotiate(["de", "pl"]) == "de"
    # The invitation's language wins over the browser's, as long as it is supported.
    assert i18n.negotiate(["ko", *i18n.parse_accept_language("de-DE,de;q=0.9")]) == "ko"
    assert i18n.negotiate(["tlh", *i18n.parse_accept_language("de-DE,de;q=0.9")]) == "de"


@pytest.mark.parametrize(
    "garbage",
    [None, "", "   ", "en US", "../../etc/passwd", "x" * 500, "de;q=1", "\u00e9n", "--", "de-", 42, b"de"],
)
def test_negotiate_never_raises_on_garbage(garbage: object) -> None:
    assert i18n.negotiate([garbage]) == "en"  # type: ignore[list-item]


def test_negotiate_tolerates_a_bare_string_or_none() -> None:
    assert i18n.negotiate("de-CH") == "de"
    assert i18n.negotiate(None) == "en"


def test_parse_accept_language_orders_by_q_value() -> None:
    header = "fr;q=0.5, de-AT, en;q=0.8, ko;q=0.9"
    assert i18n.parse_accept_language(header) == ["de-AT", "ko", "en", "fr"]


def test_parse_accept_language_keeps_header_order_for_equal_weights() -> None:
    assert i18n.parse_accept_language("pl, hu, ja;q=1.0") == ["pl", "hu", "ja"]


def test_parse_accept_language_ignores_malformed_parts_and_refusals() -> None:
    header = "de;q=abc, ,fr;q=2, it;q=0, **, es-ES;q=0.7, *;q=0.1, pt-BR ;q=0.6, ja;level=1;q=0.4, ko;q=-1"
    assert i18n.parse_accept_language(header) == ["es-ES", "pt-BR", "ja"]


def test_parse_accept_language_takes_q_values_only_as_rfc_9110_writes_them() -> None:
    header = "de;q=1e-1, fr;q=nan, es;q=0.0001, it;q=1.001, ja;q=inf, ko;q=0.123, pl;q=1.000, hu;q=.5"
    assert i18n.parse_accept_language(header) == ["pl", "ko"]


@pytest.mark.parametrize("header", [None, "", "   ", ";;;", "q=0.5", ",,,"])
def test_parse_accept_language_of_nothing_is_empty(header: str | None) -> None:
    assert i18n.parse_accept_language(header) == []


def test_accept_language_then_negotiate_picks_the_best_supported() -> None:
    tags = i18n.parse_accept_language("nl-NL;q=1, zh-TW;q=0.8, en;q=0.5")
    assert i18n.negotiate(tags) == "zh-Hant"


@pytest.mark.parametrize(("language", "expected"), [("zh-Hant", "zh_Hant"), ("pt-BR", "pt_BR"), ("de-AT", "de"), ("xx", "en")])
def test_babel_locale(language: str, expected: str) -> None:
    assert str(i18n.babel_locale(language)) == expected


def test_format_date_is_localized() -> None:
    d = date(2026, 12, 5)
    assert i18n.format_date(d, "en") == "December 5, 2026"
    assert i18n.format_date(d, "de") == "5. Dezember 2026"
    assert i18n.format_date(d, "ko") == "2026년 12월 5일"
    assert i18n.format_date(d, "hu") == "2026. december 5."
    assert i18n.format_date(d, "pl") == "5 grudnia 2026"
    assert i18n.format_date(d, "zh-TW") == "2026年12月5日"
    assert i18n.format_date(d, "garbage!") == "December 5, 2026"


def test_format_date_of_an_aware_datetime_uses_utc() -> None:
    late_in_seoul = datetime(2026, 12, 6, 1, 30, tzinfo=timezone(timedelta(hours=9)))
    assert i18n.format_date(late_in_seoul, "en") == "December 5, 2026"


def test_translations_come_from_the_po_catalogs() -> None:
    assert i18n.translations("emails", "de").gettext("Get started now") == "Jetzt loslegen"
    assert i18n.translations("emails", "ko-KR").gettext("Get started now") == "지금 시작하기"
    assert i18n.translations("emails", "zh-TW").gettext("Get started now") == "立即開始"
    assert i18n.translations("emails", "xx").gettext("Get started now") == "Get started now"


def test_translations_are_cached_per_domain_and_language() -> None:
    assert i18n.translations("emails", "de") is i18n.translations("emails", "de-AT")
    assert i18n.translations("emails", "de") is not i18n.translations("emails", "fr")


def test_an_unknown_message_or_missing_domain_falls_back_to_the_source() -> None:
    assert i18n.translations("emails", "de").gettext("No such message") == "No such message"
    assert i18n.translations("nosuchdomain", "de").gettext("Hello") == "Hello"


def test_a_domain_name_cannot_escape_the_locales_directory() -> None:
    with pytest.raises(ValueError):
        i18n.translations("../secrets", "de")


def test_fuzzy_entries_are_not_used(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    po = tmp_path / "de" / "LC_MESSAGES" / "probe.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Ready"\nmsgstr "Fertig"\n\n'
        '#, fuzzy\nmsgid "Unsure"\nmsgstr "Unsicher"\n',
        encoding="utf-8",
    )
    # As scripts/extract_messages.py compiles it: the app reads only the .mo.
    po.with_suffix(".mo").write_bytes(i18n.compile_mo(po.read_bytes(), "probe", "de"))
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    i18n.clear_cache()
    try:
        t = i18n.translations("probe", "de")
        assert t.gettext("Ready") == "Fertig"
        assert t.gettext("Unsure") == "Unsure"
    finally:
        monkeypatch.undo()
        i18n.clear_cache()


def test_text_direction() -> None:
    assert all(i18n.text_direction(lang) == "ltr" for lang in i18n.SUPPORTED_LANGUAGES)


def _catalog_files() -> list:
    return sorted(i18n.LOCALES_DIR.glob("*/LC_MESSAGES/*.po"))


def test_every_catalog_is_compiled() -> None:
    assert _catalog_files()
    missing = [str(po) for po in _catalog_files() if not po.with_suffix(".mo").is_file()]
    assert missing == [], "run scripts/extract_messages.py and commit the .mo files"


@pytest.mark.parametrize("po", _catalog_files(), ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_each_compiled_catalog_matches_its_po(po) -> None:
    language = po.parent.parent.name
    with po.open("rb") as fp:
        source = read_po(fp, locale=language.replace("-", "_"), ignore_obsolete=True)
    with po.with_suffix(".mo").open("rb") as fp:
        compiled = read_mo(fp)
    expected = {m.id: m.string for m in source if m.id and not m.fuzzy}
    assert {m.id: m.string for m in compiled if m.id} == expected, "stale .mo: run scripts/extract_messages.py"


def test_a_missing_compiled_catalog_gives_the_source_strings(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    po = tmp_path / "de" / "LC_MESSAGES" / "probe.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\nmsgid "Ready"\nmsgstr "Fertig"\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    i18n.clear_cache()
    try:
        assert i18n.translations("probe", "de").gettext("Ready") == "Ready"
    finally:
        monkeypatch.undo()
        i18n.clear_cache()


def test_compile_mo_reads_what_the_po_says() -> None:
    po = b'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\nmsgid "Ready"\nmsgstr "\xc3\x9cbersetzt"\n'
    compiled = read_mo(BytesIO(i18n.compile_mo(po, "probe", "de")))
    assert compiled["Ready"].string == "\u00dcbersetzt"


def test_catalogs_are_read_on_first_use_of_a_language_not_at_import() -> None:
    # A fresh interpreter: importing the app's page and email modules opens no catalog; rendering Korean opens
    # the Korean catalog and its English fallback only.
    probe = (
        "import builtins, io\n"
        "opened = []\n"
        "real = io.open\n"
        "def spy(file, *a, **k):\n"
        "    if str(file).endswith('.mo'): opened.append(str(file).split('locales/')[1])\n"
        "    return real(file, *a, **k)\n"
        "import pathlib\n"
        "pathlib.io.open = spy\n"
        "import accept_invite.pages, notifications.emails, accept_invite.agreement_page\n"
        "from shared import i18n\n"
        "print(sorted(opened))\n"
        "i18n.translations('pages', 'ko-KR').gettext('x')\n"
        "print(sorted(opened))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=i18n.LOCALES_DIR.parent.parent).stdout.splitlines()
    assert out == ["[]", "['en/LC_MESSAGES/pages.mo', 'ko/LC_MESSAGES/pages.mo']"]
