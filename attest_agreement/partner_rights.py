"""The customer's side of its relationships: see each partner's rights, remove a partner's admin rights, end a relationship.

Who may: the customer's account administrators and its primary contact (`is_customer_admin`, the same people who consent
to a relationship). What it does, by the rules of `relationships` (seed 002's removal, made by the customer):
- **Remove admin rights**: DAP removed; the relationship stays active (the partner may still transact), GDAP kept. The
  policy's rows that need DAP (inviting company users, reading them) refuse the partner from the next request on.
- **End the relationship**: Removed, DAP removed, GDAP kept, the customer off the partner's list; every customer route of
  the partner answers 404.
Each is one transaction of the customer's partition: the relationship, its audit record (before and after) and the
event the partner hears (`relationship.adminRightsRemovedByCustomer` / `relationship.removedByCustomer`). The partner is
emailed (at its registered contact address) and the acting person gets a confirmation: queued just before the commit,
each sent while its own row committed with the change says it is owed (then deleted), so no failure loses them, a copy of
the queue message sends nothing twice, and a change that never committed sends nothing. Sending, throttling, attempts,
poison and the failure record are the one delivery mechanism's (`notifications.queue`, `PartnerRightsEmail`).
A form rendered before someone else's change (`version_of`) changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from attest_agreement import relationships
from attest_agreement.customer_events import relationship_fields
from attest_agreement.customers import CompanyUser, Customer, RelationshipStatus, ResellerRelationship, UnsentEmails, member
from attest_agreement.direct_acceptance import customer_admin
from attest_agreement.repository import CustomerStore, CustomerUnitOfWork
from attest_agreement.steps import dump
from notifications import queue
from notifications.emails import render_email
from notifications.sender import EmailMessage
from partners.registry import PartnerRepository
from shared.authorization import Action
from shared.context import Context
from shared.errors import Forbidden, NotFound, Refused
from shared.settings import get_settings
from shared.uow import attempt

log = logging.getLogger(__name__)

REMOVE_ADMIN_RIGHTS = "admin_rights"
END_RELATIONSHIP = "ended"
EVENTS = {REMOVE_ADMIN_RIGHTS: "relationship.adminRightsRemovedByCustomer", END_RELATIONSHIP: "relationship.removedByCustomer"}
EMAIL_KIND = "PartnerRightsChanged"
KIND = "partner-rights-changed"  # the queue message: the emails of one change, sent while the change's row says they are owed
_EMAILS = uuid.UUID("5b0f0d3e-8f5e-4a40-9d55-0f7f1c2b9e61")
COMMIT_DELAY = 2  # seconds: the change's own transaction is committed by then, nearly always
REPLAY_LOOKBACK = 20  # audit records read to recognise a repeated form (newest first; the change is among the last few)
RECHECK_DELAY = 30  # seconds between looks at a change not committed yet (a few looks, then it is dropped)
COMMIT_WINDOW = timedelta(minutes=2)  # longer than any request's storage calls may take (3 s timeouts, 3 tries each)


@dataclass(frozen=True)
class CustomerAdmin:
    """The signed-in person acting for the customer, as plain values."""

    email: str
    subject: str
    name: str = ""


class PartnerChangeRefused(Refused):
    """Nothing was changed; `reason` (stale, gone, unknown) says why on the page."""

    def __init__(self, reason: str, detail: str, **values: str) -> None:
        super().__init__("partner", reason, detail, field="partnerId", **values)


def version_of(rel: ResellerRelationship) -> str:
    """What the partners page was rendered from: any change to the relationship since makes its forms stale."""
    seen = "|".join([rel.partner_id, rel.status.value, str(rel.dap.active), rel.created_at.isoformat()])
    return hashlib.sha256(seen.encode()).hexdigest()[:16]


def _admin(uow: CustomerUnitOfWork, person: CustomerAdmin) -> tuple[Customer, list[CompanyUser]]:
    customer = uow.customer()
    if customer is None:
        raise NotFound("No such company.")
    users = uow.users()
    if not customer_admin(customer, users, person.email, person.subject, Action.MANAGE_PARTNERS):
        raise Forbidden("Only an account administrator or the primary contact manages the company's partners.", code="not-a-customer-admin")
    return customer, users


def may_manage_partners(customer: Customer, users: list[CompanyUser], person: CustomerAdmin) -> bool:
    """Whether the person may see and take back the partners' rights (the people who consent for the customer)."""
    return customer_admin(customer, users, person.email, person.subject, Action.MANAGE_PARTNERS)


