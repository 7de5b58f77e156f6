"""Invitations: what a seller registers when it invites someone, and the rules of their life cycle.

Longer than usual because an invitation's life cycle (its statuses, its email's delivery, its reminder) is one set of
rules over one entity, and the unit of work files its index rows from these rules alone.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, computed_field, field_validator

from notifications.reports import StatusDetail, supersedes
from shared import company_numbers, identity
from shared.errors import Conflict
from shared.fields import CountryCode, Email, RegistrationNumber, VatNumber
from shared.idempotency import derived_id
from shared.storage import Entity

MAX_EXPIRY_DAYS = 60  # a personal link lives at most 60 days
# The product rule: an invitation still pending this long before its link expires gets a reminder; REMIND_BEFORE
# (settings) may name several offsets, each reminded once. Rows stored before several existed carry none: this one.
REMIND_BEFORE_EXPIRY = timedelta(days=7)
# A reminder claimed by the timer but not sent this long after (its process died before queueing it, or its
# message was lost) is queued again by a later run; the send's own claim keeps the two from both sending.
REMINDER_RETRY = timedelta(minutes=30)


class InvitationStatus(StrEnum):
    PENDING = "PendingAcceptance"
    ACCEPTED = "Accepted"
    REVOKED = "Revoked"
    EXPIRED = "Expired"
    REPLACED = "Replaced"  # its invitee was changed: a new invitation (`replacedBy`) with a new link took its place


class InvitationKind(StrEnum):
    CUSTOMER_ONBOARDING = "CustomerOnboarding"
    RESELLER_RELATIONSHIP = "ResellerRelationship"
    COMPANY_USER = "CompanyUser"
    AGREEMENT_ACCEPTANCE = "AgreementAcceptance"


class BusinessCenterRole(StrEnum):
    """The Business Center roles a customer's users hold."""

    ACCOUNT_MANAGER = "AccountManager"
    AGREEMENT_MANAGER = "AgreementManager"
    USER_ADMINISTRATOR = "UserAdministrator"
    ACCOUNT_ADMINISTRATOR = "AccountAdministrator"
    REPORT_VIEWER = "ReportViewer"
    ACCOUNT_VIEWER = "AccountViewer"


class EmailStatus(StrEnum):
    NOT_REQUESTED = "NotRequested"  # sendEmail=false: the partner sends the draft itself
    QUEUED = "Queued"
    SENDING = "Sending"
    SENT = "Sent"  # the mail service took it; what became of it then comes as a delivery report
    FAILED = "Failed"
    # From the mail service's delivery report (notifications.reports); Bounced also when refused at send time.
    DELIVERED = "Delivered"
    BOUNCED = "Bounced"
    QUARANTINED = "Quarantined"
    FILTERED_SPAM = "FilteredSpam"
    SUPPRESSED = "Suppressed"


# Set by a delivery report: a send recorded after its report came back (the report can be faster) keeps the report's.
REPORTED = frozenset({EmailStatus.DELIVERED, EmailStatus.BOUNCED, EmailStatus.QUARANTINED, EmailStatus.FILTERED_SPAM,
                      EmailStatus.SUPPRESSED})


class Stage(StrEnum):
    """How far an invitation got: its outcome once it has one (Accepted, Expired, Revoked; a replaced one counts as
    Revoked), else its furthest step. Stored with every write (`stage`), so lists filter by it."""

    CREATED = "Created"
    DELIVERED = "Delivered"
    DELIVERY_FAILED = "DeliveryFailed"
    OPENED = "Opened"
    SIGNED_IN = "SignedIn"
    ACCEPTED = "Accepted"
    EXPIRED = "Expired"
    REVOKED = "Revoked"


class ReminderStatus(StrEnum):
    QUEUED = "Queued"  # claimed by the timer (remindedAt), its message on the email queue
    SENDING = "Sending"
    SENT = "Sent"
    FAILED = "Failed"


class InvitationStateError(Conflict):
    """The invitation is not in a state that allows this; `status` says which state it is in (409, type invitation-<state>)."""

    def __init__(self, status: InvitationStatus, detail: str) -> None:
        super().__init__(detail, code=f"invitation-{status.value.lower()}")
        self.status = status


