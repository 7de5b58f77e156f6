"""The create-company rules (one pydantic model): what passes, and the reason given for each field that must change."""

from __future__ import annotations

import pytest

from accept_invite.company_form import FIELDS, check, prefill
from invite_user.invitations import Address, CompanyData
from tests.support.expect import found

GOOD = {"name": "Contoso GmbH", "country": "DE", "line1": "Hauptstraße 1", "postalCode": "10115", "city": "Berlin"}


def _reasons(**changes):
    _, reasons = check({**GOOD, **changes})
    return {k: (r.code, r.params) for k, r in reasons.items()}


def test_a_complete_company_passes_and_is_normalized():
    form, reasons = check({**GOOD, "country": "de", "vatNumber": "de 136.695.976", "phone": "030 1234567", "website": "contoso.example",
                           "domain": "Contoso.Example", "postalCode": " 10115 "})
    assert reasons == {}
    form = found(form, "the valid form")
    assert form.country == "DE" and form.vat_number == "DE136695976" and form.phone == "+49301234567"
    assert form.website == "https://contoso.example" and form.domain == "contoso.example" and form.postal_code == "10115"
    assert form.address() == {"line1": "Hauptstraße 1", "city": "Berlin", "postalCode": "10115", "country": "DE"}


@pytest.mark.parametrize("field", ["name", "country", "line1", "postalCode", "city"])
def test_required_fields(field):
    assert _reasons(**{field: "  "})[field][0] == "required"


def test_optional_fields_may_stay_empty():
    assert _reasons(line2="", region="", vatNumber="", registrationNumber="", phone="", website="", domain="") == {}


@pytest.mark.parametrize(("changes", "field", "code", "params"), [
    ({"postalCode": "1011"}, "postalCode", "postal_code_format", {"country": "DE", "example": "10115"}),
    ({"country": "PL", "postalCode": "00950"}, "postalCode", "postal_code_format", {"country": "PL", "example": "00-950"}),
    ({"country": "XX"}, "country", "country", {}),
    ({"country": "XA"}, "country", "country", {}),  # Babel's "Pseudo-Accents"
    ({"country": "FR", "postalCode": "75001", "vatNumber": "FR23334175222"}, "vatNumber", "vat_number_invalid", {"country": "FR"}),
    ({"country": "FR", "postalCode": "75001", "registrationNumber": "404 833 049"}, "registrationNumber", "registration_number_invalid",
     {"country": "FR"}),
    ({"country": "CH", "postalCode": "8001", "vatNumber": "x"}, "vatNumber", "vat_number", {}),
    ({"phone": "12"}, "phone", "phone", {"country": "DE", "example": "+49 30 123456"}),
    ({"website": "javascript:alert(1)"}, "website", "website", {}),
    ({"website": "https://nodot"}, "website", "website", {}),
    ({"domain": "https://contoso.com/x"}, "domain", "domain", {}),
    ({"name": "x" * 201}, "name", "too_long", {"max": 200}),
    ({"name": "<script>"}, "name", "characters", {}),
    ({"city": "Ber\nlin"}, "city", "characters", {}),
    ({"registrationNumber": "#1"}, "registrationNumber", "registration_number", {}),
])
def test_reasons(changes, field, code, params):
    reasons = _reasons(**changes)
    assert reasons[field] == (code, params)


def test_places_without_postal_codes():
    assert _reasons(country="HK", postalCode="") == {}
    assert _reasons(country="IE", postalCode="D02 X285") == {}


def test_unknown_formats_get_the_generic_postal_code_rule():
    assert _reasons(country="AR", postalCode="C1002") == {}
    assert _reasons(country="AR", postalCode="!")["postalCode"][0] == "postal_code"


def test_each_field_reports_one_reason_and_junk_types_do_not_crash():
    _, reasons = check({"name": ["a", "b"], "country": 7})
    assert set(reasons) == {"name", "country", "line1", "city", "postalCode"}


def test_prefill_takes_everything_the_seller_registered():
    company = CompanyData(name="Contoso", address=Address(line1="Fő utca 1", city="Budapest", postal_code="1051", country="HU"),
                          vat_number="HU12892312", phone="+36 1 234 5678", website="https://contoso.hu", domain="contoso.hu")
    values = prefill(company)
    assert values["country"] == "HU" and values["line1"] == "Fő utca 1" and values["vatNumber"] == "HU12892312"
    assert set(values) == {f.name for f in FIELDS}
    assert check(values)[1] == {}
    assert prefill(CompanyData(), "KR")["country"] == "KR"
