"""The partner API's shapes for attestations the customer confirms itself and for the partner's agreement pipeline."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from attest_agreement.api_models import ContactIn, EmailDelivery, PageQuery, _Api, _Out, _Page
from attest_agreement.customers import Contact
from shared.fields import CompanyName, LanguageTag


class AttestationRequestIn(_Api):
    """Ask the customer's contact to accept the agreement itself, on a personal link (Partner Center's enhanced attestation)."""

    contact: ContactIn = Field(description="The customer's contact who will accept (firstName, lastName, email, optional "
                                           "phoneNumber; language: of the email and the page).")
    company_name: CompanyName = Field(validation_alias="companyName", serialization_alias="companyName",
                              description="The company as the contact knows it, shown on the page.")
    language: LanguageTag | None = Field(default=None, description="BCP 47 tag of the email and page; default: the contact's, "
                                                                   "then the customer's language.")
    validity_days: int = Field(default=30, validation_alias="validityDays", serialization_alias="validityDays",
                               ge=1, le=60, description="How long the link works (1 to 60 days).")
    send_email: bool = Field(default=True, validation_alias="sendEmail", serialization_alias="sendEmail",
                             description="false: no email; the partner sends acceptanceUrl to the contact itself.")


AttestationState = Literal["Pending", "Accepted", "Expired", "Replaced", "Finalized"]


class AttestationOut(_Out):
    """An attestation and its times (the typed name, client address and user agent stay in the customer's audit records)."""

    id: str
    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    status: AttestationState
    agreement_type: str = Field(validation_alias="agreementType", serialization_alias="agreementType")
    agreement_version: str = Field(validation_alias="agreementVersion", serialization_alias="agreementVersion")
    contact: Contact
    company_name: str = Field(validation_alias="companyName", serialization_alias="companyName")
    language: str
    created_at: datetime = Field(validation_alias="createdAt", serialization_alias="createdAt")
    expires_at: datetime = Field(validation_alias="expiresAt", serialization_alias="expiresAt")
    accepted_at: datetime | None = Field(default=None, validation_alias="acceptedAt", serialization_alias="acceptedAt")
    expired_at: datetime | None = Field(default=None, validation_alias="expiredAt", serialization_alias="expiredAt")
    replaced_at: datetime | None = Field(default=None, validation_alias="replacedAt", serialization_alias="replacedAt")
    replaced_by: str | None = Field(default=None, validation_alias="replacedBy", serialization_alias="replacedBy",
                                    description="The id of the attestation that replaced it.")
    finalized_at: datetime | None = Field(default=None, validation_alias="finalizedAt", serialization_alias="finalizedAt")
    receipt_email: EmailDelivery | None = Field(default=None, validation_alias="receiptEmail", serialization_alias="receiptEmail",
                                                description="The receipt emailed to the contact once accepted: its delivery "
                                                            "report (emailStatus, emailStatusDetail with advice), once one came.")


class AttestationCreated(AttestationOut):
    acceptance_url: str = Field(validation_alias="acceptanceUrl", serialization_alias="acceptanceUrl",
                                description="The contact's personal link: shown only now (stored as a hash).")
    email_status: Literal["Queued", "NotSent", "Failed"] = Field(
        validation_alias="emailStatus", serialization_alias="emailStatus",
            description="Queued: emailed to the contact; NotSent: sendEmail false; Failed: it could not be "
                                         "queued, send acceptanceUrl yourself.")


class PipelineStatus(StrEnum):
    REQUIRED = "Required"
    PENDING = "Pending"
    EXPIRED = "Expired"
    READY_TO_FINALIZE = "ReadyToFinalize"


class PipelineQuery(PageQuery):
    status: PipelineStatus = Field(description="Required: an active relationship and no acceptance (and no attestation of "
                                               "yours on the way); Pending: the link is out; Expired: it expired unused; "
                                               "ReadyToFinalize: accepted by the customer, create the agreement.")


class PipelineItem(_Out):
    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    customer_name: str = Field(validation_alias="customerName", serialization_alias="customerName")
    status: PipelineStatus
    attestation_id: str | None = Field(default=None, validation_alias="attestationId", serialization_alias="attestationId")
    expires_at: datetime | None = Field(default=None, validation_alias="expiresAt", serialization_alias="expiresAt")
    accepted_at: datetime | None = Field(default=None, validation_alias="acceptedAt", serialization_alias="acceptedAt")


class PipelinePage(_Page):
    items: list[PipelineItem]

