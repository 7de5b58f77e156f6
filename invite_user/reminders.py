"""Reminders: an invitation still pending REMIND_BEFORE days before its link expires (7 and 1 by default) gets a
reminder email at each, once, with the same link.

The timer (`sweep`) reads each partner's reminder index up to now (`r|` rows, filed by the unit of work from
`Invitation.reminder_at`), so its cost follows what is due. For each due invitation it claims the reminder in the
invitation's row, under its ETag, in ONE transaction: `remindedAt`, reminder Queued, the index row moved to a retry
mark, an audit record and the `invitation.reminded` event. Then it queues the email on the one email queue (the
message also carries the event's announcement). Two timers, or one run twice, never both claim: the second meets a
changed ETag, re-reads, and finds nothing due.

Nothing between claim and send can lose the reminder: until the send is recorded, the invitation stays on the
reminder index under a retry mark REMINDER_RETRY after its claim, so a later run queues it again (a process that died
before queueing, a lost message). The send itself is claimed once on the invitation (as invitation emails are), so a
second message never sends twice (sending, throttling and poison are the one delivery mechanism's,
`notifications.queue`). A reminder queued EMAIL_MAX_ATTEMPTS times without a send, rejected, throttled too
often or poisoned is recorded as `reminderStatus: Failed` with `reminderError`, which partners read.

The link: only a hash of a link id is stored, so the id itself is kept sealed (AES-GCM, a key derived from
SESSION_SECRET, bound to the link hash) on the invitation when `remind` is set; the table alone never yields a link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from invite_user.delivery import change_for_message, email_context, redeem_url
from invite_user.invitations import Invitation, ReminderStatus, event_fields
from invite_user.records import change_record
from invite_user.repository import (
    TABLE,
    InvitationStore,
    InvitationUnitOfWork,
    ReminderEntry,
    index_rows,
    keys_of,
    link_row_key,
    partner_partition,
)
from notifications import queue
from notifications.emails import render_email
from notifications.reports import StatusDetail
from notifications.sender import EmailMessage
from partners.registry import PartnerRepository
from shared import events, telemetry
from shared.context import Context
from shared.errors import Busy
from shared.settings import get_settings
from shared.storage import ConcurrencyConflict, Op, Storage, StorageUnavailable, chunks
from shared.uow import attempt

log = logging.getLogger(__name__)

KIND = "invitation-reminder"
EMAIL_KIND = "InvitationReminder"
ACTOR = "reminder timer"
_OPS = uuid.UUID("0c7d2e9a-41b6-4f3e-b8d5-7a9e6c1f2b34")
ITEMS_PER_MESSAGE = 32


# -- the sealed link --------------------------------------------------------------------------------------------
def _key() -> bytes:
    secret = (get_settings().session_secret or "local-only").encode()
    return hmac.new(secret, b"invitation-link-seal", hashlib.sha256).digest()


def seal_link(link_id: str, link_hash: str) -> str:
    """The link id encrypted for the reminder; bound to its invitation's link hash (another row cannot open it)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # loaded when an invitation is created, not at start

    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(_key()).encrypt(nonce, link_id.encode(), link_hash.encode())).decode()


def open_link(inv: Invitation) -> str | None:
    """The link id sealed on the invitation, or None (none kept, or not this invitation's: its link was replaced)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not inv.link_seal:
        return None
    try:
        raw = base64.b64decode(inv.link_seal)
        return AESGCM(_key()).decrypt(raw[:12], raw[12:], inv.link_hash.encode()).decode()
    except (InvalidTag, ValueError):
        return None


def operation_id(inv: Invitation) -> str:
    """Each reminder once per life of the link (a resend restarts them): the provider sees a repeated send as the same one.
    The first keeps the id it had when there was one reminder, so a message queued before stays recognised."""
    round_ = f":{inv.reminders_taken}" if inv.reminders_taken > 1 else ""
    return str(uuid.uuid5(_OPS, f"{inv.link_hash}:{inv.resent_count}{round_}"))


# -- the timer --------------------------------------------------------------------------------------------------
@dataclass
class ReminderSweep:
    partners: int = 0
    due: int = 0
    reminded: int = 0  # claimed for the first time (remindedAt, event)
    requeued: int = 0  # claimed before, not sent in time: queued again
    failed: int = 0  # given up on (queued too often without a send)


def sweep(ctx: Context) -> ReminderSweep:
    """Safe to run twice or concurrently: a reminder is claimed under the invitation's ETag, once."""
    now = ctx.now()
    max_attempts = ctx.settings.email_max_attempts
    store = ctx.store(InvitationStore)
    result = ReminderSweep()
    for partner_id in ctx.store(PartnerRepository).all_ids():
        result.partners += 1
        due = store.due_reminders(partner_id, now)
        if not due:
            continue
        result.due += len(due)
        to_queue: list[Invitation] = []
        for entry in due:
            taken = _take(ctx, entry, now, max_attempts)
            if taken is None:
                continue
            inv, how = taken
            if how == "failed":
                result.failed += 1
                continue
            result.reminded += how == "first"
            result.requeued += how == "again"
            to_queue.append(inv)
        if to_queue:
            telemetry.count("invitations.reminded", len(to_queue), partner_id=partner_id)
            queue_reminders(ctx, to_queue)
    return result


class _ClaimUnit(InvitationUnitOfWork):
    """The claim's unit of work: its event is announced by the reminders' queue message (one request for the whole
    run, as create does); a message that never leaves is made up for by the webhooks sweep."""

    def storage_for_events(self) -> Storage | None:
        return None


