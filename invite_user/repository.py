"""Where invitations are kept: one table, a partition per partner that a link id names, and pointer rows.

Layout of the `Invitations` table (`<tag>` is `partner_tag(partnerId)`, which every link id of the partner ends with):
- `p|<tag>` / `k|<linkHash>`: the invitation, read by its link in ONE point read (the tag comes from the link id);
  every change is guarded by this row's ETag;
- `p|<tag>` / `i|<newest-first ticks>|<linkHash>`: the same invitation as the partner's listing shows it (lists are
  newest first for free), rewritten in the same transaction as the `k|` row, so the two never differ;
- `p|<tag>` / `x|<expiresAt>|<linkHash>`: the expiry index of a *pending* invitation, changed in the same transaction,
  so the timer reads only what is due; it names the reminder row (`reminder_key`) that expiring deletes with it;
- `p|<tag>` / `r|<remindAt>|<linkHash>`: the reminder index (`Invitation.reminder_at`: 7 days before expiry, then a
  retry mark while a claimed reminder is not sent), changed in the same transaction;
- `p|<tag>` / `a|...`: the audit records of the partner's invitations, written in the same transaction;
- `p|<tag>` / `k|<otherHash>` with `aliasOf`: an additional link minted by a resend by reference (two reads);
- `l|<first hex of hash>` / `<linkHash>`: the pointer from a bare link hash (a reference) to its invitation;
- `g|<agreementNumber>|<purchasingAccountNumber>` / `<linkHash>`: the purchasing account manager's invitation;
- `p|<tag>` / `e|<ticks>|<eventId>`: events (shared/events.py) written with their change, until webhooks/ publishes them.

Longer than usual because the layout is one decision: the rows that must change together (an invitation, its listing
copy, its expiry and reminder index rows, its audit) are written by the store, the sweep and the unit of work from this one module, and keyed requests
re-run against what a first run stored.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from invite_user import funnel
from invite_user.invitations import (
    Invitation,
    InvitationStatus,
    event_fields,
    expired_fields,
    link_hash,
    new_invitation_id,
    partner_tag,
    split_link_key,
)
from shared import events
from shared.audit import AuditRecord, reverse_ticks
from shared.storage import ConcurrencyConflict, Op, Page, Repository, Row, Storage, chunks
from shared.uow import UnitOfWork

TABLE = events.outbox_table("Invitations")


def partner_partition(partner_id: str) -> str:
    return tag_partition(partner_tag(partner_id))


def tag_partition(tag: str) -> str:
    return f"p|{tag}"


def invitation_row_key(inv: Invitation) -> str:
    """The listing row's key (newest first)."""
    return f"i|{reverse_ticks(inv.created_at)}|{inv.link_hash}"


def link_row_key(link_hash_: str) -> str:
    """The key of the invitation's own row, the one a link reads."""
    return f"k|{link_hash_}"


class Listed:
    """The listing copy of an invitation in a transaction: the same fields under the `i|` key.

    Not a Row, so a commit leaves the invitation's ETag (that of its `k|` row) alone.
    """

    def __init__(self, inv: Invitation) -> None:
        self.inv = inv

    def model_dump(self, **kw: Any) -> dict[str, Any]:
        return self.inv.model_dump(**kw)


class LinkAlias(Row):
    """An additional link to an invitation (its first id is not stored, so a resend by reference mints one)."""

    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    alias_of: str = Field(validation_alias="aliasOf", serialization_alias="aliasOf")
    link_hash: str = Field(validation_alias="linkHash", serialization_alias="linkHash")


def expiry_row_key(expires_at: datetime, link_hash: str) -> str:
    return f"x|{expires_at.strftime('%Y%m%dT%H%M%S')}|{link_hash}"


def reminder_row_key(remind_at: datetime, link_hash: str) -> str:
    return f"r|{remind_at.strftime('%Y%m%dT%H%M%S')}|{link_hash}"


