"""The one storage layer: typed repositories over Azure Table Storage, and the app's queues.

Longer than usual because it is the whole of the app's contact with the storage SDK (clients, error translation,
(de)serialisation, transactions, paging), kept in one place so nothing else imports azure.data.tables.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError, UpdateMode
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.fields import STORED
from shared.models import Model
from shared.settings import Settings, get_settings

if TYPE_CHECKING:  # the queue SDK (and the aiohttp it pulls in) loads on the first queue use: cold starts skip it
    from azure.storage.queue import QueueClient, QueueServiceClient

log = logging.getLogger(__name__)


class StorageUnavailable(Exception):
    """Storage could not be reached or failed on its side; nothing can be assumed written."""


class ConcurrencyConflict(Exception):
    """The row changed since it was read (ETag), or a row that must be new exists already."""


class MalformedRow(Exception):
    """A stored row does not fit its model: a bug or a hand edit, never the caller's fault."""


class Entity(Model):
    """A domain object stored as one table entity; it knows nothing of storage (its ETag lives in the unit of work)."""

    model_config = ConfigDict(populate_by_name=True)


class Row(Model):
    """A storage-only row (pointer, index, marker) that carries its own ETag. Nested values are kept as JSON strings."""

    model_config = ConfigDict(populate_by_name=True)
    etag: str | None = Field(default=None, exclude=True)


M = TypeVar("M", bound=BaseModel)


class RequestCounter:
    """Counts storage HTTP requests (every attempt), for benchmarks and request-budget tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self, request: Any) -> None:
        with self._lock:
            self.count += 1

    def reset(self) -> int:
        with self._lock:
            n, self.count = self.count, 0
            return n


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, (ResourceExistsError, ResourceModifiedError)):
        return ConcurrencyConflict(str(exc))
    if isinstance(exc, HttpResponseError) and exc.status_code == 412:
        return ConcurrencyConflict(str(exc))
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return StorageUnavailable(str(exc))
    if isinstance(exc, HttpResponseError) and (exc.status_code or 500) >= 500:
        return StorageUnavailable(str(exc))
    return exc


class Storage:
    """Clients for the app's tables and queues. Tables and queues are created on first use, once per process."""

    # A request path answers within about 10 s when storage does not: 3 tries of at most 3 s each (a transaction
    # of 100 rows takes well under a second). `quick` (health, releasing a key) tries once, for 1.5 s.
    TIMEOUTS: ClassVar[dict[str, Any]] = {"retry_total": 2, "retry_backoff_factor": 0.2, "connection_timeout": 2, "read_timeout": 3}
    QUICK_TIMEOUTS: ClassVar[dict[str, Any]] = {"retry_total": 0, "connection_timeout": 1, "read_timeout": 1.5}

    def __init__(self, settings: Settings | None = None, counter: RequestCounter | None = None, *, quick: bool = False) -> None:
        self.settings = settings or get_settings()
        self.counter = counter or RequestCounter()
        self._lock = threading.Lock()
        self._tables: dict[str, TableClient] = {}
        self._queues: dict[str, QueueClient] = {}
        self._queue_client: QueueServiceClient | None = None
        self._queue_client_lock = threading.Lock()  # not self._lock: queue() holds that one while asking for this client
        self._quick: Storage | None = self if quick else None
        client_kwargs: dict[str, Any] = {"raw_request_hook": self.counter, **(self.QUICK_TIMEOUTS if quick else self.TIMEOUTS)}

        def queue_kwargs() -> dict[str, Any]:
            # The queue SDK has its own retry policy (15 s, then 45 s between tries by default): the same short one here.
            from azure.storage.queue import LinearRetry

            return {**client_kwargs, "retry_policy": LinearRetry(
                backoff=client_kwargs.get("retry_backoff_factor", 0), retry_total=client_kwargs["retry_total"], random_jitter_range=0)}
        s = self.settings
        if s.storage_connection_string:
            conn = _expand_dev_storage(s.storage_connection_string)
            self._table_service = TableServiceClient.from_connection_string(conn, **client_kwargs)

            def queues() -> QueueServiceClient:
                from azure.storage.queue import QueueServiceClient

                return QueueServiceClient.from_connection_string(conn, **queue_kwargs())
        elif s.table_service_uri and s.queue_service_uri:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
            self._table_service = TableServiceClient(s.table_service_uri, credential=credential, **client_kwargs)
            queue_uri = s.queue_service_uri

            def queues() -> QueueServiceClient:
                from azure.storage.queue import QueueServiceClient

                return QueueServiceClient(queue_uri, credential=credential, **queue_kwargs())
        else:
            raise RuntimeError("Set AzureWebJobsStorage, or AzureWebJobsStorage__tableServiceUri and __queueServiceUri")
        self._make_queue_service = queues

    @property
    def _queue_service(self) -> QueueServiceClient:
        """The queue service client, made on first use (with its SDK)."""
        if self._queue_client is None:
            with self._queue_client_lock:
                if self._queue_client is None:
                    self._queue_client = self._make_queue_service()
        return self._queue_client

    @property
    def quick(self) -> Storage:
        """The same storage with one short try per request: for answers that must come within a second or two."""
        if self._quick is None:
            with self._lock:
                if self._quick is None:
                    self._quick = Storage(self.settings, self.counter, quick=True)
        return self._quick

    def table_name(self, name: str) -> str:
        return f"{self.settings.table_prefix}{name}"

    def queue_name(self, name: str) -> str:
        # Queue names come whole from settings (EMAIL_QUEUE...), as the queue trigger sees them.
        return name

    def table(self, name: str) -> TableClient:
        full = self.table_name(name)
        client = self._tables.get(full)
        if client is not None:
            return client
        with self._lock:
            if full not in self._tables:
                try:
                    self._table_service.create_table(full)
                except ResourceExistsError:
                    pass
                except AzureError as exc:
                    raise _translate(exc) from exc
                self._tables[full] = self._table_service.get_table_client(full)
            return self._tables[full]

    def queue(self, name: str) -> QueueClient:
        full = self.queue_name(name)
        client = self._queues.get(full)
        if client is not None:
            return client
        with self._lock:
            if full not in self._queues:
                q = self._queue_service.get_queue_client(full)
                try:
                    q.create_queue()
                except ResourceExistsError:
                    pass
                except AzureError as exc:
                    raise _translate(exc) from exc
                self._queues[full] = q
            return self._queues[full]

    def ping(self) -> None:
        """One cheap request that proves storage answers (health checks)."""
        try:
            next(iter(self._table_service.list_tables(results_per_page=1).by_page()), None)
        except AzureError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def send_message(self, queue: str, payload: dict[str, Any], *, delay_seconds: int = 0) -> None:
        """Queue a JSON message, base64-encoded as the Functions queue trigger expects by default."""
        body = base64.b64encode(json.dumps(payload).encode()).decode()
        try:
            self.queue(queue).send_message(body, visibility_timeout=delay_seconds or None)
        except AzureError as exc:
            raise _translate(exc) from exc

    def drop(self, tables: Iterable[str], queues: Iterable[str] = ()) -> None:
        """Delete tables and queues (tests)."""
        for t in tables:
            self._table_service.delete_table(self.table_name(t))
        for q in queues:
            for name in (self.queue_name(q), self.queue_name(q) + "-poison"):
                try:
                    self._queue_service.delete_queue(name)
                except ResourceNotFoundError:
                    pass
        self._tables.clear()
        self._queues.clear()


