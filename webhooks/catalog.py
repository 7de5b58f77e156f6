"""The events partners can hear about: their names, what each payload carries, and how a payload is built.

Names are the product's words, and Partner Center's where it has one (`reseller-relationship-accepted-by-customer`,
`indirect-reseller-relationship-accepted-by-customer`, `dap-admin-relationship-terminated`, `test-created`).
Payloads are thin: ids, references, statuses, times and a link to the API resource; never personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from shared.events import EventRow
from shared.models import Model
from shared.settings import get_settings

TEST = "test-created"

EVENT_TYPES: dict[str, str] = {
    "invitation.created": "An invitation was created (by the partner's API or a bulk create).",
    "invitation.email-failed": "An invitation's email could not be delivered (emailStatus Failed); resend it.",
    "invitation.deliveryFailed": "An invitation's email did not reach the invitee (emailStatus Bounced, Quarantined, FilteredSpam, "
                                 "Suppressed or Failed); `advice` says what to do (e.g. fix-address: change the invitee).",
    "invitation.opened": "The invitee acted on the link for the first time (pressed sign-in or create-account; opening the "
                         "link alone never counts: mail scanners do that).",
    "invitation.resent": "An invitation was resent; its expiry restarted.",
    "invitation.accepted": "The invitee accepted the invitation (and created or joined the company).",
    "invitation.expired": "An invitation expired unanswered.",
    "invitation.revoked": "The partner revoked an invitation.",
    "colleague.invited": "A user of a customer company (or its partner) invited a colleague (a CompanyUser invitation).",
    "company.created": "The invitee created the company from the partner's invitation.",
    "reseller-relationship-accepted-by-customer": "The customer accepted the partner's reseller relationship (DAP active).",
    "indirect-reseller-relationship-accepted-by-customer":
        "The customer accepted a relationship with the indirect reseller; sent to the indirect provider.",
    "dap-admin-relationship-terminated": "The partner removed the reseller relationship: DAP removed, GDAP kept.",
    "agreement.attested": "The partner attested that the customer accepted the agreement.",
    "agreement.accepted": "The customer accepted the agreement itself (direct acceptance).",
    TEST: "A test event sent on request (POST /api/webhooks/{id}/test), to check an endpoint.",
    "customer.primaryContactUpdated": "A partner corrected the customer's primary contact; sent to every partner with an active "
                                      "relationship (read the customer for the new contact: the event names no person).",
    "invitation.reminded": "A pending invitation's reminder email was queued (REMIND_BEFORE: 7 days and 1 day before its link "
                           "expires by default; each once).",
    "invitation.replaced": "The partner changed the invitee (PATCH): this invitation's link stopped working, the one named "
                           "`replacedBy` took its place with a new link.",
    "company.domainVerified": "The customer proved it owns a domain (DNS TXT record or its admin's own address); people at it may ask to join.",
    "company.userJoined": "A person at the customer's verified domain joined the company (approved, or joining automatically) as Account viewer.",
    "agreement.attestationAccepted": "The customer's contact accepted the agreement on the attestation's personal link: create the "
                                     "agreement with the attestation's id (POST /customers/{customerId}/agreements).",
    "agreement.attestationExpired": "An attestation's personal link expired unused; create a new attestation to ask again.",
    "relationship.adminRightsRemovedByCustomer": "The customer removed the partner's delegated admin rights (DAP); the relationship "
                                                 "and GDAP stay. Company users can no longer be invited or read.",
    "relationship.removedByCustomer": "The customer ended the relationship: the customer leaves the partner's list, DAP removed, "
                                      "GDAP kept; its customer routes answer 404.",
}


_INVITATION = ("reference", "kind", "status", "emailStatus", "customerId", "expiresAt", "links")
_RELATIONSHIP = ("customerId", "role", "status", "dapActive", "gdapRoles", "links")
_AGREEMENT = ("customerId", "agreementType", "how", "dateAgreed", "links")
# The fields of `data` each event carries (fields without a value, e.g. a customerId not known yet, are left out).
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "invitation.created": _INVITATION, "invitation.email-failed": _INVITATION, "invitation.resent": _INVITATION,
    "invitation.deliveryFailed": (*_INVITATION, "advice"), "invitation.opened": (*_INVITATION, "openedAt"),
    "invitation.accepted": (*_INVITATION, "acceptedAt"), "invitation.expired": ("reference", "links"),
    "invitation.revoked": _INVITATION, "colleague.invited": _INVITATION,
    "company.created": ("customerId", "invitation", "links"),
    "reseller-relationship-accepted-by-customer": _RELATIONSHIP,
    "indirect-reseller-relationship-accepted-by-customer": _RELATIONSHIP,
    "dap-admin-relationship-terminated": _RELATIONSHIP,
    "agreement.attested": _AGREEMENT, "agreement.accepted": _AGREEMENT,
    TEST: ("subscriptionId", "links"),
    "customer.primaryContactUpdated": ("customerId", "links"),
    "invitation.reminded": (*_INVITATION, "remindedAt"),
    "invitation.replaced": ("reference", "kind", "status", "customerId", "replacedBy", "links"),
    "company.domainVerified": ("customerId", "domain", "how", "links"),
    "company.userJoined": ("customerId", "roles", "how", "links"),
    "agreement.attestationAccepted": ("customerId", "attestationId", "status", "acceptedAt", "expiresAt", "links"),
    "agreement.attestationExpired": ("customerId", "attestationId", "status", "expiresAt", "links"),
    "relationship.adminRightsRemovedByCustomer": _RELATIONSHIP,
    "relationship.removedByCustomer": _RELATIONSHIP,
}


class Links(Model):
    self_: str | None = Field(default=None, validation_alias="self", serialization_alias="self", description="The API resource the event is about.")


class EventData(Model):
    """The event's fields; which of them are present depends on its type (see each webhook's description)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    reference: str | None = Field(default=None, description="The invitation's reference (SHA-256 of its link id).")
    kind: str | None = Field(default=None, description="The invitation's kind.")
    status: str | None = Field(default=None, description="The invitation's, relationship's or attestation's status after the change.")
    email_status: str | None = Field(default=None, validation_alias="emailStatus", serialization_alias="emailStatus")
    customer_id: str | None = Field(default=None, validation_alias="customerId", serialization_alias="customerId")
    expires_at: datetime | None = Field(default=None, validation_alias="expiresAt", serialization_alias="expiresAt")
    accepted_at: datetime | None = Field(default=None, validation_alias="acceptedAt", serialization_alias="acceptedAt")
    invitation: str | None = Field(default=None, description="The reference of the invitation the company was created from.")
    role: str | None = Field(default=None, description="The relationship's role (Reseller, IndirectProvider).")
    dap_active: bool | None = Field(default=None, validation_alias="dapActive", serialization_alias="dapActive")
    gdap_roles: list[str] | None = Field(default=None, validation_alias="gdapRoles", serialization_alias="gdapRoles")
    agreement_type: str | None = Field(default=None, validation_alias="agreementType", serialization_alias="agreementType")
    how: str | None = Field(default=None, description="How the agreement was accepted (PartnerAttestation, DirectAcceptance), "
                                     "a domain verified (DnsTxtRecord, AdminAddress) or a user joined (JoinRequest, AutoJoin).")
    date_agreed: str | None = Field(default=None, validation_alias="dateAgreed", serialization_alias="dateAgreed")
    subscription_id: str | None = Field(default=None, validation_alias="subscriptionId", serialization_alias="subscriptionId")
    replaced_by: str | None = Field(default=None, validation_alias="replacedBy", serialization_alias="replacedBy",
                                    description="The reference of the invitation that replaced it.")
    domain: str | None = Field(default=None, description="The customer's verified domain (company.domainVerified).")
    roles: list[str] | None = Field(default=None, description="The roles the joining user got (company.userJoined).")
    links: Links | None = None
    reminded_at: datetime | None = Field(default=None, validation_alias="remindedAt", serialization_alias="remindedAt",
                                         description="When the invitation's reminder was queued.")
    opened_at: datetime | None = Field(default=None, validation_alias="openedAt", serialization_alias="openedAt",
                                       description="When the invitee first acted on the link.")
    advice: str | None = Field(default=None, description="What to do about a failed delivery (invitation.deliveryFailed): "
                                                         "fix-address, ask-customer-to-allow-sender, ask-customer-to-check-junk, "
                                                         "address-suppressed, retry-later.")
    attestation_id: str | None = Field(default=None, validation_alias="attestationId", serialization_alias="attestationId",
                                       description="The attestation the customer confirms itself.")


class Event(Model):
    """One event, as delivered to a webhook (Standard Webhooks: `type`, `timestamp`, `data`) and listed in the feed."""

    model_config = ConfigDict(populate_by_name=True)
    id: str = Field(description="Stable across retries; also the `webhook-id` header. Deduplicate on it.")
    type: str
    timestamp: datetime = Field(description="When it happened.")
    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    data: EventData


def payload_of(row: EventRow) -> dict[str, Any]:
    """The JSON a subscriber receives for an outbox row: its thin data plus a link to the API resource."""
    data = dict(row.data)
    resource = data.pop("resource", None)
    if resource:
        data["links"] = {"self": f"{get_settings().public_base_url.rstrip('/')}/api/{resource}"}
    return {"id": row.event_id, "type": row.type, "timestamp": row.occurred_at.isoformat().replace("+00:00", "Z"),
            "partnerId": row.partner_id, "data": data}
