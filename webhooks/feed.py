"""The partner's events feed (`f|<partnerId>` in the Webhooks table), read with `GET /api/events?after=<cursor>`.

An event is filed under the time it was PUBLISHED (plus its id), not when it happened: a reader's cursor then only ever
moves forward over rows that will not be joined by older ones. Two publishers may still finish out of order by a few
milliseconds, so the feed shows only rows older than SETTLE; a row is written well within that. Kept RETENTION.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from shared.context import Context
from shared.events import ticks
from shared.storage import ConcurrencyConflict, Op, Repository, Row, chunks
from webhooks.subscriptions import TABLE

SETTLE = timedelta(seconds=2)
RETENTION = timedelta(days=30)


class FeedEntry(Row):
    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    feed_key: str = Field(validation_alias="feedKey", serialization_alias="feedKey")
    event: str  # the payload subscribers receive, as JSON


class FeedRepository(Repository[FeedEntry]):
    table = TABLE
    model = FeedEntry

    def keys(self, row: FeedEntry) -> tuple[str, str]:
        return f"f|{row.partner_id}", row.feed_key


def append(ctx: Context, partner_id: str, entries: list[tuple[str, dict[str, Any]]]) -> None:
    """File (feed key, event) pairs; filing one again is harmless (same key, same content)."""
    repo = ctx.store(FeedRepository)
    for chunk in chunks(entries, 100):
        repo.transact([Op("upsert", FeedEntry(partner_id=partner_id, feed_key=key, event=json.dumps(event, separators=(",", ":"))))
                       for key, event in chunk])


def read(ctx: Context, partner_id: str, after: str | None, limit: int, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """Up to `limit` (cursor, event) pairs after the cursor, oldest first, within the retention and settled."""
    oldest = ticks(now - RETENTION)
    lower = max(after or "", oldest)
    page = ctx.store(FeedRepository).query_page(
        "PartitionKey eq @pk and RowKey gt @after and RowKey lt @settled",
        {"pk": f"f|{partner_id}", "after": lower, "settled": ticks(now - SETTLE)}, page_size=limit)
    return [(e.feed_key, json.loads(e.event)) for e in page.items]


def purge(ctx: Context, partner_id: str, now: datetime) -> int:
    """Delete the partner's feed rows older than the retention (the sweep, daily)."""
    repo = ctx.store(FeedRepository)
    old = repo.query_all("PartitionKey eq @pk and RowKey lt @oldest", {"pk": f"f|{partner_id}", "oldest": ticks(now - RETENTION)})
    for chunk in chunks(old, 100):
        try:
            repo.transact([Op("delete", keys=(f"f|{partner_id}", e.feed_key)) for e in chunk])
        except ConcurrencyConflict:
            continue
    return len(old)
