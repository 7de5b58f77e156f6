"""The partner API's request and response shapes for invitations (camelCase JSON; the OpenAPI contract)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from invite_user.invitations import (
    MAX_EXPIRY_DAYS,
    AgreementRef,
    BusinessCenterRole,
    CompanyData,
    EmailStatus,
    Invitation,
    InvitationKind,
    InvitationStatus,
    ReminderStatus,
    Stage,
)
from shared.fields import ID, CountryCode, Email, LanguageTag, PersonName, check_country, check_language, iso_countries  # noqa: F401  (re-exported)
from shared.models import Model
from shared.pagination import Paged


class _Api(Model):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)


class Invitee(_Api):
    """The person invited: the same fields and rules wherever someone is invited (partner API, colleagues)."""

    email: Email
    first_name: PersonName = Field(validation_alias="firstName", serialization_alias="firstName")
    last_name: PersonName = Field(validation_alias="lastName", serialization_alias="lastName")
    language: LanguageTag = "en"
    country_region: CountryCode = Field(validation_alias="countryRegion", serialization_alias="countryRegion")


class NewInvitation(Invitee):
    kind: InvitationKind = InvitationKind.CUSTOMER_ONBOARDING
    roles: list[BusinessCenterRole] = Field(default_factory=list, max_length=6)
    company: CompanyData = Field(default_factory=CompanyData)
    agreement: AgreementRef | None = None
    customer_id: str | None = Field(default=None, validation_alias="customerId", serialization_alias="customerId", max_length=100, pattern=ID)
    indirect_provider_id: str | None = Field(default=None, validation_alias="indirectProviderId", serialization_alias="indirectProviderId",
                                             max_length=100)
    message: str | None = Field(default=None, max_length=2000)
    send_email: bool = Field(default=True, validation_alias="sendEmail", serialization_alias="sendEmail")
    expires_in_days: int = Field(default=MAX_EXPIRY_DAYS, validation_alias="expiresInDays", serialization_alias="expiresInDays", ge=1,
                                 le=MAX_EXPIRY_DAYS)
    ask_agreement_acceptance: bool = Field(default=False, validation_alias="askAgreementAcceptance", serialization_alias="askAgreementAcceptance")
    remind: bool = Field(default=True, description="Reminder emails with the same link before the link expires (REMIND_BEFORE: "
                                                   "7 days and 1 day by default), each once, while the invitation is still "
                                                   "pending (none for an offset the link does not outlive).")

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, v: list[BusinessCenterRole]) -> list[BusinessCenterRole]:
        if len(set(v)) != len(v):
            raise ValueError("each role may be given once")
        return v

    @field_validator("company")
    @classmethod
    def _company_country(cls, v: CompanyData) -> CompanyData:
        check_country(v.country)
        if v.address:
            check_country(v.address.country)
        return v

    @model_validator(mode="after")
    def _kind_needs(self) -> NewInvitation:
        if self.kind in (InvitationKind.COMPANY_USER, InvitationKind.AGREEMENT_ACCEPTANCE) and not self.customer_id:
            raise ValueError(f"customerId is required for a {self.kind.value} invitation")
        if self.kind == InvitationKind.COMPANY_USER and not self.roles:
            raise ValueError("a CompanyUser invitation needs at least one role")
        return self


class EmailStatusDetail(_Api):
    """Why an invitation's email is where it is, and what to do about it."""

    reason: str | None = Field(default=None, description="The mail service's words, trimmed.")
    advice: str | None = Field(default=None, description=(
        "What to do: fix-address (a hard bounce: change the invitee with PATCH), ask-customer-to-allow-sender (quarantined "
        "by the customer's tenant), ask-customer-to-check-junk (filed as spam), address-suppressed (earlier bounces or "
        "complaints), retry-later (a soft failure: resend later); none when delivered."))
    at: datetime = Field(description="When the mail service tried to deliver it (or the app to send it).")
    message_id: str = Field(validation_alias="messageId", serialization_alias="messageId",
                            description="The email's operation id (the ACS Operation-Id and report messageId).")


