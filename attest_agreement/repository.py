"""Where customers are kept: the `Customers` table, its rows, the customer store and the unit of work of one customer.

Everything about one customer lives in one partition of the `Customers` table, so every change to a
customer and its audit record is one entity-group transaction:
- `c|<customerId>` / `profile`: the company and its primary contact;
- `c|<customerId>` / `u|<normalized email>`: a user of the company with Business Center roles;
- `c|<customerId>` / `r|<partnerId>`: a reseller relationship with a partner (DAP and GDAP explicit);
- `c|<customerId>` / `g|<agreement type>`: the customer agreement acceptance;
- `c|<customerId>` / `a|...`: audit records.
A partner's list of customers is the index partition `pc|<partnerId>` / `<customerId>`, written after
the relationship itself (the relationship row is the truth; the index is rebuilt from it on retry).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from attest_agreement.customers import (
    AgreementAcceptance,
    CompanyUser,
    Customer,
    CustomerIndexEntry,
    RelationshipStatus,
    ResellerRelationship,
)
from shared import events
from shared.audit import AuditRecord, audit
from shared.storage import Entity, Op, Page, Repository, Storage
from shared.uow import UnitOfWork

TABLE = events.outbox_table("Customers")
PROFILE = "profile"


def customer_partition(customer_id: str) -> str:
    return f"c|{customer_id}"


def keys_of(row: Any) -> tuple[str, str]:
    """Where each kind of customer row lives (the layout described at the top of this module)."""
    if isinstance(row, events.EventRow):
        return row.storage_keys()
    if isinstance(row, Customer):
        return customer_partition(row.id), PROFILE
    if isinstance(row, CompanyUser):
        return customer_partition(row.customer_id), f"u|{row.email_normalized}"
    if isinstance(row, ResellerRelationship):
        return customer_partition(row.customer_id), f"r|{row.partner_id}"
    if isinstance(row, AgreementAcceptance):
        return customer_partition(row.customer_id), f"g|{row.type}"
    if isinstance(row, AuditRecord):
        return row.subject, row.row_key
    if isinstance(row, CustomerIndexEntry):
        return f"pc|{row.partner_id}", row.customer_id
    raise TypeError(f"not a customer row: {type(row).__name__}")


class _CustomerRows(Repository[Any]):
    table = TABLE

    def __init__(self, storage: Storage, model: type[BaseModel]) -> None:
        super().__init__(storage)
        self.model = model  # type: ignore[misc]

    def keys(self, row: Any) -> tuple[str, str]:
        return keys_of(row)

    def read_prefix(self, partition: str, prefix: str) -> list[Any]:
        """Every row of the partition whose key starts with `prefix` (one letter and '|')."""
        return self.query_all("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                              {"pk": partition, "lo": prefix, "hi": prefix[:-1] + "}"})


class CustomerStore:
    """Plain reads of customer rows (no change follows them), and the partners' customer lists."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.customers = _CustomerRows(storage, Customer)
        self.users = _CustomerRows(storage, CompanyUser)
        self.relationships = _CustomerRows(storage, ResellerRelationship)
        self.acceptances = _CustomerRows(storage, AgreementAcceptance)
        self.audit = _CustomerRows(storage, AuditRecord)
        self.index = _CustomerRows(storage, CustomerIndexEntry)

    def customer(self, customer_id: str) -> Customer | None:
        return self.customers.get(customer_partition(customer_id), PROFILE)

    def user(self, customer_id: str, email_normalized: str) -> CompanyUser | None:
        return self.users.get(customer_partition(customer_id), f"u|{email_normalized}")

    def users_of(self, customer_id: str) -> list[CompanyUser]:
        return self.users.read_prefix(customer_partition(customer_id), "u|")

    def relationship(self, customer_id: str, partner_id: str) -> ResellerRelationship | None:
        return self.relationships.get(customer_partition(customer_id), f"r|{partner_id}")

    def relationships_of(self, customer_id: str) -> list[ResellerRelationship]:
        return self.relationships.read_prefix(customer_partition(customer_id), "r|")

    def acceptance(self, customer_id: str, agreement_type: str = "MicrosoftCustomerAgreement") -> AgreementAcceptance | None:
        return self.acceptances.get(customer_partition(customer_id), f"g|{agreement_type}")

    def audit_page(self, customer_id: str, page_size: int = 100, continuation_token: str | None = None) -> Page[AuditRecord]:
        return self.audit.query_page(
            "PartitionKey eq @pk and RowKey ge 'a|' and RowKey lt 'a}'", {"pk": customer_partition(customer_id)},
            page_size=page_size, continuation_token=continuation_token,
        )

    def audit_after(self, customer_id: str, after_row_key: str, page_size: int) -> Page[AuditRecord]:
        """The customer's audit records after a row key (newest first: keys sort by reverse time)."""
        return self.audit.query_page("PartitionKey eq @pk and RowKey gt @after and RowKey lt 'a}'",
                                     {"pk": customer_partition(customer_id), "after": after_row_key}, page_size=page_size)

    def customers_of_partner(self, partner_id: str, page_size: int = 100, continuation_token: str | None = None) -> Page[CustomerIndexEntry]:
        return self.index.query_page("PartitionKey eq @pk", {"pk": f"pc|{partner_id}"}, page_size=page_size,
                                     continuation_token=continuation_token)

    def index_relationship(self, rel: ResellerRelationship, customer_name: str) -> None:
        """Put the customer on (or take it off) the partner's list; repeating it is harmless."""
        if rel.status == RelationshipStatus.ACTIVE:
            self.index.upsert(CustomerIndexEntry(partner_id=rel.partner_id, customer_id=rel.customer_id, name=customer_name,
                                                 role=rel.role, since=rel.created_at))
        else:
            self.index.delete(f"pc|{rel.partner_id}", rel.customer_id)


