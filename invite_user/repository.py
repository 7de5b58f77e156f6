"""Where invitations are kept: one table, a partition per partner, and small pointer rows for the link.

Layout of the `Invitations` table:
- `p|<partnerId>` / `i|<newest-first ticks>|<linkHash>`: the invitation (lists are newest first for free);
- `p|<partnerId>` / `x|<expiresAt>|<linkHash>`: the expiry index of a *pending* invitation, changed in the
  same transaction as the invitation, so the timer reads only what is due;
- `p|<partnerId>` / `a|...`: the audit records of the partner's invitations, written in the same transaction;
- `l|<first hex of hash>` / `<linkHash>`: the pointer from a link to its invitation (never changes);
- `g|<agreementNumber>|<purchasingAccountNumber>` / `<linkHash>`: the purchasing account manager's invitation.

Longer than usual because it is the whole of one table (five kinds of rows, bulk writes, re-runs of keyed requests)
and its unit of work, which share the row layout.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from pydantic import Field

from invite_user.invitations import Invitation, InvitationStatus, expired_fields, link_hash, new_invitation_id
from shared.audit import AuditRecord, reverse_ticks
from shared.storage import ConcurrencyConflict, Op, Page, Repository, Row, Storage, chunks
from shared.uow import UnitOfWork

TABLE = "Invitations"


def partner_partition(partner_id: str) -> str:
    return f"p|{partner_id}"


def invitation_row_key(inv: Invitation) -> str:
    return f"i|{reverse_ticks(inv.created_at)}|{inv.link_hash}"


def expiry_row_key(expires_at: datetime, link_hash: str) -> str:
    return f"x|{expires_at.strftime('%Y%m%dT%H%M%S')}|{link_hash}"


class LinkPointer(Row):
    partner_id: str = Field(alias="partnerId")
    row_key: str = Field(alias="rowKey")
    link_hash: str = Field(alias="linkHash")


class ExpiryEntry(Row):
    partner_id: str = Field(alias="partnerId")
    link_hash: str = Field(alias="linkHash")
    invitation_row_key: str = Field(alias="invitationRowKey")
    expires_at: datetime = Field(alias="expiresAt")


class AgreementPointer(Row):
    agreement_number: str = Field(alias="agreementNumber")
    purchasing_account_number: str = Field(alias="purchasingAccountNumber")
    link_hash: str = Field(alias="linkHash")
    partner_id: str = Field(alias="partnerId")
    row_key: str = Field(alias="rowKey")


def keys_of(row: Row) -> tuple[str, str]:
    """Keys of every kind of row in the table; one transaction may mix them within a partition."""
    if isinstance(row, Invitation):
        return partner_partition(row.partner_id), invitation_row_key(row)
    if isinstance(row, ExpiryEntry):
        return partner_partition(row.partner_id), expiry_row_key(row.expires_at, row.link_hash)
    if isinstance(row, AuditRecord):
        return row.subject, row.row_key
    if isinstance(row, LinkPointer):
        return f"l|{row.link_hash[0]}", row.link_hash
    if isinstance(row, AgreementPointer):
        return f"g|{row.agreement_number.upper()}|{row.purchasing_account_number.upper()}", row.link_hash
    raise TypeError(f"not an invitations row: {type(row).__name__}")


class _Rows(Repository[Any]):
    table = TABLE

    def __init__(self, storage: Storage, model: type[Row]) -> None:
        super().__init__(storage)
        self.model = model  # type: ignore[misc]

    def keys(self, row: Any) -> tuple[str, str]:
        return keys_of(row)


def _expiry_entry(inv: Invitation) -> ExpiryEntry:
    return ExpiryEntry(
        partner_id=inv.partner_id, link_hash=inv.link_hash, invitation_row_key=invitation_row_key(inv), expires_at=inv.expires_at
    )


class InvitationStore:
    """All reads and writes of invitations; every change of one invitation is one transaction."""

    # Each invitation takes three operations of its partner's transaction (row, expiry index, audit).
    PER_TRANSACTION = 33
    # In bulk, two per invitation plus one audit record for the chunk (a transaction holds 100 operations).
    BULK_PER_TRANSACTION = 49
    PARALLEL_WRITES = 4

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.invitations = _Rows(storage, Invitation)
        self.pointers = _Rows(storage, LinkPointer)
        self.expiry = _Rows(storage, ExpiryEntry)
        self.audit = _Rows(storage, AuditRecord)
        self.agreements = _Rows(storage, AgreementPointer)

    # -- create ---------------------------------------------------------------------------
    def create(self, inv: Invitation, record: AuditRecord) -> Invitation:
        """Pointer first: if the partner's transaction then fails, a pointer to nothing reads as not found.

        Returns the stored invitation: `inv`, or the one a first run of the same keyed request already stored
        under this link (link ids of keyed requests are derived from the Idempotency-Key, see shared.idempotency).
        """
        existing = self._point(inv)
        if existing is not None:
            return existing
        if inv.agreement:
            self.agreements.upsert(self._agreement_pointer(inv))
        self.invitations.transact(self._create_ops(inv, record))
        return inv

    def create_many(
        self, invitations: Sequence[Invitation], record_for: Callable[[Sequence[Invitation]], AuditRecord]
    ) -> dict[str, Invitation]:
        """Bulk create, batched within partitions. Returns the stored invitations by link hash (those a first run of
        the same keyed request stored included); a link hash missing was not stored.

        Each partner transaction carries BULK_PER_TRANSACTION invitations with their expiry rows and ONE audit
        record naming them all (`record_for(chunk)`); chunks never mix customers, so a customer's audit finds
        its own. Independent partitions are written in parallel: the work is mostly waiting on storage.
        """
        by_bucket: dict[str, list[Invitation]] = defaultdict(list)
        for inv in invitations:
            by_bucket[inv.link_hash[0]].append(inv)
        pointer_chunks = [chunk for invs in by_bucket.values() for chunk in chunks(invs, 100)]

        found: dict[str, Invitation] = {}

        def write_pointers(chunk: Sequence[Invitation]) -> set[str]:
            try:
                self.pointers.transact([Op("create", self._pointer(i)) for i in chunk])
            except ConcurrencyConflict:
                # A re-run of a keyed bulk (same derived link ids): one by one, keeping what the first run stored.
                pointed_here = set()
                for i in chunk:
                    existing = self._point(i)
                    if existing is None:
                        pointed_here.add(i.link_hash)
                    else:
                        found[i.link_hash] = existing
                return pointed_here
            return {i.link_hash for i in chunk}

        with ThreadPoolExecutor(max_workers=self.PARALLEL_WRITES) as pool:
            pointed = set().union(*pool.map(write_pointers, pointer_chunks)) if pointer_chunks else set()
            for inv in invitations:
                if inv.agreement and inv.link_hash in pointed:
                    self.agreements.upsert(self._agreement_pointer(inv))
            groups: dict[tuple[str, str | None], list[Invitation]] = defaultdict(list)
            for inv in invitations:
                if inv.link_hash in pointed:
                    groups[(inv.partner_id, inv.customer_id)].append(inv)
            partner_chunks = [chunk for group in groups.values() for chunk in chunks(group, self.BULK_PER_TRANSACTION)]

            def write_invitations(chunk: Sequence[Invitation]) -> set[str]:
                ops = [op for inv in chunk for op in self._create_ops(inv, None)] + [Op("create", record_for(chunk))]
                self.invitations.transact(ops)
                return {inv.link_hash for inv in chunk}

            written = set().union(*pool.map(write_invitations, partner_chunks)) if partner_chunks else set()
        by_hash = {inv.link_hash: inv for inv in invitations}
        return {h: by_hash[h] for h in written} | found

    def _point(self, inv: Invitation) -> Invitation | None:
        """Write the link's pointer; when it exists already, the invitation it leads to (None: a pointer left by
        a failed first run, now pointed at this invitation)."""
        try:
            self.pointers.insert(self._pointer(inv))
            return None
        except ConcurrencyConflict:
            existing = self.find_by_link(inv.link_hash)
            if existing is not None:
                return existing
            self.pointers.upsert(self._pointer(inv))
            return None

    def add_link(self, inv: Invitation) -> str:
        """Mint another link id for an existing invitation (its first id is not stored, only hashed)."""
        raw = new_invitation_id()
        self.pointers.insert(LinkPointer(partner_id=inv.partner_id, row_key=invitation_row_key(inv), link_hash=link_hash(raw)))
        return raw

    def _create_ops(self, inv: Invitation, record: AuditRecord | None) -> list[Op]:
        return InvitationUnitOfWork.store_ops(inv, record)

    def _pointer(self, inv: Invitation) -> LinkPointer:
        return LinkPointer(partner_id=inv.partner_id, row_key=invitation_row_key(inv), link_hash=inv.link_hash)

    def _agreement_pointer(self, inv: Invitation) -> AgreementPointer:
        assert inv.agreement
        return AgreementPointer(
            agreement_number=inv.agreement.agreement_number, purchasing_account_number=inv.agreement.purchasing_account_number,
            link_hash=inv.link_hash, partner_id=inv.partner_id, row_key=invitation_row_key(inv),
        )

    # -- read ------------------------------------------------------------------------------
    def find_by_link(self, link_hash: str) -> Invitation | None:
        pointer = self.pointers.get(f"l|{link_hash[0]}", link_hash)
        if pointer is None:
            return None
        return self.invitations.get(partner_partition(pointer.partner_id), pointer.row_key)

    def find_for_partner(self, partner_id: str, link_hash: str) -> Invitation | None:
        inv = self.find_by_link(link_hash)
        # Another partner's invitation is "not found", never "forbidden": its existence is not the caller's business.
        return inv if inv is not None and inv.partner_id == partner_id else None

    def get(self, partner_id: str, row_key: str) -> Invitation | None:
        return self.invitations.get(partner_partition(partner_id), row_key)

    def find_by_agreement(self, agreement_number: str, purchasing_account_number: str) -> list[Invitation]:
        pk = f"g|{agreement_number.strip().upper()}|{purchasing_account_number.strip().upper()}"
        out = []
        for pointer in self.agreements.query_all("PartitionKey eq @pk", {"pk": pk}):
            inv = self.get(pointer.partner_id, pointer.row_key)
            if inv is not None:
                out.append(inv)
        return out

    def list_page(
        self, partner_id: str, *, status: str | None = None, email: str | None = None, kind: str | None = None,
        customer_id: str | None = None, page_size: int = 100, continuation_token: str | None = None,
    ) -> Page[Invitation]:
        clauses = ["PartitionKey eq @pk", "RowKey ge 'i|'", "RowKey lt 'i}'"]
        params: dict[str, Any] = {"pk": partner_partition(partner_id)}
        if status:
            clauses.append("status eq @status")
            params["status"] = status
        if email:
            clauses.append("email_normalized eq @email")
            params["email"] = email
        if kind:
            clauses.append("kind eq @kind")
            params["kind"] = kind
        if customer_id:
            clauses.append("customer_id eq @customer")
            params["customer"] = customer_id
        return self.invitations.query_page(" and ".join(clauses), params, page_size=page_size, continuation_token=continuation_token)

    def audit_page(self, partner_id: str, *, page_size: int = 100, continuation_token: str | None = None) -> Page[AuditRecord]:
        """The partner's invitation audit records, newest first."""
        return self.audit.query_page("PartitionKey eq @pk and RowKey ge 'a|' and RowKey lt 'a}'", {"pk": partner_partition(partner_id)},
                                     page_size=page_size, continuation_token=continuation_token)

    def audit_after(self, partner_id: str, customer_id: str, after_row_key: str, page_size: int) -> Page[AuditRecord]:
        """The partner's audit records about one customer after a row key (newest first)."""
        return self.audit.query_page(
            "PartitionKey eq @pk and RowKey gt @after and RowKey lt 'a}' and customer_id eq @customer",
            {"pk": partner_partition(partner_id), "after": after_row_key, "customer": customer_id}, page_size=page_size)

    @staticmethod
    def row_key(inv: Invitation) -> str:
        return invitation_row_key(inv)

    # -- expiry ----------------------------------------------------------------------------
    def due_for_expiry(self, partner_id: str, now: datetime, page_size: int = 1000) -> list[ExpiryEntry]:
        return self.expiry.query_all(
            "PartitionKey eq @pk and RowKey ge 'x|' and RowKey lt @upto",
            {"pk": partner_partition(partner_id), "upto": f"x|{now.strftime('%Y%m%dT%H%M%S')}~"},
            page_size=page_size,
        )

    def expire(self, entries: Sequence[ExpiryEntry], now: datetime, make_record: Any) -> int:
        """Mark due invitations Expired without reading them.

        The expiry index row is deleted under its ETag in the same transaction: an invitation accepted,
        revoked or resent meanwhile has lost (or replaced) that row, so the whole change is refused and
        nothing is overwritten. Batches fall back to one transaction per invitation on a conflict.
        """
        expired = 0
        for chunk in chunks(entries, self.PER_TRANSACTION):
            try:
                self.invitations.transact([op for e in chunk for op in self._expire_ops(e, now, make_record)])
                expired += len(chunk)
            except ConcurrencyConflict:
                for e in chunk:
                    try:
                        self.invitations.transact(self._expire_ops(e, now, make_record))
                        expired += 1
                    except ConcurrencyConflict:
                        continue
        return expired

    def _expire_ops(self, e: ExpiryEntry, now: datetime, make_record: Any) -> list[Op]:
        pk = partner_partition(e.partner_id)
        fields = {name: (value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else str(value))
                  for name, value in expired_fields(now).items()}
        return [
            Op("delete", keys=(pk, expiry_row_key(e.expires_at, e.link_hash)), etag=e.etag),
            Op("merge", keys=(pk, e.invitation_row_key), fields=fields),
            Op("create", make_record(e)),
        ]