def normalize_email(email: str) -> str:
    """Emails compare as the ASCII-lowercased local part @ the IDNA domain (`shared.identity`): never two mailboxes as one."""
    return identity.normalize_email(email)


TAG_DIGITS = 12  # the partner tag a link id carries (48 bits; the other 74 bits stay random)


def partner_tag(partner_id: str) -> str:
    """The partner's tag: names its table partition and ends each of its link ids, so a link finds its partition."""
    return hashlib.sha256(partner_id.encode()).hexdigest()[:TAG_DIGITS]


def link_key(invitation_id: str) -> str:
    """Where a link id leads: its partner's tag followed by the hash of the id (one point read, no pointer)."""
    canonical = str(invitation_id).strip().lower()
    return canonical[-TAG_DIGITS:] + link_hash(canonical)


def split_link_key(key: str) -> tuple[str | None, str]:
    """(partner tag or None, link hash) of a link key or of a bare link hash (the invitation's reference)."""
    return (key[:TAG_DIGITS], key[TAG_DIGITS:]) if len(key) == TAG_DIGITS + 64 else (None, key)


def link_hash(invitation_id: str) -> str:
    """Only this SHA-256 of the link's id is stored: a leaked table must not yield a working link."""
    return hashlib.sha256(str(invitation_id).strip().lower().encode()).hexdigest()


def parse_invitation_id(raw: str | None) -> str | None:
    """The canonical form of a link id, or None when it is not a UUID."""
    if not raw:
        return None
    try:
        return str(uuid.UUID(raw.strip()))
    except (ValueError, AttributeError):
        return None


def new_invitation_id(partner_id: str) -> str:
    """A UUID4 whose last 12 hex digits are the partner's tag (74 random bits remain: unguessable); within a request with
    an Idempotency-Key its random part is derived from the key, so a retry mints the same link."""
    random_part = uuid.UUID(derived_id()).hex
    return str(uuid.UUID(random_part[:20] + partner_tag(partner_id)))


class Address(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)
    line1: str | None = Field(default=None, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, validation_alias="postalCode", serialization_alias="postalCode", max_length=20)
    region: str | None = Field(default=None, max_length=100)
    country: CountryCode | None = None


