"""The customer services' rules over an in-memory unit of work (no storage): milliseconds per test."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timezone

import pytest

from attest_agreement import service
from attest_agreement.api_models import AttestationIn, RemoveRelationshipIn
from attest_agreement.customers import (
    Contact,
    Customer,
    CustomerUnitOfWork,
    GranularDelegatedAdminPrivileges,
    RelationshipRole,
    RelationshipStatus,
    ResellerRelationship,
    keys_of,
)
from partners.registry import Partner, PartnerType
from shared.errors import Busy, Conflict, Forbidden, NotFound, PreconditionRequired, RuleBroken
from shared.storage import ConcurrencyConflict

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
DIRECT = Partner(id="p-direct", name="Direct GmbH", type=PartnerType.DIRECT)
RESELLER = Partner(id="p-reseller", name="Reseller AG", type=PartnerType.INDIRECT_RESELLER, indirect_provider_id="p-provider")
_etags = itertools.count(1)


class Table:
    """The stored rows (by key, each with its ETag), the partners' lists, and how many commits others win first."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[dict, str]] = {}
        self.index: dict[tuple[str, str], str] = {}
        self.conflicts = 0


class FakeCustomerUnitOfWork(CustomerUnitOfWork):
    """The customer partition in a dict: a commit checks ETags and new keys like Table Storage, all or nothing."""

    def __init__(self, table: Table, customer_id: str) -> None:
        super().__init__(None, customer_id)
        self.table = table
        self.rows = table.rows

    def _read(self, model, row_key):
        found = self.rows.get((self.partition, row_key))
        return None if found is None else (model.model_validate(found[0]), found[1])

    def _read_prefix(self, model, prefix):
        return [model.model_validate(data) for (pk, rk), (data, _) in self.rows.items()
                if pk == self.partition and rk.startswith(prefix)]

    def _transact(self, ops):
        if self.table.conflicts:
            self.table.conflicts -= 1
            raise ConcurrencyConflict("someone else wrote first")
        changed = dict(self.rows)
        results = []
        for op in ops:
            key = keys_of(op.row)
            if op.kind == "create" and key in changed:
                raise ConcurrencyConflict(f"{key} exists")
            if op.kind == "update" and (key not in changed or changed[key][1] != op.etag):
                raise ConcurrencyConflict(f"{key} changed")
            changed[key] = (op.row.model_dump(by_alias=True), str(next(_etags)))
            results.append({"etag": changed[key][1]})
        self.rows.update(changed)
        return results

    def index(self, rel, customer_name):
        if rel.status == RelationshipStatus.ACTIVE:
            self.table.index[(rel.partner_id, rel.customer_id)] = customer_name
        else:
            self.table.index.pop((rel.partner_id, rel.customer_id), None)


class FakeOutbox:
    def __init__(self) -> None:
        self.waiting: list = []
        self.sent: list = []

    def remember(self, customer, acceptance):
        self.waiting.append(acceptance)
        return acceptance

    def forget(self, notice):
        self.waiting.remove(notice)

    def send(self, customer, acceptance, notice=None):
        self.waiting.remove(notice)
        self.sent.append(customer.primary_contact.email)


@pytest.fixture
def rows():
    """One customer with an active relationship to DIRECT (with GDAP), seeded through the unit of work itself."""
    data = Table()
    uow = FakeCustomerUnitOfWork(data, "c1")
    uow.add(Customer(id="c1", name="Contoso", country="DE", created_at=NOW, created_by={"partnerId": DIRECT.id},
                     primary_contact=Contact(first_name="Greta", last_name="Maier", email="greta@contoso.de")))
    uow.add(ResellerRelationship(customer_id="c1", partner_id=DIRECT.id, partner_name=DIRECT.name, role=RelationshipRole.RESELLER,
                                 gdap=GranularDelegatedAdminPrivileges(roles=["Helpdesk"], end_date=date(2027, 6, 1)),
                                 created_at=NOW, created_by="Anna"))
    uow.commit()
    return data


def units(rows):
    return lambda: FakeCustomerUnitOfWork(rows, "c1")


def attestation(email="greta@contoso.de"):
    return AttestationIn.model_validate({"type": "MicrosoftCustomerAgreement", "dateAgreed": "2026-11-20",
                                         "primaryContact": {"firstName": "Greta", "lastName": "Maier", "email": email}})


def attest(rows, partner=DIRECT, outbox=None, body=None, if_match=None):
    return service.record_attestation(units(rows), partner, {"partnerId": partner.id}, "Anna", body or attestation(),
                                      outbox or FakeOutbox(), if_match)


def audit_actions(rows):
    return sorted(data["action"] for (pk, rk), (data, _) in rows.rows.items() if pk == "c|c1" and rk.startswith("a|"))


