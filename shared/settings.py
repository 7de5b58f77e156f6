"""The one typed place where the app reads its settings (app settings in Azure, env vars locally)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from pydantic import ConfigDict, Field

from shared.models import Model


class Settings(Model):
    """Each field is read from the environment variable named by its alias, exactly as spelt (Azure's names mix cases)."""

    # Storage: a connection string (Azurite locally), or endpoints + managed identity in Azure.
    storage_connection_string: str | None = Field(default=None, alias="AzureWebJobsStorage")
    table_service_uri: str | None = Field(default=None, alias="AzureWebJobsStorage__tableServiceUri")
    queue_service_uri: str | None = Field(default=None, alias="AzureWebJobsStorage__queueServiceUri")
    table_prefix: str = Field(default="", alias="TABLE_PREFIX")

    public_base_url: str = Field(default="http://localhost:7071", alias="PUBLIC_BASE_URL")
    platform_name: str = Field(default="My rConnect", alias="PLATFORM_NAME")
    support_email: str = Field(default="support@example.com", alias="SUPPORT_EMAIL")
    docs_url: str = Field(default="https://docs.example.com", alias="DOCS_URL")
    app_version: str = Field(default="0.1.0", alias="APP_VERSION")

    # Partner API tokens (RS256 bearer JWTs).
    partner_auth_issuer: str = Field(default="", alias="PARTNER_AUTH_ISSUER")
    partner_auth_audience: str = Field(default="", alias="PARTNER_AUTH_AUDIENCE")
    partner_auth_jwks_url: str = Field(default="", alias="PARTNER_AUTH_JWKS_URL")

    # Platform administrators: the PlatformAdmin role counts only in tokens of this tenant (empty: nobody is one).
    platform_tenant_id: str = Field(default="", alias="PLATFORM_TENANT_ID")

    # Customer sign-in (MSAL auth code flow).
    # Entra tenants (ids, comma-separated) whose users' email claims are verified: the email counts without `xms_edov`.
    verified_email_tenants_setting: str = Field(default="", alias="VERIFIED_EMAIL_TENANTS")
    auth_authority: str = Field(default="", alias="AUTH_AUTHORITY")
    auth_client_id: str = Field(default="", alias="AUTH_CLIENT_ID")
    auth_client_secret: str = Field(default="", alias="AUTH_CLIENT_SECRET")
    session_secret: str = Field(default="", alias="SESSION_SECRET")
    # A CA bundle for a local TLS identity provider; empty means the system store.
    tls_ca_bundle: str | None = Field(default=None, alias="REQUESTS_CA_BUNDLE")

    # Email: ACS in Azure, SMTP locally.
    email_sender: str = Field(default="invitations@example.com", alias="EMAIL_SENDER")
    acs_endpoint: str | None = Field(default=None, alias="ACS_ENDPOINT")
    acs_connection_string: str | None = Field(default=None, alias="ACS_CONNECTION_STRING")
    smtp_host: str | None = Field(default=None, alias="SMTP_HOST")
    smtp_port: int = Field(default=25, alias="SMTP_PORT")
    email_queue: str = Field(default="invitation-emails", alias="EMAIL_QUEUE")
    email_max_attempts: int = Field(default=5, alias="EMAIL_MAX_ATTEMPTS")

    expire_schedule: str = Field(default="0 0 * * * *", alias="EXPIRE_SCHEDULE")
    remind_schedule: str = Field(default="0 15 * * * *", alias="REMIND_SCHEDULE")
    # Days before a link expires at which a pending invitation gets a reminder, each at most once ("7,1").
    remind_before_setting: str = Field(default="7,1", alias="REMIND_BEFORE")
    attestation_expire_schedule: str = Field(default="0 45 * * * *", alias="ATTESTATION_EXPIRE_SCHEDULE")

    # Webhooks (webhooks/): the queue of outbox announcements and deliveries; loopback receivers only locally.
    webhooks_queue: str = Field(default="webhook-events", alias="WEBHOOKS_QUEUE")
    webhooks_allow_loopback: bool = Field(default=False, alias="WEBHOOKS_ALLOW_LOOPBACK")

    # Verified domains (company_domains/): the DNS server asked for TXT records, "host" or "host:port";
    # empty means the system's resolver (Azure's). The local stack points it at its own DNS server.
    dns_resolver: str = Field(default="", alias="DNS_RESOLVER")

    # Telemetry (shared/telemetry.py): unset means nothing is exported.
    applicationinsights_connection_string: str | None = Field(default=None, alias="APPLICATIONINSIGHTS_CONNECTION_STRING")

    model_config = ConfigDict(extra="ignore")

    def __init__(self, **values: Any) -> None:
        """The environment's values of these names, and over them the values given (tests, the local stack).

        Read here rather than with pydantic-settings: the fields are flat strings, numbers and booleans, which pydantic
        parses from text itself, and that library's import (about 25 ms, its CLI and dotenv sources included) is paid
        on every cold start."""
        names = {f.alias or name for name, f in type(self).model_fields.items()}
        super().__init__(**{**{k: v for k, v in os.environ.items() if k in names}, **values})

    @property
    def verified_email_tenants(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.verified_email_tenants_setting.split(",") if t.strip())

    @property
    def remind_before(self) -> list[int]:
        """REMIND_BEFORE as whole days, largest first, each once; a value that is not a positive number of days fails
        at the first use rather than silently dropping a reminder."""
        days = sorted({int(d) for d in self.remind_before_setting.replace(" ", "").split(",") if d}, reverse=True)
        if any(d <= 0 for d in days):
            raise ValueError(f"REMIND_BEFORE={self.remind_before_setting!r}: days must be positive whole numbers, e.g. 7,1")
        return days

    @property
    def is_local(self) -> bool:
        return self.public_base_url.startswith(("http://localhost", "http://127.0.0.1"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the local host change the environment)."""
    get_settings.cache_clear()
