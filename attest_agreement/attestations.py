"""The rules of an attestation the customer confirms itself: its personal link, its life, and what the contact must type.

Partner Center's enhanced attestation: the partner names the customer's contact, the contact opens a personal link,
reviews the agreement and accepts it on behalf of the company (no sign-in), then the partner creates the agreement
with the attestation's id. Plain values in, plain values or `AttestationError`s out; nothing here touches storage.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from datetime import datetime, timedelta

from attest_agreement.customers import (
    AcceptanceHow,
    AgreementAcceptance,
    AgreementAttestation,
    AttestationStatus,
    PipelineEntry,
    PipelineStage,
)
from shared.errors import Conflict, DomainError, NotFound, RuleBroken

AGREEMENT_NAME = "Microsoft Customer Agreement"
# The version the customer reads and accepts, recorded with its acceptance (the evidence names what was accepted).
AGREEMENT_VERSION = "MCA-2024-10"
AGREEMENT_URL = "https://www.microsoft.com/licensing/docs/customeragreement"
DEFAULT_VALIDITY_DAYS = 30
MAX_VALIDITY_DAYS = 60
_SEPARATOR = "~"  # never in a customer id or an attestation id (shared.fields.ID)


class AttestationError(DomainError):
    """A rule of the customer's confirmation refused; `code` is stable, the message is for partners. Each kind is the
    domain error of its answer (`shared.http.STATUS_OF`); the page shows each as a page of its own."""

    code = "attestation-error"


class NameMissing(AttestationError, RuleBroken):
    code = "name-missing"


class NameMismatch(AttestationError, RuleBroken):
    code = "name-mismatch"


class NotPending(AttestationError, Conflict):
    """The link can no longer be used: accepted already, expired, replaced or finalized."""

    code = "attestation-not-pending"

    def __init__(self, status: AttestationStatus) -> None:
        super().__init__(f"The attestation is {status.value}.")
        self.status = status


class UnknownLink(AttestationError, NotFound):
    """Not a link of ours: malformed, of no stored attestation, or not the one stored (its hash differs)."""

    code = "attestation-link-unknown"


class NotAccepted(AttestationError, Conflict):
    code = "attestation-not-accepted"
    title = "Attestation not accepted"


# -- the personal link ---------------------------------------------------------------------------------


def new_link_id(customer_id: str, attestation_id: str) -> str:
    """The link's id: where the attestation lives (customer, attestation: one point read) and 192 random bits."""
    return _SEPARATOR.join((customer_id, attestation_id, secrets.token_urlsafe(24)))


def link_hash(link_id: str) -> str:
    return hashlib.sha256(link_id.strip().encode()).hexdigest()


def parse_link(raw: str | None) -> tuple[str, str] | None:
    """The (customer id, attestation id) a link names, or None for anything that is no link of ours."""
    parts = (raw or "").strip().split(_SEPARATOR)
    if len(parts) != 3 or not all(re.fullmatch(r"[A-Za-z0-9._-]{1,100}", p) for p in parts):
        return None
    return parts[0], parts[1]


def opens(attestation: AgreementAttestation | None, raw: str) -> bool:
    """Whether the link is this attestation's (compared in constant time: the hash is the only secret's trace)."""
    return attestation is not None and hmac.compare_digest(attestation.link_hash, link_hash(raw))


# -- its life ----------------------------------------------------------------------------------------------


def expiry(now: datetime, validity_days: int) -> datetime:
    return now + timedelta(days=validity_days)


def effective_status(attestation: AgreementAttestation, now: datetime) -> AttestationStatus:
    """A pending link past its expiry is expired, whether or not the sweep has come by."""
    if attestation.status == AttestationStatus.PENDING and now >= attestation.expires_at:
        return AttestationStatus.EXPIRED
    return attestation.status


def accept(attestation: AgreementAttestation, typed_name: str | None, now: datetime) -> None:
    """The contact accepts on behalf of the company, typing their own name as the partner named them."""
    status = effective_status(attestation, now)
    if status != AttestationStatus.PENDING:
        raise NotPending(status)
    check_typed_name(typed_name, attestation.contact.first_name, attestation.contact.last_name)
    attestation.status = AttestationStatus.ACCEPTED
    attestation.accepted_at = now
    attestation.accepted_name = " ".join(str(typed_name).split())


def replace(attestation: AgreementAttestation, successor: str, now: datetime) -> bool:
    """A new attestation for the customer replaces a pending one (its link stops working). False: nothing to replace."""
    if effective_status(attestation, now) != AttestationStatus.PENDING:
        return False
    attestation.status = AttestationStatus.REPLACED
    attestation.replaced_at = now
    attestation.replaced_by = successor
    return True


def expire(attestation: AgreementAttestation, now: datetime) -> bool:
    """The sweep marks a pending link past its expiry Expired. False: it is not (any more) pending and expired."""
    if attestation.status != AttestationStatus.PENDING or now < attestation.expires_at:
        return False
    attestation.status = AttestationStatus.EXPIRED
    attestation.expired_at = now
    return True


def finalize(attestation: AgreementAttestation | None, now: datetime) -> AgreementAttestation:
    """The partner creates the agreement from what the customer accepted: only an Accepted attestation."""
    if attestation is None:
        raise NotAccepted("No such attestation for this customer and partner.")
    status = effective_status(attestation, now)
    if status != AttestationStatus.ACCEPTED:
        raise NotAccepted(f"The attestation is {status.value}; the agreement can be created only from an Accepted one "
                          "(the customer accepts it on its personal link).")
    attestation.status = AttestationStatus.FINALIZED
    attestation.finalized_at = now
    return attestation


def acceptance_of(attestation: AgreementAttestation, by: dict[str, str], now: datetime, date_agreed) -> AgreementAcceptance:  # noqa: ANN001
    """The agreement as the customer accepted it: its contact, its day, recorded by the finalizing partner user."""
    return AgreementAcceptance(
        customer_id=attestation.customer_id, type=attestation.agreement_type, how=AcceptanceHow.CUSTOMER_CONFIRMED,
        date_agreed=date_agreed, recorded_at=now, by=by, contact=attestation.contact, attestation_id=attestation.id,
    )


# -- what the contact types --------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    # Compatibility forms (full-width letters), case and accents typed or not all count as the same name.
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(c for c in folded if not unicodedata.combining(c)).replace(",", " ").split()


def check_typed_name(typed: str | None, first: str, last: str) -> None:
    """The contact types their name as the partner named them: first and last name, in either order."""
    words = _words(typed or "")
    if not words:
        raise NameMissing("Type your name to accept.")
    if words not in (_words(f"{first} {last}"), _words(f"{last} {first}")):
        raise NameMismatch("The name typed is not the name of the person this link was sent to.")


# -- the partner's pipeline -------------------------------------------------------------------------------


def stage_now(entry: PipelineEntry | None, now: datetime) -> PipelineStage:
    """A customer's stage as the partner sees it now: no row yet is Required; a pending link past its expiry is Expired."""
    if entry is None:
        return PipelineStage.REQUIRED
    if entry.stage == PipelineStage.PENDING and entry.expires_at is not None and now >= entry.expires_at:
        return PipelineStage.EXPIRED
    return entry.stage
