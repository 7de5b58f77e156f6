"""Where verified domains live: rows in the customer's own partition (its unit of work), and the claim rows.

- `c|<customerId>` / `d|<domain>`, `j|<email>`, `s|joining`: the company's domains, join requests and join setting,
  changed with their audit record (and event) in one transaction by `DomainUnitOfWork`;
- `dc|<domain>` / `claim`: which company a domain belongs to. It cannot share a transaction with the customer's
  partition, so it is written first and guarded on its own: created with an insert (a second insert conflicts) or
  replaced under the ETag it was read with. The company's row is the truth for joining; the claim is the one lock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from attest_agreement.repository import TABLE, CustomerUnitOfWork, customer_partition, keys_of
from company_domains.domains import CompanyDomain, DomainClaim, JoinRequest, JoinSettings
from shared.storage import ConcurrencyConflict, Entity, Op, Repository, Storage

JOINING = "s|joining"


def domain_keys(row: Any) -> tuple[str, str]:
    """The keys of the rows this feature adds to a customer's partition; every other row as the customers feature keys it."""
    if isinstance(row, CompanyDomain):
        return customer_partition(row.customer_id), f"d|{row.domain}"
    if isinstance(row, JoinRequest):
        return customer_partition(row.customer_id), f"j|{row.email_normalized}"
    if isinstance(row, JoinSettings):
        return customer_partition(row.customer_id), JOINING
    if isinstance(row, DomainClaim):
        return claim_partition(row.domain), "claim"
    return keys_of(row)


def claim_partition(domain: str) -> str:
    return f"dc|{domain}"


class _Rows(Repository[Any]):
    table = TABLE

    def __init__(self, storage: Storage, model: Any) -> None:
        super().__init__(storage)
        self.model = model  # type: ignore[misc]

    def keys(self, row: Any) -> tuple[str, str]:
        return domain_keys(row)

    def read_prefix(self, partition: str, prefix: str) -> list[Any]:
        return self.query_all("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                              {"pk": partition, "lo": prefix, "hi": prefix[:-1] + "}"})


class DomainUnitOfWork(CustomerUnitOfWork):
    """The customer's unit of work, knowing the rows of verified domains as well."""

    def domain(self, domain: str) -> CompanyDomain | None:
        return self._load(CompanyDomain, f"d|{domain}")

    def domains(self) -> list[CompanyDomain]:
        return self._read_prefix(CompanyDomain, "d|")

    def join_request(self, email_normalized: str) -> JoinRequest | None:
        return self._load(JoinRequest, f"j|{email_normalized}")

    def join_requests(self) -> list[JoinRequest]:
        return self._read_prefix(JoinRequest, "j|")

    def joining(self) -> JoinSettings | None:
        return self._load(JoinSettings, JOINING)

    def remove(self, entity: Entity) -> None:
        """Delete a row read through this unit of work, only if nobody changed it since."""
        version = self.version(entity)
        if version is None:
            raise ValueError(f"remove() needs a {type(entity).__name__} read through this unit of work")
        self.stage(Op("delete", entity, etag=version.etag))  # type: ignore[arg-type]

    def _read(self, model: type[Entity], row_key: str) -> tuple[Any, str | None] | None:
        return _Rows(self._storage(), model).read(self.partition, row_key)

    def _read_prefix(self, model: type[Entity], prefix: str) -> list[Any]:
        return _Rows(self._storage(), model).read_prefix(self.partition, prefix)

    def _transact(self, ops: list[Op]) -> list[Any]:
        return _Rows(self._storage(), CompanyDomain).transact(ops)


class DomainClaims:
    """The claim rows: one per domain, naming the company it belongs to."""

    def __init__(self, storage: Storage) -> None:
        self.rows = _Rows(storage, DomainClaim)

    def get(self, domain: str) -> DomainClaim | None:
        return self.rows.get(claim_partition(domain), "claim")

    def claim(self, domain: str, customer_id: str, now: datetime, *, over: DomainClaim | None = None) -> DomainClaim:
        """Create the claim, or replace `over` (as read, under its ETag): ConcurrencyConflict when someone was first."""
        row = DomainClaim(domain=domain, customer_id=customer_id, claimed_at=now)
        if over is None:
            return self.rows.insert(row)
        row.etag = over.etag
        return self.rows.replace(row)  # type: ignore[return-value]

    def release(self, claim: DomainClaim) -> None:
        """Delete the claim as read (a claim replaced meanwhile belongs to someone else now and stays)."""
        try:
            self.rows.delete(claim_partition(claim.domain), "claim", etag=claim.etag)
        except ConcurrencyConflict:
            pass
