"""Delivery reports: what became of an email after the mail service took it, in one vocabulary for every kind.

Azure Communication Services publishes `Microsoft.Communication.EmailDeliveryReportReceived` through an Event Grid
system topic; its `messageId` is the Operation-Id the app chose when it sent (`notifications.queue` tracks every send
under that id in `SentEmails`: which kind, and where the kind keeps its record). Applying a report finds the email by
that id and lets its kind record the status where partners read it. Event Grid delivers at least once and in any
order, so a report changes a record only when it is newer (`supersedes`): a duplicate changes nothing and an older
report never overwrites a newer one. A report for an id nobody sent is logged and dropped: retrying cannot help.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from notifications.sender import acs_operation_id
from shared import telemetry
from shared.context import Context
from shared.errors import RuleBroken
from shared.storage import ConcurrencyConflict, Op, Repository, Row
from shared.uow import retrying

log = logging.getLogger(__name__)

EVENT_TYPE = "Microsoft.Communication.EmailDeliveryReportReceived"
REASON_LENGTH = 300  # the provider's words, trimmed: enough to act on, never a whole bounce message


class DeliveryStatus(StrEnum):
    """The statuses ACS reports (`Expanded`: a distribution list was expanded; its members report on their own)."""

    DELIVERED = "Delivered"
    BOUNCED = "Bounced"
    SUPPRESSED = "Suppressed"
    QUARANTINED = "Quarantined"
    FILTERED_SPAM = "FilteredSpam"
    FAILED = "Failed"
    EXPANDED = "Expanded"


# What the partner should do about each outcome (None: nothing).
ADVICE: dict[DeliveryStatus, str | None] = {
    DeliveryStatus.DELIVERED: None,
    DeliveryStatus.BOUNCED: "fix-address",  # a hard bounce: the address does not exist
    DeliveryStatus.QUARANTINED: "ask-customer-to-allow-sender",  # held by the customer's tenant
    DeliveryStatus.FILTERED_SPAM: "ask-customer-to-check-junk",  # delivered to the junk folder
    DeliveryStatus.SUPPRESSED: "address-suppressed",  # earlier bounces or complaints: the service no longer sends there
    DeliveryStatus.FAILED: "retry-later",  # a soft failure
}
# Two reports with the same time: the worse one wins, whichever arrives first (the order must not decide).
_RANK = {"Delivered": 0, "FilteredSpam": 1, "Quarantined": 2, "Failed": 3, "Suppressed": 4, "Bounced": 5}
FAILURES = frozenset(s for s in ADVICE if s != DeliveryStatus.DELIVERED)


class StatusDetail(BaseModel):
    """`emailStatusDetail`: the provider's words, the advice code, when, and the operation id the report named."""

    model_config = ConfigDict(populate_by_name=True)
    reason: str | None = Field(default=None, description="The mail service's words, trimmed.")
    advice: str | None = Field(default=None, description="What to do: fix-address, ask-customer-to-allow-sender, "
                                                         "ask-customer-to-check-junk, address-suppressed, retry-later.")
    at: datetime = Field(description="When the mail service tried to deliver it (or the app tried to send it).")
    message_id: str = Field(validation_alias="messageId", serialization_alias="messageId",
                            description="The email's operation id (ACS Operation-Id and messageId).")
    status: str | None = Field(default=None, description="The status this detail explains.")

    def key(self) -> tuple[datetime, int]:
        return self.at, _RANK.get(self.status or "", 0)


class BadReport(RuleBroken):
    """The event is not a delivery report the app can read (logged and dropped by the function, never retried)."""


@dataclass(frozen=True)
class DeliveryReport:
    message_id: str
    status: DeliveryStatus
    reason: str | None
    at: datetime

    def detail(self) -> StatusDetail:
        return StatusDetail(reason=self.reason, advice=ADVICE.get(self.status), at=self.at, message_id=self.message_id,
                            status=self.status.value)


