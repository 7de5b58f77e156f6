"""The rules for a company's VAT number and registration number, checked by their real checksums per country (python-stdnum).

One function for each number, used by every model that takes one (the partner API and the create-company page).
Where stdnum knows no number of a country, any reasonable value passes: refusing a customer's real number is
worse than storing a typo.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # stdnum loads on first use (cold start)
    from stdnum.util import NumberValidationModule

# The prefix of a VAT identification number where it differs from the ISO country code (Greece writes EL).
_VAT_PREFIX = {"GR": "EL"}
# stdnum's module for these countries checks a number that not every VAT-registered business has: Japan's
# corporate number (sole proprietors' invoice numbers are not one), Singapore's UEN (some GST numbers are
# "M2-..."), Israel's company number (a sole proprietor's VAT number is their personal id).
_NOT_EVERY_VAT_NUMBER = frozenset({"JP", "SG", "IL"})
# Registration numbers stdnum checks where a company has exactly one such number, the one people are asked for.
# Elsewhere the forms vary too much to refuse anything (Germany's "HRB 12345" names a court; Italy's REA; UK's
# Companies House numbers have no check digit).
_REGISTRATION_MODULES: dict[str, tuple[str, ...]] = {
    "AT": ("at.businessid",),
    "AU": ("au.acn", "au.abn"),
    "BE": ("be.vat",),  # the enterprise number is the VAT number
    "BR": ("br.cnpj",),
    "CH": ("ch.uid",),
    "CN": ("cn.uscc",),
    "DK": ("dk.cvr",),
    "EE": ("ee.registrikood",),
    "FI": ("fi.ytunnus",),
    "FR": ("fr.siren", "fr.siret"),
    "KR": ("kr.brn",),
    "NO": ("no.orgnr",),
    "SE": ("se.orgnr",),
    "TW": ("tw.ubn",),
}
_ANY_VAT = re.compile(r"[A-Z0-9]{4,20}")
_ANY_REGISTRATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./-]*")
_SEPARATORS = re.compile(r"[\s.\-/]")


class CompanyNumberError(ValueError):
    """A number that cannot be the company's; `code` names the rule for a translated sentence, `country` the country checked."""

    def __init__(self, code: str, message: str, country: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.country = country


@cache
def _eu_vat() -> ModuleType:
    """stdnum's EU VAT rules, loaded when a number is first checked (not at every cold start)."""
    from stdnum.eu import vat

    return vat


@cache
def _vat_module(country: str) -> NumberValidationModule | None:
    if country in _NOT_EVERY_VAT_NUMBER or country.lower() in _eu_vat().MEMBER_STATES:
        return None
    from stdnum.util import get_cc_module

    return get_cc_module(country.lower(), "vat")


def _is_eu_member(country: str | None) -> bool:
    return bool(country) and country.lower() in _eu_vat().MEMBER_STATES and country.lower() != "xi"  # type: ignore[union-attr]


def check_vat_number(value: str, country: str | None) -> str:
    """The VAT number as stored (upper case, no spaces, dots or hyphens; EU numbers with their prefix), or CompanyNumberError.

    A valid EU VAT number of any member state passes whatever the country: businesses register for VAT abroad.
    """
    compact = _SEPARATORS.sub("", value.upper())
    if not _ANY_VAT.fullmatch(compact):
        raise CompanyNumberError("vat_number", "must be 4 to 20 letters and digits")
    country = country.upper() if country else None
    if _is_eu_member(country) or (country == "GB" and compact.startswith("XI")):
        prefix = "XI" if country == "GB" else _VAT_PREFIX.get(country, country)  # type: ignore[arg-type]
        if _eu_vat().is_valid(compact):
            return compact
        if _eu_vat().is_valid(prefix + compact):
            return prefix + compact
        raise CompanyNumberError("vat_number_invalid", f"is not a valid VAT number in {country}", country)
    if compact[:2].isalpha() and compact[:2].lower() in _eu_vat().MEMBER_STATES | {"el", "eu"} and _eu_vat().is_valid(compact):
        return compact
    module = _vat_module(country) if country else None
    if module is not None:
        if module.is_valid(compact):
            return compact
        raise CompanyNumberError("vat_number_invalid", f"is not a valid VAT number in {country}", country)
    return compact


def check_registration_number(value: str, country: str | None) -> str:
    """The registration number as given (trimmed), or CompanyNumberError where the country's checksum refuses it."""
    value = value.strip()
    if not _ANY_REGISTRATION.fullmatch(value):
        raise CompanyNumberError("registration_number", "must be letters, digits, spaces, dots, slashes or hyphens")
    country = country.upper() if country else None
    names = _REGISTRATION_MODULES.get(country or "")
    if names and not any(import_module(f"stdnum.{name}").is_valid(value) for name in names):
        raise CompanyNumberError("registration_number_invalid", f"is not a valid company registration number in {country}", country)
    return value
