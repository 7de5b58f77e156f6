"""Accepting an invitation over in-memory fakes: what is written, in which order, and that repeats write nothing twice.

The customer's partition is the real CustomerUnitOfWork over a dictionary (its reads, ETags and commit are the real
ones; a concurrent writer can be injected); the invitations feature is a fake that keeps the real domain rule
(`Invitation.accept`) and records the order of events.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from accept_invite import companies
from accept_invite.company_form import check, prefill
from attest_agreement.customers import CompanyUser, RelationshipRole, RelationshipStatus, ResellerRelationship
from attest_agreement.repository import CustomerUnitOfWork, keys_of
from invite_user import service as invitation_service
from invite_user.api_models import NewInvitation
from invite_user.invitations import Invitation, InvitationStateError, InvitationStatus
from partners.registry import Partner, PartnerType
from shared.audit import AuditRecord
from shared.clock import utc_now
from shared.errors import NotFound
from shared.events import EventRow
from shared.partner_auth import Caller
from shared.storage import ConcurrencyConflict, Op

AGENT = Caller(partner_id="p-direct", roles=frozenset({"AdminAgent"}), name="Anna Agent", email="anna@partner.example", subject="anna")
PARTNER = Partner(id="p-direct", name="Contoso Partner", type=PartnerType.DIRECT)
PROVIDER = Partner(id="p-provider", name="Fabrikam Distribution", type=PartnerType.INDIRECT_PROVIDER)
HANNA = companies.Person(email="hanna@contoso.example", name="Hanna Schmidt", subject="sub-hanna")
COMPANY = {"name": "Contoso GmbH", "country": "DE", "vatNumber": "DE136695976", "phone": "+49 30 1234567",
           "address": {"line1": "Hauptstraße 1", "city": "Berlin", "postalCode": "10115", "country": "DE"}}


class Journal:
    """What happened, in order: committed customer rows, partner lists indexed, invitations accepted."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[Any, str]] = {}
        self.events: list[str] = []
        self.etag = 0
        self.conflicts: list[Any] = []  # callables run instead of the next commits: a concurrent writer

    def transact(self, ops: list[Op]) -> list[dict[str, str]]:
        if self.conflicts:
            self.conflicts.pop(0)(self)
            raise ConcurrencyConflict("a concurrent change (injected)")
        staged = dict(self.rows)
        metas = []
        for op in ops:
            key = keys_of(op.row)
            current = staged.get(key)
            if op.kind == "create" and current is not None or op.kind == "update" and (current is None or current[1] != op.etag):
                raise ConcurrencyConflict(f"{key} changed")
            self.etag += 1
            staged[key] = (copy.deepcopy(op.row), f'W/"{self.etag}"')
            metas.append({"etag": f'W/"{self.etag}"'})
        self.rows = staged
        self.events.append("commit " + ", ".join(_name(op.row) for op in ops))
        return metas

    def put(self, row: Any) -> None:
        self.etag += 1
        self.rows[keys_of(row)] = (copy.deepcopy(row), f'W/"{self.etag}"')

    def of(self, kind: type) -> list[Any]:
        return [row for row, _ in self.rows.values() if isinstance(row, kind)]


def _name(row: Any) -> str:
    if isinstance(row, EventRow):
        return f"event {row.type} to {row.partner_id}"
    return row.action if isinstance(row, AuditRecord) else type(row).__name__


class FakeCustomerUnitOfWork(CustomerUnitOfWork):
    def __init__(self, journal: Journal, customer_id: str) -> None:
        super().__init__(None, customer_id)
        self.journal = journal

    def _read(self, model: type, row_key: str) -> tuple[Any, str | None] | None:
        found = self.journal.rows.get((self.partition, row_key))
        return (copy.deepcopy(found[0]), found[1]) if found and isinstance(found[0], model) else None

    def _read_prefix(self, model: type, prefix: str) -> list[Any]:
        return [copy.deepcopy(row) for (pk, rk), (row, _) in sorted(self.journal.rows.items())
                if pk == self.partition and rk.startswith(prefix) and isinstance(row, model)]

    def _transact(self, ops: list[Op]) -> list[Any]:
        return self.journal.transact(ops)

    def index(self, rel: ResellerRelationship, customer_name: str) -> None:
        self.journal.events.append(f"index {rel.partner_id}")


