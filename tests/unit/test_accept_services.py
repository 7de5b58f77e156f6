"""Accepting an invitation over in-memory storage: what is written, in which order, and that repeats write nothing twice.

Every part is the real one (the invitations feature, the customer's unit of work, the partners' lists) over the one
in-memory storage of the unit tests; its journal of writes says the order, and a concurrent writer can be injected.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from accept_invite import companies
from accept_invite.company_form import check, prefill
from attest_agreement.customers import (
    CompanyUser,
    Customer,
    RelationshipRole,
    RelationshipStatus,
    ResellerRelationship,
)
from attest_agreement.repository import TABLE as CUSTOMERS
from attest_agreement.repository import CustomerUnitOfWork
from invite_user import service as invitation_service
from invite_user.api_models import NewInvitation
from invite_user.invitations import Invitation, InvitationStatus
from invite_user.repository import TABLE as INVITATIONS
from invite_user.repository import InvitationStore, InvitationUnitOfWork, partner_partition
from partners.registry import Partner, PartnerType
from shared.audit import AuditRecord, audit
from shared.clock import utc_now
from shared.context import Context
from shared.partner_auth import Caller
from tests.support.expect import found
from tests.unit.fakes import MemoryContext, memory_context

AGENT = Caller(partner_id="p-direct", roles=frozenset({"AdminAgent"}), name="Anna Agent", email="anna@partner.example", subject="anna")
PARTNER = Partner(id="p-direct", name="Contoso Partner", type=PartnerType.DIRECT)
PROVIDER = Partner(id="p-provider", name="Fabrikam Distribution", type=PartnerType.INDIRECT_PROVIDER)
HANNA = companies.Person(email="hanna@contoso.example", name="Hanna Schmidt", subject="sub-hanna")
COMPANY = {"name": "Contoso GmbH", "country": "DE", "vatNumber": "DE136695976", "phone": "+49 30 1234567",
           "address": {"line1": "Hauptstraße 1", "city": "Berlin", "postalCode": "10115", "country": "DE"}}


class Journal:
    """What happened, in order, read from the in-memory storage's writes: invitations accepted, committed customer
    rows (named by what they are), partners' customer lists indexed."""

    def __init__(self, ctx: MemoryContext) -> None:
        self.ctx = ctx

    @property
    def events(self) -> list[str]:
        out = []
        for commit in self.ctx.storage.journal:
            first_kind, (pk, rk), entity = commit.ops[0]
            if commit.table.endswith(INVITATIONS):
                if any(kind == "update" and key[1].startswith("k|") and e.get("status") == "Accepted" for kind, key, e in commit.ops):
                    out.append(f"accepted {next(e['customer_id'] for _, key, e in commit.ops if key[1].startswith('k|'))}")
            elif pk.startswith("pc|"):
                out.append(f"index {pk[3:]}")
            elif pk.startswith("c|"):
                out.append("commit " + ", ".join(_name(rk, e) for _, (_, rk), e in commit.ops))
        return out

    @property
    def conflicts(self) -> Journal:
        """`journal.conflicts.append(other_request)`: reads as queueing a concurrent writer."""
        return self

    def append(self, other_request: Any) -> None:
        """The next customer commit meets a concurrent writer: `other_request(ctx)` writes first."""
        table = self.ctx.storage.table(CUSTOMERS)
        table.conflicts += 1
        table.on_conflict = lambda: other_request(self.ctx)

    def of(self, kind: type) -> list[Any]:
        prefix = {Customer: "profile", CompanyUser: "u|", ResellerRelationship: "r|", AuditRecord: "a|"}[kind]
        return [kind.model_validate({k: json.loads(v[5:]) if isinstance(v, str) and v.startswith("json:") else v for k, v in data.items()})
                for (pk, rk), (data, _) in sorted(self.ctx.storage.table(CUSTOMERS).rows.items()) if pk.startswith("c|") and rk.startswith(prefix)]


