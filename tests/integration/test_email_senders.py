"""The email senders against real counterparts: SmtpSender to MailDev, AcsSender (real SDK) to a signing-checking stand-in."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from notifications.sender import (
    AcsSender,
    EmailMessage,
    EmailNotAuthorized,
    EmailRejected,
    EmailThrottled,
    SmtpSender,
    acs_operation_id,
    get_sender,
)
from shared.settings import Settings
from tests.support.acs_standin import AcsStandIn

SENDER = "invitations@rconnect.example"


def message(subject: str, **overrides: Any) -> EmailMessage:
    fields: dict[str, Any] = {
        "to_address": "harry@contoso.example",
        "to_name": "Harry Smith",
        "subject": subject,
        "text": "Hi, Harry Smith!\n\nhttps://app.example/api/InviteUser?invitationId=1\n",
        "html": '<p>Hi, Harry Smith!</p><p><a href="https://app.example/api/InviteUser?invitationId=1">Get started now</a></p>',
        "language": "en",
    }
    fields.update(overrides)
    return EmailMessage(**fields)


# -- SMTP / MailDev ---------------------------------------------------------------------------


def _maildev_find(port: int, subject: str, timeout: float = 10) -> list[dict[str, Any]]:
    deadline = time.time() + timeout
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/email", timeout=5) as resp:
            found = [m for m in json.load(resp) if m.get("subject") == subject]
        if found or time.time() > deadline:
            return found
        time.sleep(0.2)


def test_smtp_sender_delivers_both_parts_to_maildev(servers: Any) -> None:
    ports = servers.stack.ports
    sender = SmtpSender("127.0.0.1", ports.smtp, SENDER, sender_name="My rConnect")
    subject = f"초대 {uuid.uuid4().hex}: Ihre Einladung"
    msg = message(subject, to_name="홍 길동", reply_to="anna@gfms.example", language="ko",
                  text="안녕하세요, 홍 길동님!\n\nhttps://app.example/x\n", html="<p>안녕하세요, 홍 길동님!</p>")
    operation = f"op-{uuid.uuid4().hex}"

    message_id = sender.send(msg, operation)

    [mail] = _maildev_find(ports.mail_web, subject)
    assert [(t["address"], t["name"]) for t in mail["to"]] == [("harry@contoso.example", "홍 길동")]
    assert mail["from"][0]["address"] == SENDER and mail["from"][0]["name"] == "My rConnect"
    assert "안녕하세요, 홍 길동님!" in mail["text"]
    assert "<p>안녕하세요, 홍 길동님!</p>" in mail["html"]
    assert mail["headers"]["reply-to"] == "anna@gfms.example"
    assert mail["headers"]["message-id"] == message_id == f"<{operation}@rconnect.example>"


def test_smtp_redelivery_reuses_the_message_id(servers: Any) -> None:
    ports = servers.stack.ports
    sender = SmtpSender("127.0.0.1", ports.smtp, SENDER)
    subject = f"redelivery {uuid.uuid4().hex}"
    first = sender.send(message(subject), "invitation-42|0")
    second = sender.send(message(subject), "invitation-42|0")
    assert first == second
    mails = _maildev_find(ports.mail_web, subject)
    assert len(mails) == 2 and {m["headers"]["message-id"] for m in mails} == {first}


def test_smtp_message_is_multipart_alternative_utf8() -> None:
    mime = SmtpSender("h", 25, SENDER, sender_name="Ünïcode Platform").build(message("Grüße", to_name="Zoë Ö"), "op-1")
    assert mime.get_content_type() == "multipart/alternative"
    assert mime["Content-Language"] == "en"
    assert [p.get_content_type() for p in mime.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in mime.iter_parts())
    wire = mime.as_bytes()
    assert b"=?utf-8?" in wire  # names and subject are RFC 2047-encoded, the wire stays ASCII
    assert wire.isascii()


def test_smtp_header_injection_is_impossible() -> None:
    mime = SmtpSender("h", 25, SENDER).build(message("Hello\r\nBcc: victim@example.com"), "op-2")
    assert mime["Subject"] == "Hello Bcc: victim@example.com"
    assert mime["Bcc"] is None


def test_smtp_invalid_address_is_rejected_before_connecting() -> None:
    with pytest.raises(EmailRejected):
        SmtpSender("127.0.0.1", 1, SENDER).send(message("x", to_address="not-an-address"), "op-3")


def test_smtp_unreachable_server_is_throttled() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but never listening: connection refused
        with pytest.raises(EmailThrottled) as info:
            SmtpSender("127.0.0.1", port, SENDER, timeout=2).send(message("x"), "op-4")
    assert 0 < info.value.retry_after_seconds <= 60


class _RefusingSmtp:
    """A minimal SMTP server that refuses every recipient with one reply code."""

    def __init__(self, rcpt_reply: str) -> None:
        self.rcpt_reply = rcpt_reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn, conn.makefile("rwb") as f:
            f.write(b"220 refusing ESMTP\r\n")
            f.flush()
            for line in f:
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    f.write(b"250 refusing\r\n")
                elif verb == b"MAIL":
                    f.write(b"250 OK\r\n")
                elif verb == b"RCPT":
                    f.write(self.rcpt_reply.encode() + b"\r\n")
                elif verb == b"QUIT":
                    f.write(b"221 bye\r\n")
                    f.flush()
                    return
                else:
                    f.write(b"250 OK\r\n")
                f.flush()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def refusing_smtp(request: pytest.FixtureRequest) -> Iterator[_RefusingSmtp]:
    server = _RefusingSmtp(request.param)
    yield server
    server.close()


@pytest.mark.parametrize("refusing_smtp", ["550 5.1.1 No such user"], indirect=True)
def test_smtp_permanent_refusal_is_rejected(refusing_smtp: _RefusingSmtp) -> None:
    with pytest.raises(EmailRejected, match="550"):
        SmtpSender("127.0.0.1", refusing_smtp.port, SENDER, timeout=5).send(message("x"), "op-5")


@pytest.mark.parametrize("refusing_smtp", ["451 4.7.1 Try again later"], indirect=True)
def test_smtp_temporary_refusal_is_throttled(refusing_smtp: _RefusingSmtp) -> None:
    with pytest.raises(EmailThrottled, match="451"):
        SmtpSender("127.0.0.1", refusing_smtp.port, SENDER, timeout=5).send(message("x"), "op-6")


# -- ACS / stand-in ---------------------------------------------------------------------------


@pytest.fixture
def acs() -> Iterator[AcsStandIn]:
    with AcsStandIn() as standin:
        yield standin


def acs_sender(acs: AcsStandIn, access_key: str | None = None) -> AcsSender:
    # The stand-in's CA is passed as the SDK's connection_verify: an explicit path is not overridden by
    # REQUESTS_CA_BUNDLE (requests only substitutes the environment's bundle for verify=True).
    return AcsSender(SENDER, connection_string=acs.connection_string(access_key), connection_verify=str(acs.ca_path))


def test_acs_send_arrives_signed_with_recipient_and_content(acs: AcsStandIn) -> None:
    subject = "홍 길동님, GFMS에서 My rConnect에 초대했습니다"
    msg = message(subject, to_name="홍 길동", reply_to="anna@gfms.example", language="ko")

    message_id = acs_sender(acs).send(msg, "invitation-7|0")

    [request] = acs.sends
    assert request.signature_valid, request.signature_error
    assert request.path.startswith("/emails:send?api-version=")
    assert request.operation_id == acs_operation_id("invitation-7|0") == message_id
    body = request.json
    assert body["recipients"]["to"] == [{"address": "harry@contoso.example", "displayName": "홍 길동"}]
    assert body["content"]["subject"] == subject
    assert body["content"]["plainText"] == msg.text and body["content"]["html"] == msg.html
    assert body["senderAddress"] == SENDER
    assert body["replyTo"] == [{"address": "anna@gfms.example"}]
    assert body["userEngagementTrackingDisabled"] is True
    assert acs.operations[message_id]["content"]["subject"] == subject
    # Accepted is enough: the sender does not wait on the status poll.
    assert [r.method for r in acs.requests] == ["POST"]


def test_acs_wrong_key_is_refused_and_reported_as_not_authorized(acs: AcsStandIn) -> None:
    import base64
    import secrets

    wrong = base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(EmailNotAuthorized, match="401") as info:
        acs_sender(acs, wrong).send(message("x"), "op-wrong-key")
    assert isinstance(info.value, EmailRejected)
    [request] = acs.requests
    assert request.signature_error == "signature mismatch" and request.status == 401
    assert acs.operations == {}


def test_acs_429_is_throttled_with_the_retry_after_of_the_service(acs: AcsStandIn) -> None:
    acs.throttle(retry_after=17)
    started = time.monotonic()
    with pytest.raises(EmailThrottled) as info:
        acs_sender(acs).send(message("x"), "op-throttled")
    assert info.value.retry_after_seconds == 17
    # No retry inside the SDK and no sleeping: the queue's visibility delay does the waiting.
    assert time.monotonic() - started < 5
    assert len(acs.sends) == 1 and acs.sends[0].signature_valid


def test_acs_retry_after_throttling_uses_the_same_operation_id(acs: AcsStandIn) -> None:
    acs.throttle(retry_after=1)
    sender = acs_sender(acs)
    with pytest.raises(EmailThrottled):
        sender.send(message("x"), "invitation-9|1")
    assert sender.send(message("x"), "invitation-9|1") == acs_operation_id("invitation-9|1")
    assert [r.status for r in acs.sends] == [429, 202]
    assert len({r.operation_id for r in acs.sends}) == 1


def test_acs_same_operation_sent_twice_carries_the_same_operation_id(acs: AcsStandIn) -> None:
    sender = acs_sender(acs)
    first = sender.send(message("once"), "invitation-11|0")
    second = sender.send(message("once"), "invitation-11|0")
    other = sender.send(message("once"), "invitation-11|1")

    ids = [r.operation_id for r in acs.sends]
    assert ids[0] == ids[1] == first == second != other
    assert str(uuid.UUID(ids[0])) == ids[0]
    # The stand-in, like the service, keeps one operation per Operation-Id: the repeat mails nothing.
    assert len(acs.operations) == 2


def test_acs_operation_id_keeps_a_uuid_and_derives_one_otherwise() -> None:
    given = str(uuid.uuid4())
    assert acs_operation_id(given) == given
    assert acs_operation_id("a|0") == acs_operation_id("a|0") != acs_operation_id("a|1")


def test_acs_bad_recipient_is_rejected(acs: AcsStandIn) -> None:
    with pytest.raises(EmailRejected, match="InvalidRecipient") as info:
        acs_sender(acs).send(message("x", to_address="nobody"), "op-bad-address")
    assert not isinstance(info.value, EmailNotAuthorized)


def test_acs_server_error_is_throttled(acs: AcsStandIn) -> None:
    acs.fail_next(503, "ServiceUnavailable", "Try later.")
    with pytest.raises(EmailThrottled) as info:
        acs_sender(acs).send(message("x"), "op-503")
    assert info.value.retry_after_seconds > 0


def test_acs_unreachable_is_throttled() -> None:
    with AcsStandIn() as standin:
        sender = acs_sender(standin)
    with pytest.raises(EmailThrottled):
        sender.send(message("x"), "op-unreachable")


def test_acs_untrusted_certificate_is_not_accepted(acs: AcsStandIn) -> None:
    sender = AcsSender(SENDER, connection_string=acs.connection_string())
    with pytest.raises(EmailThrottled, match="(?i)certificate|ssl"):
        sender.send(message("x"), "op-untrusted")
    assert acs.requests == []


def test_the_standin_answers_the_sdk_status_poll(acs: AcsStandIn) -> None:
    from azure.communication.email import EmailClient

    client = EmailClient.from_connection_string(acs.connection_string(), connection_verify=str(acs.ca_path))
    poller = client.begin_send(acs_sender(acs).payload(message("polled")), operation_id=str(uuid.uuid4()), polling_interval=0)
    assert poller.result(timeout=10)["status"] == "Succeeded"
    assert [r.method for r in acs.requests] == ["POST", "GET"]
    assert all(r.signature_valid for r in acs.requests)


# -- choice of sender -------------------------------------------------------------------------


def test_get_sender_prefers_acs_then_smtp() -> None:
    acs_settings = Settings(ACS_CONNECTION_STRING="endpoint=https://x.communication.azure.com/;accesskey=a2V5",
                            SMTP_HOST="127.0.0.1")
    assert isinstance(get_sender(acs_settings), AcsSender)
    smtp = get_sender(Settings(SMTP_HOST="127.0.0.1", SMTP_PORT=2525, EMAIL_SENDER=SENDER))
    assert isinstance(smtp, SmtpSender) and (smtp.host, smtp.port, smtp.sender) == ("127.0.0.1", 2525, SENDER)


def test_get_sender_with_an_endpoint_uses_a_token_credential() -> None:
    sender = get_sender(Settings(ACS_ENDPOINT="https://x.communication.azure.com"))
    assert isinstance(sender, AcsSender)


def test_get_sender_without_a_provider_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings() reads the environment (pydantic-settings); the local stack's SMTP_HOST must not answer here.
    for name in ("ACS_CONNECTION_STRING", "ACS_ENDPOINT", "SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="ACS_CONNECTION_STRING.*SMTP_HOST"):
        get_sender(Settings())
