"""In-memory units of work for fast service tests: the real unit of work's logic over dict-backed partitions."""

from __future__ import annotations

import copy
from typing import Any

from invite_user.invitations import Invitation, split_link_key
from invite_user.repository import InvitationUnitOfWork, keys_of, partner_partition
from shared.storage import ConcurrencyConflict, Op
from shared.uow import UnitOfWork


class FakeTable:
    """Rows by (PartitionKey, RowKey) with an ETag counter; `conflicts` fails the next commits as a concurrent writer would."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[Any, str]] = {}
        self.conflicts = 0
        self.commits = 0
        self._etag = 0

    def next_etag(self) -> str:
        self._etag += 1
        return f'W/"{self._etag}"'

    def put(self, row: Any) -> None:
        self.rows[keys_of(row)] = (copy.deepcopy(row), self.next_etag())

    def transact(self, ops: list[Op]) -> list[dict[str, str]]:
        if self.conflicts:
            self.conflicts -= 1
            raise ConcurrencyConflict("a concurrent change (injected)")
        staged = dict(self.rows)
        metas = []
        for op in ops:
            key = op.keys or keys_of(op.row)
            current = staged.get(key)
            if op.kind in ("update", "delete") and op.etag and (current is None or current[1] != op.etag):
                raise ConcurrencyConflict(f"{key} changed")
            if op.kind == "create" and current is not None:
                raise ConcurrencyConflict(f"{key} exists")
            if op.kind == "delete":
                staged.pop(key, None)
                metas.append({})
                continue
            etag = self.next_etag()
            staged[key] = (copy.deepcopy(op.row), etag)
            metas.append({"etag": etag})
        self.rows = staged
        self.commits += 1
        return metas

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(rk for (_, rk) in self.rows if rk.startswith(prefix))


class FakeInvitationUnitOfWork(InvitationUnitOfWork):
    """The invitations unit of work (its bookkeeping and `save` are the real ones) over a FakeTable."""

    def __init__(self, table: FakeTable) -> None:
        UnitOfWork.__init__(self)
        self.table = table

    def by_link(self, key: str) -> Invitation | None:
        _, link_hash = split_link_key(key)
        for (_, row_key), (row, _) in self.table.rows.items():
            if isinstance(row, Invitation) and row.link_hash == link_hash and row_key.startswith("k|"):
                return self.get(row.partner_id, row_key)
        return None

    def get(self, partner_id: str, row_key: str) -> Invitation | None:
        found = self.table.rows.get((partner_partition(partner_id), row_key))
        return self.remember(copy.deepcopy(found[0]), found[1]) if found else None

    def _transact(self, ops: list[Op]) -> list[Any]:
        return self.table.transact(ops)