class CompanyData(BaseModel):
    """What the seller registered about the customer company; shown, editable, on the create-company page."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)
    name: str | None = Field(default=None, max_length=200)
    address: Address | None = None
    country: CountryCode | None = None
    vat_number: VatNumber = None
    registration_number: RegistrationNumber = None
    phone: str | None = Field(default=None, max_length=40)
    website: str | None = Field(default=None, max_length=200)
    domain: str | None = Field(default=None, max_length=200)

    @field_validator("vat_number", "registration_number")
    @classmethod
    def _company_number(cls, v: str | None, info: ValidationInfo) -> str | None:
        if not v:
            return None
        address = info.data.get("address")
        country = info.data.get("country") or (address.country if address else None)
        check = company_numbers.check_vat_number if info.field_name == "vat_number" else company_numbers.check_registration_number
        return check(v, country)


class AgreementRef(BaseModel):
    """The agreement (MPSA) whose designated purchasing account manager this invitee is."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)
    agreement_number: str = Field(validation_alias="agreementNumber", serialization_alias="agreementNumber",
                                  min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")
    purchasing_account_number: str = Field(validation_alias="purchasingAccountNumber", serialization_alias="purchasingAccountNumber",
                                           min_length=1, max_length=40, pattern=r"^[A-Za-z0-9-]+$")


class Invitation(Entity):
    """One invitation; keyed by the hash of its link id, kept in its partner's partition."""

    link_hash: str = Field(validation_alias="linkHash", serialization_alias="linkHash")
    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    kind: InvitationKind
    status: InvitationStatus = InvitationStatus.PENDING
    email: Email
    email_normalized: str = Field(validation_alias="emailNormalized", serialization_alias="emailNormalized")
    first_name: str = Field(validation_alias="firstName", serialization_alias="firstName")
    last_name: str = Field(validation_alias="lastName", serialization_alias="lastName")
    language: str
    country_region: str = Field(validation_alias="countryRegion", serialization_alias="countryRegion")
    roles: list[BusinessCenterRole] = Field(default_factory=list)
    company: CompanyData = Field(default_factory=CompanyData)
    agreement: AgreementRef | None = None
    customer_id: str | None = Field(default=None, validation_alias="customerId", serialization_alias="customerId")
    indirect_provider_id: str | None = Field(default=None, validation_alias="indirectProviderId", serialization_alias="indirectProviderId")
    message: str | None = None
    expires_in_days: int = Field(validation_alias="expiresInDays", serialization_alias="expiresInDays")
    expires_at: datetime = Field(validation_alias="expiresAt", serialization_alias="expiresAt")
    created_at: datetime = Field(validation_alias="createdAt", serialization_alias="createdAt")
    updated_at: datetime = Field(validation_alias="updatedAt", serialization_alias="updatedAt")
    created_by: dict[str, str] = Field(validation_alias="createdBy", serialization_alias="createdBy")
    inviter_name: str = Field(validation_alias="inviterName", serialization_alias="inviterName")
    partner_name: str = Field(validation_alias="partnerName", serialization_alias="partnerName")
    indirect_provider_name: str | None = Field(default=None, validation_alias="indirectProviderName", serialization_alias="indirectProviderName")
    # The invitee is asked to accept the customer agreement directly with this invitation.
    ask_agreement_acceptance: bool = Field(default=False, validation_alias="askAgreementAcceptance", serialization_alias="askAgreementAcceptance")
    email_status: EmailStatus = Field(default=EmailStatus.QUEUED, validation_alias="emailStatus", serialization_alias="emailStatus")
    email_operation_id: str | None = Field(default=None, validation_alias="emailOperationId", serialization_alias="emailOperationId")
    email_attempts: int = Field(default=0, validation_alias="emailAttempts", serialization_alias="emailAttempts")
    email_error: str | None = Field(default=None, validation_alias="emailError", serialization_alias="emailError")
    email_sent_at: datetime | None = Field(default=None, validation_alias="emailSentAt", serialization_alias="emailSentAt")
    # When a send was claimed: another message for the same email (a queue message stored twice) waits this out.
    email_claimed_at: datetime | None = Field(default=None, validation_alias="emailClaimedAt", serialization_alias="emailClaimedAt")
    # Why the email is where it is (a delivery report, or a failure at send time), with advice for the partner.
    email_status_detail: StatusDetail | None = Field(default=None, validation_alias="emailStatusDetail", serialization_alias="emailStatusDetail")
    resent_count: int = Field(default=0, validation_alias="resentCount", serialization_alias="resentCount")
    # The trail's history of emails (invite_user/trail.py), each list bounded by EMAIL_HISTORY: when it was resent, the
    # reports of the emails a resend superseded, and the reports of its reminders (by messageId, each monotonic).
    resent_at: list[datetime] = Field(default_factory=list, validation_alias="resentAt", serialization_alias="resentAt")
    earlier_emails: list[StatusDetail] = Field(default_factory=list, validation_alias="earlierEmails", serialization_alias="earlierEmails")
    reminder_reports: list[StatusDetail] = Field(default_factory=list, validation_alias="reminderReports",
                                                 serialization_alias="reminderReports")
    accepted_at: datetime | None = Field(default=None, validation_alias="acceptedAt", serialization_alias="acceptedAt")
    accepted_by: dict[str, str] | None = Field(default=None, validation_alias="acceptedBy", serialization_alias="acceptedBy")
    revoked_at: datetime | None = Field(default=None, validation_alias="revokedAt", serialization_alias="revokedAt")
    revoked_by: dict[str, str] | None = Field(default=None, validation_alias="revokedBy", serialization_alias="revokedBy")
    expired_at: datetime | None = Field(default=None, validation_alias="expiredAt", serialization_alias="expiredAt")
    # Reminders. Rows stored before reminders existed read as `remind` False: their link id was never kept, so no
    # reminder could carry the same link. `link_seal` is the link id encrypted under the server secret
    # (invite_user.reminders.seal_link), bound to `link_hash`: the table alone never yields a working link.
    remind: bool = False
    link_seal: str | None = Field(default=None, validation_alias="linkSeal", serialization_alias="linkSeal")
    reminded_at: datetime | None = Field(default=None, validation_alias="remindedAt", serialization_alias="remindedAt")
    reminder_status: ReminderStatus | None = Field(default=None, validation_alias="reminderStatus", serialization_alias="reminderStatus")
    reminder_error: str | None = Field(default=None, validation_alias="reminderError", serialization_alias="reminderError")
    reminder_claimed_at: datetime | None = Field(default=None, validation_alias="reminderClaimedAt", serialization_alias="reminderClaimedAt")
    reminder_attempts: int = Field(default=0, validation_alias="reminderAttempts",
                                   serialization_alias="reminderAttempts")  # times its message was queued
    # The reminders' offsets (days before expiry, largest first), fixed when the invitation is made; how many were taken.
    remind_before: list[int] = Field(default_factory=lambda: [REMIND_BEFORE_EXPIRY.days], validation_alias="remindBefore",
                                     serialization_alias="remindBefore")
    reminders_taken: int = Field(default=0, validation_alias="remindersTaken", serialization_alias="remindersTaken")
    reminders_sent_at: list[datetime] = Field(default_factory=list, validation_alias="remindersSentAt", serialization_alias="remindersSentAt")
    # The invitee's journey, each the first time (invite_user/trail.py): opened = pressed sign-in or create-account on
    # the link's page (a POST; a GET never counts: mail scanners open links), signed in as the invited account, or not.
    # The stage it is counted under in its partner's funnel (invite_user/funnel.py), and its acceptance minutes there.
    counted_stage: str | None = Field(default=None, validation_alias="countedStage", serialization_alias="countedStage")
    counted_accept_minutes: int | None = Field(default=None, validation_alias="countedAcceptMinutes", serialization_alias="countedAcceptMinutes")
    opened_at: datetime | None = Field(default=None, validation_alias="openedAt", serialization_alias="openedAt")
    signed_in_at: datetime | None = Field(default=None, validation_alias="signedInAt", serialization_alias="signedInAt")
    wrong_account_at: datetime | None = Field(default=None, validation_alias="wrongAccountAt", serialization_alias="wrongAccountAt")
    # A change of the invitee replaces the invitation: the old one names its successor, the new one what it replaces.
    replaced_by: str | None = Field(default=None, validation_alias="replacedBy", serialization_alias="replacedBy")
    replaced_at: datetime | None = Field(default=None, validation_alias="replacedAt", serialization_alias="replacedAt")
    # Who replaced it (whom its old link names).
    changed_by: dict[str, str] | None = Field(default=None, validation_alias="changedBy", serialization_alias="changedBy")
    replaces: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def stage(self) -> Stage:
        outcome = {InvitationStatus.ACCEPTED: Stage.ACCEPTED, InvitationStatus.EXPIRED: Stage.EXPIRED,
                   InvitationStatus.REVOKED: Stage.REVOKED, InvitationStatus.REPLACED: Stage.REVOKED}.get(self.status)
        if outcome is not None:
            return outcome
        if self.signed_in_at is not None:
            return Stage.SIGNED_IN
        if self.opened_at is not None:
            return Stage.OPENED
        if self.email_status in (EmailStatus.BOUNCED, EmailStatus.QUARANTINED, EmailStatus.FILTERED_SPAM,
                                 EmailStatus.SUPPRESSED, EmailStatus.FAILED):
            return Stage.DELIVERY_FAILED
        return Stage.DELIVERED if self.email_status == EmailStatus.DELIVERED else Stage.CREATED

    @property
    def link_key(self) -> str:
        """Its partner's tag and its link hash: where its row is, without a pointer (what the journey carries)."""
        return partner_tag(self.partner_id) + self.link_hash

    @field_validator("roles", mode="before")
    @classmethod
    def _roles_list(cls, v: Any) -> Any:
        return v or []

    @property
    def reference(self) -> str:
        """The public handle of an invitation once its link id is no longer known (we keep only the hash)."""
        return self.link_hash

    def is_for(self, email: str) -> bool:
        # Recomputed from the address itself: rows stored under the old NFKC + casefold form compare correctly too.
        return identity.same_email(email, str(self.email))

    def effective_status(self, now: datetime) -> InvitationStatus:
        """Pending past its expiry counts as Expired even before the timer has marked it."""
        if self.status == InvitationStatus.PENDING and now >= self.expires_at:
            return InvitationStatus.EXPIRED
        return self.status

    # -- the life cycle ---------------------------------------------------------
    def resend(self, now: datetime) -> None:
        """Same link, new expiry; allowed while pending or expired (an invitee may ask for it to be sent again)."""
        if self.status not in (InvitationStatus.PENDING, InvitationStatus.EXPIRED):
            raise InvitationStateError(self.status, f"An invitation that is {self.status} cannot be resent.")
        self.status = InvitationStatus.PENDING
        self.expires_at = now + timedelta(days=self.expires_in_days)
        self.expired_at = None
        self.resent_count += 1
        self.updated_at = now
        self.resent_at = [*self.resent_at, now][-EMAIL_HISTORY:]
        if self.email_status_detail is not None:  # the superseded email's report stays on the trail
            self.earlier_emails = [*self.earlier_emails, self.email_status_detail][-EMAIL_HISTORY:]
        self.queue_email()
        # A new expiry, new reminders before it: each once per life of the link (remindedAt keeps the last one).
        self.reminder_status, self.reminder_error, self.reminder_claimed_at, self.reminder_attempts = None, None, None, 0
        self.reminders_taken = 0

    def revoke(self, now: datetime, by: dict[str, str]) -> None:
        if self.status in (InvitationStatus.ACCEPTED, InvitationStatus.REVOKED, InvitationStatus.REPLACED):
            raise InvitationStateError(self.status, f"An invitation that is {self.status} cannot be revoked.")
        self.status = InvitationStatus.REVOKED
        self.revoked_at = now
        self.revoked_by = by
        self.updated_at = now

    def replace(self, now: datetime, by: dict[str, str], successor: str) -> None:
        """Its invitee changed: `successor` (a reference) takes its place and its link stops working. Only while pending."""
        status = self.effective_status(now)
        if status != InvitationStatus.PENDING:
            raise InvitationStateError(status, f"Only a pending invitation can be changed; this one is {status}.")
        self.status = InvitationStatus.REPLACED
        self.replaced_by, self.replaced_at, self.changed_by = successor, now, by
        self.updated_at = now

    def successor(self, now: datetime, link_hash_: str, by: dict[str, str], inviter_name: str, *, send_email: bool,
                  **invitee: Any) -> Invitation:
        """The invitation that replaces this one: a new link for the changed invitee (`invitee`: email, first_name,
        last_name, language, agreement), everything else carried over, its expiry starting afresh."""
        fields = self.model_dump(include=set(CARRIED_OVER)) | invitee
        return Invitation.model_validate({
            **fields, "link_hash": link_hash_, "email_normalized": normalize_email(str(fields["email"])),
            "expires_at": now + timedelta(days=self.expires_in_days), "created_at": now, "updated_at": now, "created_by": by,
            "inviter_name": inviter_name, "replaces": self.reference,
            "email_status": EmailStatus.QUEUED if send_email else EmailStatus.NOT_REQUESTED,
        })

    def expire(self, now: datetime) -> None:
        if self.status != InvitationStatus.PENDING:
            raise InvitationStateError(self.status, f"An invitation that is {self.status} cannot expire.")
        for name, value in expired_fields(now).items():
            setattr(self, name, value)

    def accept(self, now: datetime, by: dict[str, str], *, customer_id: str | None = None, company_created: bool = False) -> None:
        """Accepted by the signed-in invitee, into `customer_id` (the company it created or joined).

        `company_created`: the invitee created the company while the link was valid; an expiry landing between that
        and this mark must not leave the acceptance half-done, so an expired invitation is accepted too. A revoked
        one never is.
        """
        status = self.effective_status(now)
        allowed = status == InvitationStatus.PENDING or (company_created and status == InvitationStatus.EXPIRED)
        if not allowed:
            raise InvitationStateError(status, f"An invitation that is {status} cannot be accepted.")
        self.status = InvitationStatus.ACCEPTED
        self.accepted_at = now
        self.accepted_by = by
        self.updated_at = now
        if customer_id is not None:
            self.customer_id = customer_id

    def release(self, now: datetime) -> None:
        """Undo an acceptance whose company side was refused (the consent it rested on was gone): Pending again, so the
        link works once the consent is back, and expiry applies as before."""
        if self.status != InvitationStatus.ACCEPTED:
            raise InvitationStateError(self.status, f"An invitation that is {self.status} has no acceptance to undo.")
        self.status = InvitationStatus.PENDING
        self.accepted_at = None
        self.accepted_by = None
        self.updated_at = now

    def record_email(self, status: EmailStatus, error: str | None = None, *, sent_at: datetime | None = None,
                     detail: StatusDetail | None = None) -> None:
        """What became of the invitation's email: partners read it as emailStatus (and emailError, emailStatusDetail)."""
        if sent_at is not None:
            self.email_sent_at = sent_at
        if status in (EmailStatus.SENT, EmailStatus.QUEUED) and self.email_status in REPORTED:
            return  # its delivery report came back before the send was recorded: the report says more
        self.email_status, self.email_error = status, error
        if detail is not None:
            self.email_status_detail = detail

    def record_delivery(self, detail: StatusDetail) -> bool:
        """A delivery report of this invitation's current email; False when it is not newer than what is recorded
        (Event Grid repeats reports and mixes their order: a duplicate changes nothing, an older one never wins)."""
        if self.email_status in (EmailStatus.NOT_REQUESTED, EmailStatus.QUEUED) or not supersedes(detail, self.email_status_detail):
            return False
        status = EmailStatus(detail.status)
        self.email_status, self.email_status_detail = status, detail
        self.email_error = None if status == EmailStatus.DELIVERED else (detail.reason or status.value)
        return True

    def record_earlier_delivery(self, detail: StatusDetail) -> bool:
        """A late report of an email a resend superseded: kept for the trail (never the invitation's emailStatus)."""
        return _keep_report(self, "earlier_emails", detail)

    def record_reminder_delivery(self, detail: StatusDetail) -> bool:
        """A delivery report of one of its reminders, for the trail; False when not newer than what that reminder has."""
        return _keep_report(self, "reminder_reports", detail)

    def queue_email(self) -> None:
        """A fresh send of the invitation's email is on its way (create or resend)."""
        self.email_status, self.email_error, self.email_attempts = EmailStatus.QUEUED, None, 0
        self.email_status_detail = None

    def claim_send(self, now: datetime | None = None, operation_id: str | None = None) -> bool:
        """Take this email for sending; False when there is nothing to send (sent or reported, failed, not asked, not
        pending) or another delivery claimed it less than SEND_CLAIM ago (two copies of one queue message never both
        send; a claim whose sender died is taken over after that). The operation id is stored: reports name it."""
        if self.email_status not in (EmailStatus.QUEUED, EmailStatus.SENDING) or self.status != InvitationStatus.PENDING:
            return False
        if (self.email_status == EmailStatus.SENDING and now is not None and self.email_claimed_at is not None
                and now - self.email_claimed_at < SEND_CLAIM):
            return False
        self.email_status, self.email_attempts, self.email_claimed_at = EmailStatus.SENDING, self.email_attempts + 1, now
        if operation_id is not None:
            self.email_operation_id = operation_id
        return True


    # -- the reminder ------------------------------------------------------------
    def reminder_at(self) -> datetime | None:
        """When the reminder index should bring this invitation to the timer next; None: nothing to remind.

        Before the reminder is claimed: REMIND_BEFORE_EXPIRY before expiry (a link living no longer than that gets
        none: its invitation email is as recent as a reminder would be). Claimed but not yet sent: REMINDER_RETRY
        after the claim, so a reminder lost between claim and send is queued again, never silently dropped.
        """
        if not self.remind or self.status != InvitationStatus.PENDING:
            return None
        if self.reminder_status in (ReminderStatus.QUEUED, ReminderStatus.SENDING) and self.reminder_claimed_at is not None:
            return self.reminder_claimed_at + REMINDER_RETRY
        upcoming = self._next_reminder()
        return upcoming[1] if upcoming else None

    def _next_reminder(self) -> tuple[int, datetime] | None:
        """The next offset not yet taken (its index and when it is due). An offset the link does not outlive is skipped:
        its invitation email is as recent as that reminder would be."""
        for index in range(self.reminders_taken, len(self.remind_before)):
            offset = timedelta(days=self.remind_before[index])
            if timedelta(days=self.expires_in_days) > offset:
                return index, self.expires_at - offset
        return None

    def take_reminder(self, now: datetime, max_attempts: int) -> str | None:
        """The timer claims a due reminder: "first" (remindedAt set now), "again" (a claimed one not sent in time),
        "failed" (queued `max_attempts` times without a send: given up, visibly), or None when nothing is due."""
        due = self.reminder_at()
        if due is None or due > now:
            return None
        if self.reminder_status not in (ReminderStatus.QUEUED, ReminderStatus.SENDING):
            index, _ = self._next_reminder()  # type: ignore[misc]  (due, so there is one)
            self.reminded_at, self.reminders_taken, self.reminder_attempts, taken = now, index + 1, 0, "first"
        elif self.reminder_attempts >= max_attempts:
            self.record_reminder(ReminderStatus.FAILED, f"Not delivered after {self.reminder_attempts} attempts.", now)
            return "failed"
        else:
            taken = "again"
        self.reminder_status, self.reminder_error, self.reminder_claimed_at = ReminderStatus.QUEUED, None, now
        self.reminder_attempts += 1
        return taken

    def claim_reminder_send(self, now: datetime) -> bool:
        """Take the reminder for sending (as `claim_send` does for the invitation email): never two sends at once."""
        if self.status != InvitationStatus.PENDING or self.reminder_status not in (ReminderStatus.QUEUED, ReminderStatus.SENDING):
            return False
        if (self.reminder_status == ReminderStatus.SENDING and self.reminder_claimed_at is not None
                and now - self.reminder_claimed_at < SEND_CLAIM):
            return False
        self.reminder_status, self.reminder_claimed_at = ReminderStatus.SENDING, now
        return True

    def record_reminder(self, status: ReminderStatus, error: str | None, now: datetime) -> None:
        """What became of the reminder's send (Queued again after throttling, Sent, Failed with the reason)."""
        self.reminder_status, self.reminder_error, self.reminder_claimed_at = status, error, now
        if status == ReminderStatus.SENT:
            self.reminders_sent_at = [*self.reminders_sent_at, now]

    def mark_journey(self, step: str, now: datetime) -> bool:
        """The invitee's first `opened`, `signedIn` or `wrongAccount` on a pending invitation; False: nothing new."""
        field = {"opened": "opened_at", "signedIn": "signed_in_at", "wrongAccount": "wrong_account_at"}[step]
        if self.status != InvitationStatus.PENDING or getattr(self, field) is not None:
            return False
        setattr(self, field, now)
        if step == "signedIn" and self.opened_at is None:
            self.opened_at = now  # signed in from a GET of the sign-in link: it was opened, by the invitee
        return True

# What an invitation that replaces another keeps of it (the rest is the changed invitee's, or starts afresh).
CARRIED_OVER = ("partner_id", "partner_name", "kind", "country_region", "roles", "company", "customer_id", "indirect_provider_id",
                "indirect_provider_name", "message", "expires_in_days", "ask_agreement_acceptance", "email", "first_name",
                "last_name", "language", "agreement", "remind", "remind_before")

SEND_CLAIM = timedelta(minutes=10)  # far longer than one send (SMTP/ACS time out within a minute)
EMAIL_HISTORY = 10  # resends and reminders kept on the trail: a row stays small however often it is resent


def _keep_report(inv: Invitation, field: str, detail: StatusDetail) -> bool:
    """Put a report in one of the trail's lists, by messageId, when it supersedes what that email has (monotonic)."""
    kept: list[StatusDetail] = getattr(inv, field)
    current = next((d for d in kept if d.message_id == detail.message_id), None)
    if not supersedes(detail, current):
        return False
    setattr(inv, field, [*(d for d in kept if d.message_id != detail.message_id), detail][-EMAIL_HISTORY:])
    return True


def expired_fields(now: datetime) -> dict[str, Any]:
    """What expiring changes on an invitation: the one rule, used by `expire` and by the sweep that writes it blind."""
    return {"status": InvitationStatus.EXPIRED, "expired_at": now, "updated_at": now}


def event_fields(inv: Invitation) -> dict[str, Any]:
    """What an event about an invitation says: ids, reference, status and times, never the invitee's details."""
    return {"reference": inv.reference, "kind": inv.kind.value, "status": inv.status.value, "customerId": inv.customer_id,
            "emailStatus": inv.email_status.value, "expiresAt": inv.expires_at.isoformat(), "resource": f"invitations/{inv.reference}"}
