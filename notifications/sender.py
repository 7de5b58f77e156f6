"""The sending side of the one email path: a message, a sender protocol, SMTP (local) and ACS (Azure).

A send either returns the provider's message id, or raises `EmailThrottled` (transient: the caller puts
the message back on its queue with a visibility delay, it never sleeps) or `EmailRejected` (permanent:
retrying the same message cannot succeed). Every send carries an `operation_id` chosen by the caller and
stable across re-deliveries of the same queue message, so the provider can tell a retry from a new mail.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import smtplib
import threading
import uuid
from dataclasses import dataclass
from datetime import timezone
from email.headerregistry import Address
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Protocol

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.clock import utc_now
from shared.settings import Settings

log = logging.getLogger(__name__)

# Delays handed back to the caller; the queue's visibility timeout does the waiting.
SMTP_RETRY_AFTER = 30
CONNECTION_RETRY_AFTER = 15
DEFAULT_THROTTLE_RETRY_AFTER = 60
MAX_RETRY_AFTER = 3600

# Fixed namespace: the same operation id must map to the same ACS Operation-Id in every process.
_OPERATION_NAMESPACE = uuid.UUID("6f1c7f2e-3f55-4d53-9d0f-4a8c2f8e6b11")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._+=-]{1,128}$")


@dataclass(frozen=True)
class EmailMessage:
    """One rendered email to one recipient."""

    to_address: str
    to_name: str | None
    subject: str
    text: str
    html: str
    reply_to: str | None = None
    language: str = "en"


class EmailSender(Protocol):
    def send(self, message: EmailMessage, operation_id: str) -> str:
        """Hand the message to the provider; returns the provider's message id."""
        ...


class EmailError(Exception):
    """A send did not happen."""


class EmailThrottled(EmailError):
    """Transient: the provider is busy or unreachable. Retry the same operation after `retry_after_seconds`."""

    def __init__(self, retry_after_seconds: int, reason: str = "the email service asked to retry later") -> None:
        super().__init__(f"{reason} (retry after {retry_after_seconds}s)")
        self.retry_after_seconds = retry_after_seconds
        self.reason = reason


class EmailRejected(EmailError):
    """Permanent: the provider refused this message (bad address, invalid content). Do not retry it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EmailBounced(EmailRejected):
    """The recipient's server refused the address at send time (SMTP 5xx for the recipient): a hard bounce."""


class EmailNotAuthorized(EmailRejected):
    """The provider refused our credentials: a configuration fault, not the message's. Alert, do not retry blindly."""


# -- SMTP ---------------------------------------------------------------------------------------


