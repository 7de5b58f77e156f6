"""The partner API's request and response shapes for customers, agreements and relationships (camelCase JSON).

Longer than usual because each shape states its wire names twice (validation and serialization alias, which the type
checker reads) and the agreement shapes carry Partner Center's fields beside ours; they are one contract, kept together.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from attest_agreement.customers import AcceptanceHow, Contact, Customer, RelationshipRole, ResellerRelationship
from attest_agreement.eligibility import PurchaseType
from invite_user.api_models import DraftEmail, InvitationOut
from invite_user.invitations import MAX_EXPIRY_DAYS, Address
from notifications.reports import StatusDetail
from shared import company_numbers
from shared.fields import (
    ID,
    AgreedDate,
    CompanyName,
    CountryCode,
    Email,
    IsoDate,
    LanguageTag,
    PersonName,
    RegistrationNumber,
    VatNumber,
    left_out_not_null,
)
from shared.pagination import Paged, PageQuery  # noqa: F401  (re-exported: the query of every customer list)


class _Api(BaseModel):
    model_config = ConfigDict(defer_build=True, populate_by_name=True, extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(defer_build=True, populate_by_name=True)


PHONE = r"^\+?[0-9 ()./-]{2,39}$"


class ContactIn(_Api):
    """The customer's primary contact: for an attestation, the person who accepted the agreement.

    Partner Center's Contact resource in the same shape (firstName, lastName, email, phoneNumber).
    """

    first_name: PersonName = Field(validation_alias="firstName", serialization_alias="firstName")
    last_name: PersonName = Field(validation_alias="lastName", serialization_alias="lastName")
    email: Email
    phone_number: str | None = Field(
        default=None, validation_alias="phoneNumber", serialization_alias="phoneNumber", max_length=40, pattern=PHONE,
        description="Optional. A national number is read in the customer's country; stored and returned as E.164 (+4930...). "
                    "Must be a valid number of its country (400 invalid-phone-number otherwise).",
    )
    language: LanguageTag | None = Field(default=None, description="BCP 47 tag: the language of emails to this person.")


_IGNORED = "Accepted for Partner Center compatibility and ignored: "


class _PartnerCenterAgreement(_Api):
    """What Partner Center's Agreement resource carries besides the date, accepted so its shapes pass unchanged.

    `templateId` and `agreementLink` name Partner Center's agreement template, which this service does not keep (the
    agreement is always the Microsoft Customer Agreement); `userId` is the attesting partner user, which this service
    takes from the bearer token.
    """

    type: Literal["MicrosoftCustomerAgreement"]
    date_agreed: AgreedDate = Field(
        validation_alias="dateAgreed", serialization_alias="dateAgreed",
        description="YYYY-MM-DD, or Partner Center's UTC date-time (2019-03-12T00:00:00Z: only the date is kept). Not in the "
                    "future: neither in UTC nor in the customer's own day (the earliest date among the time zones of the "
                    "customer's country).",
    )
    template_id: str | None = Field(default=None, validation_alias="templateId", serialization_alias="templateId", max_length=100,
                                    description=_IGNORED + "Partner Center's agreement template id.")
    agreement_link: str | None = Field(default=None, validation_alias="agreementLink", serialization_alias="agreementLink", max_length=2000,
                                       description=_IGNORED + "Partner Center's link to the agreement template.")
    user_id: str | None = Field(default=None, validation_alias="userId", serialization_alias="userId", max_length=100,
                                description=_IGNORED + "the attesting user is taken from the bearer token.")


class AttestationIn(_PartnerCenterAgreement):
    """A partner's attestation that the customer accepted the agreement (Partner Center's Agreement resource).

    With `attestationId` the agreement is created from what the customer accepted itself (an Accepted attestation):
    `primaryContact` and `dateAgreed` may then be left out, and are not used when given.
    """

    # The document states the rule across fields as JSON Schema can: attestationId, or primaryContact with dateAgreed.
    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["attestationId"]},
                                                           {"required": ["primaryContact", "dateAgreed"]}]})

    date_agreed: AgreedDate | None = Field(  # type: ignore[assignment]
        default=None, validation_alias="dateAgreed", serialization_alias="dateAgreed", json_schema_extra=left_out_not_null,
        description="Required without attestationId. YYYY-MM-DD, or Partner Center's UTC date-time (2019-03-12T00:00:00Z: "
                    "only the date is kept). Not in the future: neither in UTC nor in the customer's own day (the earliest "
                    "date among the time zones of the customer's country).",
    )
    primary_contact: ContactIn | None = Field(
        default=None, validation_alias="primaryContact", serialization_alias="primaryContact", json_schema_extra=left_out_not_null,
        description="Required without attestationId. The person who accepted. It becomes the customer's primary contact "
                    "(the change is audited) and receives the confirmation email.",
    )
    attestation_id: str | None = Field(
        default=None, validation_alias="attestationId", serialization_alias="attestationId",
            max_length=100, pattern=ID, json_schema_extra=left_out_not_null,
        description="An attestation the customer accepted itself (POST /customers/{customerId}/agreement-attestations): the "
                    "agreement is created from it (201), 409 attestation-not-accepted while it is not Accepted.",
    )

    @field_validator("date_agreed", "primary_contact", "attestation_id", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class NewCustomerAgreement(_PartnerCenterAgreement):
    """Attestation given while creating a customer; the person who accepted is the primary contact."""

    primary_contact: ContactIn | None = Field(
        default=None, validation_alias="primaryContact", serialization_alias="primaryContact",
        description="Optional, as in Partner Center's Agreement resource; when given, the same person (email) as the "
                    "customer's primaryContact (400 otherwise).",
    )


class GdapIn(_Api):
    """Granular delegated admin privileges (GDAP): role-scoped admin rights that end on a date."""

    roles: list[str] = Field(min_length=1, max_length=50, description="Microsoft Entra role names granted to the partner.")
    end_date: IsoDate = Field(validation_alias="endDate", serialization_alias="endDate",
                              description="YYYY-MM-DD; after today and at most two years ahead.")

    @field_validator("roles")
    @classmethod
    def _roles(cls, v: list[str]) -> list[str]:
        cleaned = [r.strip() for r in v]
        if any(not r or len(r) > 100 or any(ord(c) < 32 for c in r) for r in cleaned):
            raise ValueError("each role is 1 to 100 printable characters")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("each role may be given once")
        return cleaned


class NewCustomer(_Api):
    """A new customer ("Add customer") with an active relationship to the calling partner."""

    name: CompanyName = Field(description="Company name.")
    country: CountryCode = Field(description="ISO 3166-1 alpha-2; decides phone numbers and the customer's day.")
    address: Address | None = None
    vat_number: VatNumber = None
    registration_number: RegistrationNumber = None
    phone: str | None = Field(default=None, max_length=40, pattern=PHONE,
                              description="Company phone; a valid number of its country, stored as E.164.")
    website: str | None = Field(default=None, max_length=200)
    domain: str | None = Field(default=None, max_length=200)
    language: LanguageTag = Field(default="en", description="BCP 47 tag: the customer's language.")
    primary_contact: ContactIn = Field(validation_alias="primaryContact", serialization_alias="primaryContact")
    agreement: NewCustomerAgreement | None = Field(
        default=None, description="The partner attests, in the same transaction, that the customer accepted the agreement.",
    )
    ask_to_accept_directly: bool = Field(
        default=False, validation_alias="askToAcceptDirectly", serialization_alias="askToAcceptDirectly",
        description="\"The customer will be asked to accept\": an AgreementAcceptance invitation goes to the primary contact, "
                    "and no attestation confirmation email is ever sent to this customer. Excludes `agreement`.",
    )
    indirect_provider_id: str | None = Field(
        default=None, validation_alias="indirectProviderId", serialization_alias="indirectProviderId", max_length=100, pattern=ID,
        description="For an indirect reseller: the indirect provider that gets a relationship too (default: the reseller's own).",
    )
    gdap: GdapIn | None = None

    @field_validator("vat_number", "registration_number")
    @classmethod
    def _company_number(cls, v: str | None, info: ValidationInfo) -> str | None:
        if not v:
            return None
        check = company_numbers.check_vat_number if info.field_name == "vat_number" else company_numbers.check_registration_number
        return check(v, info.data.get("country"))

    @model_validator(mode="after")
    def _one_way_to_accept(self) -> NewCustomer:
        if self.agreement is not None and self.ask_to_accept_directly:
            raise ValueError("give either agreement (partner attestation) or askToAcceptDirectly, not both")
        agreed_by = self.agreement.primary_contact if self.agreement else None
        if agreed_by is not None and agreed_by.email.casefold() != self.primary_contact.email.casefold():
            raise ValueError("agreement.primaryContact must be the customer's primaryContact (the person who accepted)")
        return self


class InvitationOptions(_Api):
    """Who receives an invitation about an existing customer; the primary contact unless given."""

    email: Email | None = None
    first_name: PersonName | None = Field(default=None, validation_alias="firstName", serialization_alias="firstName")
    last_name: PersonName | None = Field(default=None, validation_alias="lastName", serialization_alias="lastName")
    language: LanguageTag | None = None
    message: str | None = Field(default=None, max_length=2000, description="The partner's own words, shown in the email.")
    expires_in_days: int = Field(default=MAX_EXPIRY_DAYS, validation_alias="expiresInDays", serialization_alias="expiresInDays",
                                 ge=1, le=MAX_EXPIRY_DAYS)

    @model_validator(mode="after")
    def _whole_person(self) -> InvitationOptions:
        given = [self.email, self.first_name, self.last_name]
        if any(given) and not all(given):
            raise ValueError("give email, firstName and lastName together, or none of them (the primary contact)")
        return self


class AgreementInvitationIn(InvitationOptions):
    send_email: bool = Field(default=True, validation_alias="sendEmail", serialization_alias="sendEmail",
                             description="false: the partner sends the link itself.")


class RelationshipRequestIn(InvitationOptions):
    """Who the partner asks at the customer (email, firstName, lastName: required) and the company's name as the partner
    knows it (companyName: required): a partner without a relationship sees none of the customer's own data."""

    company_name: str | None = Field(default=None, validation_alias="companyName", serialization_alias="companyName", min_length=1, max_length=200)
    country_region: str | None = Field(default=None, validation_alias="countryRegion", serialization_alias="countryRegion", pattern=r"^[A-Z]{2}$",
                                       description="The asked person's country/region (ISO 3166-1 alpha-2).")
    indirect_provider_id: str | None = Field(
        default=None, validation_alias="indirectProviderId", serialization_alias="indirectProviderId", max_length=100, pattern=ID,
        description="Invite the customer to a relationship with this indirect provider as well.",
    )
    ask_agreement_acceptance: bool = Field(
        default=False, validation_alias="askAgreementAcceptance", serialization_alias="askAgreementAcceptance",
        description="Accepting the relationship accepts the customer agreement in the same step.",
    )
    send_email: bool = Field(
        default=False, validation_alias="sendEmail", serialization_alias="sendEmail",
        description="By default the partner reviews the draft email and sends it itself; true sends it for the partner.",
    )


