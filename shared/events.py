"""Outbox rows: what happened, written in the same transaction as the change, published afterwards by webhooks/.

A unit of work (or a store writing raw transactions) stages an `EventRow` in the partition it changes, so the event
exists exactly when the change does, wherever that partition lives. After the commit a tiny "outbox" queue message
names the partition (`announce`); the webhooks feature reads that partition's `e|` rows, publishes them to the
partner's feed and subscriptions, and deletes them. A message lost between commit and queue is caught by the
webhooks sweep, which looks for outbox rows left behind in the tables registered here (`outbox_table`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import Field

from shared.clock import utc_now
from shared.settings import get_settings
from shared.storage import Row, Storage, StorageUnavailable

log = logging.getLogger(__name__)

PREFIX = "e|"
MESSAGE = "outbox"
OUTBOX_TABLES: set[str] = set()  # tables whose partitions may hold outbox rows (logical names, without TABLE_PREFIX)

Partition = tuple[str, str]  # (table, PartitionKey)


def outbox_table(table: str) -> str:
    """Declare that `table` holds outbox rows (the sweep looks there). Returns the name, for a one-line declaration."""
    OUTBOX_TABLES.add(table)
    return table


def ticks(at: datetime) -> str:
    """Microseconds since the epoch, zero-padded: row keys in time order."""
    return f"{int(at.timestamp() * 1_000_000):020d}"


class EventRow(Row):
    """One event in the outbox of the partition whose change caused it; it carries its own keys."""

    partition: str = Field(exclude=True, default="")
    event_id: str = Field(validation_alias="eventId", serialization_alias="eventId")
    type: str
    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    occurred_at: datetime = Field(validation_alias="occurredAt", serialization_alias="occurredAt")
    data: dict[str, Any] = Field(default_factory=dict)
    # The feed position given at the first publish, kept so a repeated publish files it at the same place.
    feed_key: str | None = Field(default=None, validation_alias="feedKey", serialization_alias="feedKey")
    # Several events of one type committed by one transaction (a bulk create's chunk): each item is one event's data,
    # published as an event of its own (`expand`). A bulk of 1,000 then writes one outbox row per transaction, not one
    # per invitation: in batches, each row costs the storage SDK about as much as the invitation's own.
    items: list[dict[str, Any]] | None = None

    def expand(self) -> list[EventRow]:
        """The events this row stands for: itself, or one per item, with ids and feed positions derived from its own
        (stable, so a repeated publish files and delivers each at the same place under the same id)."""
        if self.items is None:
            return [self]
        return [EventRow(partition=self.partition, event_id=f"{self.event_id}.{n}", type=self.type, partner_id=self.partner_id,
                         occurred_at=self.occurred_at, data=item, feed_key=f"{self.feed_key}.{n:03d}" if self.feed_key else None)
                for n, item in enumerate(self.items)]

    @property
    def row_key(self) -> str:
        return f"{PREFIX}{ticks(self.occurred_at)}|{self.event_id}"

    def storage_keys(self) -> tuple[str, str]:
        return self.partition, self.row_key


def event(partition: str, type_: str, partner_id: str, *, at: datetime | None = None, **data: Any) -> EventRow:
    """A new outbox row; `data` holds the event's thin fields (ids, references, statuses; never personal data)."""
    return EventRow(partition=partition, event_id=str(uuid.uuid4()), type=type_, partner_id=partner_id,
                    occurred_at=at or utc_now(), data={k: v for k, v in data.items() if v is not None})


def events(partition: str, type_: str, partner_id: str, items: Iterable[dict[str, Any]], *, at: datetime | None = None) -> EventRow:
    """One outbox row for several events of one type and partner committed together (see `EventRow.items`)."""
    return EventRow(partition=partition, event_id=str(uuid.uuid4()), type=type_, partner_id=partner_id, occurred_at=at or utc_now(),
                    items=[{k: v for k, v in item.items() if v is not None} for item in items])


def hints(partitions: Iterable[Partition]) -> list[list[str]]:
    return [list(p) for p in dict.fromkeys(tuple(p) for p in partitions)]


def announce(storage: Storage, partitions: Iterable[Partition]) -> bool:
    """Tell the webhooks feature that these partitions hold new outbox rows (after their commit).

    Never fails the caller: the change is committed, and an outbox row nobody announced is found by the sweep.
    """
    parts = hints(partitions)
    if not parts:
        return True
    try:
        storage.send_message(get_settings().webhooks_queue, {"type": MESSAGE, "partitions": parts})
        return True
    except StorageUnavailable as exc:
        log.warning("outbox of %s not announced (the sweep will publish it): %s", parts, exc)
        return False
