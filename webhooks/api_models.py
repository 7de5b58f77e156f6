"""The request and response shapes of the webhooks API and the events feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, HttpUrl, field_validator
from pydantic.config import JsonDict

from shared.models import Model
from shared.pagination import Paged
from webhooks.catalog import EVENT_TYPES, TEST, Event
from webhooks.deliveries import DeliveryStatus

SUBSCRIBABLE = sorted(set(EVENT_TYPES) - {TEST})
_EVENT_ITEMS: JsonDict = {"items": {"enum": [*SUBSCRIBABLE]}}


class _Api(Model):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)


def _known(events: list[str] | None) -> list[str] | None:
    if events is None:
        return None
    unknown = sorted(set(events) - set(SUBSCRIBABLE))
    if unknown:
        raise ValueError(f"unknown event types: {', '.join(unknown)}; known: {', '.join(SUBSCRIBABLE)}")
    return events


class NewSubscription(_Api):
    url: HttpUrl = Field(description="Where events are POSTed: https, on a public address; redirects are not followed.")
    events: list[str] = Field(min_length=1, max_length=len(EVENT_TYPES), description="The event types to receive.",
                              json_schema_extra=_EVENT_ITEMS)
    description: str = Field(default="", max_length=200)

    _check = field_validator("events")(_known)


class SubscriptionChange(_Api):
    url: HttpUrl | None = None
    events: list[str] | None = Field(default=None, min_length=1, max_length=len(EVENT_TYPES),
                                     json_schema_extra=_EVENT_ITEMS)
    description: str | None = Field(default=None, max_length=200)
    enabled: bool | None = Field(default=None, description="true enables again a subscription disabled after failing.")

    _check = field_validator("events")(_known)


class SubscriptionOut(_Api):
    id: str
    url: str
    events: list[str]
    description: str = ""
    enabled: bool
    created_at: datetime = Field(validation_alias="createdAt", serialization_alias="createdAt")
    updated_at: datetime = Field(validation_alias="updatedAt", serialization_alias="updatedAt")
    failing_since: datetime | None = Field(default=None, validation_alias="failingSince", serialization_alias="failingSince",
                                           description="Every delivery since then failed.")
    last_success_at: datetime | None = Field(default=None, validation_alias="lastSuccessAt", serialization_alias="lastSuccessAt")
    disabled_reason: str | None = Field(default=None, validation_alias="disabledReason", serialization_alias="disabledReason",
                                        description="Why it was disabled, if it was.")
    previous_secret_valid_until: datetime | None = Field(default=None, validation_alias="previousSecretValidUntil",
                                                       serialization_alias="previousSecretValidUntil")


class SubscriptionWithSecret(SubscriptionOut):
    secret: str = Field(description="The signing secret (Standard Webhooks, `whsec_...`). Shown only now: keep it.")


class SubscriptionPage(Paged):
    items: list[SubscriptionOut]


class DeliveryOut(_Api):
    event_id: str = Field(validation_alias="eventId", serialization_alias="eventId", description="Also the `webhook-id` header of every attempt.")
    event_type: str = Field(validation_alias="eventType", serialization_alias="eventType")
    occurred_at: datetime = Field(validation_alias="occurredAt", serialization_alias="occurredAt")
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None = Field(default=None, validation_alias="lastStatusCode", serialization_alias="lastStatusCode")
    last_error: str | None = Field(default=None, validation_alias="lastError", serialization_alias="lastError")
    last_attempt_at: datetime | None = Field(default=None, validation_alias="lastAttemptAt", serialization_alias="lastAttemptAt")
    next_attempt_at: datetime | None = Field(default=None, validation_alias="nextAttemptAt", serialization_alias="nextAttemptAt")


class DeliveryPage(Paged):
    items: list[DeliveryOut]


class TestSent(_Api):
    delivery: DeliveryOut


class FeedQuery(Model):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)
    after: str | None = Field(default=None, max_length=100, pattern=r"^[0-9]{20}\|[0-9a-f-]{36}$",
                              description="The `cursor` of the last event read; absent: from the oldest kept (30 days).")
    page_size: int = Field(default=100, validation_alias="pageSize", serialization_alias="pageSize", ge=1, le=500)


class FeedItem(Event):
    cursor: str = Field(description="Pass as `after` to read the events after this one.")


class FeedPage(Model):
    model_config = ConfigDict(populate_by_name=True)
    items: list[FeedItem]
    next_cursor: str | None = Field(validation_alias="nextCursor", serialization_alias="nextCursor",
                                    description="The cursor to read on from; the same as `after` when nothing is new.")

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        # nextCursor is always there (null before the first event): clients read it, not its presence.
        data = super().model_dump(**kwargs)
        data.setdefault("nextCursor" if kwargs.get("by_alias") else "next_cursor", self.next_cursor)
        return data


