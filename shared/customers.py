"""Customers (companies), their users, their reseller relationships and their agreement acceptance.

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

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.audit import AuditRecord
from shared.storage import Page, Repository, Row, Storage

TABLE = "Customers"
PROFILE = "profile"


def customer_partition(customer_id: str) -> str:
    return f"c|{customer_id}"


class RelationshipStatus(StrEnum):
    ACTIVE = "Active"
    REMOVED = "Removed"


class RelationshipRole(StrEnum):
    RESELLER = "Reseller"  # the inviting partner: admin rights on the customer (DAP)
    INDIRECT_PROVIDER = "IndirectProvider"  # places orders for the customer


class AcceptanceHow(StrEnum):
    PARTNER_ATTESTATION = "PartnerAttestation"
    DIRECT_ACCEPTANCE = "DirectAcceptance"


class Contact(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    first_name: str = Field(alias="firstName")
    last_name: str = Field(alias="lastName")
    email: str
    phone_number: str | None = Field(default=None, alias="phoneNumber")  # E.164
    language: str | None = None


class Customer(Row):
    id: str
    name: str
    address: dict[str, Any] | None = None
    country: str
    vat_number: str | None = Field(default=None, alias="vatNumber")
    registration_number: str | None = Field(default=None, alias="registrationNumber")
    phone: str | None = None
    website: str | None = None
    domain: str | None = None
    primary_contact: Contact = Field(alias="primaryContact")
    language: str = "en"
    # "The customer will be asked to accept" (seed 004): no attestation email goes to such a customer.
    asked_to_accept_directly: bool = Field(default=False, alias="askedToAcceptDirectly")
    created_at: datetime = Field(alias="createdAt")
    created_by: dict[str, str] = Field(alias="createdBy")
    created_from_invitation: str | None = Field(default=None, alias="createdFromInvitation")


class CompanyUser(Row):
    customer_id: str = Field(alias="customerId")
    email: str
    email_normalized: str = Field(alias="emailNormalized")
    first_name: str = Field(alias="firstName")
    last_name: str = Field(alias="lastName")
    roles: list[str]
    language: str = "en"
    country_region: str | None = Field(default=None, alias="countryRegion")
    subject: str | None = None  # the sign-in account's subject, once signed in
    added_at: datetime = Field(alias="addedAt")
    added_by: str = Field(alias="addedBy")


class DelegatedAdminPrivileges(BaseModel):
    """DAP: the partner's broad admin rights on the customer; removed with the relationship (seed 002)."""

    model_config = ConfigDict(populate_by_name=True)
    active: bool = True
    removed_at: datetime | None = Field(default=None, alias="removedAt")


class GranularDelegatedAdminPrivileges(BaseModel):
    """GDAP: time-bound, role-scoped admin rights; they stay when the relationship is removed (seed 002)."""

    model_config = ConfigDict(populate_by_name=True)
    roles: list[str] = Field(default_factory=list)
    end_date: date | None = Field(default=None, alias="endDate")


class ResellerRelationship(Row):
    customer_id: str = Field(alias="customerId")
    partner_id: str = Field(alias="partnerId")
    partner_name: str = Field(alias="partnerName")
    role: RelationshipRole
    status: RelationshipStatus = RelationshipStatus.ACTIVE
    dap: DelegatedAdminPrivileges = Field(default_factory=DelegatedAdminPrivileges)
    gdap: GranularDelegatedAdminPrivileges = Field(default_factory=GranularDelegatedAdminPrivileges)
    created_at: datetime = Field(alias="createdAt")
    created_by: str = Field(alias="createdBy")
    removed_at: datetime | None = Field(default=None, alias="removedAt")
    removed_by: str | None = Field(default=None, alias="removedBy")


class AgreementAcceptance(Row):
    customer_id: str = Field(alias="customerId")
    type: str = "MicrosoftCustomerAgreement"
    how: AcceptanceHow
    date_agreed: date = Field(alias="dateAgreed")
    recorded_at: datetime = Field(alias="recordedAt")
    by: dict[str, str]  # who recorded it: the attesting partner user, or the signed-in customer user
    contact: Contact  # the person who accepted


class CustomerIndexEntry(Row):
    partner_id: str = Field(alias="partnerId")
    customer_id: str = Field(alias="customerId")
    name: str
    role: RelationshipRole
    since: datetime


class _CustomerRows(Repository[Any]):
    table = TABLE

    def __init__(self, storage: Storage, model: type[Row]) -> None:
        super().__init__(storage)
        self.model = model  # type: ignore[misc]

    def keys(self, row: Any) -> tuple[str, str]:
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


class CustomerStore:
    """Reads of customer rows and the one transactional write path (`commit`)."""

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
        return self.users.query_all("PartitionKey eq @pk and RowKey ge 'u|' and RowKey lt 'u}'", {"pk": customer_partition(customer_id)})

    def relationship(self, customer_id: str, partner_id: str) -> ResellerRelationship | None:
        return self.relationships.get(customer_partition(customer_id), f"r|{partner_id}")

    def relationships_of(self, customer_id: str) -> list[ResellerRelationship]:
        return self.relationships.query_all(
            "PartitionKey eq @pk and RowKey ge 'r|' and RowKey lt 'r}'", {"pk": customer_partition(customer_id)}
        )

    def acceptance(self, customer_id: str, agreement_type: str = "MicrosoftCustomerAgreement") -> AgreementAcceptance | None:
        return self.acceptances.get(customer_partition(customer_id), f"g|{agreement_type}")

    def audit_page(self, customer_id: str, page_size: int = 100, continuation_token: str | None = None) -> Page[AuditRecord]:
        return self.audit.query_page(
            "PartitionKey eq @pk and RowKey ge 'a|' and RowKey lt 'a}'", {"pk": customer_partition(customer_id)},
            page_size=page_size, continuation_token=continuation_token,
        )

    def customers_of_partner(self, partner_id: str, page_size: int = 100, continuation_token: str | None = None) -> Page[CustomerIndexEntry]:
        return self.index.query_page("PartitionKey eq @pk", {"pk": f"pc|{partner_id}"}, page_size=page_size,
                                     continuation_token=continuation_token)

    def commit(self, ops: list[Any]) -> None:
        """One entity-group transaction on one customer's partition (rows and their audit records)."""
        self.customers.transact(ops)

    def index_relationship(self, rel: ResellerRelationship, customer_name: str) -> None:
        if rel.status == RelationshipStatus.ACTIVE:
            self.index.upsert(CustomerIndexEntry(partner_id=rel.partner_id, customer_id=rel.customer_id, name=customer_name,
                                                 role=rel.role, since=rel.created_at))
        else:
            self.index.delete(f"pc|{rel.partner_id}", rel.customer_id)
