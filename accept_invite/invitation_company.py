"""Which company an invitation leads to, and who is accepting it: what every page of the journey asks.

Kept apart from the acceptance itself (`companies.py`), which the routes that accept load on their first call: the
landing page needs these answers, not the machinery of creating a company (cold start, `shared/lazy.py`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from invite_user.invitations import Invitation, InvitationKind

_CUSTOMER_IDS = uuid.UUID("0b6f4b1e-5d0a-4c55-9f7e-2c1e8f3a7d21")


@dataclass(frozen=True)
class Person:
    """The signed-in person, as the identity provider said."""

    email: str
    name: str = ""
    subject: str = ""

    def actor(self) -> dict[str, str]:
        return {"email": self.email, "name": self.name, "subject": self.subject}


def customer_id_for(inv: Invitation) -> str:
    """The id of the company an invitation creates: the same for every attempt, unguessable from outside."""
    return str(uuid.uuid5(_CUSTOMER_IDS, inv.link_hash))


def needs_company_form(inv: Invitation) -> bool:
    """New customers confirm the company data; invitations to an existing company only need a confirmation."""
    return inv.customer_id is None or inv.kind == InvitationKind.CUSTOMER_ONBOARDING and inv.customer_id == customer_id_for(inv)
