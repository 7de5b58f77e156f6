"""The create-company form: one pydantic model whose rules decide both the server's answer and the button's colour.

The page shows what the seller registered about the company; the customer may change it before creating it. `check(data)` runs
the model on the submitted fields and returns, per field, a reason code and its parameters; the pages turn
codes into sentences in the reader's language. The browser asks the same `check` (POST /api/companies/validate)
as the customer types, so the grey/orange button can never disagree with what the server will accept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, LiteralString, cast
from urllib.parse import urlparse

from pydantic import ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from invite_user.invitations import CompanyData
from shared import company_numbers
from shared.fields import iso_countries
from shared.models import Model


@dataclass(frozen=True)
class FormField:
    """One field of the company form."""

    name: str  # the form field and JSON name; its label is the `label` macro of templates/_texts.html
    required: bool
    max_length: int
    autocomplete: str
    input_type: str = "text"


FIELDS: tuple[FormField, ...] = (
    FormField("name", True, 200, "organization"),
    FormField("country", True, 2, "country", "select"),
    FormField("line1", True, 200, "address-line1"),
    FormField("line2", False, 200, "address-line2"),
    FormField("postalCode", True, 20, "postal-code"),
    FormField("city", True, 100, "address-level2"),
    FormField("region", False, 100, "address-level1"),
    FormField("vatNumber", False, 40, "off"),
    FormField("registrationNumber", False, 40, "off"),
    FormField("phone", False, 40, "tel", "tel"),
    FormField("website", False, 200, "url", "url"),
    FormField("domain", False, 200, "off"),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)

# The reason codes, with their English sentence (pydantic's message); pages show the translated sentence of
# the `reason` macro in templates/_texts.html, which must know every code here.
REASONS: dict[str, str] = {
    "required": "Fill in this field.",
    "too_long": "Use at most %(max)s characters.",
    "characters": "Remove the special characters (such as < > or line breaks).",
    "country": "Choose a country or region from the list.",
    "postal_code_format": "A postal code in %(country)s looks like %(example)s.",
    "postal_code": "Use 2 to 10 letters, digits, spaces or hyphens.",
    "phone": "Enter a phone number of %(country)s, such as %(example)s, or start with + and the country code.",
    "phone_any": "Enter a phone number starting with + and the country code, such as +49 30 123456.",
    "website": "Enter a web address such as https://www.example.com.",
    "vat_number_invalid": "This is not a valid VAT number in %(country)s. Check it for typos.",
    "vat_number": "Use 4 to 20 letters and digits.",
    "registration_number_invalid": "This is not a valid company registration number in %(country)s. Check it for typos.",
    "registration_number": "Use letters, digits, spaces, dots, slashes or hyphens.",
    "domain": "Enter a domain such as contoso.com, without https:// or a path.",
}

# Postal code formats people get wrong most often: (pattern on the upper-cased value, example).
POSTAL_CODES: dict[str, tuple[str, str]] = {
    "AT": (r"\d{4}", "1010"), "BE": (r"\d{4}", "1000"), "BR": (r"\d{5}-?\d{3}", "01310-100"), "CA": (r"[A-Z]\d[A-Z] ?\d[A-Z]\d", "K1A 0B1"),
    "CH": (r"\d{4}", "8001"), "CN": (r"\d{6}", "100000"), "CZ": (r"\d{3} ?\d{2}", "110 00"), "DE": (r"\d{5}", "10115"),
    "DK": (r"\d{4}", "1050"), "ES": (r"\d{5}", "28001"), "FI": (r"\d{5}", "00100"), "FR": (r"\d{5}", "75001"),
    "GB": (r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", "SW1A 1AA"), "HU": (r"\d{4}", "1051"), "IT": (r"\d{5}", "00184"),
    "JP": (r"\d{3}-?\d{4}", "100-0001"), "KR": (r"\d{5}", "04524"), "NL": (r"\d{4} ?[A-Z]{2}", "1012 AB"), "NO": (r"\d{4}", "0150"),
    "PL": (r"\d{2}-\d{3}", "00-950"), "PT": (r"\d{4}-\d{3}", "1000-001"), "SE": (r"\d{3} ?\d{2}", "111 22"), "TW": (r"\d{3}(\d{2,3})?", "100"),
    "US": (r"\d{5}(-\d{4})?", "94105"),
}
# Places without postal codes: the field is optional there.
NO_POSTAL_CODE = frozenset({
    "AE", "AG", "AO", "AW", "BF", "BI", "BJ", "BO", "BS", "BW", "BZ", "CD", "CF", "CG", "CI", "CK", "CM", "DJ", "DM", "ER", "FJ", "GD",
    "GH", "GM", "GQ", "GY", "HK", "IE", "KI", "KM", "KN", "KP", "LC", "LY", "ML", "MO", "MR", "MS", "NR", "NU", "PA", "QA", "RW", "SB",
    "SC", "SL", "SO", "SR", "ST", "SY", "TF", "TK", "TL", "TO", "TT", "TV", "UG", "VU", "YE", "ZW",
})
_CONTROL = re.compile(r"[\x00-\x1f\x7f<>]")
_DOMAIN = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}$")


def _fail(code: str, **params: Any) -> PydanticCustomError:
    # Both are literals of this module (REASONS), which pydantic's LiteralString asks for; the type checker cannot follow a
    # dictionary look-up, so it is told.
    return PydanticCustomError(cast(LiteralString, code), cast(LiteralString, REASONS[code]), params)


def _text(value: str | None, *, required: bool, max_length: int) -> str | None:
    if not value:
        if required:
            raise _fail("required")
        return None
    if len(value) > max_length:
        raise _fail("too_long", max=max_length)
    if _CONTROL.search(value):
        raise _fail("characters")
    return value


class CompanyForm(Model):
    """The company as the customer confirms it. Field order matters: `country` is checked before the fields that depend on it."""

    model_config = ConfigDict(populate_by_name=True, str_strip_whitespace=True, extra="ignore")

    name: str | None = Field(default=None, validate_default=True)
    country: str | None = Field(default=None, validate_default=True)
    line1: str | None = Field(default=None, validate_default=True)
    line2: str | None = None
    postal_code: str | None = Field(default=None, validation_alias="postalCode", serialization_alias="postalCode", validate_default=True)
    city: str | None = Field(default=None, validate_default=True)
    region: str | None = None
    vat_number: str | None = Field(default=None, validation_alias="vatNumber", serialization_alias="vatNumber")
    registration_number: str | None = Field(default=None, validation_alias="registrationNumber", serialization_alias="registrationNumber")
    phone: str | None = None
    website: str | None = None
    domain: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _blank_is_missing(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k: (v.strip() or None) if isinstance(v, str) else v for k, v in data.items()}
        return data

    @field_validator("name", "line1", "city")
    @classmethod
    def _required_text(cls, v: str | None, info: ValidationInfo) -> str | None:
        return _text(v, required=True, max_length=next(f.max_length for f in FIELDS if _attr(f.name) == info.field_name))

    @field_validator("line2", "region")
    @classmethod
    def _optional_text(cls, v: str | None, info: ValidationInfo) -> str | None:
        return _text(v, required=False, max_length=next(f.max_length for f in FIELDS if _attr(f.name) == info.field_name))

    @field_validator("country")
    @classmethod
    def _country(cls, v: str | None) -> str:
        if not v:
            raise _fail("required")
        code = v.upper()
        if code not in iso_countries():
            raise _fail("country")
        return code

    @field_validator("postal_code")
    @classmethod
    def _postal_code(cls, v: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        v = _text(v, required=country not in NO_POSTAL_CODE, max_length=20)
        if v is None:
            return None
        value = " ".join(v.upper().split())
        known = POSTAL_CODES.get(country or "")
        if known:
            if not re.fullmatch(known[0], value):
                raise _fail("postal_code_format", country=country, example=known[1])
        elif not re.fullmatch(r"[A-Z0-9][A-Z0-9 -]{0,8}[A-Z0-9]", value):
            raise _fail("postal_code")
        return value

    @field_validator("vat_number", "registration_number")
    @classmethod
    def _company_number(cls, v: str | None, info: ValidationInfo) -> str | None:
        v = _text(v, required=False, max_length=40)
        if v is None:
            return None
        check = company_numbers.check_vat_number if info.field_name == "vat_number" else company_numbers.check_registration_number
        try:
            return check(v, info.data.get("country"))
        except company_numbers.CompanyNumberError as exc:
            raise _fail(exc.code, **({"country": exc.country} if exc.country else {})) from None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None, info: ValidationInfo) -> str | None:
        v = _text(v, required=False, max_length=40)
        if v is None:
            return None
        country = info.data.get("country")
        import phonenumbers  # its metadata loads when a phone number is first checked, not at every cold start

        try:
            number = phonenumbers.parse(v, country if country and not v.startswith("+") else None)
            valid = phonenumbers.is_valid_number(number)
        except phonenumbers.NumberParseException:
            valid = False
        if not valid:
            example = phonenumbers.example_number(country) if country else None
            if example is None:
                raise _fail("phone_any")
            raise _fail("phone", country=country,
                        example=phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @field_validator("website")
    @classmethod
    def _website(cls, v: str | None) -> str | None:
        v = _text(v, required=False, max_length=200)
        if v is None:
            return None
        url = v if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", v) else f"https://{v}"
        parsed = urlparse(url)
        host = parsed.hostname or ""
        if parsed.scheme not in ("http", "https") or "." not in host or " " in url or not _DOMAIN.match(_idna(host)):
            raise _fail("website")
        return url

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str | None) -> str | None:
        v = _text(v, required=False, max_length=200)
        if v is None:
            return None
        value = _idna(v.lower().rstrip("."))
        if not _DOMAIN.match(value):
            raise _fail("domain")
        return value

    # -- what the company becomes -------------------------------------------------------------
    def address(self) -> dict[str, str]:
        values = {"line1": self.line1, "line2": self.line2, "city": self.city, "postalCode": self.postal_code,
                  "region": self.region, "country": self.country}
        return {k: v for k, v in values.items() if v}


def _attr(name: str) -> str:
    return {"postalCode": "postal_code", "vatNumber": "vat_number", "registrationNumber": "registration_number"}.get(name, name)


def _field_name(attr: str) -> str:
    return {"postal_code": "postalCode", "vat_number": "vatNumber", "registration_number": "registrationNumber"}.get(attr, attr)


def _idna(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


@dataclass(frozen=True)
class Reason:
    """Why one field is not acceptable: a code of REASONS and the values its sentence needs."""

    code: str
    params: dict[str, Any]


def check(data: Mapping[str, Any]) -> tuple[CompanyForm | None, dict[str, Reason]]:
    """The valid form, or None and one reason per field that must change (the first rule each field breaks)."""
    # Form fields are text; anything else (a repeated field, a JSON number) is read as text or as missing.
    values = {name: data.get(name) for name in FIELD_NAMES}
    values = {k: v if isinstance(v, str) else str(v) if isinstance(v, (int, float)) else None for k, v in values.items()}
    try:
        return CompanyForm.model_validate(values), {}
    except ValidationError as exc:
        reasons: dict[str, Reason] = {}
        for err in exc.errors(include_url=False):
            field = _field_name(str(err["loc"][0])) if err.get("loc") else "name"
            code = err["type"] if err["type"] in REASONS else "characters"
            reasons.setdefault(field, Reason(code, dict(err.get("ctx") or {})))
        return None, reasons


def prefill(company: CompanyData, fallback_country: str | None = None) -> dict[str, str]:
    """The form's values from what the seller registered on the invitation."""
    address = company.address
    values = {
        "name": company.name,
        "country": company.country or (address.country if address else None) or fallback_country,
        "line1": address.line1 if address else None,
        "line2": address.line2 if address else None,
        "postalCode": address.postal_code if address else None,
        "city": address.city if address else None,
        "region": address.region if address else None,
        "vatNumber": company.vat_number,
        "registrationNumber": company.registration_number,
        "phone": company.phone,
        "website": company.website,
        "domain": company.domain,
    }
    return {k: (v or "") for k, v in values.items()}


def countries() -> list[str]:
    return sorted(iso_countries())
