"""The customer's pages: every message translated in all twelve languages, every page renders in each of
them, and the pages' security rules (no inline code, strict CSP) hold."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog

from accept_invite import attestation_views, pages
from accept_invite.company_form import REASONS, Reason
from attest_agreement.customers import (
    AgreementAttestation,
    Contact,
    Customer,
    GranularDelegatedAdminPrivileges,
    RelationshipRole,
    RemovedUser,
    ResellerRelationship,
)
from attest_agreement.relationships import remove_relationship
from company_domains.domains import CompanyDomain, DomainStatus, JoinRequest, VerifiedHow
from company_domains.service import JoinOption
from invite_user.invitations import Address, CompanyData, Invitation, link_hash
from shared import i18n
from shared.i18n import SUPPORTED_LANGUAGES
from tests.support import catalogs
from tests.support.expect import found

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


MESSAGES = set(catalogs.messages("pages"))


def _catalog(language: str) -> Catalog:
    return catalogs.catalog("pages", language)


def test_messages_were_found():
    assert len(MESSAGES) > 120
    assert {"Create company", "Get started now", "Fill in this field.", "Account manager"} <= MESSAGES


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_catalog_translates_every_message_with_the_same_placeholders(language):
    catalog = _catalog(language)
    problems = []
    for msgid in sorted(MESSAGES):
        message = catalog.get(msgid)
        if message is None or not (translated := catalogs.text(message)) or message.fuzzy:
            problems.append(f"missing: {msgid!r}")
            continue
        if sorted(set(PLACEHOLDER.findall(msgid))) != sorted(set(PLACEHOLDER.findall(translated))):
            problems.append(f"placeholders differ: {msgid!r} -> {translated!r}")
        if "%" in PLACEHOLDER.sub("", translated):
            problems.append(f"bare %: {translated!r}")
    stale = {str(m.id) for m in catalog if m.id} - MESSAGES
    assert not problems, "\n".join(problems)
    assert not stale, f"entries no source uses any more: {sorted(stale)}"


@pytest.mark.parametrize("language", [lang for lang in SUPPORTED_LANGUAGES if lang != "en"])
def test_translations_are_not_english(language):
    catalog = _catalog(language)
    same = [m.id for m in catalog if m.id and m.string == m.id and len(m.id) > 12 and "%(" not in m.id]
    assert len(same) <= 2, same


def _invitation(**changes) -> Invitation:
    now = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)
    values: dict[str, Any] = dict(
        link_hash=link_hash("6a3c0a1e-8f57-4b4e-9d1f-0c2d3e4f5a6b"), partner_id="p", kind="CustomerOnboarding", email="hanna@contoso.example",
        email_normalized="hanna@contoso.example", first_name="Hanna", last_name="Schmidt", language="de", country_region="DE",
        company=CompanyData(name="Contoso", address=Address(line1="Hauptstraße 1", city="Berlin", postal_code="10115")),
        expires_in_days=60, expires_at=now + timedelta(days=60), created_at=now, updated_at=now, created_by={"email": "anna@partner.example"},
        inviter_name="Anna Agent", partner_name="Contoso Partner", indirect_provider_name="Fabrikam", message="Hello <b>there</b>",
        accepted_at=now,
    )
    values.update(changes)
    return Invitation(**values)


def _company() -> Customer:
    return Customer(id="c-1", name="Contoso GmbH", country="DE", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), created_by={},
                    primary_contact=Contact(first_name="Hanna", last_name="Schmidt", email="hanna@contoso.example"))


class _User:
    first_name, last_name, email, roles = "Hanna", "Schmidt", "hanna@contoso.example", ["AccountManager"]


def _contexts():
    inv = _invitation()
    user = _User()
    fields = [{"name": "name", "label": "Company name", "value": "", "required": True, "max_length": 200, "autocomplete": "organization",
               "type": "text", "options": [], "reason": "Fill in this field."},
              {"name": "country", "label": "Country", "value": "DE", "required": True, "max_length": 2, "autocomplete": "country",
               "type": "select", "options": [("DE", "Germany")], "reason": ""}]
    from invite_user.invitations import BusinessCenterRole

    return {
        "landing.html": {"inv": inv, "signin_url": "/s", "create_url": "/c"},
        "not_found.html": {},
        "expired.html": {"inv": inv, "contact_email": "anna@partner.example", "anonymous_csrf": "t"},
        "revoked.html": {"inv": inv, "contact_email": None},
        "replaced.html": {"inv": inv, "contact_email": "anna@partner.example", "contact_name": "Anna Agent"},
        "accepted.html": {"inv": inv, "signin_url": "/s"},
        "wrong_account.html": {"inv": inv, "signed_in_as": "eve@contoso.example", "another_url": "/a"},
        "not_allowed.html": {"inv": _invitation(kind="ResellerRelationship")},
        "signin_error.html": {"reason": "cancelled", "retry_url": "/r"},
        "error.html": {"kind": "unavailable", "retry_url": None},
        "signed_out.html": {},
        "resend_received.html": {"invalid": False},
        "company_form.html": {"inv": inv, "handle": "h", "fields": fields, "valid": False, "submitted": True},
        "confirm.html": {"inv": _invitation(kind="ResellerRelationship"), "company": _company(), "handle": "h", "roles": ["ReportViewer"]},
        "welcome.html": {"company": _company(), "user": user, "base": "/api/companies/c-1", "partners": [], "may_manage_partners": True},
        "profile.html": {"company": _company(), "user": user, "base": "/b", "rows": [("Name", "Contoso")]},
        "users.html": {"company": _company(), "user": user, "base": "/b", "users": [{"u": user, "version": "v1"}], "may_invite": True,
                       "may_manage_domains": True, "manage": True, "grantable": ["ReportViewer"], "may_manage_partners": True,
                       "all_roles": [r.value for r in BusinessCenterRole], "notice": {"kind": "last_role", "error": True, "role": "AM"},
                       "pending": [{"inv": inv, "status": "PendingAcceptance"}]},
        "partners.html": {"company": _company(), "base": "/b", "notice": {"kind": "admin_rights", "partner": "Contoso Partner"},
                          "partners": [{"rel": _relationship(), "version": "v"}, {"rel": _relationship(ended=True), "version": "w"}]},
        "removed.html": {"company": _company(), "gone": RemovedUser(
            customer_id="c-1", email="ivy@contoso.example", email_normalized="ivy@contoso.example", language="de",
            removed_at=datetime(2026, 12, 1, tzinfo=timezone.utc), removed_by={"name": "Hanna Schmidt", "email": "hanna@contoso.example"})},
        "agreements.html": {"company": _company(), "user": user, "base": "/b", "acceptance": None},
        "invite_colleague.html": {"company": _company(), "base": "/b", "fields": fields, "errors": {"roles": "x"},
                                  "all_roles": list(BusinessCenterRole), "grantable": [BusinessCenterRole.REPORT_VIEWER],
                                  "chosen_roles": [], "submission_id": "s"},
        "invited.html": {"company": _company(), "base": "/b", "email": "max@contoso.example", "expires_at": datetime(2027, 1, 1)},
        "domains.html": {"company": _company(), "base": "/b", "domains": _domains(), "requests": [_join_request()], "join_automatically": False,
                         "notice": {"kind": "wrong_txt", "error": True, "domain": "contoso.example", "record": "x"}, "entered": ""},
        "join.html": {"signed_in": True, "email": "ivy@contoso.example",
                      "option": JoinOption(_company(), "contoso.example", "joinable", join_automatically=True)},
        "attestation.html": {"att": _attestation(), "agreement": attestation_views.AGREEMENT, "link": "l", "problem": "name_mismatch",
                             "typed": "Max"},
        "attestation_done.html": {"att": _attestation(accepted=True), "agreement": attestation_views.AGREEMENT},
        "attestation_closed.html": {"att": _attestation(), "agreement": attestation_views.AGREEMENT, "kind": "expired"},
    }


def _attestation(accepted: bool = False) -> AgreementAttestation:
    at = datetime(2026, 11, 1, tzinfo=timezone.utc)
    return AgreementAttestation(
        id="a-1", customer_id="c-1", partner_id="p-1", partner_name="Contoso Partner", agreement_version="MCA-2024-10",
        contact=Contact(first_name="Greta", last_name="Maier", email="greta@contoso.de"), company_name="Contoso GmbH", link_hash="0" * 64,
        created_at=at, created_by={}, expires_at=at + timedelta(days=30), accepted_at=at if accepted else None,
        accepted_name="Greta Maier" if accepted else None)
def _relationship(ended: bool = False) -> ResellerRelationship:
    at = datetime(2026, 11, 1, tzinfo=timezone.utc)
    rel = ResellerRelationship(customer_id="c-1", partner_id="p-1", partner_name="Contoso Partner", role=RelationshipRole.RESELLER,
                               created_at=at, created_by="x", gdap=GranularDelegatedAdminPrivileges(roles=["Helpdesk agent"],
                                                                                                     end_date=date(2027, 6, 1)))
    return remove_relationship(rel, True, "hanna@contoso.example", at) if ended else rel


def _domains() -> list[CompanyDomain]:
    at = datetime(2026, 11, 1, tzinfo=timezone.utc)
    return [CompanyDomain(customer_id="c-1", domain="contoso.example", token="t" * 32, added_at=at, added_by="hanna@contoso.example"),
            CompanyDomain(customer_id="c-1", domain="contoso-group.example", token="u" * 32, added_at=at, added_by="hanna@contoso.example",
                          status=DomainStatus.VERIFIED, verified_at=at, verified_how=VerifiedHow.DNS)]


def _join_request() -> JoinRequest:
    return JoinRequest(customer_id="c-1", email="ivy@contoso.example", email_normalized="ivy@contoso.example", name="Ivy Ivanova",
                       subject="s", domain="contoso.example", requested_at=datetime(2026, 11, 2, tzinfo=timezone.utc))


def test_every_page_template_has_a_context_here():
    templates = {p.name for p in (ROOT / "accept_invite" / "templates").glob("*.html") if not p.name.startswith("_")}
    assert templates == set(_contexts())


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_page_renders_in_every_language(language):
    for template, context in _contexts().items():
        html = pages.render(template, language, **context)
        assert f'<html lang="{language}" dir="ltr">' in html, template
        assert "<script>" not in html and not re.search(r"<[^>]+\sstyle\s*=", html), template
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), f"inline event handler in {template}"


def test_user_text_is_escaped():
    html = pages.render("landing.html", "en", inv=_invitation(), signin_url="/s", create_url="/c")
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in html


def test_names_follow_the_language_order():
    html = pages.render("landing.html", "hu", inv=_invitation(), signin_url="/s", create_url="/c")
    assert "Üdvözöljük, Schmidt Hanna!" in html
    assert "Willkommen, Hanna Schmidt!" in pages.render("landing.html", "de", inv=_invitation(), signin_url="/s", create_url="/c")


PARAMS = {"max": 20, "country": "DE", "example": "10115", "prefix": "DE", "roles": "A, B", "email": "a@contoso.example"}
PAGE_CODES = ("email", "language", "roles", "role_not_grantable", "already_a_user")  # the colleague form's own reasons


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_every_reason_reads_in_every_language(language):
    for code in (*REASONS, *PAGE_CODES):
        text = pages.reason_text(Reason(code, PARAMS), language)
        assert text and "%(" not in text and "&lt;" not in text
    german = pages.reason_text(Reason("postal_code_format", {"country": "DE", "example": "10115"}), "ko")
    assert "독일" in german  # the country's name in the page's language


def test_every_reason_code_has_its_own_sentence():
    fallback = pages.reason_text(Reason("required", {}), "en")
    for code in (*REASONS, *PAGE_CODES):
        if code != "required":
            assert pages.reason_text(Reason(code, PARAMS), "en") != fallback, code
    assert pages.reason_text(Reason("characters", {}), "en") == "Remove the special characters (such as < > or line breaks)."


def test_labels_and_roles_in_every_language():
    from accept_invite.company_form import FIELDS
    from invite_user.invitations import BusinessCenterRole

    for language in SUPPORTED_LANGUAGES:
        labels = [pages.field_label(f.name, language) for f in FIELDS]
        assert len(set(labels)) == len(FIELDS) and all(labels)
        roles = [pages.role_label(r.value, language) for r in BusinessCenterRole]
        assert len(set(roles)) == len(BusinessCenterRole) and not set(roles) & {r.value for r in BusinessCenterRole}
        assert all(pages.role_description(r.value, language) for r in BusinessCenterRole)
    assert pages.role_label("AccountManager", "de") == "Kontomanager"


def test_language_switcher_lists_all_languages_in_their_own_names():
    links = pages.switcher("ja", "/api/InviteUser", {"invitationId": "x", "lang": "de"})
    assert [item["code"] for item in links] == list(i18n.SUPPORTED_LANGUAGES)
    assert {item["name"] for item in links} >= {"Deutsch", "日本語", "한국어", "Magyar", "Polski"}
    assert links[0]["url"] == "/api/InviteUser?invitationId=x&lang=en"
    assert [item["code"] for item in links if item["current"]] == ["ja"]


def test_content_security_policy_allows_no_inline_code():
    csp = pages.CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert pages.PAGE_HEADERS["X-Frame-Options"] == "DENY" and pages.PAGE_HEADERS["Referrer-Policy"] == "no-referrer"


def test_only_the_listed_assets_are_served():
    assert found(pages.asset("pages.js"), "the script")[1] == "text/javascript"
    assert found(pages.asset("pages.css"), "the stylesheet")[1] == "text/css"
    assert pages.asset("../views.py") is None and pages.asset("sessions.py") is None
