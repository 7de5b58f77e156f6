"""Renders the invitation and confirmation emails (subject, plain text, HTML) in the recipient's language.

One template set per kind lives in `notifications/templates/`: `<kind>.subject.txt`, `<kind>.txt`,
`<kind>.html`, all extending `_layout.*`. Their strings are gettext messages of the "emails" domain
(`shared/locales/<lang>/LC_MESSAGES/emails.po`; run `scripts/extract_messages.py` after changing them).

Context keys (`render_email(kind, language, context)`); keys not listed as required may be left out:

- first_name, last_name: the recipient's name (greeting; "Hello!" when both are missing)
- contact_name: the recipient's full name, used for the greeting when first/last name are missing
  (AgreementAttestationConfirmation: the customer's primary contact)
- inviter_name: the person who sent the invitation (CustomerOnboarding, CompanyUser: required)
- seller_name: the seller / partner company (all kinds but CompanyUser: required; InvitationReminder too)
- platform_name, support_email, docs_url: from settings (always required)
- invite_url: the personal link, http(s) (invitation kinds: required)
- expires_at: aware datetime when the link expires, or None (shown as a localized date; InvitationReminder: required)
- message: the partner's optional free text, or None (escaped; line breaks kept)
- company_name: the customer company (all kinds but CustomerOnboarding: required)
- indirect_provider_name: ResellerRelationship with an indirect provider, or None
- roles: list of role names (CompanyUser); the Business Center roles are translated, others shown as given
- agreement_number: CompanyUser (purchasing account contact) and the confirmation, or None
- work_email: the work account to sign in with (CompanyUser, AgreementAcceptance), or None
- date_agreed: date of acceptance (AgreementAttestationConfirmation: required)
- accepted_by_name: who accepted, as attested (AgreementAttestationConfirmation), or None; the name the contact typed
  (AgreementAttestationReceipt: required)
- AgreementAttestationRequest: the contact's personal link (invite_url) and when it expires (expires_at); the receipt
  takes the time of acceptance as date_agreed
- change, audience, changed_by_name: PartnerRightsChanged: "admin_rights" or "ended"; "partner" (told) or "customer"
  (the confirmation); who of the customer made the change
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from notifications.sender import EmailMessage
from shared import i18n

if TYPE_CHECKING:  # Jinja loads with the first page or email rendered (i18n.template_environment), not at start
    from jinja2 import Environment

TEMPLATES_DIR = Path(__file__).parent / "templates"
DOMAIN = "emails"

# Kind -> template file stem.
KINDS: dict[str, str] = {
    "CustomerOnboarding": "customer_onboarding",
    "ResellerRelationship": "reseller_relationship",
    "CompanyUser": "company_user",
    "AgreementAcceptance": "agreement_acceptance",
    "AgreementAttestationConfirmation": "agreement_attestation_confirmation",
    "InvitationReminder": "invitation_reminder",
    "AgreementAttestationRequest": "agreement_attestation_request",
    "AgreementAttestationReceipt": "agreement_attestation_receipt",
    "PartnerRightsChanged": "partner_rights_changed",
}

_ALWAYS = ("platform_name", "support_email", "docs_url")
REQUIRED: dict[str, tuple[str, ...]] = {
    "CustomerOnboarding": (*_ALWAYS, "inviter_name", "seller_name", "invite_url"),
    "ResellerRelationship": (*_ALWAYS, "seller_name", "company_name", "invite_url"),
    "CompanyUser": (*_ALWAYS, "inviter_name", "company_name", "invite_url"),
    "AgreementAcceptance": (*_ALWAYS, "seller_name", "company_name", "invite_url"),
    "AgreementAttestationConfirmation": (*_ALWAYS, "seller_name", "company_name", "date_agreed"),
    "InvitationReminder": (*_ALWAYS, "seller_name", "invite_url", "expires_at"),
    "AgreementAttestationRequest": (*_ALWAYS, "seller_name", "company_name", "invite_url", "expires_at"),
    "AgreementAttestationReceipt": (*_ALWAYS, "seller_name", "company_name", "date_agreed", "accepted_by_name"),
    "PartnerRightsChanged": (*_ALWAYS, "seller_name", "company_name", "change", "audience", "changed_by_name"),
}

CONTEXT_KEYS = (
    "first_name", "last_name", "contact_name", "inviter_name", "seller_name", "platform_name", "invite_url",
    "expires_at", "support_email", "docs_url", "message", "company_name", "indirect_provider_name", "roles",
    "agreement_number", "work_email", "date_agreed", "accepted_by_name", "change", "audience", "changed_by_name",
)
_URL_KEYS = ("invite_url", "docs_url")


@dataclass(frozen=True)
class RenderedEmail:
    """An email ready to send: subject, text and HTML in one language."""

    subject: str
    text: str
    html: str
    language: str

    def to_message(self, to_address: str, to_name: str | None, reply_to: str | None = None) -> EmailMessage:
        """The message for `notifications.sender` senders."""
        return EmailMessage(
            to_address=to_address, to_name=to_name, subject=self.subject, text=self.text, html=self.html,
            reply_to=reply_to, language=self.language,
        )


def _environment(language: str) -> Environment:
    return i18n.template_environment((TEMPLATES_DIR,), (DOMAIN,), language, html=False)



def render_email(kind: str, language: str | None, context: Mapping[str, Any]) -> RenderedEmail:
    """Subject, text and HTML of one email kind, in the supported language nearest to `language`."""
    stem = KINDS.get(kind)
    if stem is None:
        raise ValueError(f"unknown email kind {kind!r}; expected one of {', '.join(KINDS)}")
    lang = i18n.negotiate([language])
    values = _prepare(kind, lang, context)
    env = _environment(lang)
    subject = " ".join(env.get_template(f"{stem}.subject.txt").render(values).split())
    values["subject"] = subject
    text = env.get_template(f"{stem}.txt").render(values)
    html = env.get_template(f"{stem}.html").render(values)
    return RenderedEmail(subject=subject, text=_tidy_text(text), html=html, language=lang)


def _prepare(kind: str, lang: str, context: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {key: None for key in CONTEXT_KEYS}
    for key, value in context.items():
        values[key] = value.strip() if isinstance(value, str) else value
    values["message"] = values["message"] or None
    missing = [key for key in REQUIRED[kind] if values.get(key) in (None, "", [])]
    if missing:
        raise ValueError(f"{kind} email needs {', '.join(missing)}")
    for key in _URL_KEYS:
        url = values.get(key)
        # Only web links: a javascript: or data: URL in a button would be an attack, not an invitation.
        if url and not re.match(r"^https?://[^\s\"'<>]+$", str(url)):
            raise ValueError(f"{key} must be an http(s) URL")

    expires_at = values["expires_at"]
    values["expires_on"] = i18n.format_date(expires_at, lang) if isinstance(expires_at, (date, datetime)) else None
    date_agreed = values["date_agreed"]
    values["agreed_on"] = i18n.format_date(date_agreed, lang) if isinstance(date_agreed, (date, datetime)) else None
    values["message_from"] = values["inviter_name"] or values["seller_name"] or values["company_name"] or ""
    values["role_items"] = [(_role_key(str(role)), str(role)) for role in values["roles"] or []]
    values["lang"] = lang
    values["dir"] = i18n.text_direction(lang)
    return values


def _role_key(role: str) -> str:
    return re.sub(r"[\s_-]+", "", role).lower()


def _tidy_text(text: str) -> str:
    # Optional blocks leave runs of blank lines behind; a plain-text mail reads best with single ones.
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"