class RemoveRelationshipIn(_Api):
    good_faith_declaration: bool = Field(
        validation_alias="goodFaithDeclaration", serialization_alias="goodFaithDeclaration", strict=True, json_schema_extra={"const": True},
        description="Must be true: the partner declares that the removal is made in good faith.",
    )


class EligibilityQuery(_Api):
    model_config = ConfigDict(defer_build=True, populate_by_name=True, extra="forbid", str_strip_whitespace=True)
    purchase_type: PurchaseType = Field(default=PurchaseType.NEW, validation_alias="purchaseType", serialization_alias="purchaseType")


# -- responses -------------------------------------------------------------------------------------


class EmailDelivery(_Out):
    """What became of an email once the mail service took it, as on an invitation: its delivery report."""

    email_status: str | None = Field(default=None, validation_alias="emailStatus", serialization_alias="emailStatus",
                                     description="Delivered, Bounced, Quarantined, FilteredSpam, Suppressed or Failed: "
                                                 "the mail service's report (absent until one came).")
    email_status_detail: StatusDetail | None = Field(default=None, validation_alias="emailStatusDetail",
                                                     serialization_alias="emailStatusDetail")

    @classmethod
    def of(cls, detail: StatusDetail | None) -> dict[str, Any]:
        """The fields of a report (none before one came), for this model or one that extends it."""
        return {"email_status": detail.status, "email_status_detail": detail} if detail is not None else {}


