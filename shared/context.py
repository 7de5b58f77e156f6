"""The request context: what a service works with — one unit of work per partition, the stores, the clock, the settings.

It is built once per invocation at the edge (`shared.endpoints.endpoint`, the page pipeline, the timers and the queue
functions) and handed to the service, which takes nothing else infrastructural: as cosmicpython's service takes a
unit of work. Unit tests hand the same services a context over in-memory storage (tests/unit/fakes.py).

Table Storage has no transaction across partitions, so there is no single unit of work for the whole request:
`ctx.unit(InvitationUnitOfWork)`, `ctx.unit(CustomerUnitOfWork, customer_id)`, `ctx.unit(DomainUnitOfWork, customer_id)`
each open one partition's unit of work, committed as one transaction (with `shared.uow.attempt`, the one retry
policy). The features' classes are named by the features (shared imports none of them: .importlinter's layers).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from shared import clock as clocks
from shared import events
from shared.clock import Clock
from shared.settings import Settings, get_settings
from shared.storage import Storage, get_storage
from shared.uow import UnitOfWork

U = TypeVar("U", bound=UnitOfWork)
S = TypeVar("S")


@dataclass
class Context:
    """One invocation's storage, clock and settings, and the units of work and stores made over them."""

    storage: Storage
    clock: Clock = field(default_factory=lambda: clocks.PROCESS_CLOCK)
    settings: Settings = field(default_factory=get_settings)
    _stores: dict[Any, Any] = field(default_factory=dict, repr=False)

    def now(self) -> datetime:
        return self.clock.now()

    # -- units of work and stores: made here, over this context's storage ----------------------------------
    def unit(self, kind: type[U], *partition: Any) -> U:
        """A unit of work of one partition (e.g. `ctx.unit(CustomerUnitOfWork, customer_id)`): a fresh one per call,
        committed as one transaction; `shared.uow.attempt(lambda: ctx.unit(...), work)` retries it on a conflict."""
        return kind(self.storage, *partition)  # type: ignore[call-arg]

    def store(self, kind: type[S], *args: Any) -> S:
        """A store (plain reads, pointer and marker rows, lists across partitions), made once per context."""
        key = (kind, *args)
        if key not in self._stores:
            self._stores[key] = kind(self.storage, *args)  # type: ignore[call-arg]
        return self._stores[key]

    # -- queues ------------------------------------------------------------------------------------------
    def send_message(self, queue: str, payload: dict[str, Any], *, delay_seconds: int = 0) -> None:
        self.storage.send_message(queue, payload, delay_seconds=delay_seconds)

    def announce(self, partitions: Iterable[events.Partition]) -> bool:
        """Tell the webhooks queue about committed events (units of work do it themselves when they commit)."""
        return events.announce(self.storage, partitions)

    @property
    def quick(self) -> Context:
        """The same context with one short try per storage request (answers due within a second or two)."""
        return Context(self.storage.quick, self.clock, self.settings)


def request_context() -> Context:
    """The context of one invocation, at the edge: the process's storage clients, clock and settings."""
    return Context(get_storage(), clocks.PROCESS_CLOCK, get_settings())
