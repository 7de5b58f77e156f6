"""Customers (companies), their users, their reseller relationships and their agreement acceptance: the entities and their
plain rules. Where they are kept (one partition per customer) and the unit of work that changes them: `repository.py`.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from notifications.reports import StatusDetail
from shared.identity import same_email
from shared.storage import Entity, Row


class RelationshipStatus(StrEnum):
    ACTIVE = "Active"
    REMOVED = "Removed"


class RelationshipRole(StrEnum):
    RESELLER = "Reseller"  # the inviting partner: admin rights on the customer (DAP)
    INDIRECT_PROVIDER = "IndirectProvider"  # places orders for the customer


class AcceptanceHow(StrEnum):
    PARTNER_ATTESTATION = "PartnerAttestation"
    DIRECT_ACCEPTANCE = "DirectAcceptance"
    CUSTOMER_CONFIRMED = "CustomerConfirmed"  # the partner created it from an attestation the customer accepted itself


class Contact(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    first_name: str = Field(validation_alias="firstName", serialization_alias="firstName")
    last_name: str = Field(validation_alias="lastName", serialization_alias="lastName")
    email: str
    phone_number: str | None = Field(default=None, validation_alias="phoneNumber", serialization_alias="phoneNumber")  # E.164
    language: str | None = None


class Customer(Entity):
    id: str
    name: str
    address: dict[str, Any] | None = None
    country: str
    vat_number: str | None = Field(default=None, validation_alias="vatNumber", serialization_alias="vatNumber")
    registration_number: str | None = Field(default=None, validation_alias="registrationNumber", serialization_alias="registrationNumber")
    phone: str | None = None
    website: str | None = None
    domain: str | None = None
    primary_contact: Contact = Field(validation_alias="primaryContact", serialization_alias="primaryContact")
    language: str = "en"
    # A customer asked to accept the agreement itself never gets an attestation confirmation email.
    asked_to_accept_directly: bool = Field(default=False, validation_alias="askedToAcceptDirectly", serialization_alias="askedToAcceptDirectly")
    created_at: datetime = Field(validation_alias="createdAt", serialization_alias="createdAt")
    created_by: dict[str, str] = Field(validation_alias="createdBy", serialization_alias="createdBy")
    created_from_invitation: str | None = Field(default=None, validation_alias="createdFromInvitation", serialization_alias="createdFromInvitation")


class CompanyUser(Entity):
    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    email: str
    email_normalized: str = Field(validation_alias="emailNormalized", serialization_alias="emailNormalized")
    first_name: str = Field(validation_alias="firstName", serialization_alias="firstName")
    last_name: str = Field(validation_alias="lastName", serialization_alias="lastName")
    roles: list[str]
    language: str = "en"
    country_region: str | None = Field(default=None, validation_alias="countryRegion", serialization_alias="countryRegion")
    subject: str | None = None  # the sign-in account's subject, once signed in
    added_at: datetime = Field(validation_alias="addedAt", serialization_alias="addedAt")
    added_by: str = Field(validation_alias="addedBy", serialization_alias="addedBy")


class RemovedUser(Entity):
    """What is kept of a removed user: enough to tell them, at their next request, in their language, whom to ask.

    It grants nothing: membership is the `u|` row alone. A user invited again has a `u|` row, which wins.
    """

    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    email: str
    email_normalized: str = Field(validation_alias="emailNormalized", serialization_alias="emailNormalized")
    subject: str | None = None
    roles: list[str] = Field(default_factory=list)  # as they were: a repeated removal form is recognised by them
    language: str = "en"
    removed_at: datetime = Field(validation_alias="removedAt", serialization_alias="removedAt")
    # the administrator's name and email: whom to ask
    removed_by: dict[str, str] = Field(validation_alias="removedBy", serialization_alias="removedBy")


class UnsentEmails(Row):
    """Emails a change of this customer owes (committed with the change): the queue message that carries them sends them
    only while this row exists, and deletes it once sent, so a copy of the message, or one of a change that never
    committed, sends nothing."""

    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    id: str
    created_at: datetime = Field(validation_alias="createdAt", serialization_alias="createdAt")


def same_subject(bound: str | None, subject: str | None) -> bool:
    """Whether a user bound to `bound` is the account `subject` (`tid|oid` or `iss|sub`).

    Rows bound before subjects carried their tenant hold the bare object id: it matches the same id of any form.
    """
    if not bound or not subject:
        return False
    return bound == subject or "|" not in bound and subject.rpartition("|")[2] == bound


def member(users: list[CompanyUser], email: str | None, subject: str | None) -> CompanyUser | None:
    """The company user the signed-in person is: bound to their subject, or (not bound yet) invited at their verified email.

    A user bound to another account is never matched by email: the address alone does not make someone that user.
    """
    for user in users:
        if same_subject(user.subject, subject):
            return user
    for user in users:
        if not user.subject and same_email(user.email, email):
            return user
    return None


class DelegatedAdminPrivileges(BaseModel):
    """DAP: the partner's broad admin rights on the customer; they go when the relationship is removed."""

    model_config = ConfigDict(populate_by_name=True)
    active: bool = True
    removed_at: datetime | None = Field(default=None, validation_alias="removedAt", serialization_alias="removedAt")


