"""VAT and registration numbers: real checksums per country (python-stdnum), lenient where no rule is known."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from attest_agreement.api_models import NewCustomer
from invite_user.invitations import CompanyData
from shared.company_numbers import CompanyNumberError, check_registration_number, check_vat_number
from shared.fields import check_country


@pytest.mark.parametrize(("value", "country", "stored"), [
    ("de 136.695.976", "DE", "DE136695976"),
    ("136695976", "DE", "DE136695976"),  # the member state's prefix is added
    ("094259216", "GR", "EL094259216"),  # Greece writes EL
    ("U13585627", "AT", "ATU13585627"),
    ("FR 23 334 175 221", "DE", "FR23334175221"),  # a VAT registration in another member state
    ("XI 980 7806 84", "GB", "XI980780684"),  # Northern Ireland
    ("GB 980 7806 84", "GB", "GB980780684"),
    ("CHE-100.155.212 MWST", "CH", "CHE100155212MWST"),
    ("116-82-00276", "KR", "1168200276"),
    ("83 914 571 673", "AU", "83914571673"),
    ("12-3456789", "US", "123456789"),  # stdnum has no US VAT rule: any reasonable value
    ("T1234567890123", "JP", "T1234567890123"),  # sole proprietors' invoice numbers are no corporate numbers
    ("NL004495445B01", None, "NL004495445B01"),
])
def test_real_vat_numbers_pass_and_are_stored_compact(value: str, country: str | None, stored: str) -> None:
    assert check_vat_number(value, country) == stored


@pytest.mark.parametrize(("value", "country", "code"), [
    ("DE123456789", "DE", "vat_number_invalid"),  # the right shape, a wrong check digit
    ("136695977", "DE", "vat_number_invalid"),
    ("FR23334175222", "FR", "vat_number_invalid"),
    ("GB980780685", "GB", "vat_number_invalid"),
    ("CHE-100.155.213", "CH", "vat_number_invalid"),
    ("x", "CH", "vat_number"),
    ("12#45", None, "vat_number"),
])
def test_wrong_vat_numbers_are_refused(value: str, country: str | None, code: str) -> None:
    with pytest.raises(CompanyNumberError) as caught:
        check_vat_number(value, country)
    assert caught.value.code == code
    assert caught.value.country == (country if code.endswith("_invalid") else None)


@pytest.mark.parametrize(("value", "country"), [
    ("FN 122119m", "AT"), ("404 833 048", "FR"), ("732 829 320 00074", "FR"), ("988 077 917", "NO"), ("13585628", "DK"),
    ("CHE-100.155.212", "CH"), ("91110000600037341L", "CN"), ("004 085 616", "AU"), ("00501503", "TW"),
    ("HRB 12345", "DE"), ("12345678", "GB"), ("MI-1234567", "IT"), ("123/456", None),
])
def test_real_registration_numbers_pass_as_given(value: str, country: str | None) -> None:
    assert check_registration_number(f" {value} ", country) == value


@pytest.mark.parametrize(("value", "country", "code"), [
    ("404 833 049", "FR", "registration_number_invalid"),
    ("12345679", "EE", "registration_number_invalid"),
    ("988 077 918", "NO", "registration_number_invalid"),
    ("#1", "DE", "registration_number"),
])
def test_wrong_registration_numbers_are_refused(value: str, country: str, code: str) -> None:
    with pytest.raises(CompanyNumberError) as caught:
        check_registration_number(value, country)
    assert caught.value.code == code


def test_the_partner_api_models_use_the_same_rules() -> None:
    company = CompanyData.model_validate({"country": "DE", "vatNumber": "de136695976", "registrationNumber": "HRB 12345"})
    assert company.vat_number == "DE136695976" and company.registration_number == "HRB 12345"
    # The address's country decides when the company has none of its own.
    assert CompanyData.model_validate({"address": {"country": "GR"}, "vatNumber": "094259216"}).vat_number == "EL094259216"
    with pytest.raises(ValidationError, match="vatNumber"):
        CompanyData.model_validate({"country": "DE", "vatNumber": "DE123456789"})
    with pytest.raises(ValidationError, match="registrationNumber"):
        CompanyData.model_validate({"country": "FR", "registrationNumber": "404833049"})

    customer = {"name": "Contoso", "country": "fr", "primaryContact": {"firstName": "A", "lastName": "B", "email": "a@contoso.com"}}
    assert NewCustomer.model_validate({**customer, "vatNumber": "23334175221"}).vat_number == "FR23334175221"
    with pytest.raises(ValidationError, match="vatNumber"):
        NewCustomer.model_validate({**customer, "vatNumber": "FR23334175222"})


@pytest.mark.parametrize("country", [{}, [], ["DE"], 49])
def test_a_country_that_is_not_text_is_a_validation_error_not_a_crash(country) -> None:
    # Regression: the contract fuzzer sent {"countryRegion": {}} in a bulk row and got a 500 (unhashable dict).
    with pytest.raises(ValueError):
        check_country(country)