class InvitationUnitOfWork(UnitOfWork):
    """Changes to invitations of one partner partition, with their expiry index and audit records, in one transaction.

    It remembers the ETag each invitation was read with and the expiry index row it was filed under (if pending),
    so `save` moves the index along without anybody passing index keys.
    """

    def __init__(self, storage: Storage) -> None:
        super().__init__()
        self.store = InvitationStore(storage)

    def bookkeeping(self, entity: Any) -> Any:
        if isinstance(entity, Invitation) and entity.status == InvitationStatus.PENDING:
            return expiry_row_key(entity.expires_at, entity.link_hash)
        return None

    def by_link(self, link_hash: str) -> Invitation | None:
        pointer = self.store.pointers.get(f"l|{link_hash[0]}", link_hash)
        return self.get(pointer.partner_id, pointer.row_key) if pointer is not None else None

    def get(self, partner_id: str, row_key: str) -> Invitation | None:
        found = self.store.invitations.read(partner_partition(partner_id), row_key)
        return self.remember(found[0], found[1]) if found is not None else None

    def add(self, inv: Invitation, record: AuditRecord | None = None) -> None:
        """Stage a new invitation with its expiry index row (its link pointer is written first, by the store)."""
        self.remember(inv, None)
        self.stage(*self.store_ops(inv, record))

    @staticmethod
    def store_ops(inv: Invitation, record: AuditRecord | None) -> list[Op]:
        ops = [Op("create", inv)]
        if inv.status == InvitationStatus.PENDING:
            ops.append(Op("create", _expiry_entry(inv)))
        if record is not None:
            ops.append(Op("create", record))
        return ops

    def save(self, inv: Invitation, record: AuditRecord | None = None) -> None:
        """Stage a changed invitation under the ETag it was read with; its expiry index row follows its state."""
        version = self.version(inv)
        if version is None:
            raise ValueError("save an invitation this unit of work read")
        pk = partner_partition(inv.partner_id)
        was_filed, now_filed = version.state, self.bookkeeping(inv)
        ops = [Op("update", inv, etag=version.etag)]
        if was_filed != now_filed:
            if was_filed is not None:
                ops.append(Op("delete", keys=(pk, was_filed)))
            if now_filed is not None:
                ops.append(Op("create", _expiry_entry(inv)))
        self.stage(*ops)
        if record is not None:
            self.record(record)

    def record(self, record: AuditRecord) -> None:
        self.stage(Op("create", record))

    def _transact(self, ops: list[Op]) -> list[Any]:
        return self.store.invitations.transact(ops)
