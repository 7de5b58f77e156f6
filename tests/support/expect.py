"""What a test expects to be there, said once: a lookup that may find nothing, where the test needs it found."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def found(value: T | None, what: str = "a value the test expects") -> T:
    """The value, failing the test (not a later attribute access) when the lookup found nothing."""
    assert value is not None, f"expected {what}, found nothing"
    return value
