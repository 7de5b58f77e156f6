"""An email sender for tests whose subject is what is sent, not how (the SMTP and ACS senders have tests of their own)."""

from __future__ import annotations

from notifications.sender import EmailMessage


class Outbox:
    """Keeps what it was asked to send, in order; answers the operation id as the provider's message id."""

    def __init__(self) -> None:
        self.sent: list[tuple[EmailMessage, str]] = []

    def send(self, message: EmailMessage, operation_id: str) -> str:
        self.sent.append((message, operation_id))
        return operation_id
