"""Fixed-window rate limits kept in Table Storage, so they hold across every instance of the app.

A window is a partition (its start, epoch seconds), so the hourly sweep deletes only windows that ended.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime, timedelta

from pydantic import Field

from shared.context import Context
from shared.errors import Busy, TooManyRequests
from shared.storage import Op, Repository, Row, chunks
from shared.uow import retrying


class Window(Row):
    bucket: str
    window: str
    count: int = 0
    updated_at: datetime | None = Field(default=None, validation_alias="updatedAt", serialization_alias="updatedAt")


class _Windows(Repository[Window]):
    table = "RateLimits"
    model = Window

    def keys(self, row: Window) -> tuple[str, str]:
        return row.window, row.bucket


def limit_headers(policy: str, limit: int, window_seconds: int, retry: int) -> dict[str, str]:
    """Retry-After, and the policy and its state as the IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers)."""
    return {"Retry-After": str(retry), "RateLimit-Policy": f'"{policy}";q={limit};w={window_seconds}',
            "RateLimit": f'"{policy}";r=0;t={retry}'}


def hit(ctx: Context, bucket: str, *, limit: int, window_seconds: int, policy: str | None = None) -> None:
    """Count one request in `bucket`; a 429 problem with Retry-After and RateLimit headers once `limit` is reached.

    `policy` names the limit in the RateLimit headers (never the bucket: it may hold an address or an email)."""
    now = ctx.now()
    start = int(now.timestamp()) // window_seconds * window_seconds
    key = hashlib.sha256(bucket.encode()).hexdigest()[:32]
    repo = ctx.store(_Windows)

    def count_one() -> None:
        row = repo.get(str(start), key)
        if row is None:
            repo.insert(Window(bucket=key, window=str(start), count=1, updated_at=now))
            return
        if row.count >= limit:
            retry = max(1, start + window_seconds - int(now.timestamp()))
            raise TooManyRequests(f"Too many requests; try again in {retry} seconds.", retry_after=retry,
                                  headers=limit_headers(policy or "limit", limit, window_seconds, retry))
        row.count += 1
        row.updated_at = now
        repo.replace(row)

    try:
        retrying(count_one)
    except Busy as busy:
        # Many requests at once in one bucket: that is the very thing the limit is for.
        raise TooManyRequests("Too many concurrent requests; retry shortly.", retry_after=1,
                              headers=limit_headers(policy or "limit", limit, window_seconds, 1)) from busy


IPV6_CLIENT_PREFIX = 64  # one subscriber gets a whole /64 (RFC 6177): every address in it is the same client


def client_of(address: str) -> str:
    """The client a per-client limit counts: an IPv4 address, or the /64 an IPv6 address is in (a host picks any of its
    2^64 addresses at will, so counting addresses would give it a fresh budget per request)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(ip)


def hit_client(ctx: Context, name: str, address: str, *, limit: int, window_seconds: int) -> None:
    """Count one request of the client at `address` (`client_of`) against the limit `name`: the one per-client limit."""
    hit(ctx, f"{name}|{client_of(address)}", limit=limit, window_seconds=window_seconds, policy=name)


KEEP = timedelta(days=1)  # longer than any window


def sweep(ctx: Context, now: datetime | None = None) -> int:
    """Delete windows that started more than a day ago: they are the partitions below a key, nothing else is read."""
    cutoff = str(int(((now or ctx.now()) - KEEP).timestamp()))
    repo = ctx.store(_Windows)
    old = repo.query_entities("PartitionKey lt @cutoff", {"cutoff": cutoff}, select=["PartitionKey", "RowKey"])
    by_window: dict[str, list[str]] = {}
    for e in old:
        by_window.setdefault(e["PartitionKey"], []).append(e["RowKey"])
    for window, buckets in by_window.items():
        for group in chunks(buckets, 100):
            repo.transact([Op("delete", keys=(window, b)) for b in group])
    return len(old)
