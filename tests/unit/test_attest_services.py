"""The customer services' rules over in-memory storage (the real units of work, no Azurite): milliseconds per test."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from attest_agreement import notices, service
from attest_agreement.api_models import AttestationIn, RemoveRelationshipIn
from attest_agreement.customers import (
    Contact,
    Customer,
    GranularDelegatedAdminPrivileges,
    RelationshipRole,
    RelationshipStatus,
    ResellerRelationship,
)
from attest_agreement.repository import TABLE, CustomerUnitOfWork
from partners.registry import Partner, PartnerType
from shared.errors import Busy, Conflict, Forbidden, NotFound, PreconditionRequired, RuleBroken
from shared.partner_auth import Caller
from tests.support.expect import found
from tests.unit.fakes import memory_context

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
DIRECT = Partner(id="p-direct", name="Direct GmbH", type=PartnerType.DIRECT)
RESELLER = Partner(id="p-reseller", name="Reseller AG", type=PartnerType.INDIRECT_RESELLER, indirect_provider_id="p-provider")


@pytest.fixture
def ctx():
    """One customer with an active relationship to DIRECT (with GDAP), seeded through the unit of work itself."""
    ctx = memory_context()
    uow = ctx.unit(CustomerUnitOfWork, "c1")
    uow.add(Customer(id="c1", name="Contoso", country="DE", created_at=NOW, created_by={"partnerId": DIRECT.id},
                     primary_contact=Contact(first_name="Greta", last_name="Maier", email="greta@contoso.de")))
    uow.add(ResellerRelationship(customer_id="c1", partner_id=DIRECT.id, partner_name=DIRECT.name, role=RelationshipRole.RESELLER,
                                 gdap=GranularDelegatedAdminPrivileges(roles=["Helpdesk"], end_date=date(2027, 6, 1)),
                                 created_at=NOW, created_by="Anna"))
    uow.commit()
    return ctx


def _rows(ctx, partition_prefix):
    return [(pk, rk, data) for (pk, rk), (data, _) in sorted(ctx.storage.table(TABLE).rows.items()) if pk.startswith(partition_prefix)]


def listed(ctx):
    """The partners' customer lists: (partner, customer) -> name."""
    return {(data["partner_id"], data["customer_id"]): data["name"] for _, _, data in _rows(ctx, "pc|")}


def sent(ctx):
    """Whom a confirmation email was queued for."""
    return [m["message"]["to_address"] for m in ctx.storage.messages(ctx.settings.email_queue)]


def outbox(ctx):
    """The confirmations' outbox rows (Pending until queued, then Queued until sent)."""
    return [data for data in ctx.storage.table("AgreementNotices").entities()]


def waiting(ctx):
    return [row for row in outbox(ctx) if row["state"] == notices.PENDING]


def attestation(email="greta@contoso.de"):
    return AttestationIn.model_validate({"type": "MicrosoftCustomerAgreement", "dateAgreed": "2026-11-20",
                                         "primaryContact": {"firstName": "Greta", "lastName": "Maier", "email": email}})


def attest(ctx, partner=DIRECT, body=None, if_match=None):
    caller = Caller(partner_id=partner.id, roles=frozenset({"AdminAgent"}), name="Anna", email="anna@partner.example", subject="a",
                    partner_type=partner.type.value, partner=partner)
    return service.record_attestation(ctx, "c1", caller, partner, body or attestation(), if_match)


def audit_actions(ctx):
    return sorted(data["action"] for pk, rk, data in _rows(ctx, "c|c1") if rk.startswith("a|"))


def test_an_agreement_is_attested_once_and_the_contact_is_told(ctx):
    customer, acceptance = attest(ctx)
    assert acceptance.date_agreed == date(2026, 11, 20) and sent(ctx) == ["greta@contoso.de"] and waiting(ctx) == []
    with pytest.raises(Conflict) as again:
        attest(ctx)
    assert again.value.code == "agreement-accepted-already" and again.value.extra["agreement"]["acceptance"] == "Provided"
    assert audit_actions(ctx) == ["agreement.attested"]


def test_a_new_primary_contact_is_saved_and_audited_with_the_attestation(ctx):
    with pytest.raises(PreconditionRequired):  # another person: the one rule of a contact change (If-Match)
        attest(ctx, body=attestation("ida@contoso.de"))
    assert ctx.unit(CustomerUnitOfWork, "c1").acceptance() is None
    customer, _ = attest(ctx, body=attestation("ida@contoso.de"), if_match="*")
    assert ctx.unit(CustomerUnitOfWork, "c1").customer().primary_contact.email == "ida@contoso.de"
    assert audit_actions(ctx) == ["agreement.attested", "customer.primaryContactUpdated"]


