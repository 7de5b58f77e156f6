"""Where customer rows live: the `Customers` table's partitions and keys, and the rows repository over them.

Everything about one customer lives in one partition of the `Customers` table, so every change to a
customer and its audit record is one entity-group transaction:
- `c|<customerId>` / `profile`: the company and its primary contact;
- `c|<customerId>` / `u|<normalized email>`: a user of the company with Business Center roles;
- `c|<customerId>` / `x|<normalized email>`: a user who was removed (whom to ask, in their language; never a key to anything);
- `c|<customerId>` / `n|<id>`: the emails of a change still to be sent (committed with the change, deleted once sent);
- `c|<customerId>` / `r|<partnerId>`: a reseller relationship with a partner (DAP and GDAP explicit);
- `c|<customerId>` / `g|<agreement type>`: the customer agreement acceptance;
- `c|<customerId>` / `t|<attestationId>`: an attestation the customer confirms itself (its link stored as a hash),
  `tr|<attestationId>` its receipt email's state, and `g|<agreement type>|attestation` naming the current one (one
  pending per customer: a new one replaces it under this row's ETag; beside the acceptance, so one range reads both);
- `c|<customerId>` / `a|...`: audit records.
A partner's list of customers is the index partition `pc|<partnerId>` / `<customerId>`, written after
the relationship itself (the relationship row is the truth; the index is rebuilt from it on retry).
Two more index partitions serve customer-confirmed attestations: `pa|<partnerId>` / `<customerId>` (the partner's
agreement pipeline, filed after every change to an acceptance or attestation) and `ax` / `<expiresAt>|<customerId>|<id>`
(the expiry index, written before the attestation's commit, read up to now by the expiry sweep).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

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
    RemovedUser,
    ResellerRelationship,
    UnsentEmails,
)
from shared import events
from shared.audit import AuditRecord
from shared.storage import Repository, Storage

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
    if isinstance(row, UnsentEmails):
        return customer_partition(row.customer_id), f"n|{row.id}"
    if isinstance(row, RemovedUser):
        return customer_partition(row.customer_id), f"x|{row.email_normalized}"
    if isinstance(row, ResellerRelationship):
        return customer_partition(row.customer_id), f"r|{row.partner_id}"
    if isinstance(row, AgreementAcceptance):
        return customer_partition(row.customer_id), f"g|{row.type}"
    if isinstance(row, AgreementAttestation):
        return customer_partition(row.customer_id), f"t|{row.id}"
    if isinstance(row, AttestationReceipt):
        return customer_partition(row.customer_id), f"tr|{row.attestation_id}"
    if isinstance(row, AttestationSlot):
        return customer_partition(row.customer_id), f"g|{row.agreement_type}|attestation"
    if isinstance(row, AttestationExpiry):
        return EXPIRY_PARTITION, row.row_key
    if isinstance(row, PipelineEntry):
        return f"pa|{row.partner_id}", row.customer_id
    if isinstance(row, AuditRecord):
        return row.subject, row.row_key
    if isinstance(row, CustomerIndexEntry):
        return f"pc|{row.partner_id}", row.customer_id
    raise TypeError(f"not a customer row: {type(row).__name__}")


class CustomerRows(Repository[Any]):
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
