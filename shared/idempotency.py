"""Idempotency-Key for every POST: a retry with the same key gets the first answer and changes nothing twice.

Rows of the `Idempotency` table, partition = the caller's scope (a partner id):
- the marker `<keyHash>`: fingerprint of the request, `pending` (with a lease) or `done` (status, chunk count), expiry;
- the answer `<keyHash>|<nnn>`: zlib-compressed JSON, encrypted with AES-GCM under a key derived from the
  Idempotency-Key itself and the server secret, base64 in chunks of 30,000 characters (a string property holds
  64 KiB), so an answer of any size (a bulk of 1,000) is stored and a leaked table never yields a working link id;
- expiry marks in partitions `x|<hour>` (one per key), so the sweep reads only what expired.

A pending marker holds a lease: a retry after it ends takes the key over and runs the work again. Work that can be
run twice derives its fresh ids from the key and the request's fingerprint (`derived_id`), so a second run of the same
request finds what the first committed and answers from it instead of doing it again: the answer of committed work is
never lost, even when saving it failed. Anything keyed must derive from `derived_id`, never from the key alone.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import json
import logging
import os
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from shared.authorization import checked
from shared.context import Context
from shared.problems import Problem
from shared.settings import get_settings
from shared.storage import ConcurrencyConflict, Op, Repository, Row, StorageUnavailable, chunks

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=30)  # longer than any request may run (storage answers or fails within ~10 s)
TTL = timedelta(hours=24)
CHUNK_CHARS = 30_000
CHUNKS_PER_TRANSACTION = 99  # a transaction holds 100 operations: the chunks and the marker
PENDING, DONE = "pending", "done"


class IdempotentResult(Row):
    scope: str
    key_hash: str = Field(validation_alias="keyHash", serialization_alias="keyHash")
    fingerprint: str
    state: str  # "pending" while the first request runs (until lease_until), then "done"
    status: int = 0
    chunks: int = 0
    created_at: datetime = Field(validation_alias="createdAt", serialization_alias="createdAt")
    lease_until: datetime | None = Field(default=None, validation_alias="leaseUntil", serialization_alias="leaseUntil")
    expires_at: datetime | None = Field(default=None, validation_alias="expiresAt", serialization_alias="expiresAt")


class AnswerChunk(Row):
    scope: str
    key: str  # "<keyHash>|<nnn>"
    data: str


class ExpiryMark(Row):
    hour: str  # "x|YYYY-MM-DDTHH": the hour the key expires in
    ref: str  # "<scope>|<keyHash>"


class IdempotencyRepository(Repository[IdempotentResult]):
    table = "Idempotency"
    model = IdempotentResult

    def keys(self, row: Any) -> tuple[str, str]:
        if isinstance(row, AnswerChunk):
            return row.scope, row.key
        if isinstance(row, ExpiryMark):
            return row.hour, row.ref
        return row.scope, row.key_hash

    def rows_of(self, scope: str, key_hash: str) -> tuple[IdempotentResult | None, list[Any]]:
        """The marker and its answer chunks, in one query (they share a partition and a key prefix)."""
        entities = self.raw_query("PartitionKey eq @p and RowKey ge @lo and RowKey le @hi",
                                  {"p": scope, "lo": key_hash, "hi": key_hash + "|~"})
        marker = next((self.from_entity(e) for e in entities if e["RowKey"] == key_hash), None)
        return marker, sorted((e for e in entities if e["RowKey"] != key_hash), key=lambda e: e["RowKey"])

    def raw_query(self, filter_: str, parameters: dict[str, Any], select: list[str] | None = None) -> list[Any]:
        return self.query_entities(filter_, parameters, select=select)


Answer = tuple[int, Any, dict[str, str]]


@dataclass
class _Key:
    """An Idempotency-Key within its scope."""

    scope: str
    key: str

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.key.encode()).hexdigest()

    def secret(self, purpose: str) -> bytes:
        server = (get_settings().session_secret or "local-only").encode()
        return hmac.new(server, f"{purpose}|{self.scope}|{self.key}".encode(), hashlib.sha256).digest()


_current: contextvars.ContextVar[tuple[_Key, str, list[int]] | None] = contextvars.ContextVar("idempotency_key", default=None)


def derived_id() -> str:
    """A fresh UUID; within keyed work, the n-th one is derived from the key AND the request's fingerprint, so a re-run
    of the same request mints the same ids, and a different request under the same key (once the key expired, when
    nothing refuses it) mints others: it never finds the first request's work and mistakes itself for its retry.

    Derived with the server secret: the key (which only the caller knows, the table keeps its hash) does not
    yield the link without it.
    """
    current = _current.get()
    if current is None:
        return str(uuid.uuid4())
    key, fingerprint, counter = current
    counter[0] += 1
    return str(uuid.UUID(bytes=key.secret(f"id|{fingerprint}|{counter[0]}")[:16], version=4))


def run_once(
    ctx: Context, scope: str, key: str | None, fingerprint_of: Any, work: Callable[[], Answer],
    authorize_replay: Callable[[list[str]], None] | None = None,
) -> tuple[Answer, bool]:
    """Run `work` once per (scope, key). Returns the answer and whether it is a replay.

    The policy rows `work` was checked against are kept with the answer; a replay first passes them to
    `authorize_replay` (the edge checks them with the replaying caller), so a replay is authorized like the request.

    The pending marker is written before the work runs, so two concurrent requests with one key cannot both act;
    the loser hears 409 with Retry-After. Failures the caller can fix (4xx) are kept as answers; a 5xx or a crash
    releases the key. A key whose holder vanished (storage failed while releasing it) is free when its lease ends.
    """
    if not key:
        return work(), False
    if len(key) > 200:
        raise Problem(400, "idempotency-key-invalid", "Idempotency-Key is too long", "Use at most 200 characters.")
    k = _Key(scope, key)
    repo = ctx.store(IdempotencyRepository)
    fingerprint = hashlib.sha256(json.dumps(fingerprint_of, sort_keys=True, default=str).encode()).hexdigest()
    now = ctx.now()
    marker = IdempotentResult(scope=scope, key_hash=k.hash, fingerprint=fingerprint, state=PENDING, created_at=now,
                              lease_until=now + LEASE, expires_at=now + TTL)
    # The expiry mark first: a marker can then never exist without the mark that sweeps it.
    repo.upsert(ExpiryMark(hour=_hour(marker.expires_at), ref=f"{scope}|{k.hash}"))  # type: ignore[arg-type]
    try:
        repo.insert(marker)
    except ConcurrencyConflict:
        replay = _existing(repo, k, marker, now)
        if replay is not None:
            answer, actions = replay
            if authorize_replay is not None:
                authorize_replay(actions)
            return answer, True
    token = _current.set((k, fingerprint, [0]))
    with checked() as actions:
        try:
            status, body, headers = work()
        except Problem as problem:
            if problem.status >= 500:
                _release(ctx, marker)
                raise
            _save(repo, k, marker, (problem.status, problem.to_dict(), problem.headers or {}), actions)
            raise
        except BaseException:
            _release(ctx, marker)
            raise
        finally:
            _current.reset(token)
    _save(repo, k, marker, (status, body, headers), actions)
    return (status, body, headers), False


def _existing(repo: IdempotencyRepository, k: _Key, marker: IdempotentResult, now: datetime) -> tuple[Answer, list[str]] | None:
    """The stored answer of a key in use; None when this request took the key over (expired, or its lease ended)."""
    existing, chunk_rows = repo.rows_of(k.scope, k.hash)
    if existing is None:
        raise _in_progress(1)
    expired = existing.expires_at is not None and existing.expires_at <= now
    if not expired and existing.fingerprint != marker.fingerprint:
        raise Problem(422, "idempotency-key-reused", "Idempotency-Key reused",
                      "This Idempotency-Key was used for a different request; use a new key.")
    if not expired and existing.state == DONE:
        if len(chunk_rows) >= existing.chunks:
            from cryptography.exceptions import InvalidTag  # the crypto library loads on the first replay, not at start

            try:
                return _decrypt(k, "".join(e["data"] for e in chunk_rows[: existing.chunks]))
            except (InvalidTag, ValueError):
                log.error("stored answer of an idempotency key in %s is unreadable; running the request again", k.scope)
        # Unreadable or incomplete: take the key over, as for an ended lease.
    elif not expired and existing.lease_until is not None and existing.lease_until > now:
        raise _in_progress(max(1, int((existing.lease_until - now).total_seconds()) + 1))
    marker.etag = existing.etag
    try:
        repo.replace(marker)
    except ConcurrencyConflict:
        raise _in_progress(1) from None
    return None


def _in_progress(retry_after: int) -> Problem:
    return Problem(409, "idempotency-in-progress", "Request in progress",
                   "A request with this Idempotency-Key is still being processed; retry in a moment.",
                   headers={"Retry-After": str(retry_after)})


def _save(repo: IdempotencyRepository, k: _Key, marker: IdempotentResult, answer: Answer, actions: Sequence[str]) -> None:
    """Keep the answer (and the policy rows it was checked against) for replays. Failing here loses nothing: the caller
    still gets it, and a retry after the lease runs the work again, which finds what was committed."""
    data = _encrypt(k, answer, actions)
    parts = [data[i : i + CHUNK_CHARS] for i in range(0, len(data), CHUNK_CHARS)]
    marker.state, marker.status, marker.chunks, marker.lease_until = DONE, answer[0], len(parts), None
    ops = [Op("upsert", AnswerChunk(scope=k.scope, key=f"{k.hash}|{i:04d}", data=part)) for i, part in enumerate(parts)]
    groups = list(chunks(ops, CHUNKS_PER_TRANSACTION)) or [[]]
    try:
        for group in groups[:-1]:
            repo.transact(group)
        repo.transact([*groups[-1], Op("update", marker)])
    except (StorageUnavailable, ConcurrencyConflict) as exc:
        log.warning("the answer of an idempotent request in %s was not saved (%s); its lease will free the key",
                    k.scope, type(exc).__name__)


def _release(ctx: Context, marker: IdempotentResult) -> None:
    """Free the key for an immediate retry; quickly, since storage may be what failed (the lease frees it anyway)."""
    try:
        ctx.quick.store(IdempotencyRepository).delete(marker.scope, marker.key_hash, etag=marker.etag)
    except (StorageUnavailable, ConcurrencyConflict):
        pass
    except Exception:  # noqa: BLE001 - an unexpected failure here must not hide the work's own error
        log.exception("could not release an idempotency key")


def _cipher_key(k: _Key) -> bytes:
    return k.secret("answer")


def _encrypt(k: _Key, answer: Answer, actions: Sequence[str]) -> str:
    status, body, headers = answer
    plain = zlib.compress(json.dumps({"status": status, "body": body, "headers": headers, "checked": [str(a) for a in actions]},
                                     default=str).encode())
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # loaded on the first keyed request (cold start)

    nonce = os.urandom(12)
    sealed = AESGCM(_cipher_key(k)).encrypt(nonce, plain, f"{k.scope}|{k.hash}".encode())
    return base64.b64encode(nonce + sealed).decode()


def _decrypt(k: _Key, data: str) -> tuple[Answer, list[str]]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = base64.b64decode(data)
    plain = AESGCM(_cipher_key(k)).decrypt(raw[:12], raw[12:], f"{k.scope}|{k.hash}".encode())
    value = json.loads(zlib.decompress(plain))
    return (value["status"], value["body"], value["headers"] or {}), list(value.get("checked") or [])


def _hour(at: datetime) -> str:
    return "x|" + at.strftime("%Y-%m-%dT%H")


def sweep(ctx: Context, now: datetime | None = None) -> int:
    """Delete keys that expired before this hour; reads only the expiry marks of past hours. Returns keys deleted."""
    now = now or ctx.now()
    repo = ctx.store(IdempotencyRepository)
    marks = repo.raw_query("PartitionKey ge @lo and PartitionKey lt @hi", {"lo": "x|", "hi": _hour(now)},
                           select=["PartitionKey", "RowKey"])
    deleted = 0
    for mark in marks:
        scope, _, key_hash = mark["RowKey"].rpartition("|")
        marker, chunk_rows = repo.rows_of(scope, key_hash)
        if marker is not None and marker.expires_at is not None and marker.expires_at <= now:
            ops = [Op("delete", keys=(scope, e["RowKey"])) for e in chunk_rows] + [Op("delete", keys=(scope, key_hash))]
            try:
                for group in chunks(ops, 100):
                    repo.transact(group)
                deleted += 1
            except ConcurrencyConflict:
                continue
        repo.delete(mark["PartitionKey"], mark["RowKey"])
    return deleted