class SmtpSender:
    """Sends through an SMTP server without authentication (MailDev locally, or a trusted relay)."""

    def __init__(self, host: str, port: int, sender: str, *, sender_name: str | None = None, timeout: float = 15) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.sender_name = sender_name
        self.timeout = timeout

    def message_id(self, operation_id: str) -> str:
        """The Message-ID header for an operation: the same on every re-delivery, so duplicates are recognisable."""
        local = operation_id if _SAFE_ID.match(operation_id) else hashlib.sha256(operation_id.encode()).hexdigest()[:40]
        domain = self.sender.rpartition("@")[2] or "localhost"
        return f"<{local}@{domain}>"

    def build(self, message: EmailMessage, operation_id: str) -> MimeMessage:
        """The MIME message: multipart/alternative with a UTF-8 text part and an HTML part."""
        try:
            mime = MimeMessage()
            mime["From"] = _address(self.sender, self.sender_name)
            mime["To"] = _address(message.to_address, message.to_name)
            if message.reply_to:
                mime["Reply-To"] = _address(message.reply_to, None)
            # Line breaks in a header would let a name inject headers; one line is all a subject needs.
            mime["Subject"] = " ".join(message.subject.split())
        except (ValueError, TypeError, IndexError) as exc:
            raise EmailRejected(f"invalid address or header: {exc}") from exc
        mime["Date"] = format_datetime(utc_now().astimezone(timezone.utc), usegmt=True)
        mime["Message-ID"] = self.message_id(operation_id)
        mime["Auto-Submitted"] = "auto-generated"
        # Quoted-printable keeps every line short and ASCII, whatever relay sits in between.
        mime.set_content(message.text, subtype="plain", charset="utf-8", cte="quoted-printable")
        mime.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
        # After the content: set_content clears every Content-* header.
        mime["Content-Language"] = message.language
        return mime

    def send(self, message: EmailMessage, operation_id: str) -> str:
        mime = self.build(message, operation_id)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(mime)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in exc.recipients.items())
            if codes and all(400 <= code < 500 for code in codes):
                raise EmailThrottled(SMTP_RETRY_AFTER, f"recipient deferred: {detail}") from exc
            raise EmailBounced(f"recipient refused: {detail}") from exc
        except smtplib.SMTPResponseException as exc:
            # SMTPDataError, SMTPSenderRefused, ...: the reply code says transient (4xx) or permanent (5xx).
            text = f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}"
            if 400 <= exc.smtp_code < 500:
                raise EmailThrottled(SMTP_RETRY_AFTER, text) from exc
            raise EmailRejected(text) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise EmailRejected(f"the SMTP server cannot carry this message: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise EmailThrottled(CONNECTION_RETRY_AFTER, f"SMTP server {self.host}:{self.port} unreachable: {exc}") from exc
        return str(mime["Message-ID"])


def _address(addr: str, name: str | None) -> Address:
    local, at, domain = addr.strip().rpartition("@")
    if not at or not local or not domain:
        raise ValueError(f"not an email address: {addr!r}")
    # IDNA keeps a non-ASCII domain deliverable without requiring SMTPUTF8 from the relay.
    domain = domain.encode("idna").decode("ascii")
    return Address(display_name=name or "", username=local, domain=domain)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# -- Azure Communication Services ---------------------------------------------------------------


def acs_operation_id(operation_id: str) -> str:
    """The ACS Operation-Id (a UUID) for an operation: the caller's id if it is a UUID, else derived from it.

    ACS treats a repeated Operation-Id as the same send, which is what makes a re-queued message safe.
    """
    try:
        return str(uuid.UUID(operation_id))
    except ValueError:
        return str(uuid.uuid5(_OPERATION_NAMESPACE, operation_id))


class AcsSender:
    """Sends through Azure Communication Services Email with the official SDK."""

    def __init__(
        self,
        sender: str,
        *,
        connection_string: str | None = None,
        endpoint: str | None = None,
        credential: Any = None,
        **client_kwargs: Any,
    ) -> None:
        """`connection_string` (access key, HMAC-signed) or `endpoint` + a token credential (managed identity).

        Extra keyword arguments go to the SDK client (e.g. `connection_verify`, `transport`).
        """
        from azure.communication.email import EmailClient

        self.sender = sender
        # No SDK retries: they would sleep inside the function (honouring Retry-After); the queue's
        # visibility delay is the retry, and the Operation-Id keeps it from sending twice.
        client_kwargs.setdefault("retry_total", 0)
        if connection_string:
            self._client = EmailClient.from_connection_string(connection_string, **client_kwargs)
        elif endpoint:
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            self._client = EmailClient(endpoint, credential, **client_kwargs)
        else:
            raise ValueError("AcsSender needs a connection string or an endpoint")

    def payload(self, message: EmailMessage) -> dict[str, Any]:
        """The JSON body of the ACS send request."""
        to: dict[str, str] = {"address": message.to_address}
        if message.to_name:
            to["displayName"] = message.to_name
        body: dict[str, Any] = {
            "senderAddress": self.sender,
            "recipients": {"to": [to]},
            "content": {
                "subject": " ".join(message.subject.split()),
                "plainText": message.text,
                "html": message.html,
            },
            "headers": {"Content-Language": message.language},
            # Engagement tracking rewrites links; the personal invitation link must arrive untouched.
            "userEngagementTrackingDisabled": True,
        }
        if message.reply_to:
            body["replyTo"] = [{"address": message.reply_to}]
        return body

    def send(self, message: EmailMessage, operation_id: str) -> str:
        op_id = acs_operation_id(operation_id)
        try:
            # polling=False: the 202 means ACS accepted and owns the send; waiting for delivery would
            # only hold the function for minutes.
            poller = self._client.begin_send(self.payload(message), operation_id=op_id, polling=False)
            result = poller.result()
        except ResourceExistsError:
            # This Operation-Id was accepted before: an earlier attempt got through and its reply was lost.
            log.info("ACS already has operation %s; not sending it again", op_id)
            return op_id
        except ClientAuthenticationError as exc:
            raise EmailNotAuthorized(f"ACS refused the credentials: {_reason(exc)}") from exc
        except HttpResponseError as exc:
            raise _map_http_error(exc) from exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise EmailThrottled(CONNECTION_RETRY_AFTER, f"ACS unreachable: {exc}") from exc
        except AzureError as exc:
            raise EmailThrottled(CONNECTION_RETRY_AFTER, f"ACS send failed: {exc}") from exc
        message_id = result.get("id") if isinstance(result, dict) else None
        return str(message_id or op_id)

    def close(self) -> None:
        self._client.close()


def _reason(exc: HttpResponseError) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    text = getattr(error, "message", None) or exc.message or str(exc)
    return f"HTTP {exc.status_code} {code + ': ' if code else ''}{text}".strip()


def _map_http_error(exc: HttpResponseError) -> EmailError:
    status = exc.status_code or 0
    if status == 429 or status == 408 or status >= 500 or status == 0:
        retry_after = _retry_after(exc.response, DEFAULT_THROTTLE_RETRY_AFTER if status == 429 else CONNECTION_RETRY_AFTER)
        return EmailThrottled(retry_after, f"ACS: {_reason(exc)}")
    if status in (401, 403):
        return EmailNotAuthorized(f"ACS refused the credentials: {_reason(exc)}")
    return EmailRejected(f"ACS rejected the message: {_reason(exc)}")


def _retry_after(response: Any, default: int) -> int:
    """Seconds from the response's retry headers (milliseconds, delta-seconds or HTTP date), bounded."""
    headers = getattr(response, "headers", None) or {}
    seconds: float | None = None
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("Retry-After", 1.0)):
        value = headers.get(name)
        if not value:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            try:
                seconds = (parsedate_to_datetime(value) - utc_now()).total_seconds()
            except (TypeError, ValueError):
                continue
        break
    if seconds is None:
        return default
    return max(1, min(MAX_RETRY_AFTER, math.ceil(seconds)))


