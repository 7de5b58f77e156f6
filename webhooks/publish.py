"""Publishing outbox rows: into the partner's feed and to each matching subscription, then off the outbox.

`publish(table, partition)` runs on an outbox announcement (a queue message sent after the commit). It is idempotent
at every step, so a repeated message, a crash half-way or a concurrent publisher cannot lose or double an event:
1. outbox rows without a feed position get one (one merge per row, in one transaction, under their ETags);
2. they are filed in the feed under that position (upsert: same key, same content);
3. a delivery row per matching subscription is created (exists already: left as it is) and its first attempt made;
4. the outbox rows are deleted under their ETags.
`sweep` is the safety net for announcements that were never sent (the process died between commit and queue): it
looks for outbox rows older than a minute in every table that holds them. That query spans partitions, so its cost
grows with the table, not with what is pending; it runs every ten minutes, and finds nothing when nothing was lost.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from shared import events
from shared.clock import utc_now
from shared.context import Context
from shared.events import EventRow
from shared.storage import ConcurrencyConflict, Op, Repository, Storage, chunks
from webhooks import deliveries, feed
from webhooks.catalog import payload_of
from webhooks.subscriptions import Subscription, SubscriptionRepository

log = logging.getLogger(__name__)

PARALLEL_DELIVERIES = 4
STALE = timedelta(minutes=1)


class OutboxRows(Repository[EventRow]):
    """The outbox rows of any table that holds them (the table is named by the announcement)."""

    model = EventRow

    def __init__(self, storage: Storage, table: str) -> None:
        super().__init__(storage)
        self.table = table  # type: ignore[misc]

    def from_entity(self, entity: Any) -> EventRow:
        row = super().from_entity(entity)
        row.partition = entity["PartitionKey"]
        return row

    def keys(self, row: EventRow) -> tuple[str, str]:
        return row.storage_keys()

    def pending(self, partition: str) -> list[EventRow]:
        return self.query_all("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi", {"pk": partition, "lo": "e|", "hi": "e}"})


def publish(ctx: Context, table: str, partition: str) -> int:
    """Publish the partition's outbox; returns how many outbox rows were published (a bulk's row holds many events)."""
    outbox = ctx.store(OutboxRows, table)
    rows = outbox.pending(partition)
    if not rows:
        return 0
    rows = _place_in_feed(outbox, partition, rows)
    by_partner: dict[str, list[EventRow]] = defaultdict(list)
    for row in rows:
        by_partner[row.partner_id].extend(row.expand())  # a bulk's row: one event per invitation
    for partner_id, theirs in by_partner.items():
        feed.append(ctx, partner_id, [(row.feed_key or "", payload_of(row)) for row in theirs])
        _deliver(ctx, ctx.store(SubscriptionRepository).of_partner(partner_id), theirs)
    for chunk in chunks(rows, 100):
        try:
            outbox.transact([Op("delete", keys=row.storage_keys(), etag=row.etag) for row in chunk])
        except ConcurrencyConflict:
            log.info("outbox rows of %s/%s removed by another publisher", table, partition)
    return len(rows)


def _place_in_feed(outbox: OutboxRows, partition: str, rows: list[EventRow]) -> list[EventRow]:
    """Give each row its feed position once; a row placed by an earlier (or concurrent) publish keeps its own."""
    unplaced = [row for row in rows if not row.feed_key]
    if not unplaced:
        return rows
    now = utc_now()
    for i, row in enumerate(unplaced):  # a microsecond apart: the feed keeps the order in which they happened
        row.feed_key = f"{events.ticks(now + timedelta(microseconds=i))}|{row.event_id}"
    try:
        for chunk in chunks(unplaced, 100):
            outbox.transact([Op("merge", keys=row.storage_keys(), etag=row.etag, fields={"feedKey": row.feed_key}) for row in chunk])
    except ConcurrencyConflict:
        return _place_in_feed(outbox, partition, outbox.pending(partition))  # someone placed them: use their positions
    return _place_in_feed(outbox, partition, outbox.pending(partition))  # fresh ETags; rows committed meanwhile placed too


def _deliver(ctx: Context, subscriptions: list[Subscription], rows: list[EventRow]) -> None:
    repo = ctx.store(deliveries.DeliveryRepository)
    todo = []
    for row in rows:
        for sub in subscriptions:
            if not sub.wants(row.type):
                continue
            delivery = deliveries.new_delivery(sub, payload_of(row), row.occurred_at)
            try:
                repo.insert(delivery)
            except ConcurrencyConflict:
                pass  # an earlier publish created it; its attempt (made or queued) carries on, or is made now if pending
            todo.append(delivery)
    if not todo:
        return
    with ThreadPoolExecutor(max_workers=PARALLEL_DELIVERIES) as pool:
        list(pool.map(lambda d: _first_attempt(ctx, d), todo))


def _first_attempt(ctx: Context, d: deliveries.Delivery) -> None:
    try:
        deliveries.attempt(ctx, d.partner_id, d.subscription_id, d.row_key)
    except Exception:  # the row stays Pending: a queued retry picks it up, nothing is lost
        log.exception("first attempt of delivery %s failed; queued", d.event_id)
        ctx.send_message(ctx.settings.webhooks_queue, deliveries.message(d), delay_seconds=deliveries.BACKOFF[0])


def sweep(ctx: Context) -> int:
    """Publish outbox rows nobody announced (older than STALE); returns how many partitions had some."""
    cutoff = ctx.now() - STALE
    found: set[tuple[str, str]] = set()
    for table in sorted(events.OUTBOX_TABLES):
        rows = ctx.store(OutboxRows, table).query_all("RowKey ge @lo and RowKey lt @hi", {"lo": "e|", "hi": f"e|{events.ticks(cutoff)}"})
        found |= {(table, row.partition) for row in rows}
    for table, partition in sorted(found):
        publish(ctx, table, partition)
    return len(found)