def read_report(data: Any) -> DeliveryReport:
    """The report in an event's `data` (ACS's shape); BadReport when it is not one."""
    if not isinstance(data, dict):
        raise BadReport("the event's data is not an object")
    message_id, status, at = data.get("messageId"), data.get("status"), data.get("deliveryAttemptTimestamp")
    if not isinstance(message_id, str) or not message_id.strip():
        raise BadReport("no messageId")
    try:
        parsed_status = DeliveryStatus(status)
    except ValueError:
        raise BadReport(f"unknown status {status!r}") from None
    try:
        when = datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    except ValueError:
        raise BadReport(f"deliveryAttemptTimestamp {at!r} is not a time") from None
    details = data.get("deliveryStatusDetails")
    reason = details.get("statusMessage") if isinstance(details, dict) else None
    reason = " ".join(str(reason).split())[:REASON_LENGTH] if reason else None
    return DeliveryReport(message_id.strip(), parsed_status, reason,
                          when if when.tzinfo else when.replace(tzinfo=timezone.utc))


def supersedes(new: StatusDetail, current: StatusDetail | None) -> bool:
    """Whether `new` may replace `current`: a later attempt, or at the same time a worse status. Equal: a duplicate."""
    return current is None or new.key() > current.key()


# -- which email an operation id names ----------------------------------------------------------------------------
class SentEmail(Row):
    """One send, found by its operation id: which kind it was, where the kind keeps its record, what was reported."""

    operation_id: str = Field(validation_alias="operationId", serialization_alias="operationId")
    kind: str
    where: dict[str, str] = Field(default_factory=dict)  # the kind's keys (partner, row); never an address or content
    detail: StatusDetail | None = None


class SentEmails(Repository[SentEmail]):
    table = "SentEmails"
    model = SentEmail

    def keys(self, row: SentEmail) -> tuple[str, str]:
        return key_of(row.operation_id), ""


def key_of(operation_id: str) -> str:
    """The id ACS knows an email by (and reports as messageId); the local relay reports the same."""
    return acs_operation_id(operation_id)


def track(ctx: Context, kind: str, operation_id: str, where: dict[str, str]) -> None:
    """Remember a send before it happens, so its report finds it (a repeat of the same send writes the same row)."""
    ctx.store(SentEmails).upsert(SentEmail(operation_id=operation_id, kind=kind, where=where))


def keep_on_row(rows: Repository[Any], keys: tuple[str, str], field: str, detail: StatusDetail,
                belongs: Callable[[Any], bool] = lambda row: True) -> bool:
    """A kind whose report is one field of one row (no event, no count goes with it): set it under the row's ETag when
    the row is still this email's (`belongs`) and the report is newer (`supersedes`); read again on a concurrent change."""

    def once() -> bool:
        found = rows.read(*keys)
        if found is None or not belongs(found[0]) or not supersedes(detail, getattr(found[0], field)):
            return False
        row, etag = found
        setattr(row, field, detail)
        rows.transact([Op("update", row, etag=etag)])
        return True

    return retrying(once)


Recorder = Any  # an EmailKind; typed loosely to keep this module below notifications.queue


def apply(ctx: Context, report: DeliveryReport, kinds: dict[str, Recorder]) -> str:
    """Apply one report: "applied", "unchanged" (a duplicate or older report) or "unknown" (dropped)."""
    emails = ctx.store(SentEmails)
    sent = emails.get(key_of(report.message_id), "")
    if sent is None or sent.kind not in kinds:
        log.warning("delivery report %s for message %s, which this app did not send: dropped", report.status, report.message_id)
        telemetry.count("emails.reports", reason="unknown")
        return "unknown"
    detail = report.detail()
    # The kind's own record first: it is what partners read, and its own check keeps it monotonic; a crash after it
    # leaves this row behind, which the redelivered report then brings up to date.
    changed = kinds[sent.kind].report(ctx, sent.where, sent.operation_id, detail)
    if supersedes(detail, sent.detail):
        sent.detail = detail
        try:
            emails.transact([Op("update", row=sent)])
        except ConcurrencyConflict:
            pass  # another report landed meanwhile; the kind's record decided already
        changed = True
    outcome = "applied" if changed else "unchanged"
    telemetry.count("emails.reports", reason=outcome)
    log.info("delivery report %s for %s %s: %s", report.status, sent.kind, sent.operation_id, outcome)
    return outcome