class CustomerUnitOfWork(UnitOfWork):
    """One customer's partition: reads remember their ETags; `add`, `save` and `record` are committed as one transaction.

    The partners' customer lists live in other partitions: `index` writes them after the commit, and
    rewriting them is harmless, so a retry that finds the relationship committed simply writes them again.
    Unit tests run it over the in-memory storage (tests/unit/fakes.py), as every other unit of work.
    """

    def __init__(self, storage: Storage, customer_id: str) -> None:
        super().__init__()
        self.storage = storage
        self.customer_id = customer_id
        self.partition = customer_partition(customer_id)

    # -- reads ---------------------------------------------------------------------------------------
    def customer(self) -> Customer | None:
        return self._load(Customer, PROFILE)

    def user(self, email_normalized: str) -> CompanyUser | None:
        return self._load(CompanyUser, f"u|{email_normalized}")

    def users(self) -> list[CompanyUser]:
        """The company's users, to look at (to change one, read it with `user`)."""
        return self._read_prefix(CompanyUser, "u|")

    def relationship(self, partner_id: str) -> ResellerRelationship | None:
        return self._load(ResellerRelationship, f"r|{partner_id}")

    def relationships(self) -> list[ResellerRelationship]:
        """The customer's relationships, to look at (to change one, read it with `relationship`)."""
        return self._read_prefix(ResellerRelationship, "r|")

    def tell_partners(self, type_: str, **data: Any) -> None:
        """Stage an event about the customer for each partner serving it now: the one place that decides who hears."""
        for partner_id in dict.fromkeys(r.partner_id for r in self.relationships() if r.serving):
            self.event(type_, partner_id, **data)

    def acceptance(self, agreement_type: str = "MicrosoftCustomerAgreement") -> AgreementAcceptance | None:
        return self._load(AgreementAcceptance, f"g|{agreement_type}")

    def _load(self, model: type[Entity], row_key: str) -> Any:
        found = self._read(model, row_key)
        if found is None:
            return None
        entity, etag = found
        return self.remember(entity, etag)

    # -- changes -------------------------------------------------------------------------------------
    def add(self, entity: Entity) -> None:
        """A new row; the commit fails (and `attempt` reads again) if it exists meanwhile."""
        self.stage(Op("create", entity))  # type: ignore[arg-type]

    def save(self, entity: Entity) -> None:
        """A row read through this unit of work, replaced only if nobody changed it since."""
        version = self.version(entity)
        if version is None:
            raise ValueError(f"save() needs a {type(entity).__name__} read through this unit of work")
        if not any(op.row is entity and op.kind == "update" for op in self.staged):
            self.stage(Op("update", entity, etag=version.etag))  # type: ignore[arg-type]

    def record(self, action: str, actor: str, *, before: Any = None, after: Any = None) -> AuditRecord:
        """An audit record of this customer, committed with the change it describes."""
        entry = audit(self.partition, action, actor, before=before, after=after, customer_id=self.customer_id)
        self.stage(Op("create", entry))
        return entry

    def index(self, rel: ResellerRelationship, customer_name: str) -> None:
        """After the commit: the customer on (or off) the partner's list."""
        CustomerStore(self._storage()).index_relationship(rel, customer_name)

    EVENT_TABLE = TABLE

    def event_partition(self) -> str:
        return self.partition

    def storage_for_events(self) -> Storage | None:
        return self.storage

    # -- storage -----------------------------------------------------------------------------------------
    def _storage(self) -> Storage:
        return self.storage

    def _read(self, model: type[Entity], row_key: str) -> tuple[Any, str | None] | None:
        return _CustomerRows(self._storage(), model).read(self.partition, row_key)

    def _read_prefix(self, model: type[Entity], prefix: str) -> list[Any]:
        return _CustomerRows(self._storage(), model).read_prefix(self.partition, prefix)

    def _transact(self, ops: list[Op]) -> list[Any]:
        return _CustomerRows(self._storage(), Customer).transact(ops)
