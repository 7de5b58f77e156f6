"""Fixed-window rate limits kept in Table Storage, so they hold across every instance of the app.

A window is a partition (its start, epoch seconds), so the hourly sweep deletes only windows that ended.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from pydantic import Field

from shared.clock import utc_now
from shared.problems import Problem
from shared.storage import ConcurrencyConflict, Op, Repository, Row, Storage, chunks


class Window(Row):
    bucket: str
    window: str
    count: int = 0
    updated_at: datetime | None = Field(default=None, alias="updatedAt")


class _Windows(Repository[Window]):
    table = "RateLimits"
    model = Window

    def keys(self, row: Window) -> tuple[str, str]:
        return row.window, row.bucket


def hit(storage: Storage, bucket: str, *, limit: int, window_seconds: int) -> None:
    """Count one request in `bucket`; a 429 problem with Retry-After once `limit` is reached in the window."""
    now = utc_now()
    start = int(now.timestamp()) // window_seconds * window_seconds
    key = hashlib.sha256(bucket.encode()).hexdigest()[:32]
    repo = _Windows(storage)
    for _ in range(5):
        row = repo.get(str(start), key)
        try:
            if row is None:
                repo.insert(Window(bucket=key, window=str(start), count=1, updated_at=now))
                return
            if row.count >= limit:
                retry = start + window_seconds - int(now.timestamp())
                raise Problem(429, "rate-limited", "Too many requests",
                              f"Too many requests; try again in {retry} seconds.", headers={"Retry-After": str(max(1, retry))})
            row.count += 1
            row.updated_at = now
            repo.replace(row)
            return
        except ConcurrencyConflict:
            continue
    raise Problem(429, "rate-limited", "Too many requests", "Too many concurrent requests; retry shortly.", headers={"Retry-After": "1"})


KEEP = timedelta(days=1)  # longer than any window


def sweep(storage: Storage, now: datetime | None = None) -> int:
    """Delete windows that started more than a day ago: they are the partitions below a key, nothing else is read."""
    cutoff = str(int(((now or utc_now()) - KEEP).timestamp()))
    repo = _Windows(storage)
    old = repo.query_entities("PartitionKey lt @cutoff", {"cutoff": cutoff}, select=["PartitionKey", "RowKey"])
    by_window: dict[str, list[str]] = {}
    for e in old:
        by_window.setdefault(e["PartitionKey"], []).append(e["RowKey"])
    for window, buckets in by_window.items():
        for group in chunks(buckets, 100):
            repo.transact([Op("delete", keys=(window, b)) for b in group])
    return len(old)
