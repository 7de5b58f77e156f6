"""The one in-memory fake of the unit tests: a storage whose tables and queues live in dictionaries.

It stands in for the storage SDK's clients, below the app's repositories, so every repository, store and unit of
work under test is the real one (its keys, ETags, transactions, bookkeeping); only the bytes stay in memory. It
answers as Table Storage does where the app relies on it: ETags on every write, a transaction all or nothing on one
partition, a conflict (409/412) for a create over an existing row or a stale ETag, queries in key order, in pages.
A table's `conflicts` makes its next transactions fail as if a concurrent writer had won (`on_conflict` is that writer);
`journal` lists every write in order.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableEntity, UpdateMode

from shared.clock import PROCESS_CLOCK, Clock
from shared.context import Context
from shared.settings import Settings
from shared.storage import RequestCounter, Storage

_etags = itertools.count(1)
_CLAUSE = re.compile(r"^\s*(\w+)\s+(eq|ne|gt|ge|lt|le)\s+(@\w+|'(?:[^']|'')*'|-?\d+|true|false)\s*$")


def _value(token: str, parameters: dict[str, Any]) -> Any:
    if token.startswith("@"):
        return parameters[token[1:]]
    if token.startswith("'"):
        return token[1:-1].replace("''", "'")
    if token in ("true", "false"):
        return token == "true"
    return int(token)


def _matches(entity: dict[str, Any], filter_: str, parameters: dict[str, Any]) -> bool:
    """The OData filters the app writes: clauses `name op value` joined by `and`."""
    for clause in (c for c in re.split(r"\s+and\s+", filter_.strip()) if c):
        found = _CLAUSE.match(clause)
        if found is None:
            raise NotImplementedError(f"the in-memory table does not understand {clause!r}")
        name, op, token = found.groups()
        if name not in entity:
            return False
        have, want = entity[name], _value(token, parameters)
        if isinstance(have, datetime) or isinstance(want, datetime):
            have, want = str(have), str(want)
        ok = {"eq": have == want, "ne": have != want}.get(op)
        if ok is None:
            try:
                ok = {"gt": have > want, "ge": have >= want, "lt": have < want, "le": have <= want}[op]
            except TypeError:
                ok = False
        if not ok:
            return False
    return True


class _Pages:
    """`query_entities(...).by_page(token)`: pages of rows in key order, and the token of the next one."""

    def __init__(self, rows: list[TableEntity], size: int, token: dict[str, str] | None) -> None:
        start = 0
        if token:
            start = next((i for i, e in enumerate(rows) if (e["PartitionKey"], e["RowKey"]) >= (token["pk"], token["rk"])), len(rows))
        self._rows, self._size, self._at = rows, size, start
        self.continuation_token: dict[str, str] | None = None

    def __iter__(self) -> Iterator[list[TableEntity]]:
        return self

    def __next__(self) -> list[TableEntity]:
        if self._at >= len(self._rows) and self._at > 0:
            raise StopIteration
        page = self._rows[self._at:self._at + self._size]
        self._at += self._size
        rest = self._rows[self._at:]
        self.continuation_token = {"pk": rest[0]["PartitionKey"], "rk": rest[0]["RowKey"]} if rest else None
        return page


class _Query(list):
    def __init__(self, rows: list[TableEntity], size: int) -> None:
        super().__init__(rows)
        self._size = size

    def by_page(self, continuation_token: dict[str, str] | None = None) -> _Pages:
        return _Pages(list(self), self._size, continuation_token)


@dataclass
class Commit:
    """One write (a transaction or a single row): its table and, in order, each operation's kind, keys and entity."""

    table: str
    ops: list[tuple[str, tuple[str, str], dict[str, Any]]]


