"""Who calls the partner API: a bearer JWT (RS256) from the partners' identity provider, checked against JWKS, and the
partner registration behind its tenant (resolved once, at the edge: `registered`)."""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from shared import telemetry
from shared.errors import Forbidden, Unauthenticated
from shared.settings import Settings, get_settings

if TYPE_CHECKING:
    import jwt

AGENT_ROLES = frozenset({"AdminAgent", "SalesAgent"})
PLATFORM_ADMIN = "PlatformAdmin"


@dataclass(frozen=True)
class Caller:
    """The partner agent (or platform administrator) a bearer token names."""

    partner_id: str
    roles: frozenset[str]
    name: str
    email: str
    subject: str
    # The partner registration of the token's tenant, as the edge resolved it (`registered`): its type is what the
    # policy's `partner_types` read; None before resolving (and for the platform's administrators, who are no partner).
    partner_type: str | None = None
    partner: Any = None

    @property
    def display(self) -> str:
        return self.name or self.email or self.subject


log = logging.getLogger(__name__)

def _reason(exc: jwt.PyJWTError) -> str:
    """A fixed phrase per kind of failure: the library's own message never reaches the caller."""
    import jwt  # loaded on the partner path only (cold start)

    reasons = {
        jwt.ExpiredSignatureError: "it has expired", jwt.InvalidAudienceError: "wrong audience", jwt.InvalidIssuerError: "wrong issuer",
        jwt.InvalidAlgorithmError: "algorithm not allowed", jwt.MissingRequiredClaimError: "a required claim is missing",
        jwt.ImmatureSignatureError: "not valid yet", jwt.InvalidSignatureError: "bad signature", jwt.DecodeError: "malformed",
    }
    return next((text for kind, text in reasons.items() if isinstance(exc, kind)), "rejected")


_clients: dict[str, jwt.PyJWKClient] = {}
_lock = threading.Lock()


def _jwks_client(settings: Settings) -> jwt.PyJWKClient:
    import jwt  # PyJWT and cryptography load on the first partner call, not at every cold start

    url = settings.partner_auth_jwks_url
    with _lock:
        if url not in _clients:
            ctx = ssl.create_default_context(cafile=settings.tls_ca_bundle) if settings.tls_ca_bundle else None
            # Keys are cached for an hour; an unknown kid triggers one refetch (key rotation).
            _clients[url] = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=10, ssl_context=ctx)
        return _clients[url]


def authenticate(authorization: str | None, *, any_of: frozenset[str] = AGENT_ROLES) -> Caller:
    """The caller behind an `Authorization: Bearer` header: 401 when missing or invalid, 403 without a role in `any_of`."""
    settings = get_settings()
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthenticated("A bearer token is required (Authorization: Bearer <token>).")
    token = authorization.split(" ", 1)[1].strip()
    import jwt

    try:
        key = _jwks_client(settings).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=settings.partner_auth_audience,
            issuer=settings.partner_auth_issuer,
            options={"require": ["exp", "iss", "aud", "tid"]},
            leeway=60,
        )
    except jwt.PyJWKClientConnectionError as exc:
        # The URL and the network error stay in the log: an anonymous caller learns nothing of the app's insides.
        log.warning("partner token keys cannot be fetched: %s", exc)
        raise Unauthenticated("The token's signing keys cannot be fetched right now; retry later.") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"The token is not valid: {_reason(exc)}") from exc
    roles = claims.get("roles") or []
    if isinstance(roles, str):
        roles = [roles]
    if PLATFORM_ADMIN in roles and (not settings.platform_tenant_id or str(claims["tid"]) != settings.platform_tenant_id):
        # Any partner's tenant can put any role in its own tokens: PlatformAdmin counts only from the platform's tenant.
        roles = [r for r in roles if r != PLATFORM_ADMIN]
    caller = Caller(
        partner_id=str(claims["tid"]),
        roles=frozenset(str(r) for r in roles),
        name=str(claims.get("name") or ""),
        email=str(claims.get("email") or claims.get("preferred_username") or ""),
        subject=str(claims.get("sub") or ""),
    )
    telemetry.annotate(partner_id=caller.partner_id)
    if not caller.roles & any_of:
        raise Forbidden(f"This needs one of the roles {', '.join(sorted(any_of))}; the token has {', '.join(sorted(caller.roles)) or 'none'}.")
    return caller


# -- the partner registry tells the edge who a tenant is ---------------------------------------------------------

Registry = Callable[[str], Any]  # partner id -> its registration (with `.type`), or None
_registry: list[Registry] = []


def provide_registry(find: Registry) -> None:
    """The partner registry registers how a tenant's registration is read (at its import)."""
    _registry[:] = [find]


def registered(caller: Caller) -> Caller:
    """The caller with its tenant's partner registration; 403 for a tenant that is not a registered partner (fail closed:
    without a registry nobody is registered). Every partner route passes here once, before any work or replay."""
    found = _registry[0](caller.partner_id) if _registry else None
    if found is None:
        raise Forbidden(f"The partner {caller.partner_id} (the token's tid) is not registered on this platform; ask a platform admin.",
                        code="partner-not-registered", title="Partner not registered")
    return replace(caller, partner_type=str(getattr(found.type, "value", found.type)), partner=found)