# -- choice ---------------------------------------------------------------------------------------


_senders: dict[tuple[Any, ...], EmailSender] = {}
_senders_lock = threading.Lock()


def get_sender(settings: Settings) -> EmailSender:
    """The process's one sender for these settings: the ACS client and its credential (token cache, connection pool)
    are built once, not for every message."""
    key = (settings.acs_connection_string, settings.acs_endpoint, settings.smtp_host, settings.smtp_port, settings.email_sender,
           settings.platform_name)
    with _senders_lock:
        sender = _senders.get(key)
        if sender is None:
            sender = _senders[key] = _new_sender(settings)
        return sender


def _new_sender(settings: Settings) -> EmailSender:
    """ACS when ACS_CONNECTION_STRING or ACS_ENDPOINT is set (Azure), else SMTP_HOST (local MailDev)."""
    if settings.acs_connection_string:
        return AcsSender(settings.email_sender, connection_string=settings.acs_connection_string)
    if settings.acs_endpoint:
        return AcsSender(settings.email_sender, endpoint=settings.acs_endpoint)
    if settings.smtp_host:
        return SmtpSender(settings.smtp_host, settings.smtp_port, settings.email_sender, sender_name=settings.platform_name)
    raise RuntimeError(
        "No email provider configured: set ACS_CONNECTION_STRING or ACS_ENDPOINT (Azure Communication Services), "
        "or SMTP_HOST and SMTP_PORT (e.g. MailDev locally)."
    )


__all__ = ["AcsSender", "EmailBounced", "EmailError", "EmailMessage", "EmailNotAuthorized", "EmailRejected",
           "EmailSender", "EmailThrottled", "SmtpSender", "acs_operation_id", "get_sender"]
