"""The pure rules of agreement acceptance, relationships and purchase eligibility (no storage)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from attest_agreement import agreements, relationships
from attest_agreement.customers import (
    AcceptanceHow,
    AgreementAcceptance,
    Contact,
    Customer,
    GranularDelegatedAdminPrivileges,
    RelationshipRole,
    RelationshipStatus,
)
from attest_agreement.eligibility import NOT_ACCEPTED_MESSAGE, PurchaseType, evaluate
from partners.registry import Partner, PartnerType

DIRECT = Partner(id="p-direct", name="Contoso Partner", type=PartnerType.DIRECT)
PROVIDER = Partner(id="p-provider", name="Fabrikam Distribution", type=PartnerType.INDIRECT_PROVIDER)
RESELLER = Partner(id="p-reseller", name="Tailspin", type=PartnerType.INDIRECT_RESELLER, indirect_provider_id="p-provider")


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def customer(country="DE", asked=False):
    return Customer(id="c1", name="Contoso", country=country, asked_to_accept_directly=asked, created_at=utc(2026, 1, 1), created_by={},
                    primary_contact=Contact(first_name="Greta", last_name="Maier", email="greta@contoso.de"))


# -- the customer's day ------------------------------------------------------------------------------


@pytest.mark.parametrize(("country", "now", "today"), [
    ("DE", utc(2026, 11, 21, 23, 30), date(2026, 11, 22)),  # Berlin is past midnight already
    ("US", utc(2026, 11, 21, 5, 0), date(2026, 11, 20)),  # New York is on the 21st, but Honolulu still on the 20th
    ("US", utc(2026, 11, 21, 11, 0), date(2026, 11, 21)),  # 01:00 in Honolulu: the 21st has begun everywhere
    ("NZ", utc(2026, 11, 21, 12, 0), date(2026, 11, 22)),
    ("KI", utc(2026, 11, 21, 12, 0), date(2026, 11, 22)),  # Kiribati: UTC+12..+14, all past midnight
    ("KI", utc(2026, 11, 21, 11, 0), date(2026, 11, 21)),  # 23:00 in Tarawa (UTC+12)
    ("ZZ", utc(2026, 11, 21, 23, 0), date(2026, 11, 21)),  # unknown country: UTC
])
def test_customer_today_is_the_earliest_date_among_the_countrys_zones(country, now, today):
    assert agreements.customer_today(country, now) == today


@pytest.mark.parametrize(("country", "now", "latest"), [
    ("DE", utc(2026, 11, 21, 23, 30), date(2026, 11, 21)),  # tomorrow in Berlin, still today in UTC: UTC decides
    ("NZ", utc(2026, 11, 21, 12, 0), date(2026, 11, 21)),
    ("US", utc(2026, 11, 21, 5, 0), date(2026, 11, 20)),  # today in UTC, still yesterday in Hawaii: the customer's day decides
    ("JP", utc(2026, 11, 21, 5, 0), date(2026, 11, 21)),
])
def test_date_agreed_may_not_be_in_the_future_in_utc_nor_in_the_customers_day(country, now, latest):
    assert agreements.latest_date_agreed(country, now) == latest
    agreements.check_date_agreed(latest, country, now)
    with pytest.raises(agreements.DateAgreedInFuture) as err:
        agreements.check_date_agreed(date.fromordinal(latest.toordinal() + 1), country, now)
    assert err.value.latest == latest


def test_attestation_records_who_when_and_the_contact():
    now = utc(2026, 11, 21, 12)
    contact = Contact(first_name="Greta", last_name="Maier", email="greta@contoso.de")
    acc = agreements.attestation(customer(), contact, date(2026, 11, 20), {"partnerId": "p-direct"}, now)
    assert acc.how == AcceptanceHow.PARTNER_ATTESTATION and acc.recorded_at == now and acc.contact == contact
    with pytest.raises(agreements.DateAgreedInFuture):
        agreements.attestation(customer(), contact, date(2026, 11, 22), {}, now)


# -- who may attest, phones, notices -------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "country", "e164"), [
    ("030 1234567", "DE", "+49301234567"),
    ("+1 (212) 555-0100", "DE", "+12125550100"),
    ("02-312-3456", "KR", "+8223123456"),
    ("", "DE", None),
    (None, "DE", None),
])
def test_phone_numbers_are_stored_as_e164_read_in_the_customers_country(raw, country, e164):
    assert agreements.normalize_phone(raw, country) == e164


@pytest.mark.parametrize("raw", ["12", "not a phone", "+49 1"])
def test_invalid_phone_numbers_are_refused(raw):
    with pytest.raises(agreements.InvalidPhoneNumber):
        agreements.normalize_phone(raw, "DE")


def test_no_confirmation_for_customers_asked_to_accept_directly_nor_for_direct_acceptance():
    now = utc(2026, 11, 21, 12)
    contact = Contact(first_name="G", last_name="M", email="g@contoso.de")
    attested = agreements.attestation(customer(), contact, date(2026, 11, 20), {}, now)
    assert agreements.sends_confirmation(customer(), attested)
    assert not agreements.sends_confirmation(customer(asked=True), attested)
    direct = agreements.direct_acceptance(customer(), contact, {}, now)
    assert not agreements.sends_confirmation(customer(), direct)
    assert direct.date_agreed == date(2026, 11, 21)


def test_contact_from_sign_in_claims():
    c = agreements.contact_from_sign_in({"preferred_username": "kim@contoso.com", "name": "Harry Kim"}, "ko")
    assert (c.first_name, c.last_name, c.email, c.language) == ("Harry", "Kim", "kim@contoso.com", "ko")
    c = agreements.contact_from_sign_in({"email": "a@b.com", "given_name": "Ann", "family_name": "Lee"})
    assert (c.first_name, c.last_name) == ("Ann", "Lee")
    with pytest.raises(agreements.NotAllowedToAccept):
        agreements.contact_from_sign_in({"name": "Nobody"})
    assert agreements.signed_in_actor({"subject": "s1", "email": "a@b.com"}) == {"subject": "s1", "email": "a@b.com"}


# -- relationships ------------------------------------------------------------------------------------------


def test_removing_a_relationship_drops_dap_and_keeps_gdap():
    now = utc(2026, 11, 21, 12)
    gdap = GranularDelegatedAdminPrivileges(roles=["Helpdesk Administrator"], end_date=date(2027, 6, 1))
    rel = relationships.open_relationship("c1", DIRECT, "Anna", now, gdap=gdap)
    assert rel.role == RelationshipRole.RESELLER and rel.dap.active and rel.status == RelationshipStatus.ACTIVE
    with pytest.raises(relationships.GoodFaithDeclarationMissing):
        relationships.remove_relationship(rel, False, "Anna", now)
    assert rel.status == RelationshipStatus.ACTIVE  # nothing changed
    relationships.remove_relationship(rel, True, "Anna", now)
    assert rel.status == RelationshipStatus.REMOVED and rel.removed_by == "Anna"
    assert not rel.dap.active and rel.dap.removed_at == now
    assert rel.gdap == gdap
    with pytest.raises(relationships.RelationshipNotActive):
        relationships.remove_relationship(rel, True, "Anna", now)
    # invited again: active with fresh DAP, GDAP as it was
    again = relationships.open_relationship("c1", DIRECT, "Bob", now, existing=rel)
    assert again.status == RelationshipStatus.ACTIVE and again.dap.active and again.gdap == gdap and again.removed_at is None


def test_the_creating_partner_is_the_reseller_and_a_named_provider_the_indirect_provider():
    assert relationships.open_relationship("c1", PROVIDER, "x", utc(2026, 1, 1)).role == RelationshipRole.RESELLER
    named = relationships.open_relationship("c1", PROVIDER, "x", utc(2026, 1, 1), role=RelationshipRole.INDIRECT_PROVIDER)
    assert named.role == RelationshipRole.INDIRECT_PROVIDER


# -- purchases ----------------------------------------------------------------------------------------------


def _acceptance():
    return AgreementAcceptance(customer_id="c1", how=AcceptanceHow.DIRECT_ACCEPTANCE, date_agreed=date(2026, 11, 20),
                               recorded_at=utc(2026, 11, 20), by={}, contact=Contact(first_name="G", last_name="M", email="g@x.de"))


def test_new_purchases_wait_for_acceptance_and_auto_renewals_do_not():
    blocked = evaluate("c1", None, PurchaseType.NEW, DIRECT)
    assert blocked["eligible"] is False and blocked["message"] == NOT_ACCEPTED_MESSAGE
    assert blocked["action"]["type"] == "AttestAgreement" and blocked["action"]["href"] == "/api/customers/c1/agreements"
    assert evaluate("c1", None, PurchaseType.AUTO_RENEWAL, DIRECT)["eligible"] is True
    assert evaluate("c1", _acceptance(), PurchaseType.NEW, DIRECT)["eligible"] is True
    reseller = evaluate("c1", None, PurchaseType.NEW, RESELLER)
    assert reseller["action"]["type"] == "AskIndirectProviderToAttest" and reseller["action"]["indirectProviderId"] == "p-provider"