def test_an_agreement_is_attested_once_and_the_contact_is_told(rows):
    outbox = FakeOutbox()
    customer, acceptance = attest(rows, outbox=outbox)
    assert acceptance.date_agreed == date(2026, 11, 20) and outbox.sent == ["greta@contoso.de"] and outbox.waiting == []
    with pytest.raises(Conflict) as again:
        attest(rows)
    assert again.value.code == "agreement-accepted-already" and again.value.extra["agreement"]["acceptance"] == "Provided"
    assert audit_actions(rows) == ["agreement.attested"]


def test_a_new_primary_contact_is_saved_and_audited_with_the_attestation(rows):
    with pytest.raises(PreconditionRequired):  # another person: the one rule of a contact change (If-Match)
        attest(rows, body=attestation("ida@contoso.de"))
    assert FakeCustomerUnitOfWork(rows, "c1").acceptance() is None
    customer, _ = attest(rows, body=attestation("ida@contoso.de"), if_match="*")
    assert FakeCustomerUnitOfWork(rows, "c1").customer().primary_contact.email == "ida@contoso.de"
    assert audit_actions(rows) == ["agreement.attested", "customer.primaryContactUpdated"]


def test_an_indirect_reseller_may_not_attest(rows):
    with pytest.raises(Forbidden) as refused:
        attest(rows, partner=RESELLER)
    assert refused.value.code == "indirect-reseller-cannot-attest" and "p-provider" in refused.value.detail
    assert FakeCustomerUnitOfWork(rows, "c1").acceptance() is None


def test_without_a_relationship_the_customer_is_not_found(rows):
    other = Partner(id="p-other", name="Other", type=PartnerType.DIRECT)
    with pytest.raises(NotFound) as missing:
        attest(rows, partner=other)
    assert missing.value.code == "no-active-relationship"


def test_a_conflict_is_retried_on_fresh_data_and_its_outbox_row_forgotten(rows):
    rows.conflicts = 2
    outbox = FakeOutbox()
    attest(rows, outbox=outbox)
    assert outbox.sent == ["greta@contoso.de"] and outbox.waiting == [] and audit_actions(rows) == ["agreement.attested"]


def test_a_customer_that_keeps_changing_is_busy_and_nothing_is_written(rows):
    rows.conflicts = 99
    outbox = FakeOutbox()
    with pytest.raises(Busy) as busy:
        attest(rows, outbox=outbox)
    assert busy.value.title == "Customer busy" and busy.value.retry_after == 1
    assert outbox.waiting == [] and audit_actions(rows) == []


def test_removal_needs_good_faith_drops_dap_keeps_gdap_and_leaves_the_list(rows):
    with pytest.raises(RuleBroken) as refused:
        service.remove(units(rows), DIRECT.id, "Anna", RemoveRelationshipIn(good_faith_declaration=False))
    assert refused.value.code == "good-faith-declaration-required"
    rows.index[(DIRECT.id, "c1")] = "Contoso"
    rel = service.remove(units(rows), DIRECT.id, "Anna", RemoveRelationshipIn(good_faith_declaration=True))
    assert rel.status == RelationshipStatus.REMOVED and not rel.dap.active and rel.gdap.roles == ["Helpdesk"]
    assert rows.index == {} and audit_actions(rows) == ["relationship.removed"]
    with pytest.raises(NotFound) as gone:
        service.remove(units(rows), DIRECT.id, "Anna", RemoveRelationshipIn(good_faith_declaration=True))
    assert gone.value.code == "no-active-relationship"


def test_joining_again_restores_a_removed_relationship_with_its_gdap(rows):
    service.remove(units(rows), DIRECT.id, "Anna", RemoveRelationshipIn(good_faith_declaration=True))
    uow = FakeCustomerUnitOfWork(rows, "c1")
    rel = service.join_relationship(uow, DIRECT, "greta@contoso.de", NOW)
    uow.commit()
    assert rel.status == RelationshipStatus.ACTIVE and rel.dap.active and rel.gdap.roles == ["Helpdesk"]
    assert audit_actions(rows) == ["relationship.removed", "relationship.restored"]
    again = FakeCustomerUnitOfWork(rows, "c1")
    assert service.join_relationship(again, DIRECT, "greta@contoso.de", NOW) is None and again.staged == []


def test_joining_a_new_partner_creates_the_relationship(rows):
    uow = FakeCustomerUnitOfWork(rows, "c1")
    provider = Partner(id="p-provider", name="Provider", type=PartnerType.INDIRECT_PROVIDER)
    rel = service.join_relationship(uow, provider, "greta@contoso.de", NOW, role=RelationshipRole.INDIRECT_PROVIDER)
    uow.commit()
    assert FakeCustomerUnitOfWork(rows, "c1").relationship("p-provider").role == RelationshipRole.INDIRECT_PROVIDER
    assert rel.gdap.roles == [] and audit_actions(rows) == ["relationship.created"]


def test_saving_needs_an_entity_read_through_the_unit_of_work(rows):
    uow = FakeCustomerUnitOfWork(rows, "c1")
    stranger = FakeCustomerUnitOfWork(rows, "c1").customer()
    with pytest.raises(ValueError):
        uow.save(stranger)
