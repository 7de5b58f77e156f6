"""A customer's audit trail as its partner sees it: the customer's own records and the partner's invitations about it."""

from __future__ import annotations

from attest_agreement.api_models import AuditEntry, AuditPage, PageQuery
from attest_agreement.repository import CustomerStore
from attest_agreement.steps import standing_from
from invite_user import service as invitations
from shared.audit import AuditRecord
from shared.authorization import Action, check
from shared.context import Context
from shared.errors import Invalid
from shared.partner_auth import Caller
from shared.storage import decode_token, encode_token


def audit_trail(ctx: Context, caller: Caller, customer_id: str, query: PageQuery) -> AuditPage:
    """The customer's audit records merged with the caller's invitation records about it, newest first.

    Both are keyed `a|<newest-first ticks>|<id>`, so the merge is by row key and the continuation token is
    the last key shown. Other partners' relationship records are left out: they are those partners' business.
    """
    store = ctx.store(CustomerStore)
    # Only while the relationship is active: a partner whose relationship was removed no longer reads the customer.
    check(Action.READ_AUDIT, roles=caller.roles, partner_type=caller.partner_type,
          standing=standing_from(store.relationship(customer_id, caller.partner_id)), customer_id=customer_id)
    try:
        cursor = (decode_token(query.continuation_token) or {}).get("after", "a|")
    except ValueError as exc:
        raise Invalid([{"field": "continuationToken", "message": str(exc), "code": "invalid"}]) from exc
    size = query.page_size
    out: list[AuditEntry] = []
    exhausted = False
    while len(out) < size and not exhausted:
        mine = store.audit_after(customer_id, cursor, size)
        theirs = invitations.audit_after(ctx, caller.partner_id, customer_id, cursor, size)
        more = any(p.continuation_token or len(p.items) >= size for p in (mine, theirs))
        # Each source gave its first `size` rows after the cursor, so the first `size` of the union are in order.
        merged = sorted([(r, "customer") for r in mine.items] + [(r, "invitations") for r in theirs.items], key=lambda p: p[0].row_key)
        taken = merged[:size]
        more = more or len(merged) > len(taken)
        for i, (record, source) in enumerate(taken):
            cursor = record.row_key
            if _visible(record, caller.partner_id):
                out.append(_entry(record, source))
            if len(out) == size:
                more = more or i < len(taken) - 1
                break
        exhausted = not more
    token = None if exhausted else encode_token({"after": cursor})
    return AuditPage(items=out, continuation_token=token)


def _visible(record: AuditRecord, partner_id: str) -> bool:
    # A relationship is its partner's business; an attestation (and the evidence of its acceptance: typed name, client
    # address, user agent) is the attesting partner's alone.
    if not record.action.startswith(("relationship.", "attestation.")):
        return True
    subject = record.after or record.before or {}
    return subject.get("partnerId") in (None, partner_id)


def _entry(record: AuditRecord, source: str) -> AuditEntry:
    return AuditEntry(id=record.id, at=record.at, action=record.action, actor=record.actor, source=source,  # type: ignore[arg-type]
                      customer_id=record.customer_id, before=record.before, after=record.after)