class ConfirmationEmail(EmailDelivery):
    status: Literal["Queued", "Failed", "Sent"]
    error: str | None = None


class AgreementView(_Out):
    """Whether the customer accepted the agreement ("Provided" or "Not provided"), how, when and by whom."""

    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    type: str
    acceptance: Literal["Provided", "NotProvided"]
    how: AcceptanceHow | None = Field(default=None, description="PartnerAttestation (typed in by the partner), DirectAcceptance "
                                                                "(the signed-in customer) or CustomerConfirmed (created from an "
                                                                "attestation the customer accepted on its personal link).")
    attestation_id: str | None = Field(default=None, validation_alias="attestationId", serialization_alias="attestationId",
                                       description="CustomerConfirmed: the attestation.")
    date_agreed: date | None = Field(default=None, validation_alias="dateAgreed", serialization_alias="dateAgreed")
    recorded_at: datetime | None = Field(default=None, validation_alias="recordedAt", serialization_alias="recordedAt")
    recorded_by: dict[str, str] | None = Field(
        default=None, validation_alias="recordedBy", serialization_alias="recordedBy",
            description="The attesting partner user, or the customer's signed-in user.",
    )
    contact: Contact | None = Field(default=None, description="The person who accepted.")
    asked_to_accept_directly: bool = Field(validation_alias="askedToAcceptDirectly", serialization_alias="askedToAcceptDirectly")
    confirmation_email: ConfirmationEmail | None = Field(default=None, validation_alias="confirmationEmail", serialization_alias="confirmationEmail",
                                                         description=(
        "While the attestation confirmation is not sent: Queued, or Failed with the reason; once sent, its delivery "
        "report (emailStatus, emailStatusDetail with advice, as on invitations). Absent if none is sent."))


