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


class ProcessClock:
    """The process's clock as it is at each reading: what contexts built at the edge carry (tests may `set_clock`)."""

    def now(self) -> datetime:
        return clock.now()


PROCESS_CLOCK = ProcessClock()


def utc_now() -> datetime:
    return clock.now()


def set_clock(new: Clock) -> Clock:
    """Swap the clock (tests); returns the previous one."""
    global clock
    previous, clock = clock, new
    return previous
