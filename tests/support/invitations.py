"""Test help for invitations: write an invitation changed in a test the way the services write it."""

from __future__ import annotations

from invite_user.invitations import Invitation
from invite_user.repository import InvitationStore, InvitationUnitOfWork
from shared.storage import Storage


def save_changed(storage: Storage, inv: Invitation) -> None:
    """Through its unit of work, so its expiry index row follows its new state."""
    uow = InvitationUnitOfWork(storage)
    current = uow.get(inv.partner_id, InvitationStore.row_key(inv))
    assert current is not None
    for name in Invitation.model_fields:
        setattr(current, name, getattr(inv, name))
    uow.save(current)
    uow.commit()
