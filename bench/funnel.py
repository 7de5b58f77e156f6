"""The partner's funnel at scale: storage requests of `GET /api/invitations/funnel` with N invitations stored for one
partner (target <= 5 at 100,000), and what keeping the counts costs a bulk create.

The invitations are created through the app's bulk path over 90 days (the clock moved day by day), so the count rows
are those of a real quarter; the funnel of the whole window is then read once (warm) and its storage requests counted.
Twice, with the same code:
- on in-memory Azurite, with `--azurite` invitations (default 5,000): Azurite finds a row by scanning its partition,
  so each write into one partner's partition costs time in proportion to the rows already there, and seeding 100,000
  into one partition takes hours (measured: 1,000 in 6 s, 6,000 in 108 s);
- on the in-memory storage of the unit tests (`tests/unit/fakes.py`: one request per point read, write, transaction
  and query), with `--stored` invitations (default 100,000). The funnel reads count rows only (one range query of
  days x shards rows), never invitations, so the two must show the same number of requests; the report says whether
  the count rows fit in one query page (1,000 rows), the only way the fake's count could differ from Azure's.
Usage: python -m bench funnel [--stored N] [--azurite N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

from bench.invitations import RESULTS, _body, _partners, _setup
from bench.results_file import write_section
from devhost.stack import throwaway_stack

DAYS = 90
TARGET = 5
PAGE = 1000  # rows per query page, in Azure and in the fake


def seeding_storage() -> Any:
    from shared.storage import Storage

    class SeedingStorage(Storage):
        # A 100-row transaction into a big partition can take longer on Azurite than the app's 3 s read timeout, and a
        # retried transaction that had committed conflicts with itself: one try with a long timeout. Seeding is not
        # what is measured; the funnel's read is counted, not timed.
        TIMEOUTS = {**Storage.TIMEOUTS, "retry_total": 0, "read_timeout": 300}

    return SeedingStorage()


def memory_storage() -> Any:
    from tests.unit.fakes import MemoryStorage

    return MemoryStorage()


def run(storage: Any, stored: int) -> dict:
    from invite_user import funnel_service, service
    from invite_user.api_models import FunnelQuery, NewInvitation
    from invite_user.records import bulk_record
    from invite_user.repository import InvitationStore
    from partners.registry import PartnerRepository
    from shared import clock
    from shared.context import Context
    from shared.storage import set_storage

    set_storage(storage)
    [caller] = _partners(storage, 1)
    partner = PartnerRepository(storage).find(caller.partner_id)
    assert partner is not None, "the benchmark partner is registered above"
    store = InvitationStore(storage)
    start = datetime(2026, 9, 1, 9, 0, tzinfo=timezone.utc)
    per_day = max(1, stored // DAYS)
    t0 = time.perf_counter()
    made, bulk_requests = 0, 0
    for day in range(DAYS):
        n = per_day if day < DAYS - 1 else stored - made
        clock.set_clock(clock.FixedClock(start + timedelta(days=day)))
        for first in range(0, n, 1000):
            chunk = [service.build_invitation(caller, partner, None, NewInvitation.model_validate(_body(made + i)))[0]
                     for i in range(first, min(n, first + 1000))]
            storage.counter.reset()
            store.create_many(chunk, lambda invs: bulk_record(invs, caller))
            bulk_requests += storage.counter.reset()
        made += n
        if day % 10 == 9:
            print(f"  seeded {made:,} in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    seed_s = time.perf_counter() - t0
    clock.set_clock(clock.SystemClock())
    last = (start + timedelta(days=DAYS - 1)).date()
    query = FunnelQuery.model_validate({"from": start.date().isoformat(), "to": last.isoformat()})
    ctx = Context(storage)
    funnel_service.funnel_of(ctx, caller, query)  # warm
    storage.counter.reset()
    funnel = funnel_service.funnel_of(ctx, caller, query)
    requests = storage.counter.reset()
    rows = len(store.funnel_rows(caller.partner_id, start.strftime("%Y%m%d"), last.strftime("%Y%m%d")))
    return {"stored": made, "days": DAYS, "funnel_requests": requests, "funnel_created": funnel.created,
            "count_rows": rows, "bulk_requests_per_invitation": round(bulk_requests / made, 3),
            "seed_seconds": round(seed_s, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--azurite", type=int, default=5_000)
    args = parser.parse_args(argv if argv is not None else [])
    with throwaway_stack("bench-", services=("azurite",)) as stack:
        _setup(stack)
        on_azurite = run(seeding_storage(), args.azurite)
    in_memory = run(memory_storage(), args.stored)
    report = {"azurite": on_azurite, "memory": in_memory, "measured_on": date.today().isoformat()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "funnel.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))

    def verdict(r: dict) -> str:
        return "met" if r["funnel_requests"] <= TARGET and r["funnel_created"] == r["stored"] else "not met"

    from invite_user.funnel import SHARDS

    worst_year = -(-366 * SHARDS // PAGE)  # every day of a year's window on every shard: its query pages
    same = on_azurite["funnel_requests"] == in_memory["funnel_requests"]
    one_page = in_memory["count_rows"] <= PAGE
    write_section("The partner's funnel", "\n".join([
        f"The invitations of one partner created through the app's bulk path over {DAYS} days; the funnel of the whole "
        "window read once (warm). On in-memory Azurite, and, because Azurite scans a partition for every write (seeding "
        "100,000 into one partner's partition would take hours), at 100,000 on the unit tests' in-memory storage, which "
        "counts a request per point read, write, transaction and query.",
        "",
        "| figure | target | measured | |",
        "|---|---|---|---|",
        f"| funnel's storage requests, {in_memory['stored']:,} invitations (in-memory storage) | <= {TARGET} | "
        f"{in_memory['funnel_requests']} ({in_memory['count_rows']} count rows, {'one query page' if one_page else 'more than one page'}) "
        f"| {verdict(in_memory) if one_page else 'not shown'} |",
        f"| invitations counted | {in_memory['stored']:,} | {in_memory['funnel_created']:,} | {verdict(in_memory)} |",
        f"| funnel's storage requests, {on_azurite['stored']:,} invitations (Azurite) | <= {TARGET} | "
        f"{on_azurite['funnel_requests']} ({on_azurite['count_rows']} count rows) | {verdict(on_azurite)} |",
        f"| invitations counted (Azurite) | {on_azurite['stored']:,} | {on_azurite['funnel_created']:,} | {verdict(on_azurite)} |",
        f"| requests at {in_memory['stored']:,} / at {on_azurite['stored']:,} | 1.0 (cost follows the window, not the invitations) | "
        f"{in_memory['funnel_requests'] / max(1, on_azurite['funnel_requests']):.1f} | {'met' if same else 'not met'} |",
        f"| at most, a year's window with invitations every day ({366 * SHARDS:,} count rows, {SHARDS} shards a day) | "
        f"<= {TARGET} | {worst_year} query pages | {'met' if worst_year <= TARGET else 'not met'} |",
        f"| bulk create: storage requests per invitation (counts kept in its transactions), Azurite | | "
        f"{on_azurite['bulk_requests_per_invitation']} | |",
        f"| seeding time, Azurite / in memory | | {on_azurite['seed_seconds']} s / {in_memory['seed_seconds']} s | |",
    ]))


if __name__ == "__main__":
    main(sys.argv[1:])
