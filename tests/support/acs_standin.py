"""A local HTTPS stand-in for the Azure Communication Services Email REST API, for tests with the real SDK.

It speaks just enough of the service for `azure-communication-email`: `POST /emails:send` (answered 202
with an Operation-Location, or an injected 429 / error) and `GET /emails/operations/{id}` (Succeeded).
Like the service it checks the HMAC-SHA256 signature of every request against the access key of the
connection string (string to sign: "VERB\\nPATH_AND_QUERY\\nx-ms-date;host;x-ms-content-sha256", see
azure/communication/email/_shared/policy.py) and answers 401 when it does not match. A repeated
Operation-Id is accepted again without a second send, as the service does for idempotent retries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import ssl
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trustme

SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"
MAX_CLOCK_SKEW = timedelta(minutes=15)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    signature_error: str | None
    status: int = 0

    @property
    def signature_valid(self) -> bool:
        return self.signature_error is None

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def operation_id(self) -> str | None:
        return self.headers.get("operation-id")


def verify_signature(method: str, path_and_query: str, headers: dict[str, str], body: bytes, access_key: str) -> str | None:
    """None when the request carries a valid ACS HMAC-SHA256 signature for `access_key`, else why not."""
    auth = headers.get("authorization", "")
    scheme, _, params = auth.partition(" ")
    if scheme != "HMAC-SHA256":
        return "no HMAC-SHA256 authorization"
    fields = dict(part.split("=", 1) for part in params.split("&") if "=" in part)
    if fields.get("SignedHeaders") != SIGNED_HEADERS:
        return f"unexpected SignedHeaders {fields.get('SignedHeaders')!r}"
    content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
    if headers.get("x-ms-content-sha256") != content_hash:
        return "x-ms-content-sha256 does not match the body"
    date = headers.get("x-ms-date", "")
    try:
        skew = abs(datetime.now(timezone.utc) - parsedate_to_datetime(date))
    except (TypeError, ValueError):
        return f"unreadable x-ms-date {date!r}"
    if skew > MAX_CLOCK_SKEW:
        return "x-ms-date too far from now"
    string_to_sign = f"{method}\n{path_and_query}\n{date};{headers.get('host', '')};{content_hash}"
    expected = base64.b64encode(
        hmac.new(base64.b64decode(access_key), string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    ).decode()
    if not hmac.compare_digest(expected, fields.get("Signature", "")):
        return "signature mismatch"
    return None


@dataclass
class _Injected:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class AcsStandIn:
    """Start with `with AcsStandIn() as acs:`; give the SDK `acs.connection_string()` and `acs.ca_path`."""

    access_key: str = field(default_factory=lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    requests: list[RecordedRequest] = field(default_factory=list)
    # Operation id -> the accepted send request body: what the service would actually mail.
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._injected: list[_Injected] = []
        self._dir = Path(tempfile.mkdtemp(prefix="acs-standin-"))
        self._ca = trustme.CA()
        self.ca_path = self._dir / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_path))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what the test sees -------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "stand-in not started"
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def connection_string(self, access_key: str | None = None) -> str:
        return f"endpoint={self.endpoint}/;accesskey={access_key or self.access_key}"

    @property
    def sends(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]

    # -- what the test makes it do -----------------------------------------------------------
    def throttle(self, retry_after: int, times: int = 1) -> None:
        """Answer the next `times` sends with 429 Too Many Requests and this Retry-After."""
        for _ in range(times):
            self.fail_next(429, "TooManyRequests", "Too many requests.", {"Retry-After": str(retry_after)})

    def fail_next(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self._injected.append(_Injected(status, headers or {}, {"error": {"code": code, "message": message}}))

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> AcsStandIn:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        standin = self

        class Handler(_Handler):
            owner = standin

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        # Handshake in the connection's own thread (on first read), so a slow client cannot stall accept().
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="acs-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> AcsStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- behaviour ----------------------------------------------------------------------------
    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        error = verify_signature(method, path, headers, body, self.access_key)
        record = RecordedRequest(method, path, headers, body, error)
        with self._lock:
            self.requests.append(record)
        status, out_headers, payload = self._answer(record)
        record.status = status
        return status, out_headers, payload

    def _answer(self, record: RecordedRequest) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        if not record.signature_valid:
            return 401, {}, {"error": {"code": "Denied", "message": f"Denied by the resource provider: {record.signature_error}."}}
        route = urlsplit(record.path).path
        if record.method == "POST" and route == "/emails:send":
            with self._lock:
                injected = self._injected.pop(0) if self._injected else None
            if injected is not None:
                return injected.status, injected.headers, injected.body
            return self._send(record)
        if record.method == "GET" and route.startswith("/emails/operations/"):
            op_id = route.rsplit("/", 1)[1]
            if op_id not in self.operations:
                return 404, {}, {"error": {"code": "NotFound", "message": "No such operation."}}
            return 200, {}, {"id": op_id, "status": "Succeeded"}
        return 404, {}, {"error": {"code": "NotFound", "message": f"No route {record.method} {route}."}}

    def _send(self, record: RecordedRequest) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        try:
            body = record.json
            recipients = body["recipients"]["to"]
            body["content"]["subject"]
            body["senderAddress"]
        except (ValueError, KeyError, TypeError):
            return 400, {}, {"error": {"code": "BadRequest", "message": "The request body is not a valid email."}}
        if not recipients or any("@" not in r.get("address", "") for r in recipients):
            return 400, {}, {"error": {"code": "InvalidRecipient", "message": "A recipient address is not valid."}}
        op_id = record.operation_id or str(uuid.uuid4())
        with self._lock:
            # The same Operation-Id again is the same send: accept it, do not mail twice.
            self.operations.setdefault(op_id, body)
        location = f"{self.endpoint}/emails/operations/{op_id}?api-version=2025-09-01"
        return 202, {"Operation-Location": location, "Retry-After": "0"}, {"id": op_id, "status": "Running"}


class _Handler(BaseHTTPRequestHandler):
    owner: AcsStandIn
    protocol_version = "HTTP/1.1"
    timeout = 10

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out_headers, payload = self.owner._handle(self.command, self.path, headers, body)
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in out_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = _dispatch
    do_POST = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        pass
