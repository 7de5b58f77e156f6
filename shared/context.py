"""The request context: what a service works with — one unit of work per partition, the stores, the clock, the settings.

It is built once per invocation at the edge (`shared.endpoints.endpoint`, the page pipeline, the timers and the queue
functions) and handed to the service, which takes nothing else infrastructural: as cosmicpython's service takes a
unit of work. Unit tests hand the same services a context over in-memory storage (tests/unit/fakes.py).

Table Storage has no transaction across partitions, so there is no single unit of work for the whole request:
`ctx.invitations()`, `ctx.customer(id)`, `ctx.domains(id)` each open one partition's unit of work, committed as
one transaction (with `shared.uow.attempt`, the one retry policy). This module names the features' units of work
and stores, so it imports their repository modules (and only those: they import nothing of the services).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from attest_agreement.customers import CustomerStore, CustomerUnitOfWork
from company_domains.repository import DomainClaims, DomainUnitOfWork
from invite_user.repository import InvitationStore, InvitationUnitOfWork
from partners.registry import PartnerRepository
from shared import clock as clocks
from shared import events
from shared.clock import Clock
from shared.settings import Settings, get_settings
from shared.storage import Storage, get_storage

T = TypeVar("T")


@dataclass
class Context:
    """One invocation's storage, clock and settings, and the units of work and stores made over them."""

    storage: Storage
    clock: Clock = field(default_factory=lambda: clocks.PROCESS_CLOCK)
    settings: Settings = field(default_factory=get_settings)
    _stores: dict[Any, Any] = field(default_factory=dict, repr=False)

    def now(self) -> datetime:
        return self.clock.now()

    # -- units of work: one partition each, committed as one transaction ------------------------------
    def invitations(self) -> InvitationUnitOfWork:
        """A partner's invitations (the partition is the one of the first invitation read or added)."""
        return InvitationUnitOfWork(self.storage)

    def customer(self, customer_id: str) -> CustomerUnitOfWork:
        return CustomerUnitOfWork(self.storage, customer_id)

    def domains(self, customer_id: str) -> DomainUnitOfWork:
        """The customer's partition, with its verified domains and join requests."""
        return DomainUnitOfWork(self.storage, customer_id)

    def unit(self, kind: type[T], *args: Any) -> T:
        """A feature's own unit of work (a subclass of one above, or one over a table only that feature writes)."""
        return kind(self.storage, *args)  # type: ignore[call-arg]

    # -- stores: reads no change follows, pointer and marker rows, lists across partitions ----------------
    @property
    def invitation_store(self) -> InvitationStore:
        return self.store(InvitationStore)

    @property
    def customer_store(self) -> CustomerStore:
        return self.store(CustomerStore)

    @property
    def domain_claims(self) -> DomainClaims:
        return self.store(DomainClaims)

    @property
    def partners(self) -> PartnerRepository:
        return self.store(PartnerRepository)

    def store(self, kind: type[T], *args: Any) -> T:
        """A store over this context's storage (made once per context for the same arguments)."""
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