class InvitationOut(_Api):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    id: str | None = Field(default=None, description="The link id; returned only to whoever presents it (kept as a hash).")
    reference: str = Field(description="Stable public handle (SHA-256 of the link id); usable wherever {id} is.")
    status: InvitationStatus
    kind: InvitationKind
    email: str
    first_name: str = Field(validation_alias="firstName", serialization_alias="firstName")
    last_name: str = Field(validation_alias="lastName", serialization_alias="lastName")
    language: str
    country_region: str = Field(validation_alias="countryRegion", serialization_alias="countryRegion")
    roles: list[BusinessCenterRole]
    company: dict[str, Any]
    agreement: dict[str, Any] | None = None
    customer_id: str | None = Field(default=None, validation_alias="customerId", serialization_alias="customerId")
    indirect_provider_id: str | None = Field(default=None, validation_alias="indirectProviderId", serialization_alias="indirectProviderId")
    invite_redeem_url: str | None = Field(default=None, validation_alias="inviteRedeemUrl", serialization_alias="inviteRedeemUrl")
    expires_at: datetime = Field(validation_alias="expiresAt", serialization_alias="expiresAt")
    email_status: EmailStatus = Field(validation_alias="emailStatus", serialization_alias="emailStatus")
    email_error: str | None = Field(default=None, validation_alias="emailError", serialization_alias="emailError")
    email_status_detail: EmailStatusDetail | None = Field(default=None, validation_alias="emailStatusDetail",
                                                          serialization_alias="emailStatusDetail", description=(
        "Why the email is where it is: the mail service's delivery report (or a refusal at send time), with advice."))
    email_sent_at: datetime | None = Field(default=None, validation_alias="emailSentAt", serialization_alias="emailSentAt")
    created_by: dict[str, str] = Field(validation_alias="createdBy", serialization_alias="createdBy")
    created_at: datetime = Field(validation_alias="createdAt", serialization_alias="createdAt")
    updated_at: datetime = Field(validation_alias="updatedAt", serialization_alias="updatedAt")
    accepted_at: datetime | None = Field(default=None, validation_alias="acceptedAt", serialization_alias="acceptedAt")
    revoked_at: datetime | None = Field(default=None, validation_alias="revokedAt", serialization_alias="revokedAt")
    expired_at: datetime | None = Field(default=None, validation_alias="expiredAt", serialization_alias="expiredAt")
    resent_count: int = Field(validation_alias="resentCount", serialization_alias="resentCount")
    remind: bool = Field(description="Whether a reminder is sent 7 days before expiry (false for invitations made before reminders).")
    reminded_at: datetime | None = Field(default=None, validation_alias="remindedAt", serialization_alias="remindedAt",
                                         description="When the reminder was claimed and queued.")
    reminder_status: ReminderStatus | None = Field(default=None, validation_alias="reminderStatus", serialization_alias="reminderStatus")
    reminder_error: str | None = Field(default=None, validation_alias="reminderError", serialization_alias="reminderError")
    replaced_by: str | None = Field(default=None, validation_alias="replacedBy", serialization_alias="replacedBy",
                                    description="Replaced: the reference of the invitation that took its place (its invitee changed).")
    replaced_at: datetime | None = Field(default=None, validation_alias="replacedAt", serialization_alias="replacedAt")
    replaces: str | None = Field(default=None, description="The reference of the invitation this one replaced.")


def _detail(inv: Invitation) -> EmailStatusDetail | None:
    d = inv.email_status_detail
    return EmailStatusDetail(reason=d.reason, advice=d.advice, at=d.at, message_id=d.message_id) if d else None


def present(inv: Invitation, *, raw_id: str | None, redeem_url: str | None, now: datetime) -> InvitationOut:
    return InvitationOut(
        id=raw_id,
        reference=inv.reference,
        status=inv.effective_status(now),
        kind=inv.kind,
        email=str(inv.email),
        first_name=inv.first_name,
        last_name=inv.last_name,
        language=inv.language,
        country_region=inv.country_region,
        roles=inv.roles,
        company=inv.company.model_dump(mode="json", by_alias=True, exclude_none=True),
        agreement=inv.agreement.model_dump(mode="json", by_alias=True) if inv.agreement else None,
        customer_id=inv.customer_id,
        indirect_provider_id=inv.indirect_provider_id,
        invite_redeem_url=redeem_url,
        expires_at=inv.expires_at,
        email_status=inv.email_status,
        email_error=inv.email_error,
        email_status_detail=_detail(inv),
        email_sent_at=inv.email_sent_at,
        created_by=inv.created_by,
        created_at=inv.created_at,
        updated_at=inv.updated_at,
        accepted_at=inv.accepted_at,
        revoked_at=inv.revoked_at,
        expired_at=inv.expired_at,
        resent_count=inv.resent_count,
        remind=inv.remind,
        reminded_at=inv.reminded_at,
        reminder_status=inv.reminder_status,
        reminder_error=inv.reminder_error,
        replaced_by=inv.replaced_by,
        replaced_at=inv.replaced_at,
        replaces=inv.replaces,
    )


CHANGEABLE = ("email", "firstName", "lastName", "language", "agreement")


