"""A partner's webhook subscriptions and their signing secrets, in the `Webhooks` table.

Layout of the `Webhooks` table (one table for everything webhooks keep):
- `s|<partnerId>` / `<subscriptionId>`: a subscription (URL, event types, state, secrets);
- `d|<subscriptionId>` / `<newest-first ticks>|<eventId>`: a delivery of one event to it (deliveries.py);
- `f|<partnerId>` / `<feed ticks>|<eventId>`: the partner's events feed (feed.py).

Secrets are Standard Webhooks secrets (`whsec_` + base64 of 32 random bytes). A rotated secret stays valid for
24 hours beside the new one: every delivery then carries both signatures, so a receiver can switch at leisure.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime, timedelta

from pydantic import Field

from shared.context import Context
from shared.storage import Entity, Repository

TABLE = "Webhooks"
ROTATION_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Subscription(Entity):
    id: str
    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    url: str
    events: list[str]
    description: str = ""
    enabled: bool = True
    secret: str
    previous_secret: str | None = Field(default=None, validation_alias="previousSecret", serialization_alias="previousSecret")
    previous_secret_until: datetime | None = Field(default=None, validation_alias="previousSecretUntil", serialization_alias="previousSecretUntil")
    created_at: datetime = Field(validation_alias="createdAt", serialization_alias="createdAt")
    updated_at: datetime = Field(validation_alias="updatedAt", serialization_alias="updatedAt")
    failing_since: datetime | None = Field(default=None, validation_alias="failingSince", serialization_alias="failingSince")
    last_success_at: datetime | None = Field(default=None, validation_alias="lastSuccessAt", serialization_alias="lastSuccessAt")
    disabled_reason: str | None = Field(default=None, validation_alias="disabledReason", serialization_alias="disabledReason")

    def wants(self, event_type: str) -> bool:
        return self.enabled and event_type in self.events

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, and the rotated one while its 24 hours last."""
        valid = [self.secret]
        if self.previous_secret and self.previous_secret_until and now < self.previous_secret_until:
            valid.append(self.previous_secret)
        return valid

    def rotate(self, now: datetime) -> str:
        self.previous_secret, self.previous_secret_until = self.secret, now + ROTATION_OVERLAP
        self.secret = new_secret()
        self.updated_at = now
        return self.secret


def new_subscription(partner_id: str, url: str, events: list[str], description: str, now: datetime) -> Subscription:
    return Subscription(id=str(uuid.uuid4()), partner_id=partner_id, url=url, events=sorted(set(events)), description=description,
                        secret=new_secret(), created_at=now, updated_at=now)


def sign(subscription: Subscription, event_id: str, at: datetime, body: str) -> dict[str, str]:
    """Standard Webhooks headers (HMAC-SHA256 by the standardwebhooks library), one signature per valid secret."""
    from standardwebhooks.webhooks import Webhook  # loaded by the delivery function only

    signatures = [Webhook(secret).sign(event_id, at, body) for secret in subscription.signing_secrets(at)]
    return {"webhook-id": event_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": " ".join(signatures),
            "content-type": "application/json", "user-agent": "rconnect-webhooks/1"}


class SubscriptionRepository(Repository[Subscription]):
    table = TABLE
    model = Subscription

    def keys(self, row: Subscription) -> tuple[str, str]:
        return f"s|{row.partner_id}", row.id

    def of_partner(self, partner_id: str) -> list[Subscription]:
        # Below "~": the partition also holds the tally of its subscriptions (shared.allowance).
        return self.query_all("PartitionKey eq @pk and RowKey lt '~'", {"pk": f"s|{partner_id}"})

    def find(self, partner_id: str, subscription_id: str) -> tuple[Subscription, str | None] | None:
        return self.read(f"s|{partner_id}", subscription_id)


def repository(ctx: Context) -> SubscriptionRepository:
    return ctx.store(SubscriptionRepository)