def partners_of(ctx: Context, customer_id: str, person: CustomerAdmin) -> tuple[Customer, list[CompanyUser], list[ResellerRelationship]]:
    """The company, its users and every relationship it has had (active first, then by partner name)."""
    uow = ctx.unit(CustomerUnitOfWork, customer_id)
    customer, users = _admin(uow, person)
    rels = sorted(uow.relationships(), key=lambda r: (r.status != RelationshipStatus.ACTIVE, r.partner_name.casefold()))
    return customer, users, rels


def take_back(ctx: Context, customer_id: str, person: CustomerAdmin, partner_id: str, what: str, version: str,
              now: datetime | None = None) -> ResellerRelationship:
    """Remove the partner's admin rights (`admin_rights`) or end the relationship (`ended`), and tell both sides."""
    if what not in EVENTS:
        raise PartnerChangeRefused("unknown", "Unknown change.")
    now = now or ctx.now()

    def work(uow: CustomerUnitOfWork) -> tuple[Customer, ResellerRelationship]:
        customer, users = _admin(uow, person)
        rel = uow.relationship(partner_id) if partner_id else None
        if rel is not None and _done_by_this_form(ctx, rel, person, what, version):
            if what == END_RELATIONSHIP:
                uow.index(rel, customer.name)  # the first attempt may have stopped before the partner's list
            return customer, rel  # its first answer was lost: the same answer again, its emails queued then
        if rel is None or rel.status != RelationshipStatus.ACTIVE or what == REMOVE_ADMIN_RIGHTS and not rel.dap.active:
            raise PartnerChangeRefused("gone", "This partner no longer has what you wanted to take back; nothing was changed.",
                                       partner=rel.partner_name if rel else "")
        if version != version_of(rel):
            raise PartnerChangeRefused("stale", "The relationship changed meanwhile; nothing was changed.", partner=rel.partner_name)
        before = dump(rel)
        if what == END_RELATIONSHIP:
            relationships.remove_relationship(rel, True, person.email, now)
        else:
            relationships.remove_admin_rights(rel, now)
        uow.save(rel)
        record = uow.record(EVENTS[what], person.email, before=before, after=rel)
        uow.event(EVENTS[what], rel.partner_id, **relationship_fields(rel))
        # Queued before the commit, each email sent only while its row committed with the change exists
        # (`PartnerRightsEmail`): a failure before the commit leaves a message that sends nothing, a failure after it
        # cannot lose the emails. A row per email: each is claimed and forgotten on its own (a throttled one later).
        _queue_emails(ctx, uow, users, customer, rel, person, what, record.id)
        uow.commit()
        if what == END_RELATIONSHIP:
            uow.index(rel, customer.name)  # off the partner's list (rewriting it on a retry is harmless)
        return customer, rel

    return attempt(lambda: ctx.unit(CustomerUnitOfWork, customer_id), work, busy="The company's partners are changing right now; retry.")[1]


