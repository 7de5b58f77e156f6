"""Customer sign-in: the MSAL auth code flow with PKCE, its state kept server-side for ten minutes.

`start` asks MSAL for the authorization URL and stores the whole flow (PKCE verifier, nonce, ...) in a
row keyed by an unguessable `state`; `finish` takes the callback's query, finds the flow by its state,
uses it once, and redeems the code. Nothing from the flow ever reaches the browser but the state.

Login CSRF: `start` also makes a random binding, which the browser keeps in a short-lived `__Host-` cookie while
the flow stores only its SHA-256; `finish` refuses a flow whose binding the browser does not present, so a
callback URL opened in another browser (an attacker's code sent to a victim) signs nobody in.

Who signed in: the subject (`tid|oid` for Entra, else `iss|sub`) and the email only when the provider verified it
(`shared.identity`); a token without a verified email does not sign in.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlparse

from azure.core.exceptions import ResourceNotFoundError
from pydantic import Field

from shared import rate_limit
from shared.context import Context
from shared.errors import Unauthenticated
from shared.identity import subject_of, verified_email
from shared.settings import Settings, get_settings
from shared.storage import ConcurrencyConflict, Repository, Row

log = logging.getLogger(__name__)

FLOW_LIFETIME = timedelta(minutes=10)
SCOPES = ["email"]  # MSAL adds openid and profile; "email" makes the provider put the email claim in the id token
MODES = ("signin", "create", "another")


class SignInError(Unauthenticated):
    """Sign-in did not complete. `reason`: "expired" (unknown or stale state), "browser", "cancelled" or "failed"."""

    def __init__(self, reason: str, detail: str = "", *, link_hash: str | None = None, language: str | None = None) -> None:
        super().__init__(detail or reason, code=f"sign-in-{reason}")
        self.reason = reason
        self.link_hash = link_hash
        self.language = language


class SignInUnavailable(Exception):
    """The identity provider cannot be reached (discovery or token request failed on the network)."""


@dataclass(frozen=True)
class SignedIn:
    """Who finished signing in, for which invitation, and where they go next."""

    email: str
    name: str
    subject: str
    link_hash: str
    language: str
    next_page: str = ""  # a sign-in without an invitation (joining through a verified domain) continues there


class SignInFlow(Row):
    state: str
    flow: dict[str, Any]
    link_hash: str = Field(validation_alias="linkHash", serialization_alias="linkHash")
    mode: str
    language: str
    # SHA-256 of the browser's binding cookie.
    binding_hash: str = Field(default="", validation_alias="bindingHash", serialization_alias="bindingHash")
    # Set when no invitation started it (a path of this app).
    next_page: str = Field(default="", validation_alias="nextPage", serialization_alias="nextPage")
    created_at: datetime = Field(validation_alias="createdAt", serialization_alias="createdAt")
    expires: int  # epoch seconds: an integer compares correctly in a table query


class FlowStore(Repository[SignInFlow]):
    table = "SignInFlows"
    model = SignInFlow

    def keys(self, row: SignInFlow) -> tuple[str, str]:
        return _partition(row.state), row.state


def _partition(state: str) -> str:
    return f"f|{state[:2]}"


class AuthClient(Protocol):
    def initiate_auth_code_flow(self, scopes: list[str], **kwargs: Any) -> dict[str, Any]: ...

    def acquire_token_by_auth_code_flow(self, auth_code_flow: dict[str, Any], auth_response: dict[str, Any], **kwargs: Any) -> dict[str, Any]: ...


_clients: dict[tuple[str, ...], Any] = {}
_clients_lock = threading.Lock()


def _is_microsoft(authority: str) -> bool:
    host = (urlparse(authority).hostname or "").lower()
    return host == "login.microsoftonline.com" or host.endswith((".ciamlogin.com", ".b2clogin.com", ".microsoftonline.com"))


def auth_client(settings: Settings | None = None) -> AuthClient:
    """The process-wide MSAL confidential client (its construction fetches the provider's metadata once)."""
    import msal

    s = settings or get_settings()
    if not (s.auth_authority and s.auth_client_id):
        raise RuntimeError("AUTH_AUTHORITY and AUTH_CLIENT_ID must be set for customer sign-in")
    key = (s.auth_authority, s.auth_client_id, s.auth_client_secret, s.tls_ca_bundle or "")
    with _clients_lock:
        if key not in _clients:
            verify: Any = s.tls_ca_bundle or True
            try:
                if _is_microsoft(s.auth_authority):
                    _clients[key] = msal.ConfidentialClientApplication(
                        s.auth_client_id, client_credential=s.auth_client_secret, authority=s.auth_authority, verify=verify, timeout=15,
                    )
                else:
                    # Any other OpenID provider (the local one of `make run`) is addressed by its issuer.
                    _clients[key] = msal.ConfidentialClientApplication(
                        s.auth_client_id, client_credential=s.auth_client_secret, oidc_authority=s.auth_authority, verify=verify, timeout=15,
                    )
            except Exception as exc:
                if _network_error(exc) or isinstance(exc, ValueError):
                    raise SignInUnavailable(f"identity provider {s.auth_authority} unavailable: {exc}") from exc
                raise
        return _clients[key]


def _network_error(exc: BaseException) -> bool:
    """A failure to reach the provider (requests/urllib3 errors, sockets), as opposed to a bug."""
    return isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in ("requests", "urllib3")


def redirect_uri(settings: Settings | None = None) -> str:
    return f"{(settings or get_settings()).public_base_url.rstrip('/')}/api/auth/callback"


def _hash(binding: str) -> str:
    return hashlib.sha256(binding.encode()).hexdigest()


FLOWS_PER_CLIENT = 100  # sign-ins a client (an IPv6 /64 is one) may start in FLOW_LIFETIME: a person needs a few, an office behind one address more


def start(ctx: Context, *, link_hash: str, login_hint: str, mode: str, language: str, address: str,
          client: AuthClient | None = None, now: datetime | None = None, next_page: str = "") -> tuple[str, str]:
    """The provider's authorization URL for this invitation and the browser's binding (its cookie's value); the flow
    waits server-side under a fresh state with the binding's hash.

    Every sign-in, with an invitation or without (joining through a domain), starts here, anonymously, and stores a
    row: so here, before anything is stored, the client at `address` is counted (issue 19 item 12). At most
    FLOWS_PER_CLIENT rows per client wait at any time; the hourly clean-up deletes them once past their ten minutes.
    """
    rate_limit.hit_client(ctx, "signin-per-client", address, limit=FLOWS_PER_CLIENT,
                          window_seconds=int(FLOW_LIFETIME.total_seconds()))
    if mode not in MODES:
        mode = "signin"
    now = now or ctx.now()
    state = secrets.token_urlsafe(32)
    kwargs: dict[str, Any] = {"redirect_uri": redirect_uri(), "state": state}
    hint = {"login_hint": login_hint} if login_hint else {}
    if mode == "create":
        kwargs |= {"prompt": "create", **hint}
    elif mode == "another":
        kwargs |= {"prompt": "select_account"}
    else:
        kwargs |= hint
    try:
        flow = (client or auth_client()).initiate_auth_code_flow(SCOPES, **kwargs)
    except Exception as exc:
        if _network_error(exc):
            raise SignInUnavailable(str(exc)) from exc
        raise
    binding = secrets.token_urlsafe(32)
    ctx.store(FlowStore).insert(SignInFlow(
        state=state, flow=flow, link_hash=link_hash, mode=mode, language=language, binding_hash=_hash(binding), created_at=now,
        next_page=next_page if next_page.startswith("/api/") else "",
        expires=int((now + FLOW_LIFETIME).timestamp()),
    ))
    return str(flow["auth_uri"]), binding


def finish(ctx: Context, params: dict[str, str], *, binding: str | None, client: AuthClient | None = None,
           now: datetime | None = None, settings: Settings | None = None) -> SignedIn:
    """Redeem the callback: only in the browser that started it, at most once, and only within its lifetime."""
    now = now or ctx.now()
    settings = settings or ctx.settings
    state = params.get("state") or ""
    store = ctx.store(FlowStore)
    row = store.get(_partition(state), state) if 16 <= len(state) <= 128 else None
    if row is None:
        raise SignInError("expired", "no sign-in is waiting for this state")
    if not row.binding_hash or not binding or not hmac.compare_digest(_hash(binding), row.binding_hash):
        # Another browser than the one that started this sign-in: the flow stays for its own browser.
        raise SignInError("browser", "the sign-in was started in another browser", link_hash=row.link_hash, language=row.language)
    try:
        store.delete(_partition(state), state, etag=row.etag)
    except (ConcurrencyConflict, ResourceNotFoundError) as exc:  # a second callback with the same state: the first one took it
        raise SignInError("expired", "this sign-in was completed already", link_hash=row.link_hash, language=row.language) from exc
    if row.expires <= int(now.timestamp()):
        raise SignInError("expired", "the sign-in took longer than ten minutes", link_hash=row.link_hash, language=row.language)
    if params.get("error"):
        reason = "cancelled" if params["error"] in ("access_denied", "consent_required", "interaction_required") else "failed"
        raise SignInError(reason, f"{params['error']}: {params.get('error_description', '')}", link_hash=row.link_hash, language=row.language)
    try:
        result = (client or auth_client()).acquire_token_by_auth_code_flow(row.flow, dict(params))
    except ValueError as exc:  # MSAL: state mismatch or a malformed response
        raise SignInError("failed", str(exc), link_hash=row.link_hash, language=row.language) from exc
    except Exception as exc:
        if _network_error(exc):
            raise SignInUnavailable(str(exc)) from exc
        raise
    if "error" in result:
        raise SignInError("failed", f"{result.get('error')}: {result.get('error_description')}", link_hash=row.link_hash, language=row.language)
    claims = result.get("id_token_claims") or {}
    email = verified_email(claims, settings.verified_email_tenants)
    subject = subject_of(claims)
    if not email or not subject:
        raise SignInError("failed", "the id token carries no verified email or no subject", link_hash=row.link_hash, language=row.language)
    return SignedIn(email=email, name=str(claims.get("name") or ""), subject=subject, link_hash=row.link_hash, language=row.language,
                    next_page=row.next_page)


def delete_stale_flows(ctx: Context, now: datetime | None = None) -> int:
    """Delete sign-in flows past their ten minutes (an hourly timer calls this). Returns how many went."""
    now = now or ctx.now()
    store = ctx.store(FlowStore)
    deleted = 0
    for row in store.query_all("expires le @now", {"now": int(now.timestamp())}):
        try:
            store.delete(_partition(row.state), row.state, etag=row.etag)
            deleted += 1
        except (ConcurrencyConflict, ResourceNotFoundError):
            continue  # used or deleted meanwhile
    return deleted
