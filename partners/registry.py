"""Partners: the companies that invite customers (Direct, IndirectProvider, IndirectReseller)."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from enum import StrEnum

from pydantic import Field, model_validator

from shared.fields import Email, LanguageTag
from shared.storage import Entity, Repository, Storage


class PartnerType(StrEnum):
    DIRECT = "Direct"
    INDIRECT_PROVIDER = "IndirectProvider"
    INDIRECT_RESELLER = "IndirectReseller"


class Partner(Entity):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200)
    type: PartnerType
    indirect_provider_id: str | None = Field(default=None, validation_alias="indirectProviderId", serialization_alias="indirectProviderId")
    # Where the platform tells the partner what its customers did (a customer removing its rights); none: no email.
    # An address as every other in the app (`shared.fields.Email`): its own pattern here disagreed with the published one
    # (the server's \s takes U+0085 as a space, JSON Schema's ECMA-262 \s does not): the API refused addresses its contract allows.
    contact_email: Email | None = Field(default=None, validation_alias="contactEmail", serialization_alias="contactEmail")
    # The language of what the platform writes to the partner (its emails); partners registered before it: English.
    language: LanguageTag = Field(default="en", description="The language of the platform's emails to the partner (BCP 47; "
                                                             "one of the platform's 12, the nearest one otherwise).")
    created_at: datetime | None = Field(default=None, validation_alias="createdAt", serialization_alias="createdAt")

    @model_validator(mode="after")
    def _reseller_has_provider(self) -> Partner:
        # An indirect reseller always works through an indirect provider.
        if self.type == PartnerType.INDIRECT_RESELLER and not self.indirect_provider_id:
            raise ValueError("an IndirectReseller needs indirectProviderId")
        if self.type != PartnerType.INDIRECT_RESELLER and self.indirect_provider_id:
            raise ValueError("only an IndirectReseller has an indirectProviderId")
        return self


class PartnerRepository(Repository[Partner]):
    table = "Partners"
    model = Partner
    PARTITION = "partner"
    # Partner records change rarely and are read on every create: a short in-process cache saves a request.
    _cache: dict[tuple[str, str], tuple[float, Partner | None]] = {}
    _cache_lock = threading.Lock()
    CACHE_SECONDS = 60.0

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage)

    def keys(self, row: Partner) -> tuple[str, str]:
        return self.PARTITION, row.id

    def find(self, partner_id: str) -> Partner | None:
        key = (self.storage.table_name(self.table), partner_id)
        hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        partner = self.get(self.PARTITION, partner_id)
        with self._cache_lock:
            self._cache[key] = (time.monotonic() + self.CACHE_SECONDS, partner)
        return partner

    def save(self, partner: Partner) -> Partner:
        saved = self.upsert(partner)
        with self._cache_lock:
            self._cache.pop((self.storage.table_name(self.table), partner.id), None)
        return saved

    def list_page(self, page_size: int = 100, continuation_token: str | None = None):  # noqa: ANN201
        return self.query_page("PartitionKey eq @pk", {"pk": self.PARTITION}, page_size=page_size, continuation_token=continuation_token)

    def all_ids(self) -> list[str]:
        return [p.id for p in self.query_all("PartitionKey eq @pk", {"pk": self.PARTITION})]
