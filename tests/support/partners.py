"""Partner tokens for tests: signed with the local partner key and validated in-process (no JWKS server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devhost.identity import ensure_partner_key, mint_partner_token
from partners.registry import Partner, PartnerRepository, PartnerType
from shared.storage import Storage

ISSUER = "https://localhost/partner-issuer-test"
AUDIENCE = "api://invitation-service-test"
PLATFORM_TENANT = "platform"  # the tenant whose PlatformAdmin tokens count


@dataclass
class _Key:
    key: Any


class _LocalJwks:
    def __init__(self, public_key: Any) -> None:
        self.public_key = public_key

    def get_signing_key_from_jwt(self, token: str) -> _Key:
        return _Key(self.public_key)


def register_partners(storage: Storage) -> None:
    """`p-direct`, `p-provider` and `p-reseller` (its reseller), as the partner registry holds them."""
    repo = PartnerRepository(storage)
    repo.save(Partner(id="p-direct", name="Contoso Partner", type=PartnerType.DIRECT))
    repo.save(Partner(id="p-provider", name="Fabrikam Distribution", type=PartnerType.INDIRECT_PROVIDER))
    repo.save(Partner(id="p-reseller", name="Tailspin Reseller", type=PartnerType.INDIRECT_RESELLER, indirect_provider_id="p-provider"))


@pytest.fixture
def partner_tokens(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """Registers partners `p-direct`, `p-provider` and `p-reseller` (its reseller) and yields
    `token(partner_id="p-direct", roles=("AdminAgent",), **claims)`."""
    from shared import partner_auth
    from shared.settings import reset_settings

    key = ensure_partner_key()
    monkeypatch.setenv("PARTNER_AUTH_ISSUER", ISSUER)
    monkeypatch.setenv("PARTNER_AUTH_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("PLATFORM_TENANT_ID", PLATFORM_TENANT)
    reset_settings()
    monkeypatch.setattr(partner_auth, "_jwks_client", lambda settings: _LocalJwks(key.public_key()))
    register_partners(storage)

    def token(partner_id: str = "p-direct", roles: tuple[str, ...] = ("AdminAgent",), **claims: Any) -> str:
        return "Bearer " + mint_partner_token(
            key, issuer=claims.pop("issuer", ISSUER), audience=claims.pop("audience", AUDIENCE), tenant_id=partner_id,
            roles=list(roles), name=claims.pop("name", "Anna Agent"), email=claims.pop("email", "anna@partner.example"), **claims,
        )

    yield token
    reset_settings()