def _expand_dev_storage(conn: str) -> str:
    if conn.strip().rstrip(";") != "UseDevelopmentStorage=true":
        return conn
    # The well-known Azurite account; only ever used for a local endpoint.
    key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={key};"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
        "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
        "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
    )


def azurite_connection_string(blob_port: int, queue_port: int, table_port: int) -> str:
    key = _expand_dev_storage("UseDevelopmentStorage=true").split("AccountKey=")[1].split(";")[0]
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{blob_port}/devstoreaccount1;"
        f"QueueEndpoint=http://127.0.0.1:{queue_port}/devstoreaccount1;"
        f"TableEndpoint=http://127.0.0.1:{table_port}/devstoreaccount1;"
    )


@dataclass
class Page(Generic[M]):
    """One page of rows and the token that continues after it (None on the last page)."""

    items: list[M]
    continuation_token: str | None


@dataclass
class Op:
    """One operation of an entity-group transaction: 'create', 'update', 'upsert', 'merge' or 'delete'.

    'merge' writes only `fields` of the row at `keys` (no read needed); the others take a whole `row`.
    """

    kind: str
    row: Row | Entity | None = None  # a domain entity (a subscription) rides as its own repository's row
    keys: tuple[str, str] | None = None
    etag: str | None = None
    fields: dict[str, Any] | None = None


_ENC_PREFIX = "json:"


def encode_token(token: dict[str, str] | None) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> dict[str, str] | None:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, json.JSONDecodeError) as exc:
        raise ValueError("malformed continuation token") from exc
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("malformed continuation token")
    return value


def etag_of(entity: Any) -> str | None:
    return entity.metadata.get("etag") if hasattr(entity, "metadata") else None


