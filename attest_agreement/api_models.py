"""The partner API's request and response shapes for customers, agreements and relationships (camelCase JSON)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationInfo, field_validator, model_validator

from attest_agreement.customers import AcceptanceHow, Contact, Customer, RelationshipRole, ResellerRelationship
from attest_agreement.eligibility import PurchaseType
from invite_user.api_models import DraftEmail, InvitationOut, check_country, check_language
from invite_user.invitations import MAX_EXPIRY_DAYS, Address
from shared import company_numbers
from shared.pagination import Paged, PageQuery  # noqa: F401  (re-exported: the query of every customer list)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID = r"^[A-Za-z0-9._-]+$"


class _Api(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


def _iso_date(value: Any) -> Any:
    # A calendar date, nothing else: "2026-11-21". Timestamps or datetimes would hide a time zone question.
    if isinstance(value, str) and not _ISO_DATE.match(value.strip()):
        raise ValueError("must be a date as YYYY-MM-DD")
    if not isinstance(value, (str, date)) or isinstance(value, datetime):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value.strip() if isinstance(value, str) else value


def _printable(value: str) -> str:
    if any(ord(c) < 32 for c in value):
        raise ValueError("must not contain control characters")
    return value


class ContactIn(_Api):
    """The customer's primary contact: for an attestation, the person who accepted the agreement."""

    first_name: str = Field(alias="firstName", min_length=1, max_length=100)
    last_name: str = Field(alias="lastName", min_length=1, max_length=100)
    email: EmailStr
    phone_number: str | None = Field(
        default=None, alias="phoneNumber", max_length=40,
        description="Optional. A national number is read in the customer's country; stored and returned as E.164 (+4930...).",
    )
    language: str | None = Field(default=None, max_length=35, description="BCP 47 tag: the language of emails to this person.")

    @field_validator("first_name", "last_name")
    @classmethod
    def _names(cls, v: str) -> str:
        return _printable(v)

    @field_validator("language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        return check_language(v) if v else None


class AttestationIn(_Api):
    """A partner's attestation that the customer accepted the agreement."""

    type: Literal["MicrosoftCustomerAgreement"]
    primary_contact: ContactIn = Field(
        alias="primaryContact",
        description="The person who accepted. It becomes the customer's primary contact (the change is audited) "
                    "and receives the confirmation email.",
    )
    date_agreed: date = Field(
        alias="dateAgreed",
        description="YYYY-MM-DD. Not in the future: neither in UTC nor in the customer's own day (the earliest date among "
                    "the time zones of the customer's country).",
    )

    @field_validator("date_agreed", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        return _iso_date(v)


class NewCustomerAgreement(_Api):
    """Attestation given while creating a customer; the person who accepted is the primary contact."""

    type: Literal["MicrosoftCustomerAgreement"]
    date_agreed: date = Field(alias="dateAgreed", description="YYYY-MM-DD; not in the future (see AttestationIn).")

    @field_validator("date_agreed", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        return _iso_date(v)


class GdapIn(_Api):
    """Granular delegated admin privileges (GDAP): role-scoped admin rights that end on a date."""

    roles: list[str] = Field(min_length=1, max_length=50, description="Microsoft Entra role names granted to the partner.")
    end_date: date = Field(alias="endDate", description="YYYY-MM-DD; after today and at most two years ahead.")

    @field_validator("roles")
    @classmethod
    def _roles(cls, v: list[str]) -> list[str]:
        cleaned = [r.strip() for r in v]
        if any(not r or len(r) > 100 or any(ord(c) < 32 for c in r) for r in cleaned):
            raise ValueError("each role is 1 to 100 printable characters")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("each role may be given once")
        return cleaned

    @field_validator("end_date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        return _iso_date(v)


class NewCustomer(_Api):
    """A new customer ("Add customer") with an active relationship to the calling partner."""

    name: str = Field(min_length=1, max_length=200, description="Company name.")
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2; decides phone numbers and the customer's day.")
    address: Address | None = None
    vat_number: str | None = Field(
        default=None, alias="vatNumber", max_length=40,
        description="Checked by its check digits where the country has a known rule; returned without spaces, EU numbers with their prefix.",
    )
    registration_number: str | None = Field(
        default=None, alias="registrationNumber", max_length=40,
        description="Checked by its check digits where the country has one national company number (such as FR SIREN/SIRET).",
    )
    phone: str | None = Field(default=None, max_length=40, description="Company phone; stored as E.164.")
    website: str | None = Field(default=None, max_length=200)
    domain: str | None = Field(default=None, max_length=200)
    language: str = Field(default="en", max_length=35, description="BCP 47 tag: the customer's language.")
    primary_contact: ContactIn = Field(alias="primaryContact")
    agreement: NewCustomerAgreement | None = Field(
        default=None, description="The partner attests, in the same transaction, that the customer accepted the agreement.",
    )
    ask_to_accept_directly: bool = Field(
        default=False, alias="askToAcceptDirectly",
        description="\"The customer will be asked to accept\": an AgreementAcceptance invitation goes to the primary contact, "
                    "and no attestation confirmation email is ever sent to this customer. Excludes `agreement`.",
    )
    indirect_provider_id: str | None = Field(
        default=None, alias="indirectProviderId", max_length=100, pattern=_ID,
        description="For an indirect reseller: the indirect provider that gets a relationship too (default: the reseller's own).",
    )
    gdap: GdapIn | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _printable(v)

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        return check_country(v)  # type: ignore[return-value]

    @field_validator("language")
    @classmethod
    def _language(cls, v: str) -> str:
        return check_language(v)

    @field_validator("vat_number", "registration_number")
    @classmethod
    def _company_number(cls, v: str | None, info: ValidationInfo) -> str | None:
        if not v:
            return None
        check = company_numbers.check_vat_number if info.field_name == "vat_number" else company_numbers.check_registration_number
        return check(v, info.data.get("country"))

    @field_validator("address")
    @classmethod
    def _address_country(cls, v: Address | None) -> Address | None:
        if v and v.country:
            v.country = check_country(v.country)
        return v

    @model_validator(mode="after")
    def _one_way_to_accept(self) -> NewCustomer:
        if self.agreement is not None and self.ask_to_accept_directly:
            raise ValueError("give either agreement (partner attestation) or askToAcceptDirectly, not both")
        return self


class InvitationOptions(_Api):
    """Who receives an invitation about an existing customer; the primary contact unless given."""

    email: EmailStr | None = None
    first_name: str | None = Field(default=None, alias="firstName", min_length=1, max_length=100)
    last_name: str | None = Field(default=None, alias="lastName", min_length=1, max_length=100)
    language: str | None = Field(default=None, max_length=35)
    message: str | None = Field(default=None, max_length=2000, description="The partner's own words, shown in the email.")
    expires_in_days: int = Field(default=MAX_EXPIRY_DAYS, alias="expiresInDays", ge=1, le=MAX_EXPIRY_DAYS)

    @field_validator("language")
    @classmethod
    def _language(cls, v: str | None) -> str | None:
        return check_language(v) if v else None

    @model_validator(mode="after")
    def _whole_person(self) -> InvitationOptions:
        given = [self.email, self.first_name, self.last_name]
        if any(given) and not all(given):
            raise ValueError("give email, firstName and lastName together, or none of them (the primary contact)")
        return self


class AgreementInvitationIn(InvitationOptions):
    send_email: bool = Field(default=True, alias="sendEmail", description="false: the partner sends the link itself.")


class RelationshipRequestIn(InvitationOptions):
    indirect_provider_id: str | None = Field(
        default=None, alias="indirectProviderId", max_length=100, pattern=_ID,
        description="Invite the customer to a relationship with this indirect provider as well.",
    )
    ask_agreement_acceptance: bool = Field(
        default=False, alias="askAgreementAcceptance",
        description="Accepting the relationship accepts the customer agreement in the same step.",
    )
    send_email: bool = Field(
        default=False, alias="sendEmail",
        description="By default the partner reviews the draft email and sends it itself; true sends it for the partner.",
    )


class RemoveRelationshipIn(_Api):
    good_faith_declaration: bool = Field(
        alias="goodFaithDeclaration", strict=True, description="Must be true: the partner declares that the removal is made in good faith.",
    )


class EligibilityQuery(_Api):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_strip_whitespace=True)
    purchase_type: PurchaseType = Field(default=PurchaseType.NEW, alias="purchaseType")


# -- responses -------------------------------------------------------------------------------------


class ConfirmationEmail(_Out):
    status: Literal["Queued", "Failed"]
    error: str | None = None


class AgreementView(_Out):
    """Whether the customer accepted the agreement ("Provided" or "Not provided"), how, when and by whom."""

    customer_id: str = Field(alias="customerId")
    type: str
    acceptance: Literal["Provided", "NotProvided"]
    how: AcceptanceHow | None = Field(default=None, description="PartnerAttestation or DirectAcceptance.")
    date_agreed: date | None = Field(default=None, alias="dateAgreed")
    recorded_at: datetime | None = Field(default=None, alias="recordedAt")
    recorded_by: dict[str, str] | None = Field(
        default=None, alias="recordedBy", description="The attesting partner user, or the customer's signed-in user.",
    )
    contact: Contact | None = Field(default=None, description="The person who accepted.")
    asked_to_accept_directly: bool = Field(alias="askedToAcceptDirectly")
    confirmation_email: ConfirmationEmail | None = Field(default=None, alias="confirmationEmail", description=(
        "While the attestation confirmation is not sent: Queued, or Failed with the reason. Absent once sent, or if none is."))


class _Page(Paged, _Out):
    """A page of a list (see shared.pagination.Paged)."""


class CustomerSummary(_Out):
    customer_id: str = Field(alias="customerId")
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
        default=None, alias="agreementInvitation", description="With askToAcceptDirectly: the invitation sent to the primary contact.",
    )


class RelationshipRequestOut(_Out):
    invitation: InvitationOut
    draft_email: DraftEmail = Field(alias="draftEmail")


class DirectSigningStatus(_Out):
    is_signed: bool = Field(alias="isSigned", description="true once the customer accepted the agreement itself (DirectAcceptance).")


class PurchaseAction(_Out):
    type: Literal["AttestAgreement", "AskIndirectProviderToAttest"]
    detail: str
    method: str | None = None
    href: str | None = None
    indirect_provider_id: str | None = Field(default=None, alias="indirectProviderId")


class PurchaseEligibility(_Out):
    customer_id: str = Field(alias="customerId")
    purchase_type: PurchaseType = Field(alias="purchaseType")
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
    customer_id: str | None = Field(default=None, alias="customerId")
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class AuditPage(_Page):
    items: list[AuditEntry]


class PartnerOfCustomer(_Out):
    """One partner the customer works with (what the customer sees after accepting a relationship)."""

    partner_id: str = Field(alias="partnerId")
    partner_name: str = Field(alias="partnerName")
    role: RelationshipRole
    since: datetime
