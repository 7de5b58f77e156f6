"""The query of every paged list: a page size and the opaque continuation token of the previous page."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from shared.models import Model


class PageQuery(Model):
    # Unknown parameters: 400, as documented.
    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)
    page_size: int = Field(default=50, validation_alias="pageSize", serialization_alias="pageSize", ge=1, le=100)
    continuation_token: str | None = Field(default=None, validation_alias="continuationToken", serialization_alias="continuationToken",
                                           max_length=4000)


class Paged(Model):
    """A page of a list: `continuationToken` is always there, null on the last page (clients test it, not its presence)."""

    model_config = ConfigDict(populate_by_name=True)
    continuation_token: str | None = Field(default=None, validation_alias="continuationToken", serialization_alias="continuationToken")

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        data = super().model_dump(**kwargs)
        data.setdefault("continuationToken" if kwargs.get("by_alias") else "continuation_token", self.continuation_token)
        return data
