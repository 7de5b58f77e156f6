"""The partner API's shapes for the customer's users, as the partner managing the customer (DAP) reads them."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from attest_agreement.api_models import _Out


class CompanyUserOut(_Out):
    """A user of the customer's company, as the partner managing it (DAP) reads it: never the sign-in account's subject."""

    email: str
    first_name: str = Field(validation_alias="firstName", serialization_alias="firstName")
    last_name: str = Field(validation_alias="lastName", serialization_alias="lastName")
    roles: list[str] = Field(description="Business Center roles: AccountManager, AgreementManager, UserAdministrator, "
                                         "AccountAdministrator, ReportViewer, AccountViewer.")
    language: str
    country_region: str | None = Field(default=None, validation_alias="countryRegion", serialization_alias="countryRegion")
    added_at: datetime = Field(validation_alias="addedAt", serialization_alias="addedAt")
    signed_in: bool = Field(validation_alias="signedIn", serialization_alias="signedIn",
                            description="Whether the user has signed in (their account is bound).")


class CompanyUserList(_Out):
    items: list[CompanyUserOut]
