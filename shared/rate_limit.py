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


def limit_headers(policy: str, limit: int, window_seconds: int, retry: int) -> dict[str, str]:
    """Retry-After, and the policy and its state as the IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers)."""
    return {"Retry-After": str(retry), "RateLimit-Policy": f'"{policy}";q={limit};w={window_seconds}',
            "RateLimit": f'"{policy}";r=0;t={retry}'}


def hit(storage: Storage, bucket: str, *, limit: int, window_seconds: int, policy: str | None = None) -> None:
    """Count one request in `bucket`; a 429 problem with Retry-After and RateLimit headers once `limit` is reached.

    `policy` names the limit in the RateLimit headers (never the bucket: it may hold an address or an email)."""
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
                retry = max(1, start + window_seconds - int(now.timestamp()))
                raise Problem(429, "rate-limited", "Too many requests", f"Too many requests; try again in {retry} seconds.",
                              headers=limit_headers(policy or "limit", limit, window_seconds, retry))
            row.count += 1
            row.updated_at = now
            repo.replace(row)
            return
        except ConcurrencyConflict:
            continue
    raise Problem(429, "rate-limited", "Too many requests", "Too many concurrent requests; retry shortly.",
                  headers=limit_headers(policy or "limit", limit, window_seconds, 1))