class _Page(Paged, _Out):
    """A page of a list (see shared.pagination.Paged)."""


class CustomerSummary(_Out):
    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    name: str
    role: RelationshipRole
    since: datetime


class CustomerPage(_Page):
    items: list[CustomerSummary]


class CustomerDetail(_Out):
    customer: Customer
    relationship: ResellerRelationship = Field(description="The calling partner's relationship with the customer.")
    agreement: AgreementView


class CustomerCreated(_Out):
    customer: Customer
    relationships: list[ResellerRelationship]
    agreement: AgreementView
    agreement_invitation: InvitationOut | None = Field(
        default=None, validation_alias="agreementInvitation", serialization_alias="agreementInvitation",
            description="With askToAcceptDirectly: the invitation sent to the primary contact.",
    )


class RelationshipRequestOut(_Out):
    invitation: InvitationOut
    draft_email: DraftEmail = Field(validation_alias="draftEmail", serialization_alias="draftEmail")


class DirectSigningStatus(_Out):
    is_signed: bool = Field(validation_alias="isSigned", serialization_alias="isSigned",
                            description="true once the customer accepted the agreement itself (DirectAcceptance).")


class PurchaseAction(_Out):
    type: Literal["AttestAgreement", "AskIndirectProviderToAttest"]
    detail: str
    method: str | None = None
    href: str | None = None
    indirect_provider_id: str | None = Field(default=None, validation_alias="indirectProviderId", serialization_alias="indirectProviderId")


class PurchaseEligibility(_Out):
    customer_id: str = Field(validation_alias="customerId", serialization_alias="customerId")
    purchase_type: PurchaseType = Field(validation_alias="purchaseType", serialization_alias="purchaseType")
    eligible: bool
    reason: str | None = None
    message: str | None = Field(default=None, description="What the customer is shown, word for word.")
    action: PurchaseAction | None = None
    agreement: dict[str, str] | None = None


class AuditEntry(_Out):
    id: str
    at: datetime
    action: str = Field(description="e.g. customer.created, agreement.attested, relationship.removed, invitation.created")
    actor: str
    source: Literal["customer", "invitations"]
    customer_id: str | None = Field(default=None, validation_alias="customerId", serialization_alias="customerId")
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditPage(_Page):
    items: list[AuditEntry]


class PartnerOfCustomer(_Out):
    """One partner the customer works with (what the customer sees after accepting a relationship)."""

    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    partner_name: str = Field(validation_alias="partnerName", serialization_alias="partnerName")
    role: RelationshipRole
    since: datetime