class LinkPointer(Row):
    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    row_key: str = Field(validation_alias="rowKey", serialization_alias="rowKey")
    link_hash: str = Field(validation_alias="linkHash", serialization_alias="linkHash")


class ExpiryEntry(Row):
    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    link_hash: str = Field(validation_alias="linkHash", serialization_alias="linkHash")
    invitation_row_key: str = Field(validation_alias="invitationRowKey", serialization_alias="invitationRowKey")
    expires_at: datetime = Field(validation_alias="expiresAt", serialization_alias="expiresAt")
    # The invitation's reminder row when there is one: expiring deletes it in the same transaction, without a read.
    reminder_key: str | None = Field(default=None, validation_alias="reminderKey", serialization_alias="reminderKey")


class ReminderEntry(Row):
    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    link_hash: str = Field(validation_alias="linkHash", serialization_alias="linkHash")
    remind_at: datetime = Field(validation_alias="remindAt", serialization_alias="remindAt")


class AgreementPointer(Row):
    agreement_number: str = Field(validation_alias="agreementNumber", serialization_alias="agreementNumber")
    purchasing_account_number: str = Field(validation_alias="purchasingAccountNumber", serialization_alias="purchasingAccountNumber")
    link_hash: str = Field(validation_alias="linkHash", serialization_alias="linkHash")
    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    row_key: str = Field(validation_alias="rowKey", serialization_alias="rowKey")


def keys_of(row: Row) -> tuple[str, str]:
    """Keys of every kind of row in the table; one transaction may mix them within a partition."""
    if isinstance(row, events.EventRow):
        return row.storage_keys()
    if isinstance(row, Invitation):
        return partner_partition(row.partner_id), link_row_key(row.link_hash)
    if isinstance(row, Listed):
        return partner_partition(row.inv.partner_id), invitation_row_key(row.inv)
    if isinstance(row, LinkAlias):
        return partner_partition(row.partner_id), link_row_key(row.link_hash)
    if isinstance(row, ExpiryEntry):
        return partner_partition(row.partner_id), expiry_row_key(row.expires_at, row.link_hash)
    if isinstance(row, ReminderEntry):
        return partner_partition(row.partner_id), reminder_row_key(row.remind_at, row.link_hash)
    if isinstance(row, AuditRecord):
        return row.subject, row.row_key
    if isinstance(row, funnel.FunnelCount):
        return partner_partition(row.partner_id), funnel.row_key(row.day, row.shard)
    if isinstance(row, LinkPointer):
        return f"l|{row.link_hash[0]}", row.link_hash
    if isinstance(row, AgreementPointer):
        return f"g|{row.agreement_number.upper()}|{row.purchasing_account_number.upper()}", row.link_hash
    raise TypeError(f"not an invitations row: {type(row).__name__}")


class _Rows(Repository[Any]):
    table = TABLE

    def __init__(self, storage: Storage, model: type[BaseModel]) -> None:
        super().__init__(storage)
        self.model = model  # type: ignore[misc]

    def keys(self, row: Any) -> tuple[str, str]:
        return keys_of(row)


# The funnel count rows this process wrote last, per storage (its clients) and keys, with their ETags: a stale one meets
# 412 and is read again. Count rows are never deleted, so a kept one always exists.
_COUNT_ROWS: weakref.WeakKeyDictionary[Storage, dict[tuple[str, str, str], funnel.FunnelCount]] = weakref.WeakKeyDictionary()
COUNT_ATTEMPTS = 6  # parallel bulk chunks of one partner and day may meet on a shard; each retry takes another


