"""Where customers are kept: the customer store and the unit of work of one customer.

The table's layout (which row lives under which keys) is in `attest_agreement/layout.py`; everything about one
customer lives in one partition, so every change to a customer and its audit record is one entity-group transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from attest_agreement.customers import (
    EXPIRY_PARTITION,
    AgreementAcceptance,
    AgreementAttestation,
    AttestationExpiry,
    AttestationReceipt,
    AttestationSlot,
    CompanyUser,
    Customer,
    CustomerIndexEntry,
    PipelineEntry,
    RelationshipStatus,
    RemovedUser,
    ResellerRelationship,
    UnsentEmails,
    pipeline_stage,
)
from attest_agreement.layout import PROFILE, TABLE, CustomerRows, customer_partition, keys_of
from shared.audit import AuditRecord, audit
from shared.clock import utc_now
from shared.storage import Entity, Op, Page, Row, Storage
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)


class CustomerStore:
    """Plain reads of customer rows (no change follows them), and the partners' customer lists."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.customers = CustomerRows(storage, Customer)
        self.users = CustomerRows(storage, CompanyUser)
        self.relationships = CustomerRows(storage, ResellerRelationship)
        self.acceptances = CustomerRows(storage, AgreementAcceptance)
        self.audit = CustomerRows(storage, AuditRecord)
        self.index = CustomerRows(storage, CustomerIndexEntry)
        self.attestations = CustomerRows(storage, AgreementAttestation)
        self.slots = CustomerRows(storage, AttestationSlot)
        self.expiries = CustomerRows(storage, AttestationExpiry)
        self.pipeline = CustomerRows(storage, PipelineEntry)
        self.receipts = CustomerRows(storage, AttestationReceipt)

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

    # -- customer-confirmed attestations: the partner's pipeline and the expiry index -------------------------
    def attestation(self, customer_id: str, attestation_id: str) -> AgreementAttestation | None:
        return self.attestations.get(customer_partition(customer_id), f"t|{attestation_id}")

    def current_attestation(self, customer_id: str, agreement_type: str = "MicrosoftCustomerAgreement") -> AgreementAttestation | None:
        slot = self.slots.get(customer_partition(customer_id), f"g|{agreement_type}|attestation")
        return self.attestation(customer_id, slot.attestation_id) if slot is not None else None

    def customers_after(self, partner_id: str, after: str, page_size: int) -> Page[CustomerIndexEntry]:
        """The partner's customers after a customer id (key order), one page."""
        return self.index.query_page("PartitionKey eq @pk and RowKey gt @after", {"pk": f"pc|{partner_id}", "after": after},
                                     page_size=page_size)

    def pipeline_between(self, partner_id: str, first: str, last: str) -> dict[str, PipelineEntry]:
        """The partner's pipeline rows of the customers from `first` to `last` (key order), by customer id."""
        rows = self.pipeline.query_all("PartitionKey eq @pk and RowKey ge @lo and RowKey le @hi",
                                       {"pk": f"pa|{partner_id}", "lo": first, "hi": last})
        return {row.customer_id: row for row in rows}

    def file_pipeline(self, customer_id: str, now: datetime) -> None:
        """File the customer in the pipeline of each partner with an active relationship, from the customer's own rows.

        Two queries read what decides it (the agreement's rows: its acceptance and its current attestation's slot; the
        relationships), one read the current attestation. Rewriting a row is harmless, so any change to an acceptance or
        attestation simply files again.
        """
        acceptance, slot = None, None
        for entity in self.acceptances.query_entities("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                                                      {"pk": customer_partition(customer_id), "lo": "g|MicrosoftCustomerAgreement",
                                                       "hi": "g|MicrosoftCustomerAgreement}"}):
            if entity["RowKey"].endswith("|attestation"):
                slot = self.slots.from_entity(entity)
            else:
                acceptance = self.acceptances.from_entity(entity)
        relationships = self.relationships_of(customer_id)
        current = self.attestation(customer_id, slot.attestation_id) if slot is not None else None
        for rel in relationships:
            if rel.status != RelationshipStatus.ACTIVE:
                continue
            mine = current if current is not None and current.partner_id == rel.partner_id else None
            self.pipeline.upsert(PipelineEntry(
                partner_id=rel.partner_id, customer_id=customer_id, stage=pipeline_stage(acceptance, mine),
                attestation_id=mine.id if mine else None, expires_at=mine.expires_at if mine else None,
                accepted_at=mine.accepted_at if mine else None, filed_at=now))

    def expiring(self, until: datetime, page_size: int = 100) -> list[AttestationExpiry]:
        """Expiry index rows of links that expire before `until` (oldest first): only what expires is read."""
        return self.expiries.query_page("PartitionKey eq @pk and RowKey lt @until",
                                        {"pk": EXPIRY_PARTITION, "until": until.strftime("%Y%m%dT%H%M%S")},
                                        page_size=page_size).items


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

    def unsent_emails(self, emails_id: str) -> UnsentEmails | None:
        found = self._read(UnsentEmails, f"n|{emails_id}")
        return found[0] if found else None

    def removed_user(self, email_normalized: str) -> RemovedUser | None:
        return self._load(RemovedUser, f"x|{email_normalized}")

    def removed_users(self) -> list[RemovedUser]:
        """Who was removed from the company (to tell them whom to ask); never members."""
        return self._read_prefix(RemovedUser, "x|")

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

    def attestation(self, attestation_id: str) -> AgreementAttestation | None:
        return self._load(AgreementAttestation, f"t|{attestation_id}")

    def attestation_slot(self, agreement_type: str = "MicrosoftCustomerAgreement") -> AttestationSlot | None:
        return self._load(AttestationSlot, f"g|{agreement_type}|attestation")

    def _load(self, model: type[Entity], row_key: str) -> Any:
        found = self._read(model, row_key)
        if found is None:
            return None
        entity, etag = found
        return self.remember(entity, etag)

    # -- changes -------------------------------------------------------------------------------------
    def add(self, entity: Entity | Row) -> None:
        """A new row; the commit fails (and `attempt` reads again) if it exists meanwhile."""
        self.stage(Op("create", entity))  # type: ignore[arg-type]

    def save(self, entity: Entity) -> None:
        """A row read through this unit of work, replaced only if nobody changed it since."""
        version = self.version(entity)
        if version is None:
            raise ValueError(f"save() needs a {type(entity).__name__} read through this unit of work")
        if not any(op.row is entity and op.kind == "update" for op in self.staged):
            self.stage(Op("update", entity, etag=version.etag))  # type: ignore[arg-type]

    def delete(self, entity: Entity) -> None:
        """A row read through this unit of work, deleted only if nobody changed it since."""
        version = self.version(entity)
        if version is None:
            raise ValueError(f"delete() needs a {type(entity).__name__} read through this unit of work")
        self.stage(Op("delete", entity, etag=version.etag))  # type: ignore[arg-type]

    def put(self, entity: Entity) -> None:
        """A row written whatever is there (a marker whose latest version is all that counts)."""
        self.stage(Op("upsert", entity))  # type: ignore[arg-type]

    def forget(self, row: UnsentEmails) -> None:
        """Emails sent: the row that owed them goes at once (outside any transaction; gone already is fine)."""
        CustomerRows(self._storage(), UnsentEmails).delete(*keys_of(row))

    def record(self, action: str, actor: str, *, before: Any = None, after: Any = None) -> AuditRecord:
        """An audit record of this customer, committed with the change it describes."""
        entry = audit(self.partition, action, actor, before=before, after=after, customer_id=self.customer_id)
        self.stage(Op("create", entry))
        return entry

    def index(self, rel: ResellerRelationship, customer_name: str) -> None:
        """After the commit: the customer on (or off) the partner's list."""
        CustomerStore(self._storage()).index_relationship(rel, customer_name)

    def commit(self) -> None:
        """Commit; then, when an acceptance or attestation changed, file the customer in its partners' pipelines.

        Here, so that every way an agreement gets accepted (typed-in, direct, customer-confirmed) keeps the pipeline
        right without each remembering to. The pipeline is another partition (no shared transaction): it is filed
        after the commit, and a failure to file is logged, never answered as a failure of the committed change.
        """
        files = self.storage is not None and any(isinstance(op.row, (AgreementAcceptance, AgreementAttestation))
                                                 for op in self.staged)
        super().commit()
        if files:
            try:
                CustomerStore(self._storage()).file_pipeline(self.customer_id, utc_now())
            except Exception:  # noqa: BLE001  (an index that lags must not turn a committed change into an error)
                log.exception("could not file customer %s in its partners' agreement pipelines", self.customer_id)

    EVENT_TABLE = TABLE

    def event_partition(self) -> str:
        return self.partition

    def storage_for_events(self) -> Storage | None:
        return self.storage

    # -- storage -----------------------------------------------------------------------------------------
    def _storage(self) -> Storage:
        return self.storage

    def _read(self, model: type[Entity] | type[Row], row_key: str) -> tuple[Any, str | None] | None:
        return CustomerRows(self._storage(), model).read(self.partition, row_key)

    def _read_prefix(self, model: type[Entity] | type[Row], prefix: str) -> list[Any]:
        return CustomerRows(self._storage(), model).read_prefix(self.partition, prefix)

    def _transact(self, ops: list[Op]) -> list[Any]:
        return CustomerRows(self._storage(), Customer).transact(ops)