def _done_by_this_form(ctx: Context, rel: ResellerRelationship, person: CustomerAdmin, what: str, version: str) -> bool:
    """Whether this person's form (rendered from `version`) made this change already: its audit record says so."""
    done = rel.status != RelationshipStatus.ACTIVE if what == END_RELATIONSHIP else not rel.dap.active
    if not done:
        return False
    for record in ctx.store(CustomerStore).audit_page(rel.customer_id, page_size=REPLAY_LOOKBACK).items:
        if record.action == EVENTS[what] and (record.before or {}).get("partnerId") == rel.partner_id:
            return record.actor == person.email and version_of(ResellerRelationship.model_validate(record.before)) == version
    return False


def _queue_emails(ctx: Context, uow: CustomerUnitOfWork, users: list[CompanyUser], customer: Customer, rel: ResellerRelationship,
                  person: CustomerAdmin, what: str, record_id: str) -> None:
    """The partner's email (at its contact address, in the language it registered) and the confirmation
    to the person who made the change, in their language; one queue message, each email naming the row that makes it owed."""
    settings = get_settings()
    me = member(users, person.email, person.subject)
    by_name = person.name or (f"{me.first_name} {me.last_name}".strip() if me else "") or person.email
    common = {"platform_name": settings.platform_name, "support_email": settings.support_email, "docs_url": settings.docs_url,
              "seller_name": rel.partner_name, "company_name": customer.name, "change": what, "changed_by_name": by_name}
    partner = ctx.store(PartnerRepository).find(rel.partner_id)
    to: list[tuple[str, str | None, str | None, str]] = []
    if partner is not None and partner.contact_email:
        to.append((partner.contact_email, partner.name, partner.language, "partner"))
    else:
        log.warning("partner %s has no contact email: it hears of the change by its event only", rel.partner_id)
    to.append((person.email, by_name, me.language if me else customer.language, "customer"))
    messages = []
    for address, name, language, audience in to:
        owed = UnsentEmails(customer_id=customer.id, id=f"{record_id}|{audience}", created_at=ctx.now())
        uow.add(owed)  # committed with the change: this email is owed only then
        rendered = render_email(EMAIL_KIND, language, {**common, "audience": audience,
                                                       "contact_name": name if audience == "customer" else None})
        messages.append({"operationId": str(uuid.uuid5(_EMAILS, owed.id)), "customerId": customer.id, "owed": owed.id,
                         "queuedAt": ctx.now().isoformat(), "message": rendered.to_message(address, name).__dict__})
    queue.send(ctx, {"type": KIND, "items": messages}, delay_seconds=COMMIT_DELAY)


class PartnerRightsEmail(queue.EmailKind):
    """One email of a committed change as the one delivery mechanism sends it: claimed while its `n|` row exists, which
    is forgotten once the email is sent or failed for good (a copy of the message then finds nothing owed). An email
    whose change is not committed yet is looked at again a few times, alone, then dropped."""

    kind = KIND

    def claim(self, ctx: Context, item: dict[str, Any]) -> queue.Claimed | str | None:
        owed = ctx.unit(CustomerUnitOfWork, str(item.get("customerId"))).unsent_emails(str(item.get("owed")))
        if owed is None:
            if ctx.now() - datetime.fromisoformat(str(item.get("queuedAt"))) < COMMIT_WINDOW:
                queue.send(ctx, {"type": KIND, **item}, delay_seconds=RECHECK_DELAY)  # the change may still be committing
            else:
                log.info("an email of customer %s already sent, or of a change never committed: nothing to send", item.get("customerId"))
            return None
        return queue.Claimed(EmailMessage(**item["message"]), subject=owed)

    def record(self, ctx: Context, item: dict[str, Any], outcome: queue.Outcome) -> bool:
        if outcome.state == queue.REQUEUED:
            return False  # still owed: the requeued message sends it
        uow = ctx.unit(CustomerUnitOfWork, str(item.get("customerId")))
        owed = outcome.subject or uow.unsent_emails(str(item.get("owed")))  # poisoned: nothing claimed, read it
        if owed is not None:
            uow.forget(owed)
        return False  # nothing partners read changed: the failure trace is the mechanism's


queue.register(PartnerRightsEmail())
