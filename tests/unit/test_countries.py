"""Countries are ISO 3166-1 countries everywhere (forms, API validation, the OpenAPI enum), named in the reader's language."""

from __future__ import annotations

import pycountry
import pytest

from accept_invite.pages import country_options
from invite_user.api_models import NewInvitation
from shared.countries import ISO_3166_1_ALPHA_2
from shared.fields import _country_schema, check_country
from shared.i18n import SUPPORTED_LANGUAGES

NOT_COUNTRIES = {"XA": "Pseudo-Accents", "XB": "Pseudo-Bidi", "EU": "European Union", "EZ": "Eurozone",
                 "UN": "United Nations", "QO": "Outlying Oceania"}


def test_the_list_is_iso_3166_1_as_pycountry_has_it():
    assert {c.alpha_2 for c in pycountry.countries} == ISO_3166_1_ALPHA_2


@pytest.mark.parametrize("code", sorted(NOT_COUNTRIES))
def test_babels_regions_and_pseudo_locales_are_refused(code):
    with pytest.raises(ValueError, match="ISO 3166-1"):
        check_country(code)
    with pytest.raises(ValueError):
        NewInvitation.model_validate({"email": "a@contoso.com", "firstName": "A", "lastName": "B", "countryRegion": code})


def test_the_openapi_enum_is_the_list():
    assert _country_schema()["enum"] == sorted(ISO_3166_1_ALPHA_2)


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
def test_the_forms_offer_every_country_by_its_name_in_the_persons_language_and_nothing_else(language):
    options = dict(country_options(language))
    assert set(options) == ISO_3166_1_ALPHA_2
    assert all(name and name != code for code, name in options.items()), "a country without a name in " + language
    if language == "en":
        assert not set(options.values()) & set(NOT_COUNTRIES.values())
        assert options["KR"] == "South Korea"
    if language == "ko":
        assert options["KR"] == "대한민국"
