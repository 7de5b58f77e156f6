"""Rendering of the invitation and confirmation emails: every kind, every language, safe and complete."""

from __future__ import annotations

import html as html_lib
import re
from datetime import date, datetime, timezone
from typing import Any

import pytest

from notifications.emails import KINDS, render_email
from shared.i18n import SUPPORTED_LANGUAGES

URL = "https://invitations.example.com/api/InviteUser?invitationId=3f1c2a9e-8d4b-4c55-9a0e-1b2c3d4e5f60&x=1"
# The kinds with a link to follow (the confirmation and the receipt only tell what happened).
INVITATION_KINDS = [kind for kind in KINDS
                    if kind not in ("AgreementAttestationConfirmation", "AgreementAttestationReceipt", "PartnerRightsChanged")]


def context(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "first_name": "Harry",
        "last_name": "Smith",
        "inviter_name": "Anna Field",
        "seller_name": "GFMS",
        "change": "admin_rights", "audience": "partner", "changed_by_name": "Hanna Schmidt",  # PartnerRightsChanged
        "platform_name": "My rConnect",
        "invite_url": URL,
        "expires_at": datetime(2026, 12, 5, 10, 0, tzinfo=timezone.utc),
        "support_email": "support@gfms.example",
        "docs_url": "https://docs.example.com/rconnect",
        "message": None,
        "company_name": "Contoso",
        "indirect_provider_name": None,
        "roles": ["Account manager", "Report viewer"],
        "agreement_number": None,
        "date_agreed": date(2026, 11, 2),
        "contact_name": "Harry Smith",
        "accepted_by_name": "Harry Smith",
    }
    base.update(overrides)
    return base


def visible_text(markup: str) -> str:
    body = markup.split("<body", 1)[1]
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_renders_in_every_language(kind: str, language: str) -> None:
    email = render_email(kind, language, context(message="Line one\nLine two", agreement_number="AG-42",
                                                 indirect_provider_name="Northwind"))
    assert email.language == language
    assert email.subject and "\n" not in email.subject
    assert email.text.strip() and email.html.strip()
    assert f'<html lang="{language}" dir="ltr">' in email.html
    assert "GFMS" in email.subject or "Contoso" in email.subject
    assert "support@gfms.example" in email.text or "GFMS" in email.text
    assert "{{" not in email.text + email.html and "%(" not in email.text + email.html


@pytest.mark.parametrize("kind", INVITATION_KINDS)
def test_the_link_is_in_the_button_and_written_out(kind: str) -> None:
    email = render_email(kind, "en", context())
    escaped = html_lib.escape(URL, quote=True)
    # Button and the raw link for when the button does not work: two anchors, and the URL as visible text.
    assert email.html.count(f'href="{escaped}"') == 2
    assert f">{escaped}</a>" in email.html
    assert "If the button does not work" in email.html
    assert URL in email.text


def test_customer_onboarding_follows_the_seed_wording() -> None:
    email = render_email("CustomerOnboarding", "en", context())
    text = visible_text(email.html)
    assert "Hi, Harry Smith!" in text
    assert "Anna Field from GFMS has invited you to use My rConnect to collaborate with them." in text
    assert "My rConnect is a platform which helps you to boost your service processes and assets to the next level." in text
    assert "Use the button below to set up your account and get started." in text
    assert "Get started now" in text
    assert "support@gfms.example" in text
    assert "https://docs.example.com/rconnect" in text
    assert email.subject == "Anna Field from GFMS invited you to My rConnect"


def test_reseller_relationship_names_the_indirect_provider_when_there_is_one() -> None:
    alone = render_email("ResellerRelationship", "en", context())
    both = render_email("ResellerRelationship", "en", context(indirect_provider_name="Northwind"))
    assert alone.subject == "GFMS would like to become your reseller"
    assert both.subject == "GFMS and Northwind would like to become your resellers"
    assert "Northwind can place orders for you" in both.text
    assert "Northwind" not in alone.text


def test_company_user_lists_translated_roles_and_keeps_unknown_ones() -> None:
    email = render_email("CompanyUser", "de", context(roles=["Account manager", "report_viewer", "Custom role <x>"]))
    text = visible_text(email.html)
    assert "Kontomanager" in text and "Berichtleser" in text
    assert "Custom role <x>" in text
    assert "Custom role &lt;x&gt;" in email.html
    assert "- Kontomanager" in email.text


def test_company_user_mentions_the_agreement_of_a_purchasing_contact() -> None:
    email = render_email("CompanyUser", "en", context(agreement_number="7654321", work_email="harry@contoso.com"))
    assert "purchasing account contact on agreement number 7654321" in email.text
    assert "Sign in with this work account: harry@contoso.com" in email.text


def test_agreement_acceptance_asks_to_sign_in_and_accept() -> None:
    email = render_email("AgreementAcceptance", "en", context())
    assert "accept the Microsoft Customer Agreement for Contoso" in email.text
    assert "Sign in and accept" in email.html


