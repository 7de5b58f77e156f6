"""The local identity provider: oidc-provider-mock over TLS at https://localhost:<port>/<tenant>,
standing in for Microsoft Entra (customer sign-in), plus the JWKS of the local partner-token issuer.

MSAL accepts only an https authority with a path segment, so the mock is mounted under /<tenant>
and served with a certificate signed by a CA this module generates (.local/certs/ca.pem).

Like Entra, it issues `tid` and `oid` (stable per tenant and account) and vouches for the email (`xms_edov`, and
`email_verified` as other providers do): the app trusts an email claim only when it is verified. Claims set
beforehand with `PUT /<tenant>/users/<sub>` (tests: an unverified email, another tenant) are left as they are.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import time
import uuid
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from devhost.local_settings import ROOT

log = logging.getLogger("devhost.identity")

LOCAL_DIR = ROOT / ".local"
PARTNER_ISSUER_PATH = "/partner-issuer"


def ensure_certs(directory: Path = LOCAL_DIR / "certs") -> tuple[Path, Path]:
    """A CA bundle (the system's CAs plus a local CA) and a localhost certificate signed by that local CA.

    Made once, kept in the git-ignored .local/. The bundle is what REQUESTS_CA_BUNDLE points at: requests
    lets that variable override a session's own `verify`, so it must trust public hosts as well.
    """
    ca_path, server_path, bundle_path = directory / "ca.pem", directory / "server.pem", directory / "bundle.pem"
    if ca_path.exists() and server_path.exists() and bundle_path.exists():
        return bundle_path, server_path
    import certifi
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="Invitation service local CA")
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_and_cert_chain_pem.write_to_path(str(server_path))
    bundle_path.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + ca.cert_pem.bytes())
    return bundle_path, server_path


def combined_ca_bundle(user_bundles: list[str], directory: Path = LOCAL_DIR / "certs") -> Path:
    """The user's CA bundles plus the local CA, in one file named by its content (made once, kept in .local/certs/)."""
    import hashlib

    ensure_certs(directory)
    parts = []
    for name in dict.fromkeys(user_bundles):
        path = Path(name)
        if path.is_file():
            parts.append(path.read_bytes())
    content = b"\n".join([*parts, (directory / "ca.pem").read_bytes()])
    bundle = directory / f"bundle-{hashlib.sha256(content).hexdigest()[:16]}.pem"
    if not bundle.exists():
        bundle.write_bytes(content)
    return bundle


def ensure_partner_key(path: Path = LOCAL_DIR / "partner-signing-key.pem") -> Any:
    """The RSA key that signs local partner tokens (the stand-in for the partners' identity provider)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)
    return key


def partner_kid(key: Any) -> str:
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def partner_jwks(key: Any) -> dict[str, Any]:
    from jwt.algorithms import RSAAlgorithm

    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk |= {"kid": partner_kid(key), "use": "sig", "alg": "RS256"}
    return {"keys": [jwk]}


def mint_partner_token(
    key: Any,
    *,
    issuer: str,
    audience: str,
    tenant_id: str,
    roles: list[str],
    name: str = "Local Partner User",
    email: str = "agent@partner.example",
    lifetime_seconds: int = 8 * 3600,
) -> str:
    import jwt

    now = int(time.time())
    claims = {
        "iss": issuer, "aud": audience, "tid": tenant_id, "roles": roles, "name": name, "email": email,
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant_id}/{email}")), "iat": now, "nbf": now,
        "exp": now + lifetime_seconds,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": partner_kid(key)})


_CREATE_ACCOUNT_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Create account</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin-top:1rem}}input{{width:100%;padding:.5rem;font-size:1rem}}
button{{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem;background:#0067b8;color:#fff;border:0}}</style></head>
<body><h1>Create account</h1>
<p>Local stand-in for the Microsoft account creation flow (prompt=create).</p>
<form method="post" action="{action}">
<label for="email">Email</label><input id="email" name="sub" type="email" required value="{email}">
<label for="password">Create password</label><input id="password" name="password" type="password" required>
<label for="code">Verification code sent to your email (any value locally)</label>
<input id="code" name="code" inputmode="numeric" required>
<label><input type="checkbox" name="consent" required style="width:auto"> I accept the terms of use and the
permissions the application asks for</label>
<button type="submit" id="create-account">Yes, create my account</button>
</form></body></html>"""


def entra_claims(tenant: str, sub: str) -> dict[str, Any]:
    """What the local provider says about an account it has not been told about: Entra-like, with a verified email."""
    tid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"local-tenant/{tenant}"))
    oid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"local-account/{tenant}/{sub.lower()}"))
    return {"email": sub, "email_verified": True, "xms_edov": True, "tid": tid, "oid": oid}


