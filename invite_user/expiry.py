"""The expiry sweep: pending invitations past `expiresAt` become Expired.

Its cost grows with the invitations that expire, not with those stored: it reads each partner's expiry
index up to now (one query per partner with anything stored) and writes in transactions of 33.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from invite_user.invitations import InvitationStatus
from invite_user.repository import ExpiryEntry, InvitationStore, partner_partition
from partners.registry import PartnerRepository
from shared import telemetry
from shared.audit import AuditRecord, audit
from shared.context import Context

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    partners: int = 0
    due: int = 0
    expired: int = 0


def _record(entry: ExpiryEntry) -> AuditRecord:
    return audit(partner_partition(entry.partner_id), "invitation.expired", "expiry timer",
                 before={"status": InvitationStatus.PENDING.value, "reference": entry.link_hash},
                 after={"status": InvitationStatus.EXPIRED.value, "reference": entry.link_hash})


def sweep(ctx: Context) -> SweepResult:
    """Safe to run twice or concurrently: an index row already consumed makes its transaction fail, harmlessly."""
    now = ctx.now()
    store = ctx.store(InvitationStore)
    result = SweepResult()
    for partner_id in ctx.store(PartnerRepository).all_ids():
        result.partners += 1
        due = store.due_for_expiry(partner_id, now)
        if not due:
            continue
        result.due += len(due)
        expired = store.expire(due, now, _record)
        telemetry.count("invitations.expired", expired, partner_id=partner_id)
        result.expired += expired
    return result
