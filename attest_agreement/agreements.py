"""The rules of customer agreement acceptance: which date, which contact, who is told (who may attest: shared.authorization).

Plain values in, plain values or domain errors out; nothing here touches storage or HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timezone
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.core import get_global

from attest_agreement.customers import AcceptanceHow, AgreementAcceptance, Contact, Customer
from shared.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, RuleBroken

MICROSOFT_CUSTOMER_AGREEMENT = "MicrosoftCustomerAgreement"


class AgreementError(DomainError):
    """A rule of agreement acceptance refused the change; `code` is stable, the message is for people. Each kind is the
    domain error of its answer (400, 403, 404, 409: `shared.http.STATUS_OF`)."""

    code = "agreement-error"
    title = "Not allowed"

    def at(self, field: str) -> AgreementError:
        """The same refusal, naming the field where this caller sent the value (`agreement.dateAgreed`, `phone`)."""
        self.field = field
        for entry in self.errors or []:
            entry["field"] = field
        return self


class DateAgreedInFuture(AgreementError, RuleBroken):
    code = "date-agreed-in-future"
    title = "Date of acceptance in the future"

    def __init__(self, date_agreed: date, latest: date, country: str) -> None:
        super().__init__(
            f"dateAgreed {date_agreed.isoformat()} is in the future: the latest possible date for a customer in {country} "
            f"is {latest.isoformat()} (the date that has begun in UTC and in every time zone of the country).",
            field="dateAgreed", extra={"latestDateAgreed": latest.isoformat()},
        )
        self.latest = latest


class InvalidPhoneNumber(AgreementError, Invalid):
    code = "validation"  # the problem's type, as for every invalid field; the field's entry says which rule
    title = "The request is not valid"

    def __init__(self, message: str) -> None:
        super().__init__([{"field": "primaryContact.phoneNumber", "message": message, "code": "invalid-phone-number"}])
        self.message = message


class AlreadyAccepted(AgreementError, Conflict):
    """The agreement is accepted already (by attestation or directly); it is recorded once."""

    code = "agreement-accepted-already"
    title = "Agreement accepted already"

    def __init__(self, acceptance: AgreementAcceptance) -> None:
        how = {AcceptanceHow.PARTNER_ATTESTATION: "attested by a partner",
               AcceptanceHow.CUSTOMER_CONFIRMED: "created from the customer's own confirmation"}.get(
                   acceptance.how, "accepted directly by the customer")
        super().__init__(
            f"The {acceptance.type} was already {how} on {acceptance.date_agreed.isoformat()} "
            f"(recorded {acceptance.recorded_at.isoformat()}); it is not recorded twice."
        )
        self.acceptance = acceptance


class NotAllowedToAccept(AgreementError, Forbidden):
    code = "not-allowed-to-accept"


class CustomerNotFound(AgreementError, NotFound):
    code = "customer-not-found"


# -- the date of acceptance ----------------------------------------------------------------------


@cache
def _country_zones(country: str) -> tuple[ZoneInfo, ...]:
    zones = []
    for name in get_global("territory_zones").get(country.upper(), ()):
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return tuple(zones)


def customer_today(country: str | None, now: datetime) -> date:
    """The customer's own date at `now`, from its country alone (we store no address-level time zone).

    A country can span several zones (US: Honolulu to New York; RU: Kaliningrad to Kamchatka). The
    customer may sit in any of them, so its "today" is the earliest local date among them: that is the
    latest date that has certainly begun wherever the customer is. An unknown country counts as UTC.
    """
    now = now.astimezone(timezone.utc)
    zones = _country_zones(country) if country else ()
    if not zones:
        return now.date()
    return min(now.astimezone(zone).date() for zone in zones)


def latest_date_agreed(country: str | None, now: datetime) -> date:
    """The latest acceptance date allowed: not in the future in UTC, and not in the customer's own day."""
    return min(now.astimezone(timezone.utc).date(), customer_today(country, now))


def check_date_agreed(date_agreed: date, country: str, now: datetime) -> None:
    latest = latest_date_agreed(country, now)
    if date_agreed > latest:
        raise DateAgreedInFuture(date_agreed, latest, country)


# -- the contact who accepted ----------------------------------------------------------------------


def normalize_phone(raw: str | None, country: str | None) -> str | None:
    """A phone number as E.164; national numbers are read in the customer's country."""
    if raw is None or not raw.strip():
        return None
    import phonenumbers  # its metadata loads when a phone number is first checked, not at every cold start

    try:
        number = phonenumbers.parse(raw, (country or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number ({exc}); give it as +<country code><number> or as a number of {country}.") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number for {country or 'its country code'}.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def same_person(a: Contact, b: Contact) -> bool:
    return (
        a.first_name == b.first_name
        and a.last_name == b.last_name
        and a.email.casefold() == b.email.casefold()
        and (a.phone_number or None) == (b.phone_number or None)
    )


def contact_from_sign_in(claims: Mapping[str, Any], language: str | None = None) -> Contact:
    """The person behind an ID token (MSAL's id_token_claims): name, work email."""
    email = str(claims.get("email") or claims.get("preferred_username") or claims.get("upn") or "").strip()
    if not email or "@" not in email:
        raise NotAllowedToAccept("The signed-in account has no email address; sign in with a work account.")
    first = str(claims.get("given_name") or "").strip()
    last = str(claims.get("family_name") or "").strip()
    if not first and not last:
        name = str(claims.get("name") or "").strip()
        first, _, last = name.partition(" ") if name else (email.split("@")[0], "", "")
    return Contact(first_name=first or email.split("@")[0], last_name=last or "-", email=email, language=language)


def signed_in_email(claims: Mapping[str, Any]) -> str:
    return str(claims.get("email") or claims.get("preferred_username") or claims.get("upn") or "").strip()


def signed_in_actor(claims: Mapping[str, Any]) -> dict[str, str]:
    """Who accepted directly, as stored with the acceptance and in the audit trail."""
    out = {
        "subject": str(claims.get("oid") or claims.get("sub") or claims.get("subject") or ""),
        "email": signed_in_email(claims),
        "name": str(claims.get("name") or ""),
        "tenantId": str(claims.get("tid") or ""),
    }
    return {k: v for k, v in out.items() if v}


# -- building the records ------------------------------------------------------------------------


def attestation(customer: Customer, contact: Contact, date_agreed: date, by: dict[str, str], now: datetime,
                agreement_type: str = MICROSOFT_CUSTOMER_AGREEMENT) -> AgreementAcceptance:
    check_date_agreed(date_agreed, customer.country, now)
    return AgreementAcceptance(
        customer_id=customer.id, type=agreement_type, how=AcceptanceHow.PARTNER_ATTESTATION, date_agreed=date_agreed,
        recorded_at=now, by=by, contact=contact,
    )


def direct_acceptance(customer: Customer, contact: Contact, by: dict[str, str], now: datetime,
                      agreement_type: str = MICROSOFT_CUSTOMER_AGREEMENT) -> AgreementAcceptance:
    """The customer ticked the box: accepted today, in its own day."""
    return AgreementAcceptance(
        customer_id=customer.id, type=agreement_type, how=AcceptanceHow.DIRECT_ACCEPTANCE,
        date_agreed=latest_date_agreed(customer.country, now), recorded_at=now, by=by, contact=contact,
    )


def sends_confirmation(customer: Customer, acceptance: AgreementAcceptance) -> bool:
    """The primary contact is told of a partner's attestation, never when it was asked to accept directly."""
    return acceptance.how == AcceptanceHow.PARTNER_ATTESTATION and not customer.asked_to_accept_directly
