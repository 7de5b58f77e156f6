"""The audit trail: who changed what, when, with the state before and after."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from shared.clock import utc_now
from shared.storage import Row


def reverse_ticks(at: datetime) -> str:
    """A key that sorts newest first (Table Storage only sorts ascending)."""
    return f"{10**13 - int(at.timestamp() * 1000):013d}"


class AuditRecord(Row):
    subject: str
    action: str
    actor: str
    at: datetime
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    customer_id: str | None = Field(default=None, validation_alias="customerId", serialization_alias="customerId")

    @property
    def row_key(self) -> str:
        return f"a|{reverse_ticks(self.at)}|{self.id}"


def audit(subject: str, action: str, actor: str, *, before: Any = None, after: Any = None, customer_id: str | None = None) -> AuditRecord:
    return AuditRecord(
        subject=subject, action=action, actor=actor, at=utc_now(), before=_plain(before), after=_plain(after),
        customer_id=customer_id,
    )


def _plain(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dict(value)