class GranularDelegatedAdminPrivileges(BaseModel):
    """GDAP: time-bound, role-scoped admin rights; they stay when the relationship is removed."""

    model_config = ConfigDict(populate_by_name=True)
    roles: list[str] = Field(default_factory=list)
    end_date: date | None = Field(default=None, validation_alias="endDate", serialization_alias="endDate")


class ResellerRelationship(Entity):
    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    partner_name: str = Field(validation_alias="partnerName", serialization_alias="partnerName")
    role: RelationshipRole
    status: RelationshipStatus = RelationshipStatus.ACTIVE
    dap: DelegatedAdminPrivileges = Field(default_factory=DelegatedAdminPrivileges)
    gdap: GranularDelegatedAdminPrivileges = Field(default_factory=GranularDelegatedAdminPrivileges)
    created_at: datetime = Field(validation_alias="createdAt", serialization_alias="createdAt")
    created_by: str = Field(validation_alias="createdBy", serialization_alias="createdBy")
    removed_at: datetime | None = Field(default=None, validation_alias="removedAt", serialization_alias="removedAt")
    removed_by: str | None = Field(default=None, validation_alias="removedBy", serialization_alias="removedBy")
    # The invitation whose acceptance consented to it (its reference; None: made by the partner, or before this was kept):
    # the step "relationship consented" of that invitation's onboarding trail, written with the relationship's event.
    invitation: str | None = Field(default=None, description="The reference of the invitation whose acceptance consented to it.")

    @property
    def serving(self) -> bool:
        """Whether the partner serves the customer now: only such a relationship hears about the customer or holds its
        data (its events, its users' invitations); a removed one keeps only what it was given (GDAP, its own records)."""
        return self.status == RelationshipStatus.ACTIVE


class AgreementAcceptance(Entity):
    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    type: str = "MicrosoftCustomerAgreement"
    how: AcceptanceHow
    date_agreed: date = Field(validation_alias="dateAgreed", serialization_alias="dateAgreed")
    recorded_at: datetime = Field(validation_alias="recordedAt", serialization_alias="recordedAt")
    by: dict[str, str]  # who recorded it: the attesting partner user, or the signed-in customer user
    contact: Contact  # the person who accepted
    # CustomerConfirmed: the attestation it came from.
    attestation_id: str | None = Field(default=None, validation_alias="attestationId", serialization_alias="attestationId")
    # The attestation confirmation email's delivery report (notifications.reports), once the mail service sent one.
    confirmation_email_detail: StatusDetail | None = Field(default=None, validation_alias="confirmationEmailDetail",
                                                           serialization_alias="confirmationEmailDetail")


class CustomerIndexEntry(Row):
    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    name: str
    role: RelationshipRole
    since: datetime


class AttestationStatus(StrEnum):
    PENDING = "Pending"
    ACCEPTED = "Accepted"
    EXPIRED = "Expired"
    REPLACED = "Replaced"
    FINALIZED = "Finalized"