class Repository(Generic[M]):
    """Typed access to one table. Subclasses say which model it holds and how its keys are made."""

    table: ClassVar[str]
    model: ClassVar[type[BaseModel]]

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    # -- keys and (de)serialisation -------------------------------------------------
    def keys(self, row: M) -> tuple[str, str]:
        raise NotImplementedError

    def to_entity(self, row: M) -> dict[str, Any]:
        # A row that knows its own keys (an outbox event) rides in any table's transaction.
        own_keys = getattr(row, "storage_keys", None)
        pk, rk = own_keys() if own_keys is not None else self.keys(row)
        entity: dict[str, Any] = {"PartitionKey": pk, "RowKey": rk}
        for name, value in row.model_dump(mode="json").items():
            if value is None:
                continue
            if isinstance(value, (dict, list)):
                value = _ENC_PREFIX + json.dumps(value, separators=(",", ":"))
            entity[name] = value
        return entity

    def from_entity(self, entity: Any) -> M:
        data: dict[str, Any] = {}
        for name, value in entity.items():
            if name in ("PartitionKey", "RowKey"):
                continue
            if isinstance(value, str) and value.startswith(_ENC_PREFIX):
                value = json.loads(value[len(_ENC_PREFIX):])
            data[name] = value
        try:
            row = self.model.model_validate(data, context=STORED)
        except ValidationError as exc:
            raise MalformedRow(f"{self.table} {entity.get('PartitionKey')}/{entity.get('RowKey')}: {exc}") from exc
        if isinstance(row, Row):
            row.etag = etag_of(entity)
        return row  # type: ignore[return-value]

    def _client(self) -> TableClient:
        return self.storage.table(self.table)

    # -- single rows ------------------------------------------------------------------
    def read(self, pk: str, rk: str) -> tuple[M, str | None] | None:
        """A row with the ETag it was read at (for entities that do not carry storage metadata themselves)."""
        try:
            entity = self._client().get_entity(pk, rk)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise _translate(exc) from exc
        return self.from_entity(entity), etag_of(entity)

    def get(self, pk: str, rk: str) -> M | None:
        found = self.read(pk, rk)
        return found[0] if found is not None else None

    def insert(self, row: M) -> M:
        try:
            meta = self._client().create_entity(self.to_entity(row))
        except AzureError as exc:
            raise _translate(exc) from exc
        if isinstance(row, Row):
            row.etag = meta.get("etag")
        return row

    def upsert(self, row: M) -> M:
        try:
            meta = self._client().upsert_entity(self.to_entity(row), mode=UpdateMode.REPLACE)
        except AzureError as exc:
            raise _translate(exc) from exc
        if isinstance(row, Row):
            row.etag = meta.get("etag")
        return row

    def replace(self, row: M) -> M:
        """Replace a row read earlier, only if nobody changed it since (its ETag)."""
        if not isinstance(row, Row) or not row.etag:
            raise ValueError("replace needs the row's etag")
        try:
            meta = self._client().update_entity(
                self.to_entity(row), mode=UpdateMode.REPLACE, etag=row.etag, match_condition=MatchConditions.IfNotModified
            )
        except AzureError as exc:
            raise _translate(exc) from exc
        row.etag = meta.get("etag")
        return row

    def delete(self, pk: str, rk: str, etag: str | None = None) -> None:
        """Delete a row; gone already is fine, unless an ETag said which version must be deleted."""
        try:
            if etag:
                self._client().delete_entity(pk, rk, etag=etag, match_condition=MatchConditions.IfNotModified)
            else:
                self._client().delete_entity(pk, rk)
        except ResourceNotFoundError as exc:
            if etag:
                raise ConcurrencyConflict(str(exc)) from exc
        except AzureError as exc:
            raise _translate(exc) from exc

    # -- several rows of one partition, all or nothing ------------------------------------
    def transact(self, ops: Sequence[Op]) -> list[Any]:
        """Commit up to 100 operations on one partition atomically.

        Every written entity carries this transaction's `writeStamp`. When storage acted but its answer was lost, the
        SDK's retry meets the transaction's own writes (409/412), or the caller hears no answer at all; the stamp tells
        a committed transaction apart from someone else's change, and it counts as committed, as it is.
        """
        if not ops:
            return []
        stamp = uuid.uuid4().hex
        batch: list[Any] = []
        for op in ops:
            if op.kind == "delete":
                pk, rk = op.keys or self.keys(op.row)  # type: ignore[arg-type]
                entity = {"PartitionKey": pk, "RowKey": rk}
                kw = {"etag": op.etag, "match_condition": MatchConditions.IfNotModified} if op.etag else {}
                batch.append(("delete", entity, kw))
            elif op.kind == "update":
                etag = op.etag or getattr(op.row, "etag", None)
                kw = {"mode": UpdateMode.REPLACE}
                if etag:
                    kw |= {"etag": etag, "match_condition": MatchConditions.IfNotModified}
                batch.append(("update", self._stamped(self.to_entity(op.row), stamp), kw))  # type: ignore[arg-type]
            elif op.kind == "merge":
                pk, rk = op.keys  # type: ignore[misc]
                kw = {"mode": UpdateMode.MERGE}
                if op.etag:
                    kw |= {"etag": op.etag, "match_condition": MatchConditions.IfNotModified}
                batch.append(("update", self._stamped({"PartitionKey": pk, "RowKey": rk, **(op.fields or {})}, stamp), kw))
            elif op.kind == "upsert":
                batch.append(("upsert", self._stamped(self.to_entity(op.row), stamp), {"mode": UpdateMode.REPLACE}))  # type: ignore[arg-type]
            else:
                batch.append(("create", self._stamped(self.to_entity(op.row), stamp)))  # type: ignore[arg-type]
        try:
            result = self._client().submit_transaction(batch)
        except TableTransactionError as exc:
            if exc.status_code in (409, 412, 404):
                landed = self._landed(batch, stamp)
                if landed is None:
                    raise ConcurrencyConflict(str(exc)) from exc
                result = landed
            else:
                raise _translate(exc) from exc
        except AzureError as exc:
            # No answer (a batch is not retried by the SDK): it may have committed all the same.
            error = _translate(exc)
            landed = self._landed(batch, stamp) if isinstance(error, StorageUnavailable) else None
            if landed is None:
                raise error from exc
            result = landed
        for op, meta in zip(ops, result, strict=False):
            if isinstance(op.row, Row) and op.kind != "delete":
                op.row.etag = meta.get("etag")
        return list(result)

    @staticmethod
    def _stamped(entity: dict[str, Any], stamp: str) -> dict[str, Any]:
        return {**entity, "writeStamp": stamp}

    def _landed(self, batch: list[Any], stamp: str) -> list[Any] | None:
        """After a conflict: the results of this very transaction if it is the one stored (its answer was lost)."""
        probe = batch[0]
        try:
            current = self._client().get_entity(probe[1]["PartitionKey"], probe[1]["RowKey"])
        except ResourceNotFoundError:
            current = None
        except AzureError:
            return None
        if probe[0] == "delete":
            if current is not None or len(batch) > 1:
                return None  # gone proves it only for a lone delete
            return [{}]
        if current is None or current.get("writeStamp") != stamp:
            return None
        log.warning("a transaction's answer was lost; it had committed (stamp %s)", stamp[:8])
        results: list[Any] = []
        for op in batch:
            if op[0] == "delete":
                results.append({})
                continue
            try:
                results.append({"etag": etag_of(self._client().get_entity(op[1]["PartitionKey"], op[1]["RowKey"]))})
            except AzureError:
                results.append({})
        return results

    # -- queries ------------------------------------------------------------------------
    def query_page(
        self,
        filter_: str,
        parameters: dict[str, Any] | None = None,
        *,
        page_size: int = 100,
        continuation_token: str | None = None,
        select: list[str] | None = None,
    ) -> Page[M]:
        """One page of rows, in key order; the token resumes where it stopped (opaque to callers)."""
        token = decode_token(continuation_token)
        try:
            pager = self._client().query_entities(
                filter_, parameters=parameters or {}, results_per_page=page_size, select=select
            ).by_page(continuation_token=token)  # pyright: ignore[reportArgumentType]  (tables' tokens are dicts; the SDK types str)
            page = next(pager, None)
            items = [self.from_entity(e) for e in page] if page is not None else []
            next_token = pager.continuation_token  # pyright: ignore[reportAttributeAccessIssue]  (the SDK's pager, typed as an iterator)
        except AzureError as exc:
            raise _translate(exc) from exc
        return Page(items, encode_token(next_token))

    def query_entities(self, filter_: str, parameters: dict[str, Any] | None = None, *,
                       select: list[str] | None = None) -> list[Any]:
        """Raw entities (with their metadata), for tables holding rows of several shapes."""
        try:
            return list(self._client().query_entities(filter_, parameters=parameters or {}, select=select, results_per_page=1000))
        except AzureError as exc:
            raise _translate(exc) from exc

    def query_all(self, filter_: str, parameters: dict[str, Any] | None = None, page_size: int = 1000) -> list[M]:
        try:
            return [
                self.from_entity(e)
                for e in self._client().query_entities(filter_, parameters=parameters or {}, results_per_page=page_size)
            ]
        except AzureError as exc:
            raise _translate(exc) from exc


_default: Storage | None = None
_default_lock = threading.Lock()


def get_storage() -> Storage:
    """The process-wide storage clients (created once, reused across invocations as Azure Functions does)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Storage()
    return _default


def set_storage(storage: Storage | None) -> None:
    global _default
    _default = storage


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