class _LinkRows(_Rows):
    """`k|` rows: an invitation, or an alias naming the invitation's own link hash."""

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage, Invitation)

    def from_entity(self, entity: Any) -> Any:
        if "alias_of" in entity:
            alias = LinkAlias.model_validate({k: v for k, v in entity.items() if k not in ("PartitionKey", "RowKey")})
            return alias
        return super().from_entity(entity)

    def transact(self, ops: Sequence[Op]) -> list[Any]:
        """Every write of invitations passes here: a change of an invitation's stage carries the change of its day's
        funnel count in the same transaction (invite_user/funnel.py). The process keeps the count rows it wrote last
        (with their ETags), so a create costs no read of its count; a row another writer changed meanwhile (412) is read
        again, on another shard. A conflict of the invitations themselves stays the caller's, as before."""
        written = [op.row for op in ops if isinstance(op.row, Invitation) and op.kind in ("create", "update", "upsert")]
        counted = [(inv, inv.counted_stage, inv.counted_accept_minutes) for inv in written]
        shard = funnel.PROCESS_SHARD
        for attempt_no in range(COUNT_ATTEMPTS):
            extra = [self._count_op(partner_id, day, shard, delta)
                     for partner_id, delta in funnel.changes(written).items() for day in sorted({d for d, _ in delta})]
            try:
                results = super().transact([*ops, *extra])
            except BaseException as exc:
                for inv, stage, minutes in counted:  # not written: counted as it was
                    inv.counted_stage, inv.counted_accept_minutes = stage, minutes
                for op in extra:
                    self._kept().pop(self._cache_key(*keys_of(op.row)), None)  # type: ignore[arg-type]
                if not isinstance(exc, ConcurrencyConflict) or not self._counts_moved(extra) or attempt_no == COUNT_ATTEMPTS - 1:
                    raise  # the invitations' own conflict (or storage's): the caller's, as before
                shard = funnel.pick_shard()
                continue
            for op, meta in zip([*ops, *extra], results, strict=False):
                if isinstance(op.row, funnel.FunnelCount):
                    op.row.etag = meta.get("etag")
                    self._kept()[self._cache_key(*keys_of(op.row))] = op.row.model_copy(deep=True)
            return results
        raise AssertionError("unreachable")

    def _counts_moved(self, extra: list[Op]) -> bool:
        """Whether a conflict came from a count row: one of them changed since it was read (or was created meanwhile)."""
        for op in extra:
            found = self.counts.read(*keys_of(op.row))  # type: ignore[arg-type]
            if (found[1] if found else None) != (op.etag if op.kind == "update" else None):
                return True
        return False

    def _kept(self) -> dict[tuple[str, str, str], funnel.FunnelCount]:
        return _COUNT_ROWS.setdefault(self.storage, {})

    def _cache_key(self, pk: str, rk: str) -> tuple[str, str, str]:
        return self.storage.table_name(self.table), pk, rk

    def _count_op(self, partner_id: str, day: str, shard: int, delta: funnel.Delta) -> Op:
        key = (partner_partition(partner_id), funnel.row_key(day, shard))
        cached = self._kept().get(self._cache_key(*key))
        if cached is not None:
            row = cached.model_copy(deep=True)
            row.etag = cached.etag
        else:
            found = self.counts.read(*key)
            row = found[0] if found else funnel.FunnelCount(partner_id=partner_id, day=day, shard=shard)
            if found:
                row.etag = found[1]
        funnel.apply(row, delta)
        return Op("update", row, etag=row.etag) if row.etag else Op("create", row)

    @property
    def counts(self) -> _Rows:
        return _Rows(self.storage, funnel.FunnelCount)


def index_rows(inv: Invitation) -> dict[str, Row]:
    """The index rows an invitation needs as it stands, by row key: its expiry row while pending, its reminder row
    while a reminder is to come (`Invitation.reminder_at`). The unit of work files and moves exactly these."""
    rows: dict[str, Row] = {}
    remind_at = inv.reminder_at()
    reminder_key = None
    if remind_at is not None:
        reminder_key = reminder_row_key(remind_at, inv.link_hash)
        rows[reminder_key] = ReminderEntry(partner_id=inv.partner_id, link_hash=inv.link_hash, remind_at=remind_at)
    if inv.status == InvitationStatus.PENDING:
        rows[expiry_row_key(inv.expires_at, inv.link_hash)] = ExpiryEntry(
            partner_id=inv.partner_id, link_hash=inv.link_hash, invitation_row_key=invitation_row_key(inv),
            expires_at=inv.expires_at, reminder_key=reminder_key)
    return rows