def _take(ctx: Context, entry: ReminderEntry, now: datetime, max_attempts: int) -> tuple[Invitation, str] | None:
    """Claim one due reminder in ONE transaction under the invitation's ETag; None when nothing is (any longer) due."""

    def work(uow: InvitationUnitOfWork) -> tuple[Invitation, str] | None:
        inv = uow.get(entry.partner_id, link_row_key(entry.link_hash))
        if inv is None or keys_of(entry)[1] not in index_rows(inv):
            _drop_stale(uow, entry)
            return None
        before = {"status": inv.status, "reminderStatus": inv.reminder_status, "remindedAt": inv.reminded_at}
        how = inv.take_reminder(now, max_attempts)
        if how is None:
            return None
        after = {"reminderStatus": inv.reminder_status, "remindedAt": inv.reminded_at}
        action = {"first": "invitation.reminded", "again": "invitation.reminder-requeued", "failed": "invitation.reminder-failed"}[how]
        uow.save(inv, change_record(inv, action, ACTOR, before, **after))
        if how == "first":
            uow.event("invitation.reminded", inv.partner_id, **event_fields(inv), remindedAt=inv.reminded_at.isoformat())  # type: ignore[union-attr]
        return inv, how

    try:
        return attempt(lambda: ctx.unit(_ClaimUnit), work)
    except (Busy, StorageUnavailable) as exc:
        log.warning("reminder of %s not claimed this run (the next run retries): %s", entry.link_hash, exc)
        return None


def _drop_stale(uow: InvitationUnitOfWork, entry: ReminderEntry) -> None:
    """An index row its invitation no longer needs (another timer moved it meanwhile: then it is gone already)."""
    try:
        uow.store.reminders.transact([Op("delete", keys=keys_of(entry), etag=entry.etag)])
    except ConcurrencyConflict:
        pass


def queue_reminders(ctx: Context, invitations: list[Invitation]) -> None:
    """Queue claimed reminders; the message announces their events. A queue outage loses nothing: the retry mark
    brings each back to a later run."""
    outbox = events.hints([(TABLE, partner_partition(inv.partner_id)) for inv in invitations])
    for chunk in chunks(invitations, ITEMS_PER_MESSAGE):
        payload: dict[str, Any] = {"type": KIND, "outbox": outbox, "items": [
            {"partnerId": inv.partner_id, "rowKey": link_row_key(inv.link_hash), "operationId": operation_id(inv)} for inv in chunk]}
        try:
            queue.send(ctx, payload)
            outbox = []  # announced once
        except StorageUnavailable as exc:
            log.warning("%d reminders not queued (a later run queues them again): %s", len(chunk), exc)


# -- the email --------------------------------------------------------------------------------------------------
def reminder_email(inv: Invitation, link_id: str) -> EmailMessage:
    """The reminder in the invitee's language: the same link, and the date it expires."""
    rendered = render_email(EMAIL_KIND, inv.language, email_context(inv, redeem_url(link_id)))
    return rendered.to_message(str(inv.email), f"{inv.first_name} {inv.last_name}")


def _change(ctx: Context, item: dict[str, Any], change: Any) -> Invitation | None:
    """Apply `change(inv)` (True: save it) to the item's invitation while it still expects this reminder."""
    return change_for_message(ctx, item, operation_id, change)


class ReminderEmail(queue.EmailKind):
    """The reminder as the one delivery mechanism sends it: claimed once on the invitation, its outcome recorded there
    (reminderStatus, reminderError) while the invitation still expects it."""

    kind = KIND

    def claim(self, ctx: Context, item: dict[str, Any]) -> queue.Claimed | str | None:
        inv = _change(ctx, item, lambda inv: inv.claim_reminder_send(ctx.now()))
        if inv is None:
            return None
        link_id = open_link(inv)
        if link_id is None:
            return "The invitation's link could not be recovered; resend it."
        return queue.Claimed(reminder_email(inv, link_id), subject=inv)

    def record(self, ctx: Context, item: dict[str, Any], outcome: queue.Outcome) -> bool:
        status = {queue.REQUEUED: ReminderStatus.QUEUED, queue.SENT: ReminderStatus.SENT}.get(outcome.state, ReminderStatus.FAILED)
        # A poisoned message claimed nothing: its reminder may still be Queued (never claimed) as well as Sending.
        expected = (ReminderStatus.QUEUED, ReminderStatus.SENDING) if outcome.cause == "poisoned" else (ReminderStatus.SENDING,)

        def change(inv: Invitation) -> bool:
            if inv.reminder_status not in expected:
                return False
            inv.record_reminder(status, outcome.reason, outcome.at)
            return True

        try:
            changed = _change(ctx, item, change) is not None
        except StorageUnavailable:
            # Left Sending: its retry mark brings it back; the provider sees the same operation id.
            log.warning("could not record reminder status %s on %s", status, item["rowKey"])
            return False
        if outcome.state == queue.SENT and isinstance(outcome.subject, Invitation):
            log.info("reminder %s sent (operation %s)", outcome.subject.reference, item["operationId"])
        return changed

    def where(self, item: dict[str, Any]) -> dict[str, str]:
        return {"partnerId": item["partnerId"], "rowKey": item["rowKey"]}

    def report(self, ctx: Context, where: dict[str, str], operation: str, detail: StatusDetail) -> bool:
        """A reminder's delivery report, kept on its invitation for the trail (whichever round it was: a later reminder
        does not make an earlier one's report less true). Sends tracked before reminders had a `where` find nothing."""
        if "rowKey" not in where:
            return False

        def work(uow: InvitationUnitOfWork) -> bool:
            inv = uow.get(where["partnerId"], where["rowKey"])
            if inv is None or not inv.record_reminder_delivery(detail):
                return False
            uow.save(inv)
            return True

        return attempt(lambda: ctx.unit(InvitationUnitOfWork), work)


queue.register(ReminderEmail())
