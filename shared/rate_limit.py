"""Fixed-window rate limits kept in Table Storage, so they hold across every instance of the app."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import Field

from shared.clock import utc_now
from shared.errors import Busy, TooManyRequests
from shared.storage import Repository, Row, Storage
from shared.uow import retrying


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

    def count_one() -> None:
        row = repo.get(key, str(start))
        if row is None:
            repo.insert(Window(bucket=key, window=str(start), count=1, updated_at=now))
            return
        if row.count >= limit:
            retry = start + window_seconds - int(now.timestamp())
            raise TooManyRequests(f"Too many requests; try again in {retry} seconds.", retry_after=max(1, retry))
        row.count += 1
        row.updated_at = now
        repo.replace(row)

    try:
        retrying(count_one)
    except Busy as busy:
        # Many requests at once in one bucket: that is the very thing the limit is for.
        raise TooManyRequests("Too many concurrent requests; retry shortly.", retry_after=1) from busy
