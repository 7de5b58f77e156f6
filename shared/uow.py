"""The unit of work: one request's changes to one partition, committed as one entity-group transaction.

A unit of work reads entities through its repositories and remembers the ETag each was read with (and any
bookkeeping the repository needs, such as the index key an invitation was filed under). Services change the
entities through their own domain methods and hand them back with `save`; `commit` turns everything staged
(changed entities, new ones, audit records) into one all-or-nothing transaction, each update guarded by the
ETag it was read with. `attempt` is the one retry policy of the app: when a commit meets a concurrent change,
the whole read-decide-write runs again on fresh data, a bounded number of times, then the caller hears `Busy`.

Services get their units of work from the request context (`shared.context`); unit tests run the same units of work
over in-memory storage (tests/unit/fakes.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from shared import events
from shared.errors import Busy
from shared.storage import ConcurrencyConflict, Op, Storage

T = TypeVar("T")
U = TypeVar("U", bound="UnitOfWork")

ATTEMPTS = 5


@dataclass
class Version:
    """What a unit of work remembers about an entity it read: its ETag and the repository's bookkeeping."""

    entity: Any
    etag: str | None
    state: Any = None


class UnitOfWork:
    """Staged operations on one partition and the versions of what was read. Subclasses add repositories."""

    def __init__(self) -> None:
        self._ops: list[Op] = []
        self._versions: dict[int, Version] = {}
        self._events: list[events.EventRow] = []
        self.committed = False

    # -- what was read ----------------------------------------------------------------------
    def remember(self, entity: Any, etag: str | None) -> Any:
        if entity is not None:
            self._versions[id(entity)] = Version(entity, etag, self.bookkeeping(entity))
        return entity

    def version(self, entity: Any) -> Version | None:
        return self._versions.get(id(entity))

    # -- what will be written -----------------------------------------------------------------
    def stage(self, *ops: Op) -> None:
        self._ops.extend(ops)

    def event(self, type_: str, partner_id: str, **data: Any) -> None:
        """Stage an event (webhooks, the events feed) in the same transaction as the change that causes it.

        It is filed in the partition this unit of work writes, so it exists exactly when the change does.
        """
        self._events.append(events.event("", type_, partner_id, **data))

    @property
    def staged(self) -> list[Op]:
        return list(self._ops)

    def commit(self) -> None:
        """Write everything staged as one transaction; ConcurrencyConflict when anything read has changed.

        Entities written keep their new ETag, so a unit of work may change and commit them again.
        """
        announced = None
        if self._events and self._ops:
            announced = (self.EVENT_TABLE, self.event_partition())
            for row in self._events:
                row.partition = announced[1]
            self._ops.extend(Op("create", row) for row in self._events)
            self._events = []  # staged now: a caller that commits again after a conflict must not add them twice
        if self._ops:
            results = self._transact(self._ops)
            for op, meta in zip(self._ops, results, strict=False):
                version = self._versions.get(id(op.row)) if op.row is not None and op.kind != "delete" else None
                if version is not None:
                    version.etag = meta.get("etag")
                    version.state = self.bookkeeping(op.row)
        self._ops = []
        self._events = []
        self.committed = True
        if announced is not None and self.storage_for_events() is not None:
            events.announce(self.storage_for_events(), [announced])  # type: ignore[arg-type]

    def rollback(self) -> None:
        self._ops = []
        self._events = []

    # -- where events go (subclasses say; a unit of work that stages no event needs none of these) --------
    EVENT_TABLE = ""  # the table it writes (logical name)

    def event_partition(self) -> str:
        """The partition this unit of work writes (its events are filed there)."""
        raise NotImplementedError

    def storage_for_events(self) -> Storage | None:
        """Where to announce committed events; None in tests over in-memory partitions."""
        return None

    def bookkeeping(self, entity: Any) -> Any:
        """What the repository must remember of an entity as stored (e.g. the index key it is filed under)."""
        return None

    def _transact(self, ops: list[Op]) -> list[Any]:
        raise NotImplementedError


def attempt(make: Callable[[], U], work: Callable[[U], T], *, attempts: int = ATTEMPTS, busy: str | None = None) -> T:
    """The one retry-on-conflict policy: `work(uow)` reads, decides and stages; the unit of work then commits.

    `work` may commit itself (to act after the commit within the same attempt); anything it staged and did not
    commit is committed when it returns. A conflict runs the whole of `work` again on fresh data; after
    `attempts` tries the caller hears `Busy` (nothing inconsistent was written).
    """

    def once() -> T:
        uow = make()
        try:
            result = work(uow)
            uow.commit()
            return result
        except ConcurrencyConflict:
            uow.rollback()
            raise

    return retrying(once, attempts=attempts, busy=busy)


def retrying(work: Callable[[], T], *, attempts: int = ATTEMPTS, busy: str | None = None) -> T:
    """Run a read-decide-write again while it meets a concurrent change (ConcurrencyConflict); then `Busy`.

    For writes outside a partition's unit of work (single marker rows such as rate-limit windows).
    """
    for _ in range(attempts):
        try:
            return work()
        except ConcurrencyConflict:
            continue
    raise Busy(busy or "It kept changing while we worked on it; nothing was changed. Retry.")
