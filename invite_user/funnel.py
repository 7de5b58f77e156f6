"""The partner's funnel: its invitations created in a window, counted by how far they got (`Invitation.stage`), with
the median time from creation to acceptance.

The counts are kept as the changes happen, in the same transactions: every transaction that writes an invitation whose
stage changes carries the change of its creation day's count row (`f|<day>|<shard>` in the partner's partition), read
under its ETag and written with the invitation, all or nothing. An invitation remembers the stage it is counted under
(`countedStage`), so a retried or repeated write never counts twice. Each transaction takes one of SHARDS rows of a day
at random, so concurrent writers of one busy day rarely meet (the partition's write rate is shared by all the partner's
invitations). Reading a window is one range query over its days' rows (days x SHARDS rows), whatever the number of
invitations. Acceptance times are kept as a histogram of minutes to two significant figures: the median is that close.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime

from pydantic import ConfigDict, Field

from invite_user.invitations import Invitation, InvitationKind, Stage
from shared.models import Model
from shared.storage import Row

SHARDS = 8


class FunnelCount(Row):
    """One shard of one creation day's counts: by kind, by stage; acceptance minutes by kind as {bucket: n}."""

    partner_id: str = Field(validation_alias="partnerId", serialization_alias="partnerId")
    day: str  # YYYYMMDD (UTC) of the invitations' creation
    shard: int
    counts: dict[str, dict[str, int]] = Field(default_factory=dict)
    accepted_minutes: dict[str, dict[str, int]] = Field(default_factory=dict, validation_alias="acceptedMinutes",
                                                        serialization_alias="acceptedMinutes")


def row_key(day: str, shard: int) -> str:
    return f"f|{day}|{shard}"


def day_of(inv: Invitation) -> str:
    return f"{inv.created_at.year:04d}{inv.created_at.month:02d}{inv.created_at.day:02d}"


def _bucket(minutes: int) -> str:
    """Two significant figures: 1234 -> 1200; enough for a median, and the histogram stays small."""
    if minutes < 100:
        return str(max(minutes, 0))
    scale = 10 ** (int(math.log10(minutes)) - 1)
    return str(minutes // scale * scale)


Delta = dict[tuple[str, str], dict[str, int]]  # (day, kind) -> {stage or "m:<bucket>": change}


def changes(invitations: Iterable[Invitation]) -> dict[str, Delta]:
    """What these writes change in the counts, by partner; each invitation is marked counted under its new stage."""
    out: dict[str, Delta] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for inv in invitations:
        stage = inv.stage.value
        if stage == inv.counted_stage:
            continue
        cell = out[inv.partner_id][(day_of(inv), inv.kind.value)]
        if inv.counted_stage is not None:
            cell[inv.counted_stage] -= 1
            if inv.counted_accept_minutes is not None:
                cell["m:" + _bucket(inv.counted_accept_minutes)] -= 1
        cell[stage] += 1
        minutes = None
        if inv.stage == Stage.ACCEPTED and inv.accepted_at is not None:
            minutes = int((inv.accepted_at - inv.created_at).total_seconds() // 60)
            cell["m:" + _bucket(minutes)] += 1
        inv.counted_stage, inv.counted_accept_minutes = stage, minutes
    return out


def apply(row: FunnelCount, delta: Delta) -> FunnelCount:
    for (day, kind), cell in delta.items():
        if day != row.day:
            continue
        for key, n in cell.items():
            target = row.accepted_minutes if key.startswith("m:") else row.counts
            name = key[2:] if key.startswith("m:") else key
            per_kind = target.setdefault(kind, {})
            per_kind[name] = per_kind.get(name, 0) + n
    return row


def pick_shard() -> int:
    return random.randrange(SHARDS)


# Each process writes its own shard of a day (its last write's ETag kept: no read); after a conflict, another one.
PROCESS_SHARD = pick_shard()


class Funnel(Model):
    model_config = ConfigDict(populate_by_name=True)
    from_: date = Field(validation_alias="from", serialization_alias="from")
    to: date
    kind: InvitationKind | None = None
    created: int = Field(description="Invitations created in the window (the sum of the stages).")
    stages: dict[str, int] = Field(description="By how far each got: Created, Delivered, DeliveryFailed, Opened, SignedIn, "
                                               "Accepted, Expired, Revoked.")
    median_hours_to_acceptance: float | None = Field(default=None, validation_alias="medianHoursToAcceptance",
                                                     serialization_alias="medianHoursToAcceptance",
                                                     description="From creation to acceptance, to two significant figures.")


def summarize(rows: Iterable[FunnelCount], start: date, end: date, kind: InvitationKind | None, now: datetime) -> Funnel:
    stages = {s.value: 0 for s in Stage}
    minutes: list[tuple[int, int]] = []
    for row in rows:
        for k, counts in row.counts.items():
            if kind is None or k == kind.value:
                for stage, n in counts.items():
                    stages[stage] = stages.get(stage, 0) + n
        for k, histogram in row.accepted_minutes.items():
            if kind is None or k == kind.value:
                minutes += [(int(b), n) for b, n in histogram.items() if n > 0]
    expanded = [b for b, n in sorted(minutes) for _ in range(n)]
    median = round(statistics.median(expanded) / 60, 2) if expanded else None
    return Funnel(from_=start, to=end, kind=kind, created=sum(stages.values()), stages=stages, median_hours_to_acceptance=median)