def index_ops(was: Mapping[str, Row], now: Mapping[str, Row]) -> list[Op]:
    """Move an invitation's index rows from what was filed to what it needs: gone ones deleted, new ones created, and
    one whose content changed under the same key (an expiry row naming a moved reminder row) rewritten."""
    ops = [Op("delete", keys=keys_of(row)) for key, row in was.items() if key not in now]
    for key, row in now.items():
        if key not in was:
            ops.append(Op("create", row))
        elif was[key].model_dump(by_alias=True) != row.model_dump(by_alias=True):
            ops.append(Op("upsert", row))
    return ops


class InvitationStore:
    """All reads and writes of invitations; every change of one invitation is one transaction."""

    # Expiring takes up to six operations per invitation (its row, its listing copy, the expiry and reminder index
    # rows, audit, event) and the funnel count of its creation day: 14 x 6 + 14 = 98 of the 100 a transaction holds.
    PER_TRANSACTION = 14
    # In bulk, four per invitation (row, listing copy, expiry and reminder index rows) plus, for the chunk, one audit
    # record, one outbox row holding every invitation's `invitation.created` and the day's funnel count: 24 x 4 + 3 = 99.
    BULK_PER_TRANSACTION = 24
    PARALLEL_WRITES = 4

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.invitations = _LinkRows(storage)
        self.pointers = _Rows(storage, LinkPointer)
        self.expiry = _Rows(storage, ExpiryEntry)
        self.reminders = _Rows(storage, ReminderEntry)
        self.audit = _Rows(storage, AuditRecord)
        self.agreements = _Rows(storage, AgreementPointer)

    # -- create ---------------------------------------------------------------------------
    def create(self, inv: Invitation, record: AuditRecord, event: str = "invitation.created") -> Invitation:
        """Pointer first: if the partner's transaction then fails, a pointer to nothing reads as not found.

        Returns the stored invitation: `inv`, or the one a first run of the same keyed request already stored
        under this link (link ids of keyed requests are derived from the Idempotency-Key, see shared.idempotency).
        """
        existing = self._point(inv)
        if existing is not None:
            return existing
        if inv.agreement:
            self.agreements.upsert(self._agreement_pointer(inv))
        self.invitations.transact(self._create_ops(inv, record, event))
        return inv

    def create_many(
        self, invitations: Sequence[Invitation], record_for: Callable[[Sequence[Invitation]], AuditRecord]
    ) -> dict[str, Invitation]:
        """Bulk create, batched within partitions. Returns the stored invitations by link hash (those a first run of
        the same keyed request stored included); a link hash missing was not stored.

        Each partner transaction carries BULK_PER_TRANSACTION invitations with their index rows, ONE audit record
        naming them all (`record_for(chunk)`) and ONE outbox row with their events; chunks never mix customers, so a customer's audit finds
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
                created = events.events(partner_partition(chunk[0].partner_id), "invitation.created", chunk[0].partner_id,
                                        [event_fields(inv) for inv in chunk], at=chunk[0].created_at)
                ops = [op for inv in chunk for op in InvitationUnitOfWork.store_ops(inv, None)]
                ops += [Op("create", record_for(chunk)), Op("create", created)]
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
        raw = new_invitation_id(inv.partner_id)
        alias = link_hash(raw)
        self.invitations.insert(LinkAlias(partner_id=inv.partner_id, alias_of=inv.link_hash, link_hash=alias))
        self.pointers.insert(LinkPointer(partner_id=inv.partner_id, row_key=link_row_key(inv.link_hash), link_hash=alias))
        return raw

    def _create_ops(self, inv: Invitation, record: AuditRecord | None, event: str = "invitation.created") -> list[Op]:
        created = events.event(partner_partition(inv.partner_id), event, inv.partner_id, at=inv.created_at, **event_fields(inv))
        return [*InvitationUnitOfWork.store_ops(inv, record), Op("create", created)]

    def _pointer(self, inv: Invitation) -> LinkPointer:
        return LinkPointer(partner_id=inv.partner_id, row_key=link_row_key(inv.link_hash), link_hash=inv.link_hash)

    def _agreement_pointer(self, inv: Invitation) -> AgreementPointer:
        assert inv.agreement
        return AgreementPointer(
            agreement_number=inv.agreement.agreement_number, purchasing_account_number=inv.agreement.purchasing_account_number,
            link_hash=inv.link_hash, partner_id=inv.partner_id, row_key=link_row_key(inv.link_hash),
        )

    # -- read ------------------------------------------------------------------------------
    def locate(self, key: str) -> tuple[str, str] | None:
        """(partition, row key) of the `k|` row a link key leads to: from its tag (no read), else via the pointer."""
        tag, hash_ = split_link_key(key)
        if tag is not None:
            return tag_partition(tag), link_row_key(hash_)
        pointer = self.pointers.get(f"l|{hash_[0]}", hash_) if hash_ else None
        return (partner_partition(pointer.partner_id), pointer.row_key) if pointer is not None else None

    def read_link(self, key: str) -> tuple[Invitation, str | None] | None:
        """The invitation a link key (or a bare link hash) leads to, with its ETag. One read from a link id."""
        where = self.locate(key)
        found = self.invitations.read(*where) if where is not None else None
        if found is not None and isinstance(found[0], LinkAlias):
            found = self.invitations.read(where[0], link_row_key(found[0].alias_of))  # type: ignore[index]
        if found is None or isinstance(found[0], LinkAlias):
            return None
        return found

    def find_by_link(self, key: str) -> Invitation | None:
        found = self.read_link(key)
        return found[0] if found is not None else None

    def get(self, partner_id: str, row_key: str) -> Invitation | None:
        found = self.invitations.get(partner_partition(partner_id), row_key)
        return found if isinstance(found, Invitation) else None

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
        customer_id: str | None = None, email_status: str | None = None, stage: str | None = None,
        created_before: datetime | None = None, page_size: int = 100, continuation_token: str | None = None,
    ) -> Page[Invitation]:
        # partnerId too: two partners whose 48-bit tags collide would share a partition.
        clauses = ["PartitionKey eq @pk", "RowKey ge 'i|'", "RowKey lt 'i}'", "partner_id eq @partner"]
        params: dict[str, Any] = {"pk": partner_partition(partner_id), "partner": partner_id}
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
        # The listing copy carries emailStatus and the stored stage (copies written before stages existed have none).
        for column, value in (("email_status", email_status), ("stage", stage)):
            if value:
                clauses.append(f"{column} eq @{column}")
                params[column] = value
        if created_before is not None:  # stored as ISO text (UTC, Z): compared as text, to the second
            clauses.append("created_at lt @created_before")
            params["created_before"] = created_before.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        return self.invitations.query_page(" and ".join(clauses), params, page_size=page_size, continuation_token=continuation_token)

    def funnel_rows(self, partner_id: str, start: str, end: str) -> list[funnel.FunnelCount]:
        """The funnel counts of the days start..end (YYYYMMDD, both included): one range query of days x SHARDS rows."""
        return self.counts.query_all("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and partner_id eq @partner",
                                     {"pk": partner_partition(partner_id), "lo": f"f|{start}|", "hi": f"f|{end}|~", "partner": partner_id})

    @property
    def counts(self) -> _Rows:
        return self.invitations.counts

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
        """The key of the invitation's own row (the `k|` row every change goes through)."""
        return link_row_key(inv.link_hash)

    # -- expiry ----------------------------------------------------------------------------
    def due_for_expiry(self, partner_id: str, now: datetime, page_size: int = 1000) -> list[ExpiryEntry]:
        return self.expiry.query_all(
            "PartitionKey eq @pk and RowKey ge 'x|' and RowKey lt @upto",
            {"pk": partner_partition(partner_id), "upto": f"x|{now.strftime('%Y%m%dT%H%M%S')}~"},
            page_size=page_size,
        )

    def due_reminders(self, partner_id: str, now: datetime, page_size: int = 1000) -> list[ReminderEntry]:
        """The partner's reminder index up to now: only what is due is read."""
        return self.reminders.query_all(
            "PartitionKey eq @pk and RowKey ge 'r|' and RowKey lt @upto",
            {"pk": partner_partition(partner_id), "upto": f"r|{now.strftime('%Y%m%dT%H%M%S')}~"},
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
        # The expiry row's ETag guards the reminder row too: whatever moves that row rewrites this one.
        reminder = [Op("delete", keys=(pk, e.reminder_key))] if e.reminder_key else []
        return [
            Op("delete", keys=(pk, expiry_row_key(e.expires_at, e.link_hash)), etag=e.etag),
            *reminder,
            Op("merge", keys=(pk, link_row_key(e.link_hash)), fields=fields),
            Op("merge", keys=(pk, e.invitation_row_key), fields=fields),
            Op("create", make_record(e)),
            Op("create", events.event(pk, "invitation.expired", e.partner_id, at=now, reference=e.link_hash, resource=f"invitations/{e.link_hash}")),
        ]


class InvitationUnitOfWork(UnitOfWork):
    """Changes to invitations of one partner partition, with their index rows and audit records, in one transaction.

    It remembers the ETag each invitation was read with and the index rows it was filed under (`index_rows`: expiry,
    reminder), so `save` and `add` keep every index right without anybody passing index keys.
    """

    def __init__(self, storage: Storage) -> None:
        super().__init__()
        self.store = InvitationStore(storage)
        self._by_key: dict[str, Invitation | None] = {}

    def bookkeeping(self, entity: Any) -> Any:
        return index_rows(entity) if isinstance(entity, Invitation) else None

    def by_link(self, key: str) -> Invitation | None:
        """The invitation a link key leads to (one read), or a bare link hash (pointer, then the invitation)."""
        if key not in self._by_key:  # read once per unit of work: its ETag guards the commit either way
            found = self.store.read_link(key)
            self._by_key[key] = self.remember(found[0], found[1]) if found is not None else None
        return self._by_key[key]

    def get(self, partner_id: str, row_key: str) -> Invitation | None:
        found = self.store.invitations.read(partner_partition(partner_id), row_key)
        return self.remember(found[0], found[1]) if found is not None and isinstance(found[0], Invitation) else None

    def add(self, inv: Invitation, record: AuditRecord | None = None) -> None:
        """Stage a new invitation with its index rows (its link pointer is written first, by the store)."""
        self.remember(inv, None)
        self.stage(*self.store_ops(inv, record))

    @staticmethod
    def store_ops(inv: Invitation, record: AuditRecord | None) -> list[Op]:
        ops = [Op("create", inv), Op("create", Listed(inv))]  # type: ignore[arg-type]
        ops += index_ops({}, index_rows(inv))
        if record is not None:
            ops.append(Op("create", record))
        return ops

    def save(self, inv: Invitation, record: AuditRecord | None = None) -> None:
        """Stage a changed invitation under the ETag it was read with; its index rows follow its state."""
        version = self.version(inv)
        if version is None:
            raise ValueError("save an invitation this unit of work read")
        # The listing copy and the index rows follow without a condition: the `k|` row's ETag guards the transaction.
        ops = [Op("update", inv, etag=version.etag), Op("upsert", Listed(inv))]  # type: ignore[arg-type]
        self.stage(*ops, *index_ops(version.state or {}, index_rows(inv)))
        if record is not None:
            self.record(record)

    def record(self, record: AuditRecord) -> None:
        self.stage(Op("create", record))

    EVENT_TABLE = TABLE

    def event_partition(self) -> str:
        return self.staged[0].keys[0] if self.staged[0].keys else keys_of(self.staged[0].row)[0]  # type: ignore[arg-type]

    def storage_for_events(self) -> Storage | None:
        return self.store.storage

    def _transact(self, ops: list[Op]) -> list[Any]:
        return self.store.invitations.transact(ops)
