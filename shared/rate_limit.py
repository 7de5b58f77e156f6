"""Fixed-window rate limits kept in Table Storage, so they hold across every instance of the app."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import Field

from shared.clock import utc_now
from shared.problems import Problem
from shared.storage import ConcurrencyConflict, Repository, Row, Storage


class Window(Row):
    bucket: str
    window: str
    count: int = 0
    updated_at: datetime | None = Field(default=None, alias="updatedAt")


class _Windows(Repository[Window]):
    table = "RateLimits"
    model = Window

    def keys(self, row: Window) -> tuple[str, str]:
        return row.bucket, row.window


def hit(storage: Storage, bucket: str, *, limit: int, window_seconds: int) -> None:
    """Count one request in `bucket`; a 429 problem with Retry-After once `limit` is reached in the window."""
    now = utc_now()
    start = int(now.timestamp()) // window_seconds * window_seconds
    key = hashlib.sha256(bucket.encode()).hexdigest()[:32]
    repo = _Windows(storage)
    for _ in range(5):
        row = repo.get(key, str(start))
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