class AgreementAttestation(Entity):
    """The customer's own confirmation of the agreement: a personal link to its contact, accepted on a page without sign-in."""

    id: str
    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    partner_name: str = Field(validation_alias="partnerName", serialization_alias="partnerName")
    agreement_type: str = Field(default="MicrosoftCustomerAgreement", validation_alias="agreementType", serialization_alias="agreementType")
    agreement_version: str = Field(validation_alias="agreementVersion", serialization_alias="agreementVersion")
    contact: Contact
    company_name: str = Field(validation_alias="companyName", serialization_alias="companyName")
    language: str = "en"
    link_hash: str = Field(validation_alias="linkHash", serialization_alias="linkHash")  # SHA-256 of the link id: the link itself is never stored
    status: AttestationStatus = AttestationStatus.PENDING
    created_at: datetime = Field(validation_alias="createdAt", serialization_alias="createdAt")
    created_by: dict[str, str] = Field(validation_alias="createdBy", serialization_alias="createdBy")
    expires_at: datetime = Field(validation_alias="expiresAt", serialization_alias="expiresAt")
    accepted_at: datetime | None = Field(default=None, validation_alias="acceptedAt", serialization_alias="acceptedAt")
    accepted_name: str | None = Field(default=None, validation_alias="acceptedName", serialization_alias="acceptedName")  # the name typed on the page
    expired_at: datetime | None = Field(default=None, validation_alias="expiredAt", serialization_alias="expiredAt")
    replaced_at: datetime | None = Field(default=None, validation_alias="replacedAt", serialization_alias="replacedAt")
    replaced_by: str | None = Field(default=None, validation_alias="replacedBy", serialization_alias="replacedBy")
    finalized_at: datetime | None = Field(default=None, validation_alias="finalizedAt", serialization_alias="finalizedAt")
    # The receipt email's delivery report (notifications.reports): kept here, where the attesting partner reads it.
    receipt_email_detail: StatusDetail | None = Field(default=None, validation_alias="receiptEmailDetail",
                                                      serialization_alias="receiptEmailDetail")


class AttestationReceipt(Row):
    """The receipt email of an accepted attestation, committed with the acceptance: it says which queued message is the one
    to send (`operation_id`: a losing tab's message finds another) and where its send stands (claimed once, then Sent)."""

    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    attestation_id: str = Field(validation_alias="attestationId", serialization_alias="attestationId")
    operation_id: str = Field(validation_alias="operationId", serialization_alias="operationId")
    status: str = "Pending"  # Pending, Sending (claimed at `claimed_at`), Sent, Failed (with `error`)
    claimed_at: datetime | None = Field(default=None, validation_alias="claimedAt", serialization_alias="claimedAt")
    error: str | None = None


class AttestationSlot(Entity):
    """Which attestation is the customer's current one for an agreement type (at most one is pending)."""

    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    agreement_type: str = Field(validation_alias="agreementType", serialization_alias="agreementType")
    attestation_id: str = Field(validation_alias="attestationId", serialization_alias="attestationId")


class AttestationExpiry(Row):
    """The expiry index: one row per attestation, keyed by when its link expires."""

    expires_at: datetime = Field(validation_alias="expiresAt", serialization_alias="expiresAt")
    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    attestation_id: str = Field(validation_alias="attestationId", serialization_alias="attestationId")

    @property
    def row_key(self) -> str:
        return f"{self.expires_at.strftime('%Y%m%dT%H%M%S')}|{self.customer_id}|{self.attestation_id}"


EXPIRY_PARTITION = "ax"


class PipelineStage(StrEnum):
    """Where a customer stands on the partner's way to an accepted agreement (as filed; Expired is also read from time)."""

    REQUIRED = "Required"
    PENDING = "Pending"
    EXPIRED = "Expired"
    READY_TO_FINALIZE = "ReadyToFinalize"
    PROVIDED = "Provided"


def pipeline_stage(acceptance: AgreementAcceptance | None, attestation: AgreementAttestation | None) -> PipelineStage:
    """The stage a partner files a customer under: accepted in any way is Provided; else the partner's current attestation
    says where it stands; a replaced one (by another partner) or none leaves the agreement Required."""
    if acceptance is not None:
        return PipelineStage.PROVIDED
    if attestation is None:
        return PipelineStage.REQUIRED
    return {AttestationStatus.PENDING: PipelineStage.PENDING, AttestationStatus.ACCEPTED: PipelineStage.READY_TO_FINALIZE,
            AttestationStatus.EXPIRED: PipelineStage.EXPIRED}.get(attestation.status, PipelineStage.REQUIRED)


class PipelineEntry(Row):
    """A customer in one partner's agreement pipeline (`pa|<partnerId>`): the stage and the partner's current attestation."""

    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    stage: PipelineStage
    attestation_id: str | None = Field(default=None, validation_alias="attestationId", serialization_alias="attestationId")
    expires_at: datetime | None = Field(default=None, validation_alias="expiresAt", serialization_alias="expiresAt")
    accepted_at: datetime | None = Field(default=None, validation_alias="acceptedAt", serialization_alias="acceptedAt")
    filed_at: datetime = Field(validation_alias="filedAt", serialization_alias="filedAt")
