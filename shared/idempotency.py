"""Idempotency-Key for every POST: a retry with the same key gets the first answer and changes nothing twice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import Field

from shared.clock import utc_now
from shared.problems import Problem
from shared.storage import ConcurrencyConflict, Repository, Row, Storage


class IdempotentResult(Row):
    scope: str
    key_hash: str = Field(alias="keyHash")
    fingerprint: str
    state: str  # "pending" while the first request runs, then "done"
    status: int = 0
    body: dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] | None = None
    created_at: datetime = Field(alias="createdAt")


class IdempotencyRepository(Repository[IdempotentResult]):
    table = "Idempotency"
    model = IdempotentResult

    def keys(self, row: IdempotentResult) -> tuple[str, str]:
        return row.scope, row.key_hash


Answer = tuple[int, Any, dict[str, str]]


def run_once(
    storage: Storage, scope: str, key: str | None, fingerprint_of: Any, work: Callable[[], Answer]
) -> tuple[Answer, bool]:
    """Run `work` once per (scope, key). Returns the answer and whether it is a replay.

    A pending marker is written before the work runs, so two concurrent requests with one key cannot
    both act; the loser hears 409 and retries later. Failures the caller can fix (4xx) are kept as
    answers; a 5xx or a crash removes the marker so a retry can do the work.
    """
    if not key:
        return work(), False
    if len(key) > 200:
        raise Problem(400, "idempotency-key-invalid", "Idempotency-Key is too long", "Use at most 200 characters.")
    repo = IdempotencyRepository(storage)
    key_hash = hashlib.sha256(key.encode()).hexdigest()
    fingerprint = hashlib.sha256(json.dumps(fingerprint_of, sort_keys=True, default=str).encode()).hexdigest()
    marker = IdempotentResult(scope=scope, key_hash=key_hash, fingerprint=fingerprint, state="pending", created_at=utc_now())
    try:
        repo.insert(marker)
    except ConcurrencyConflict:
        existing = repo.get(scope, key_hash)
        if existing is None:
            raise Problem(409, "idempotency-in-progress", "Request in progress", "Retry in a moment.", headers={"Retry-After": "1"}) from None
        if existing.fingerprint != fingerprint:
            raise Problem(
                422, "idempotency-key-reused", "Idempotency-Key reused",
                "This Idempotency-Key was used for a different request; use a new key.",
            ) from None
        if existing.state != "done":
            raise Problem(
                409, "idempotency-in-progress", "Request in progress",
                "A request with this Idempotency-Key is still being processed; retry in a moment.",
                headers={"Retry-After": "1"},
            ) from None
        return (existing.status, existing.body, existing.headers or {}), True
    try:
        status, body, headers = work()
    except Problem as problem:
        if problem.status >= 500:
            repo.delete(scope, key_hash)
            raise
        marker.state, marker.status, marker.body, marker.headers = "done", problem.status, problem.to_dict(), problem.headers
        repo.replace(marker)
        raise
    except BaseException:
        repo.delete(scope, key_hash)
        raise
    marker.state, marker.status, marker.body, marker.headers = "done", status, body, headers
    repo.replace(marker)
    return (status, body, headers), False