def _create_account_middleware(app: Callable[..., Any], tenant: str = "local-tenant") -> Callable[..., Any]:
    """Shows an account-creation form for prompt=create (case 2), then signs in as the new account; gives every account
    signing in the claims of `entra_claims` unless they were set explicitly."""
    from werkzeug.test import Client

    internal = Client(app)
    explicit: set[str] = set()

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        path = environ.get("PATH_INFO", "")
        if environ["REQUEST_METHOD"] == "PUT" and path.startswith("/users/"):
            explicit.add(unquote(path.removeprefix("/users/")))
        if path.endswith("/oauth2/authorize") and environ["REQUEST_METHOD"] == "POST":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = BytesIO(body)
            sub = (parse_qs(body.decode("utf-8", "replace")).get("sub") or [""])[0]
            if sub and sub not in explicit:
                internal.put(f"/users/{sub}", json=entra_claims(tenant, sub))
        if (
            environ.get("PATH_INFO", "").endswith("/oauth2/authorize")
            and environ["REQUEST_METHOD"] == "GET"
            and "create" in query.get("prompt", [""])[0].split()
        ):
            action = html.escape(environ.get("SCRIPT_NAME", "") + environ["PATH_INFO"] + "?" + environ["QUERY_STRING"])
            body = _CREATE_ACCOUNT_PAGE.format(action=action, email=html.escape(query.get("login_hint", [""])[0])).encode()
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
            return [body]
        if path.endswith("/oauth2/authorize") and environ["REQUEST_METHOD"] == "GET":
            return _with_sub_hint(app, environ, start_response)
        return app(environ, start_response)

    return wrapped


# A newcomer clicking through the journey stops at the mock's bare `sub` field: it takes the email address to sign in as.
SUB_HINT = ('<p id="local-sub-hint"><strong>Local sign-in:</strong> type the <em>invited email address</em> in the '
            '<code>sub</code> field below and press Authorize. Only the invited person may accept an invitation; '
            'any other address signs in as somebody else.</p>')


def _with_sub_hint(app: Callable[..., Any], environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    captured: dict[str, Any] = {}

    def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured.update(status=status, headers=headers)
        return lambda _data: None

    chunks = app(environ, keep)
    try:
        body = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    if captured["status"].startswith("200") and b'<div class="form-grid">' in body:
        body = body.replace(b'<div class="form-grid">', SUB_HINT.encode() + b'<div class="form-grid">', 1)
    headers = [(k, str(len(body)) if k.lower() == "content-length" else v) for k, v in captured["headers"]]
    start_response(captured["status"], headers)
    return [body]


def build_app(tenant: str, partner_key: Any) -> Callable[..., Any]:
    import oidc_provider_mock
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    oidc = oidc_provider_mock.app(require_nonce=False)
    jwks_body = json.dumps(partner_jwks(partner_key)).encode()

    def root(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("PATH_INFO") == f"{PARTNER_ISSUER_PATH}/jwks.json":
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(jwks_body)))])
            return [jwks_body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return DispatcherMiddleware(root, {f"/{tenant}": _create_account_middleware(oidc.wsgi_app, tenant)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9443)
    parser.add_argument("--tenant", default="local-tenant")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    _, server_pem = ensure_certs()
    import ssl

    from werkzeug.serving import make_server

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(server_pem))
    server = make_server("127.0.0.1", args.port, build_app(args.tenant, ensure_partner_key()), threaded=True, ssl_context=ctx)
    log.info("identity provider on https://localhost:%s/%s", args.port, args.tenant)
    server.serve_forever()


if __name__ == "__main__":
    main()
