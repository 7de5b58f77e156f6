"""The audit records of invitations: what each change of an invitation leaves in its partner's trail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from invite_user.invitations import Invitation
from invite_user.repository import partner_partition
from shared.audit import AuditRecord, audit
from shared.partner_auth import Caller


def created_record(inv: Invitation, record_actor: str, extra: dict[str, Any] | None = None) -> AuditRecord:
    return audit(partner_partition(inv.partner_id), "invitation.created", record_actor,
                 after={"reference": inv.reference, "kind": inv.kind, "email": str(inv.email), "status": inv.status, **(extra or {})},
                 customer_id=inv.customer_id)


def bulk_record(chunk: Sequence[Invitation], caller: Caller) -> AuditRecord:
    first = chunk[0]
    return audit(partner_partition(first.partner_id), "invitation.created", caller.display,
                 after={"bulk": True, "count": len(chunk), "references": [i.reference for i in chunk],
                        "kinds": sorted({i.kind.value for i in chunk})},
                 customer_id=first.customer_id)


def change_record(inv: Invitation, action: str, by: str, before: dict[str, Any], **after: Any) -> AuditRecord:
    return audit(partner_partition(inv.partner_id), action, by, before=before,
                 after={"status": inv.status, "expiresAt": inv.expires_at.isoformat(), "reference": inv.reference, **after},
                 customer_id=inv.customer_id)


def invitee_of(inv: Invitation) -> dict[str, Any]:
    """Who an invitation is for, as its audit records show it."""
    return {"reference": inv.reference, "status": inv.status, "email": str(inv.email), "firstName": inv.first_name,
            "lastName": inv.last_name, "language": inv.language,
            "agreement": inv.agreement.model_dump(mode="json", by_alias=True) if inv.agreement else None}


def replaced_record(old: Invitation, new: Invitation, by: str) -> AuditRecord:
    """The change of an invitee: the invitation as it was (before) and the one that replaces it (after)."""
    return audit(partner_partition(old.partner_id), "invitation.replaced", by, before=invitee_of(old),
                 after={**invitee_of(new), "replaces": old.reference}, customer_id=old.customer_id)