class MemoryTable:
    """One table's rows by (PartitionKey, RowKey), each with its ETag: the surface of the SDK's TableClient the app uses."""

    def __init__(self, storage: MemoryStorage, name: str) -> None:
        self.storage, self.name = storage, name
        self.rows: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        self._lock = threading.Lock()  # one write at a time, as the service applies them (bulk creates write in threads)
        self.conflicts = 0  # the next this many transactions (not single-row writes) meet a concurrent writer
        self.on_conflict: Callable[[], None] | None = None  # what that writer does first (default: nothing)

    def _entity(self, key: tuple[str, str], select: list[str] | None = None) -> TableEntity:
        data, etag = self.rows[key]
        entity = TableEntity(**{k: copy.deepcopy(v) for k, v in data.items() if select is None or k in select})
        entity._metadata = {"etag": etag, "timestamp": None}  # noqa: SLF001 - as the SDK sets it
        return entity

    def get_entity(self, partition_key: str, row_key: str, **_: Any) -> TableEntity:
        self.storage.counter(None)
        if (partition_key, row_key) not in self.rows:
            raise ResourceNotFoundError("not found")
        return self._entity((partition_key, row_key))

    def create_entity(self, entity: dict[str, Any], **_: Any) -> dict[str, Any]:
        return self._write([("create", entity)])[0]

    def upsert_entity(self, entity: dict[str, Any], mode: UpdateMode = UpdateMode.MERGE, **_: Any) -> dict[str, Any]:
        return self._write([("upsert", entity, {"mode": mode})])[0]

    def update_entity(self, entity: dict[str, Any], mode: UpdateMode = UpdateMode.MERGE, **kw: Any) -> dict[str, Any]:
        return self._write([("update", entity, {"mode": mode, **kw})])[0]

    def delete_entity(self, partition_key: str, row_key: str, **kw: Any) -> None:
        if (partition_key, row_key) in self.rows:  # the SDK answers a missing row's delete with success
            self._write([("delete", {"PartitionKey": partition_key, "RowKey": row_key}, kw)])

    def submit_transaction(self, batch: list[Any]) -> list[dict[str, Any]]:
        if self.conflicts:
            self.conflicts -= 1
            if self.on_conflict is not None:
                self.on_conflict()
            raise ResourceModifiedError("a concurrent change (injected)")
        return self._write(batch)

    def _write(self, batch: list[Any]) -> list[dict[str, Any]]:
        partitions = {op[1]["PartitionKey"] for op in batch}
        keys = [(op[1]["PartitionKey"], op[1]["RowKey"]) for op in batch]
        if len(partitions) > 1 or len(batch) > 100 or len(set(keys)) < len(keys):
            refused = HttpResponseError("a transaction is at most 100 distinct rows of one partition")
            refused.status_code = 400  # as Table Storage answers it: the caller's mistake, not an outage
            raise refused
        self.storage.counter(None)
        with self._lock:
            return self._apply(batch, keys)

    def _apply(self, batch: list[Any], keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        # All or nothing: the batch's rows are staged over the table (not a copy of it) and applied when all pass.
        staged: dict[tuple[str, str], tuple[dict[str, Any], str] | None] = {}
        results: list[dict[str, Any]] = []
        for op, key in zip(batch, keys, strict=True):
            kind, entity, kw = op[0], dict(op[1]), (op[2] if len(op) > 2 else {})
            current = staged[key] if key in staged else self.rows.get(key)
            etag = kw.get("etag")
            guarded = etag and kw.get("match_condition") == MatchConditions.IfNotModified and etag != "*"
            if kind == "create" and current is not None:
                raise ResourceExistsError(f"{key} exists")
            if kind in ("update", "delete") and current is None:
                raise ResourceNotFoundError(f"{key} not found")
            if guarded and current is not None and current[1] != etag:
                raise ResourceModifiedError(f"{key} changed")
            if kind == "delete":
                staged[key] = None
                results.append({})
                continue
            if kind == "update" and kw.get("mode") == UpdateMode.MERGE and current is not None:
                entity = {**current[0], **entity}
            new_etag = f'W/"{next(_etags)}"'
            staged[key] = (copy.deepcopy(entity), new_etag)
            results.append({"etag": new_etag})
        for key, row in staged.items():
            if row is None:
                self.rows.pop(key, None)
            else:
                self.rows[key] = row
        self.storage.journal.append(Commit(self.name, [(op[0], key, copy.deepcopy(dict(op[1]))) for op, key in zip(batch, keys, strict=True)]))
        return results

    def query_entities(self, query_filter: str, parameters: dict[str, Any] | None = None, *, select: list[str] | None = None,
                       results_per_page: int = 1000, **_: Any) -> _Query:
        self.storage.counter(None)
        hits = [self._entity(key, select) for key in sorted(self.rows) if _matches(self.rows[key][0], query_filter, parameters or {})]
        return _Query(hits, results_per_page)

    def list_entities(self, **kw: Any) -> _Query:
        return self.query_entities("", **kw)

    # -- for the tests' own eyes ------------------------------------------------------------------------
    def keys(self, prefix: str = "") -> list[str]:
        """Row keys (of every partition) starting with `prefix`, sorted."""
        return sorted(rk for (_, rk) in self.rows if rk.startswith(prefix))

    def entities(self, prefix: str = "") -> list[dict[str, Any]]:
        return [copy.deepcopy(data) for (_, rk), (data, _) in sorted(self.rows.items()) if rk.startswith(prefix)]


class MemoryQueue:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def send_message(self, content: str, **_: Any) -> None:
        self.messages.append(content)


class MemoryStorage(Storage):
    """The app's `Storage` with dictionaries for tables and queues (no SDK client is made)."""

    def __init__(self, settings: Settings | None = None) -> None:  # noqa: D107 - no super(): it would make SDK clients
        self.settings = settings or Settings(AzureWebJobsStorage="UseDevelopmentStorage=true")
        self.counter = RequestCounter()
        self.tables: dict[str, MemoryTable] = {}
        self.queues: dict[str, MemoryQueue] = {}
        self.journal: list[Commit] = []  # every write, in order

    @property
    def quick(self) -> Storage:
        return self

    def table(self, name: str) -> MemoryTable:  # type: ignore[override]
        full = self.table_name(name)
        return self.tables.setdefault(full, MemoryTable(self, full))

    def queue(self, name: str) -> MemoryQueue:  # type: ignore[override]
        return self.queues.setdefault(self.queue_name(name), MemoryQueue())

    def ping(self) -> None:
        return None

    def messages(self, queue: str) -> list[dict[str, Any]]:
        """The JSON payloads queued on `queue`, in order."""
        return [json.loads(base64.b64decode(m)) for m in self.queue(queue).messages]

    def drop(self, tables: Any, queues: Any = ()) -> None:
        self.tables.clear()
        self.queues.clear()


@dataclass
class MemoryContext(Context):
    """A request context whose storage the test can look into (its rows, its journal of writes)."""

    storage: MemoryStorage


def memory_context(clock: Clock | None = None, storage: MemoryStorage | None = None) -> MemoryContext:
    """A request context over in-memory storage: what every unit test of a service hands the service."""
    storage = storage or MemoryStorage()
    return MemoryContext(storage, clock or PROCESS_CLOCK, storage.settings)