def _change_schema(schema: dict[str, Any]) -> None:
    """What the contract says of a change: at least one invitee field, and no field defaults to null (left out: unchanged)."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
    schema["anyOf"] = [{"required": [name]} for name in CHANGEABLE]


class InviteeChange(_Api):
    """A change of a pending invitation's invitee, as a JSON merge patch: the fields given replace the invitation's."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True,
                              json_schema_extra=_change_schema)
    # Never null (an invitee always has them): a field left out stays as it is.
    # So the types say no null while None (the default) means "left out": pyright is told so on each of these lines.
    email: Email = Field(default=None, description="The new invitee's address: the new link goes there.")  # pyright: ignore[reportAssignmentType]
    first_name: PersonName = Field(default=None, validation_alias="firstName",
                                   serialization_alias="firstName")  # pyright: ignore[reportAssignmentType]
    last_name: PersonName = Field(default=None, validation_alias="lastName", serialization_alias="lastName")  # pyright: ignore[reportAssignmentType]
    language: LanguageTag = Field(default=None,
                                  description="The language of the new email and of the invitee's pages.")  # pyright: ignore[reportAssignmentType]
    agreement: AgreementRef | None = Field(default=None, description=(
        "The agreement whose designated purchasing account manager the invitee is (the resend request matches it); "
        "null: none any more."))
    send_email: bool = Field(default=None, validation_alias="sendEmail", serialization_alias="sendEmail",
                             description=(  # pyright: ignore[reportAssignmentType]
        "Whether the new link is emailed; default: as the invitation was created (sendEmail false: the partner sends "
        "the link from the answer itself)."))

    @model_validator(mode="after")
    def _names_something(self) -> InviteeChange:
        if not self.model_fields_set - {"send_email"}:
            raise ValueError("name at least one of email, firstName, lastName, language, agreement")
        return self

    def changes(self, inv: Invitation) -> dict[str, Any]:
        """The invitee's fields this change gives a new value (by field name); empty when it changes nothing."""
        given = {name: getattr(self, name) for name in self.model_fields_set if name != "send_email"}
        return {name: value for name, value in given.items() if value != getattr(inv, name)}


class ListQuery(_Api):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)
    status: InvitationStatus | None = None
    email: str | None = Field(default=None, max_length=320)
    kind: InvitationKind | None = None
    customer_id: str | None = Field(default=None, validation_alias="customerId", serialization_alias="customerId", max_length=100)
    email_status: EmailStatus | None = Field(default=None, validation_alias="emailStatus", serialization_alias="emailStatus",
                                             description="e.g. Bounced (with status "
                                             "PendingAcceptance: bounced and still pending).")
    stage: Stage | None = Field(default=None, description="How far it got: its outcome (Accepted, Expired, Revoked) or its "
                                                          "furthest step (Created, Delivered, DeliveryFailed, Opened, SignedIn).")
    created_before: datetime | None = Field(default=None, validation_alias="createdBefore", serialization_alias="createdBefore",
                                            description="e.g. stage=Opened and a week "
                                                                                              "ago: opened but not accepted for 7 days.")
    continuation_token: str | None = Field(default=None, validation_alias="continuationToken", serialization_alias="continuationToken",
                                           max_length=4000)
    page_size: int = Field(default=100, validation_alias="pageSize", serialization_alias="pageSize", ge=1, le=100)


class FunnelQuery(_Api):
    from_: date = Field(validation_alias="from", serialization_alias="from", description="First creation day (UTC), included.")
    to: date = Field(description="Last creation day (UTC), included.")
    kind: InvitationKind | None = None


class ResendRequest(_Api):
    """Business Center: "Haven't received an invitation email yet?" (resent only to the purchasing account manager)."""

    email: Email
    agreement_number: str = Field(validation_alias="agreementNumber", serialization_alias="agreementNumber", min_length=1, max_length=40)
    purchasing_account_number: str = Field(validation_alias="purchasingAccountNumber", serialization_alias="purchasingAccountNumber",
                                           min_length=1, max_length=40)


class BulkRequest(Model):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    invitations: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class InvitationPage(Paged):
    items: list[InvitationOut] = Field(description="Newest first, without the link id.")


class BulkRow(_Api):
    model_config = ConfigDict(populate_by_name=True)
    index: int
    status: str = Field(description="created, invalid or failed")
    invitation: InvitationOut | None = None
    errors: list[dict[str, str]] | None = None


class BulkResult(_Api):
    model_config = ConfigDict(populate_by_name=True)
    summary: dict[str, int] = Field(description="Counts of created, invalid and failed rows.")
    results: list[BulkRow] = Field(description="One entry per row: index, status, invitation or errors.")


class DraftEmail(_Api):
    """The invitation's email for the partner to review, edit or send itself; it keeps the personalised URL."""

    model_config = ConfigDict(populate_by_name=True)
    to: str
    subject: str
    text: str
    html: str
    language: str
    invite_redeem_url: str = Field(validation_alias="inviteRedeemUrl", serialization_alias="inviteRedeemUrl",
                                   description="The personalised URL; keep it in the email.")


class DraftQuery(_Api):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)
    language: str | None = Field(default=None, max_length=35, description="BCP 47 tag; default: the invitation's language.")


class ResendRequestAnswer(_Api):
    model_config = ConfigDict(populate_by_name=True)
    status: str
    detail: str