def _name(row_key: str, entity: dict[str, Any]) -> str:
    if row_key.startswith("e|"):
        return f"event {entity['type']} to {entity['partner_id']}"
    if row_key.startswith("a|"):
        return entity["action"]
    return {"profile": "Customer", "u": "CompanyUser", "r": "ResellerRelationship"}[row_key.split("|")[0]]


@pytest.fixture
def ctx() -> MemoryContext:
    return memory_context()


@pytest.fixture
def journal(ctx: MemoryContext) -> Journal:
    return Journal(ctx)


class Invitations:
    """The invitations the tests sent, stored by the invitations feature's own store."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def store(self, inv: Invitation) -> None:
        self.ctx.store(InvitationStore).create(inv, audit(partner_partition(inv.partner_id), "invitation.created", "test"))

    def status(self, inv: Invitation) -> InvitationStatus:
        return found(self.ctx.store(InvitationStore).find_by_link(inv.link_hash), "the invitation, stored").status

    def change(self, inv: Invitation, how: Any) -> None:
        """Another request changes the invitation (revokes it, say) through the invitations' own unit of work."""
        uow = self.ctx.unit(InvitationUnitOfWork)
        stored = found(uow.by_link(inv.link_hash), "the invitation, stored")
        how(stored)
        uow.save(stored)
        uow.commit()


@pytest.fixture
def invitations(ctx: Context) -> Invitations:
    return Invitations(ctx)


def _invite(invitations: Invitations, provider: Partner | None = None, **fields: Any) -> Invitation:
    body = {"email": "hanna@contoso.example", "firstName": "Hanna", "lastName": "Schmidt", "language": "de", "countryRegion": "DE",
            "company": COMPANY, "roles": ["ReportViewer"], **fields}
    inv, _ = invitation_service.build_invitation(AGENT, PARTNER, provider, NewInvitation.model_validate(body))
    invitations.store(inv)
    return inv


def _form() -> Any:
    form, reasons = check(prefill(NewInvitation.model_validate({"email": "x@y.example", "firstName": "a", "lastName": "b",
                                                                 "language": "de", "countryRegion": "DE", "company": COMPANY}).company, "DE"))
    assert form is not None, reasons
    return form


def test_the_invitation_is_claimed_first_then_the_company_in_one_transaction_then_the_lists(journal, invitations):
    inv = _invite(invitations, provider=PROVIDER)
    customer_id = companies.create_company(journal.ctx, inv.link_hash, HANNA, _form())
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
    assert invitations.status(inv) == InvitationStatus.ACCEPTED


def test_a_repeat_lands_on_the_same_company_and_writes_nothing(journal, invitations):
    inv = _invite(invitations)
    first = companies.create_company(journal.ctx, inv.link_hash, HANNA, _form())
    before = [e for e in journal.events if not e.startswith("index")]
    assert companies.create_company(journal.ctx, inv.link_hash, HANNA, _form()) == first
    assert [e for e in journal.events if not e.startswith("index")] == before  # the lists are upserted again, harmlessly


def test_a_company_created_meanwhile_is_used_and_the_rest_completed(journal, invitations):
    """A double-click: the other request commits the company first; this one carries on instead of failing."""
    inv = _invite(invitations)

    def other_request_wins(ctx: Context) -> None:
        companies._stage_company(other := ctx.unit(CustomerUnitOfWork, companies.customer_id_for(inv)), inv, _form(), HANNA, utc_now())
        other.commit()

    journal.conflicts.append(other_request_wins)
    customer_id = companies.create_company(journal.ctx, inv.link_hash, HANNA, _form())
    commits = [e for e in journal.events if e.startswith("commit")]
    assert len(commits) == 1 and len(journal.of(CompanyUser)) == 1
    assert journal.events[0] == f"accepted {customer_id}" and journal.events[-1] == "index p-direct"


