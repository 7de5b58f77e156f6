"""What a person inviting a colleague fills in: the invite-colleague route's body, the page's form alike.

Apart from the inviting itself (`colleagues.py`, which the route loads on its first call): the route's contract is
declared at import, and the machinery behind it need not load at cold start (`shared/lazy.py`).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, field_validator

from invite_user.api_models import Invitee
from invite_user.invitations import BusinessCenterRole


class ColleagueInvitation(Invitee):
    """What the inviter fills in (the page's form and the JSON API take the same fields)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_strip_whitespace=True)
    roles: list[BusinessCenterRole] = Field(min_length=1, max_length=6)

    @field_validator("roles")
    @classmethod
    def _unique(cls, v: list[BusinessCenterRole]) -> list[BusinessCenterRole]:
        return list(dict.fromkeys(v))

    @field_validator("first_name", "last_name")
    @classmethod
    def _printable(cls, v: str) -> str:
        if any(ord(c) < 32 for c in v) or "<" in v or ">" in v:
            raise ValueError("must not contain control characters or < >")
        return v