def test_an_indirect_reseller_may_not_attest(ctx):
    with pytest.raises(Forbidden) as refused:
        attest(ctx, partner=RESELLER)
    assert refused.value.code == "indirect-reseller-cannot-attest" and "indirect provider" in refused.value.detail
    assert ctx.unit(CustomerUnitOfWork, "c1").acceptance() is None


def test_without_a_relationship_the_customer_is_not_found(ctx):
    other = Partner(id="p-other", name="Other", type=PartnerType.DIRECT)
    with pytest.raises(NotFound) as missing:
        attest(ctx, partner=other)
    assert missing.value.code == "no-active-relationship"


def test_a_conflict_is_retried_on_fresh_data_and_its_outbox_row_forgotten(ctx):
    ctx.storage.table(TABLE).conflicts = 2
    attest(ctx)
    assert sent(ctx) == ["greta@contoso.de"] and waiting(ctx) == [] and audit_actions(ctx) == ["agreement.attested"]
    assert len(outbox(ctx)) == 1  # the rows of the attempts that lost their commit are gone


def test_a_customer_that_keeps_changing_is_busy_and_nothing_is_written(ctx):
    ctx.storage.table(TABLE).conflicts = 99
    with pytest.raises(Busy) as busy:
        attest(ctx)
    assert busy.value.title == "Customer busy" and busy.value.retry_after == 1
    assert outbox(ctx) == [] and sent(ctx) == [] and audit_actions(ctx) == []


def test_removal_needs_good_faith_drops_dap_keeps_gdap_and_leaves_the_list(ctx):
    with pytest.raises(RuleBroken) as refused:
        service.remove(ctx, "c1", DIRECT.id, "Anna", RemoveRelationshipIn(good_faith_declaration=False))
    assert refused.value.code == "good-faith-declaration-required"
    ctx.unit(CustomerUnitOfWork, "c1").index(ctx.unit(CustomerUnitOfWork, "c1").relationship(DIRECT.id), "Contoso")
    assert listed(ctx) == {(DIRECT.id, "c1"): "Contoso"}
    rel = service.remove(ctx, "c1", DIRECT.id, "Anna", RemoveRelationshipIn(good_faith_declaration=True))
    assert rel.status == RelationshipStatus.REMOVED and not rel.dap.active and rel.gdap.roles == ["Helpdesk"]
    assert listed(ctx) == {} and audit_actions(ctx) == ["relationship.removed"]
    with pytest.raises(NotFound) as gone:
        service.remove(ctx, "c1", DIRECT.id, "Anna", RemoveRelationshipIn(good_faith_declaration=True))
    assert gone.value.code == "no-active-relationship"


def test_joining_again_restores_a_removed_relationship_with_its_gdap(ctx):
    service.remove(ctx, "c1", DIRECT.id, "Anna", RemoveRelationshipIn(good_faith_declaration=True))
    uow = ctx.unit(CustomerUnitOfWork, "c1")
    rel = found(service.join_relationship(uow, DIRECT, "greta@contoso.de", NOW), "the restored relationship")
    uow.commit()
    assert rel.status == RelationshipStatus.ACTIVE and rel.dap.active and rel.gdap.roles == ["Helpdesk"]
    assert audit_actions(ctx) == ["relationship.removed", "relationship.restored"]
    again = ctx.unit(CustomerUnitOfWork, "c1")
    assert service.join_relationship(again, DIRECT, "greta@contoso.de", NOW) is None and again.staged == []


def test_joining_a_new_partner_creates_the_relationship(ctx):
    uow = ctx.unit(CustomerUnitOfWork, "c1")
    provider = Partner(id="p-provider", name="Provider", type=PartnerType.INDIRECT_PROVIDER)
    rel = found(service.join_relationship(uow, provider, "greta@contoso.de", NOW, role=RelationshipRole.INDIRECT_PROVIDER), "the new relationship")
    uow.commit()
    committed = found(ctx.unit(CustomerUnitOfWork, "c1").relationship("p-provider"), "the relationship, committed")
    assert committed.role == RelationshipRole.INDIRECT_PROVIDER
    assert rel.gdap.roles == [] and audit_actions(ctx) == ["relationship.created"]


def test_saving_needs_an_entity_read_through_the_unit_of_work(ctx):
    uow = ctx.unit(CustomerUnitOfWork, "c1")
    stranger = ctx.unit(CustomerUnitOfWork, "c1").customer()
    with pytest.raises(ValueError):
        uow.save(stranger)
