"""Changing a pending invitation's invitee: a new invitation with a new link takes the old one's place, in one transaction.

The old invitation becomes `Replaced` (naming its successor, `replacedBy`) and the new one, pending, with a new link id,
a fresh expiry and everything else carried over (naming what it `replaces`), is added in the same entity-group
transaction of the partner's partition, with the audit record (before and after) and the `invitation.replaced` event.
So the old link's own row says at once that it was replaced: its landing page stays one read. The new link's pointer
rows are written first, as create writes them; the old agreement pointer is deleted after the commit (a replaced
invitation never matches a resend request anyway: that rule wants a pending or expired one).

Two agents cannot overwrite each other: the change names the version it was decided on (If-Match, the ETag of GET).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from invite_user import delivery, reminders
from invite_user.api_models import InvitationOut, InviteeChange, present
from invite_user.delivery import redeem_url
from invite_user.invitations import EmailStatus, Invitation, InvitationStatus, link_hash, new_invitation_id, partner_tag
from invite_user.records import replaced_record
from invite_user.repository import AgreementPointer, InvitationStore, InvitationUnitOfWork, LinkPointer, keys_of, link_row_key
from invite_user.service import _load, actor, authorize, version_tag
from partners.service import partner_of
from shared import conditional
from shared.context import Context
from shared.errors import Busy, Conflict, PreconditionFailed
from shared.partner_auth import Caller
from shared.storage import ConcurrencyConflict, StorageUnavailable
from shared.uow import attempt

log = logging.getLogger(__name__)


@dataclass
class _Outcome:
    old: Invitation
    answer: Invitation  # the new invitation, or the old one when nothing changed
    tag: str  # the answer's ETag
    raw: str | None  # the answer's link id, when known


def change_invitee(ctx: Context, caller: Caller, handle: str, change: InviteeChange, if_match: str) -> tuple[InvitationOut, str]:
    """Replace a pending invitation by one for the changed invitee; returns the new invitation and its ETag.

    `if_match`: the If-Match header, naming the ETag the caller decided on (`*`: whatever is there). A change that
    changes nothing writes nothing and answers with the invitation as it is. A keyed retry whose first run committed answers from what it committed.
    """
    raw_new = new_invitation_id(caller.partner_id)  # once, outside the retries: a keyed retry derives this same link
    new_hash = link_hash(raw_new)

    def work(uow: InvitationUnitOfWork) -> _Outcome:
        old, raw_old = _load(ctx, uow, caller, handle)
        now = ctx.now()
        if old.status == InvitationStatus.REPLACED and old.replaced_by == new_hash:
            new = uow.by_link(partner_tag(old.partner_id) + new_hash)
            if new is None:
                raise Busy("The invitation is changing right now; retry.")
            return _Outcome(old, new, version_tag(new, now), raw_new)
        if not conditional.matches(if_match, version_tag(old, now)):
            raise PreconditionFailed("The invitation changed since you read it (another agent's change, a resend, a revoke, "
                                     "its expiry). Read it again (GET) and decide on what it is now.")
        status = old.effective_status(now)
        if status != InvitationStatus.PENDING:
            raise Conflict(f"Only a pending invitation's invitee can be changed; this one is {status}.",
                           code=f"invitation-{status.value.lower()}", title="The invitation is not pending")
        changes = change.changes(old)
        if not changes:
            return _Outcome(old, old, version_tag(old, now), raw_old)
        if old.customer_id:  # as if it were invited now: its kind's row of the policy, with the standing held now
            authorize(ctx, caller, partner_of(ctx, caller), old)
        send = change.send_email if change.send_email is not None else old.email_status != EmailStatus.NOT_REQUESTED
        new = old.successor(now, new_hash, actor(caller), caller.name or old.inviter_name, send_email=send, **changes)
        new.link_seal = reminders.seal_link(raw_new, new_hash)  # its reminder carries the new link
        _point(uow.store, new)
        record = replaced_record(old, new, caller.display)
        old.replace(now, actor(caller), new.reference)
        uow.save(old, record)
        uow.add(new)
        uow.event("invitation.replaced", old.partner_id, reference=old.reference, kind=old.kind.value, status=old.status.value,
                  customerId=old.customer_id, replacedBy=new.reference, resource=f"invitations/{old.reference}")
        return _Outcome(old, new, version_tag(new, now), raw_new)

    outcome = attempt(lambda: ctx.unit(InvitationUnitOfWork), work, busy="The invitation is changing right now; retry.")
    new = outcome.answer
    if new is not outcome.old:
        if new.email_status == EmailStatus.QUEUED:  # again on a retry: a second copy is skipped by the send's claim
            delivery.queue_emails(ctx, [(new, raw_new)])
        _unpoint_agreement(ctx.store(InvitationStore), outcome.old)
    raw = outcome.raw
    return present(new, raw_id=raw, redeem_url=redeem_url(raw) if raw else None, now=ctx.now()), outcome.tag


def _point(store: InvitationStore, inv: Invitation) -> None:
    """The new link's pointer rows, as create writes them: before the partner's transaction (one left by a transaction
    that then failed leads to nothing and reads as not found)."""
    store.pointers.upsert(LinkPointer(partner_id=inv.partner_id, row_key=link_row_key(inv.link_hash), link_hash=inv.link_hash))
    if inv.agreement:
        store.agreements.upsert(_agreement_pointer(inv))


def _agreement_pointer(inv: Invitation) -> AgreementPointer:
    assert inv.agreement
    return AgreementPointer(agreement_number=inv.agreement.agreement_number,
                            purchasing_account_number=inv.agreement.purchasing_account_number,
                            link_hash=inv.link_hash, partner_id=inv.partner_id, row_key=link_row_key(inv.link_hash))


def _unpoint_agreement(store: InvitationStore, old: Invitation) -> None:
    """The replaced invitation's agreement pointer goes: a resend request for that agreement then reads only the new one.
    Left behind (storage failed here), it leads to a replaced invitation, which no resend request matches."""
    if not old.agreement:
        return
    try:
        store.agreements.delete(*keys_of(_agreement_pointer(old)))
    except (StorageUnavailable, ConcurrencyConflict) as exc:
        log.warning("the agreement pointer of replaced invitation %s stays (%s); it matches nothing", old.reference[:8], exc)