class FakeInvitations:
    """invite_user.service's find and accept over one dictionary, with the domain's own accept rule."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.stored: dict[str, Invitation] = {}

    def find(self, storage: Any, link_hash: str) -> Invitation | None:
        found = self.stored.get(link_hash)
        return copy.deepcopy(found) if found else None

    def reading(self, storage: Any, link_hash: str) -> tuple[None, Invitation | None]:
        return None, self.find(storage, link_hash)

    def accept(self, storage: Any, link_hash: str, by: dict[str, str], *, customer_id: str | None, now: Any,
               company_created: bool = False, first: Any = None) -> Invitation:
        inv = self.stored.get(link_hash)
        if inv is None:
            raise NotFound("No such invitation.")
        if inv.status == InvitationStatus.ACCEPTED:
            if inv.customer_id == customer_id:
                return inv
            raise InvitationStateError(inv.status, "accepted for another company")
        inv.accept(now, by, customer_id=customer_id, company_created=company_created)
        self.journal.events.append(f"accepted {customer_id}")
        return inv


@pytest.fixture
def journal(monkeypatch: pytest.MonkeyPatch) -> Journal:
    journal = Journal()
    monkeypatch.setattr(companies, "CustomerUnitOfWork", lambda storage, customer_id: FakeCustomerUnitOfWork(journal, customer_id))
    monkeypatch.setattr(companies, "index_partner_lists", lambda storage, customer_id, name, joined=None: [
        FakeCustomerUnitOfWork(journal, customer_id).index(rel, name)
        for rel in (joined if joined is not None else FakeCustomerUnitOfWork(journal, customer_id).relationships())
        if rel.status == RelationshipStatus.ACTIVE])
    return journal


@pytest.fixture
def invitations(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> FakeInvitations:
    fake = FakeInvitations(journal)
    monkeypatch.setattr(companies, "invitations", fake)
    return fake


def _invite(invitations: FakeInvitations, provider: Partner | None = None, **fields: Any) -> Invitation:
    body = {"email": "hanna@contoso.example", "firstName": "Hanna", "lastName": "Schmidt", "language": "de", "countryRegion": "DE",
            "company": COMPANY, "roles": ["ReportViewer"], **fields}
    inv, _ = invitation_service.build_invitation(AGENT, PARTNER, provider, NewInvitation.model_validate(body))
    invitations.stored[inv.link_hash] = inv
    return inv


def _form() -> Any:
    form, reasons = check(prefill(NewInvitation.model_validate({"email": "x@y.example", "firstName": "a", "lastName": "b",
                                                                 "language": "de", "countryRegion": "DE", "company": COMPANY}).company, "DE"))
    assert form is not None, reasons
    return form


def test_the_invitation_is_claimed_first_then_the_company_in_one_transaction_then_the_lists(journal, invitations):
    inv = _invite(invitations, provider=PROVIDER)
    customer_id = companies.create_company(None, inv.link_hash, HANNA, _form())
    assert customer_id == companies.customer_id_for(inv)
    assert journal.events == [
        f"accepted {customer_id}",
        "commit Customer, CompanyUser, customer.created, user.added, ResellerRelationship, relationship.created, "
        "ResellerRelationship, relationship.created, event company.created to p-direct, "
        "event reseller-relationship-accepted-by-customer to p-direct, "
        "event indirect-reseller-relationship-accepted-by-customer to p-provider",
        "index p-direct", "index p-provider",
    ]
    [user] = journal.of(CompanyUser)
    assert user.roles == ["AccountManager", "ReportViewer"] and user.subject == "sub-hanna"
    roles = {rel.partner_id: rel.role for rel in journal.of(ResellerRelationship)}
    assert roles == {"p-direct": RelationshipRole.RESELLER, "p-provider": RelationshipRole.INDIRECT_PROVIDER}
    assert invitations.stored[inv.link_hash].status == InvitationStatus.ACCEPTED


def test_a_repeat_lands_on_the_same_company_and_writes_nothing(journal, invitations):
    inv = _invite(invitations)
    first = companies.create_company(None, inv.link_hash, HANNA, _form())
    before = [e for e in journal.events if not e.startswith("index")]
    assert companies.create_company(None, inv.link_hash, HANNA, _form()) == first
    assert [e for e in journal.events if not e.startswith("index")] == before  # the lists are upserted again, harmlessly


def test_a_company_created_meanwhile_is_used_and_the_rest_completed(journal, invitations):
    """A double-click: the other request commits the company first; this one carries on instead of failing."""
    inv = _invite(invitations)

    def other_request_wins(j: Journal) -> None:
        companies._stage_company(other := FakeCustomerUnitOfWork(j, companies.customer_id_for(inv)), inv, _form(), HANNA, utc_now())
        j.transact(other.staged)

    journal.conflicts.append(other_request_wins)
    customer_id = companies.create_company(None, inv.link_hash, HANNA, _form())
    commits = [e for e in journal.events if e.startswith("commit")]
    assert len(commits) == 1 and len(journal.of(CompanyUser)) == 1
    assert journal.events[0] == f"accepted {customer_id}" and journal.events[-1] == "index p-direct"


def test_an_invitation_expiring_as_it_is_claimed_writes_no_company(journal, invitations, monkeypatch):
    """The link was valid when read but expired by the claim: nothing of the company is written."""
    inv = _invite(invitations)
    real = invitations.accept

    def expiring(storage, link_hash, by, *, customer_id, now, company_created=False, first=None):
        return real(storage, link_hash, by, customer_id=customer_id, now=now + timedelta(days=61), company_created=company_created, first=first)

    monkeypatch.setattr(invitations, "accept", expiring)
    with pytest.raises(companies.NotPending):
        companies.create_company(None, inv.link_hash, HANNA, _form())
    assert journal.events == [] and invitations.stored[inv.link_hash].status == InvitationStatus.PENDING


def test_someone_else_changes_nothing(journal, invitations):
    inv = _invite(invitations)
    with pytest.raises(companies.WrongAccount):
        companies.create_company(None, inv.link_hash, companies.Person(email="eve@contoso.example"), _form())
    assert journal.events == [] and invitations.stored[inv.link_hash].status == InvitationStatus.PENDING


def test_a_revoked_invitation_creates_nothing(journal, invitations):
    inv = _invite(invitations)
    invitations.stored[inv.link_hash].revoke(utc_now(), {"email": "anna@partner.example"})
    with pytest.raises(companies.NotPending) as refused:
        companies.create_company(None, inv.link_hash, HANNA, _form())
    assert refused.value.status == InvitationStatus.REVOKED and journal.events == []


def _existing_company(journal: Journal, invitations: FakeInvitations) -> str:
    founder = _invite(invitations, email="greta@contoso.example", firstName="Greta")
    return companies.create_company(None, founder.link_hash, companies.Person(email="greta@contoso.example"), _form())


def test_joining_adds_a_user_once_and_a_known_user_gains_only_the_missing_roles(journal, invitations):
    customer_id = _existing_company(journal, invitations)
    join = _invite(invitations, kind="CompanyUser", customerId=customer_id, roles=["ReportViewer"])
    assert companies.accept_existing(None, join.link_hash, HANNA) == customer_id
    assert companies.accept_existing(None, join.link_hash, HANNA) == customer_id  # a repeat: nothing more
    users = {u.email: u.roles for u in journal.of(CompanyUser)}
    assert users["hanna@contoso.example"] == ["ReportViewer"]
    more = _invite(invitations, kind="CompanyUser", customerId=customer_id, roles=["ReportViewer", "UserAdministrator"])
    companies.accept_existing(None, more.link_hash, HANNA)
    users = {u.email: u.roles for u in journal.of(CompanyUser)}
    assert users["hanna@contoso.example"] == ["ReportViewer", "UserAdministrator"]
    actions = [r.action for r in journal.of(AuditRecord)]
    assert actions.count("user.added") == 2 and actions.count("user.roles_added") == 1


def test_a_removed_relationship_comes_back_active(journal, invitations):
    customer_id = _existing_company(journal, invitations)
    [(key, (rel, _))] = [(k, v) for k, v in journal.rows.items() if isinstance(v[0], ResellerRelationship)]
    rel.status, rel.dap.active = RelationshipStatus.REMOVED, False
    journal.put(rel)
    again = _invite(invitations, email="greta@contoso.example", kind="ResellerRelationship", customerId=customer_id, roles=[])
    companies.accept_existing(None, again.link_hash, companies.Person(email="greta@contoso.example"))
    restored = journal.rows[key][0]
    assert restored.status == RelationshipStatus.ACTIVE and restored.dap.active
    assert "relationship.restored" in [r.action for r in journal.of(AuditRecord)]
    assert journal.events[-3:] == [f"accepted {customer_id}",
                                   "commit ResellerRelationship, relationship.restored, event reseller-relationship-accepted-by-customer to p-direct",
                                   "index p-direct"]


def test_joining_a_company_that_is_gone(journal, invitations):
    join = _invite(invitations, kind="CompanyUser", customerId="no-such-company")
    with pytest.raises(companies.CompanyGone):
        companies.accept_existing(None, join.link_hash, HANNA)
    assert invitations.stored[join.link_hash].status == InvitationStatus.PENDING
