"""The query of every paged list: a page size and the opaque continuation token of the previous page."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PageQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_strip_whitespace=True)
    page_size: int = Field(default=50, alias="pageSize", ge=1, le=100)
    continuation_token: str | None = Field(default=None, alias="continuationToken", max_length=4000)