def test_an_invitation_expiring_as_it_is_claimed_writes_no_company(journal, invitations):
    """The link was valid when read but expired by the claim: nothing of the company is written."""
    inv = _invite(invitations)
    table = journal.ctx.storage.table(INVITATIONS)
    table.conflicts = 1  # the claim meets the expiry sweep, which expires it first (then the claim reads it again)
    table.on_conflict = lambda: invitations.change(inv, lambda stored: stored.expire(utc_now() + timedelta(days=61)))
    with pytest.raises(companies.NotPending):
        companies.create_company(journal.ctx, inv.link_hash, HANNA, _form())
    assert journal.events == [] and invitations.status(inv) == InvitationStatus.EXPIRED


def test_someone_else_changes_nothing(journal, invitations):
    inv = _invite(invitations)
    with pytest.raises(companies.WrongAccount):
        companies.create_company(journal.ctx, inv.link_hash, companies.Person(email="eve@contoso.example"), _form())
    assert journal.events == [] and invitations.status(inv) == InvitationStatus.PENDING


def test_a_revoked_invitation_creates_nothing(journal, invitations):
    inv = _invite(invitations)
    invitations.change(inv, lambda stored: stored.revoke(utc_now(), {"email": "anna@partner.example"}))
    with pytest.raises(companies.NotPending) as refused:
        companies.create_company(journal.ctx, inv.link_hash, HANNA, _form())
    assert refused.value.status == InvitationStatus.REVOKED and journal.events == []


def _existing_company(journal: Journal, invitations: Invitations) -> str:
    founder = _invite(invitations, email="greta@contoso.example", firstName="Greta")
    return companies.create_company(journal.ctx, founder.link_hash, companies.Person(email="greta@contoso.example"), _form())


def test_joining_adds_a_user_once_and_a_known_user_gains_only_the_missing_roles(journal, invitations):
    customer_id = _existing_company(journal, invitations)
    join = _invite(invitations, kind="CompanyUser", customerId=customer_id, roles=["ReportViewer"])
    assert companies.accept_existing(journal.ctx, join.link_hash, HANNA) == customer_id
    assert companies.accept_existing(journal.ctx, join.link_hash, HANNA) == customer_id  # a repeat: nothing more
    users = {u.email: u.roles for u in journal.of(CompanyUser)}
    assert users["hanna@contoso.example"] == ["ReportViewer"]
    more = _invite(invitations, kind="CompanyUser", customerId=customer_id, roles=["ReportViewer", "UserAdministrator"])
    companies.accept_existing(journal.ctx, more.link_hash, HANNA)
    users = {u.email: u.roles for u in journal.of(CompanyUser)}
    assert users["hanna@contoso.example"] == ["ReportViewer", "UserAdministrator"]
    actions = [r.action for r in journal.of(AuditRecord)]
    assert actions.count("user.added") == 2 and actions.count("user.roles_added") == 1


def test_a_removed_relationship_comes_back_active(journal, invitations):
    customer_id = _existing_company(journal, invitations)
    uow = journal.ctx.unit(CustomerUnitOfWork, customer_id)
    rel = uow.relationship("p-direct")
    rel.status, rel.dap.active = RelationshipStatus.REMOVED, False
    uow.save(rel)
    uow.commit()
    again = _invite(invitations, email="greta@contoso.example", kind="ResellerRelationship", customerId=customer_id, roles=[])
    companies.accept_existing(journal.ctx, again.link_hash, companies.Person(email="greta@contoso.example"))
    restored = journal.ctx.unit(CustomerUnitOfWork, customer_id).relationship("p-direct")
    assert restored.status == RelationshipStatus.ACTIVE and restored.dap.active
    assert "relationship.restored" in [r.action for r in journal.of(AuditRecord)]
    assert journal.events[-3:] == [f"accepted {customer_id}",
                                   "commit ResellerRelationship, relationship.restored, event reseller-relationship-accepted-by-customer to p-direct",
                                   "index p-direct"]


def test_joining_a_company_that_is_gone(journal, invitations):
    join = _invite(invitations, kind="CompanyUser", customerId="no-such-company")
    with pytest.raises(companies.CompanyGone):
        companies.accept_existing(journal.ctx, join.link_hash, HANNA)
    assert invitations.status(join) == InvitationStatus.PENDING
