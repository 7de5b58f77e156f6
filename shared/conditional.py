"""Conditional requests (RFC 9110 section 13): the ETag a resource is served with and the If-Match a change must carry.

The HTTP ETag is made from the storage ETag of the row a change is guarded by (the unit of work remembers it), hashed:
storage ETags carry quotes and a timestamp format that are no business of the caller, and a hash is a valid strong tag.
So "the version the caller read" and "the version the transaction is guarded by" are the same thing, and a change made
between the caller's read and the commit is caught either by the comparison here or by the commit's own ETag check.
"""

from __future__ import annotations

import hashlib
import re

from shared.errors import Invalid, PreconditionFailed

# RFC 9110 If-Match: `*`, or entity tags (optionally weak) separated by commas. The OpenAPI document states the same.
IF_MATCH = r'^(\*|(W/)?"[!#-~]*"( *, *(W/)?"[!#-~]*")*)$'
MAX_LENGTH = 200


def etag_of(storage_etag: str | None) -> str:
    """The strong HTTP ETag (quoted) of a row stored with `storage_etag`."""
    return '"' + hashlib.sha256((storage_etag or "").encode("utf-8")).hexdigest()[:32] + '"'


def check_syntax(header: str) -> None:
    """Refuse (400) an If-Match that is not `*` or a list of quoted entity tags."""
    if len(header) > MAX_LENGTH or not re.fullmatch(IF_MATCH, header):
        raise Invalid([{"field": "If-Match", "code": "invalid",
                        "message": 'must be * or the ETag as served, in double quotes ("..."), several separated by commas'}])


def tags(header: str) -> list[str]:
    """The entity tags of an If-Match value: `*`, or a comma-separated list of quoted tags (weak ones kept as written)."""
    return [part.strip() for part in header.split(",") if part.strip()]


def matches(header: str, current: str) -> bool:
    """Whether If-Match `header` lets a change to the version `current` go ahead.

    `*` matches any current version (a deliberate "whatever is there"); otherwise strong comparison: a weak tag
    (W/"...") never matches, as RFC 9110 13.1.1 requires for If-Match.
    """
    listed = tags(header)
    return "*" in listed or current in listed


def require(header: str, current: str, what: str) -> None:
    """Refuse (412) a change decided on another version than `current`."""
    if not matches(header, current):
        raise PreconditionFailed(f"The {what} changed since you read it (If-Match does not name its current ETag). "
                                 f"Read it again, check the change still makes sense, and send it with the new ETag.")