def test_attestation_confirmation_has_the_date_and_no_button() -> None:
    email = render_email("AgreementAttestationConfirmation", "pl", context(invite_url=None, accepted_by_name="Jan Kowalski"))
    assert "2 listopada 2026" in email.text
    assert "Jan Kowalski" in email.text
    assert "href=\"https://invitations" not in email.html
    assert "Umowy z Klientem Microsoft" in email.subject


def test_partner_message_is_escaped_and_keeps_its_line_breaks() -> None:
    evil = 'Hello <script>alert("x")</script> & welcome\nSecond line'
    email = render_email("CustomerOnboarding", "en", context(message=evil))
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; welcome\nSecond line" in email.html
    assert re.search(r'<div style="[^"]*white-space:pre-line[^"]*">Hello &lt;script&gt;', email.html)
    assert evil in email.text


def test_names_are_escaped_in_html() -> None:
    email = render_email("CompanyUser", "en", context(inviter_name="<b>Mallory</b>", company_name='"Evil" & Co'))
    assert "<b>Mallory</b>" not in email.html
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in email.html
    assert "&#34;Evil&#34; &amp; Co" in email.html


def test_korean_render_is_korean() -> None:
    email = render_email("CustomerOnboarding", "ko", context(first_name="길동", last_name="홍"))
    assert "지금 시작하기" in email.html
    assert "안녕하세요, 홍 길동님!" in email.text
    assert "2026년 12월 5일" in email.text
    assert re.search(r"[\uac00-\ud7a3]", email.subject)
    assert "Get started now" not in email.html


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "December 5, 2026"), ("de", "5. Dezember 2026"), ("ko", "2026년 12월 5일"), ("hu", "2026. december 5."),
     ("pl", "5 grudnia 2026"), ("zh-Hant", "2026年12月5日"), ("pt-BR", "5 de dezembro de 2026")],
)
def test_expiry_date_is_localized(language: str, expected: str) -> None:
    email = render_email("CustomerOnboarding", language, context())
    assert expected in email.text
    assert expected in visible_text(email.html)


def test_no_expiry_line_without_an_expiry() -> None:
    email = render_email("CustomerOnboarding", "en", context(expires_at=None))
    assert "expires" not in email.text


@pytest.mark.parametrize(("requested", "used"), [("de-AT", "de"), ("xx", "en"), ("zh-TW", "zh-Hant"), ("pt", "pt-BR"), (None, "en")])
def test_the_language_is_negotiated(requested: str | None, used: str) -> None:
    email = render_email("CustomerOnboarding", requested, context())
    assert email.language == used
    assert f'lang="{used}"' in email.html


def test_german_render_is_german() -> None:
    email = render_email("CustomerOnboarding", "de-AT", context())
    assert "Jetzt loslegen" in email.html
    assert "Hallo Harry Smith," in email.text


def test_greeting_without_a_name() -> None:
    email = render_email("ResellerRelationship", "en", context(first_name=None, last_name=None, contact_name=None))
    assert email.text.startswith("Hello!")


def test_the_text_part_has_no_runs_of_blank_lines() -> None:
    for kind in KINDS:
        text = render_email(kind, "en", context()).text
        assert "\n\n\n" not in text and not text.startswith("\n")


def test_unknown_kind_and_missing_keys_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown email kind"):
        render_email("Spam", "en", context())
    with pytest.raises(ValueError, match="invite_url"):
        render_email("CustomerOnboarding", "en", context(invite_url=None))


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,hi", 'https://x.example/"onmouseover="x'])
def test_only_web_links_are_accepted(url: str) -> None:
    with pytest.raises(ValueError, match="invite_url"):
        render_email("CustomerOnboarding", "en", context(invite_url=url))


def test_to_message_carries_the_rendering() -> None:
    email = render_email("CustomerOnboarding", "fr", context())
    message = email.to_message("harry@contoso.com", "Harry Smith", reply_to="anna@gfms.example")
    assert (message.subject, message.language, message.reply_to) == (email.subject, "fr", "anna@gfms.example")
    assert message.html == email.html and message.text == email.text


@pytest.mark.parametrize("change", ["admin_rights", "ended"])
def test_partner_rights_changed_tells_the_partner_and_confirms_to_the_customer(change: str) -> None:
    told = render_email("PartnerRightsChanged", "en", {**context(invite_url=None), "change": change, "audience": "partner",
                                                       "company_name": "Contoso <b>GmbH</b>"})
    confirmed = render_email("PartnerRightsChanged", "de", {**context(invite_url=None), "change": change, "audience": "customer",
                                                            "company_name": "Contoso GmbH"})
    assert "Contoso <b>GmbH</b>" in told.subject and "&lt;b&gt;" in told.html and "<b>GmbH" not in told.html
    assert "Hanna Schmidt" in told.text and "GFMS" in told.text and ("GDAP" in told.text) == (change == "ended")
    assert "GFMS" in confirmed.subject and "Sie" in confirmed.subject and "Hanna Schmidt" in confirmed.text
    assert "Get started now" not in told.text  # no link: there is nothing to click
