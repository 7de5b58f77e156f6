"""The one clock of the app, so rules about time can be tested at any instant."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock for tests: it shows `at` until moved."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.at = self.at + timedelta(**delta)


clock: Clock = SystemClock()


def utc_now() -> datetime:
    return clock.now()


def set_clock(new: Clock) -> Clock:
    """Swap the clock (tests); returns the previous one."""
    global clock
    previous, clock = clock, new
    return previous
