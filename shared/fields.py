"""The validated field types of the API: each one both checks a value and says the same rule in the OpenAPI schema.

A rule lives once, here: the pydantic type that validates a field also produces its JSON Schema (pattern, enum,
format, bounds), so the served contract says what the server enforces. Where a rule cannot be said in JSON Schema
(check digits, phone numbering plans, dates relative to today), the schema states the shape the server accepts and
the description says the rest.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, WithJsonSchema

from shared.countries import ISO_3166_1_ALPHA_2

BCP47 = r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|[0-9]{3}))?(-[A-Za-z0-9]{5,8})*$"
# No control characters, and at least one character that is not white space (values are trimmed first).
PRINTABLE = r"^[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s][^\x00-\x1f\x7f]*$"
ID = r"^[A-Za-z0-9._-]+$"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def iso_countries() -> frozenset[str]:
    return ISO_3166_1_ALPHA_2


def check_country(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip().upper() if isinstance(value, str) else value
    # Not a string (a JSON object or list, which is unhashable): the same 422 as any other wrong code, never a 500.
    if not isinstance(code, str) or code not in iso_countries():
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, such as DE or KR")
    return code


def check_language(value: str) -> str:
    v = value.strip()
    if not re.match(BCP47, v):
        raise ValueError("must be a BCP 47 language tag, such as en, de-AT, zh-Hant or pt-BR")
    return v


# The validation context of a row read back from storage (`shared.storage.Repository`): its values were checked when
# they were written, so the checks that need a library (email syntax, company-number checksums) are not run again on
# every read. The landing page reads an invitation on the first click after idle; it pays for neither.
STORED = {"stored": True}


def is_stored(info: ValidationInfo) -> bool:
    """Whether the value comes from a stored row (validated when it was written)."""
    return isinstance(info.context, dict) and info.context.get("stored") is True


def _email(value: Any, info: ValidationInfo) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an email address")
    if is_stored(info):
        return value
    # Loaded on the first address checked (its syntax tables take a noticeable part of a cold start to build).
    from email_validator import EmailNotValidError, validate_email

    try:
        # Deliverability is not checked (no DNS at validation); reserved test domains pass like any other.
        return validate_email(value.strip(), check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"must be an email address: {exc}") from exc


def _country_schema() -> dict[str, Any]:
    return {"type": "string", "enum": sorted(iso_countries()),
            "description": "ISO 3166-1 alpha-2 country code (lower case is accepted and upper-cased)."}


CountryCode = Annotated[str, BeforeValidator(check_country), WithJsonSchema(_country_schema())]
LanguageTag = Annotated[str, Field(max_length=35, pattern=BCP47), AfterValidator(check_language),
                        WithJsonSchema({"type": "string", "maxLength": 35, "pattern": BCP47,
                                        "description": "BCP 47 language tag, such as en, de-AT, zh-Hant or pt-BR."})]
Email = Annotated[str, BeforeValidator(_email),
                  WithJsonSchema({"type": "string", "format": "email", "maxLength": 320,
                                  "description": "An email address; its domain is not looked up."})]


# A person's or a company's name: 1 to 100 (200) characters after trimming, no control characters.
PersonName = Annotated[str, Field(min_length=1, max_length=100, pattern=PRINTABLE)]
CompanyName = Annotated[str, Field(min_length=1, max_length=200, pattern=PRINTABLE)]


def iso_date(value: Any) -> Any:
    """A calendar date, nothing else: "2026-11-21". Timestamps would hide a time zone question."""
    if isinstance(value, str) and not _ISO_DATE.match(value.strip()):
        raise ValueError("must be a date as YYYY-MM-DD")
    if not isinstance(value, (str, date)) or isinstance(value, datetime):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value.strip() if isinstance(value, str) else value


def date_or_utc_datetime(value: Any) -> Any:
    """YYYY-MM-DD, or a UTC date-time at any time of that day as Partner Center sends it ("2019-03-12T00:00:00Z").

    Partner Center's `dateAgreed` is "a string in UTC date time format"; its examples also leave out the offset
    ("2018-07-28T00:00:00"), which is read as UTC. Only the date is kept; an offset other than UTC is refused (the
    date would depend on it).
    """
    if isinstance(value, str) and "T" in value:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise ValueError("must be a date as YYYY-MM-DD or a UTC date-time such as 2019-03-12T00:00:00Z") from exc
        if moment.utcoffset() not in (None, timezone.utc.utcoffset(None)):
            raise ValueError("a date-time must be in UTC (Z), as Partner Center sends it")
        return moment.date()
    return iso_date(value)


IsoDate = Annotated[date, BeforeValidator(iso_date), WithJsonSchema({"type": "string", "format": "date"})]
AgreedDate = Annotated[date, BeforeValidator(date_or_utc_datetime), WithJsonSchema({
    "anyOf": [{"type": "string", "format": "date"},
              {"type": "string", "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|z|\+00:00)?$"}],
    "description": "YYYY-MM-DD, or a UTC date-time as Partner Center sends it (2019-03-12T00:00:00Z; only its date is kept).",
})]

# A company's VAT and registration numbers: the same field wherever a company is described (the seller's data on an
# invitation, a partner's new customer). Their checksums are checked per country by the models (shared.company_numbers).
VatNumber = Annotated[str | None, Field(
    validation_alias="vatNumber", serialization_alias="vatNumber", max_length=40,
    description="Checked by its check digits where the country has a known rule; returned without spaces, EU numbers with their prefix.",
)]
RegistrationNumber = Annotated[str | None, Field(
    validation_alias="registrationNumber", serialization_alias="registrationNumber", max_length=40,
    description="Checked by its check digits where the country has one national company number (such as FR SIREN/SIRET).",
)]


def left_out_not_null(schema: dict[str, Any]) -> None:
    """A field that may be left out but, when sent, is a value: the document shows no null (the model refuses one)."""
    variants = [v for v in schema.pop("anyOf", []) if v.get("type") != "null"]
    if len(variants) == 1:
        schema.update(variants[0])
    elif variants:
        schema["anyOf"] = variants
    schema.pop("default", None)
