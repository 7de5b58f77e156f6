"""The partner's funnel at scale: storage requests of `GET /api/invitations/funnel` with N invitations stored for one
partner (target <= 5 at 100,000), and what keeping the counts costs a bulk create.

In-memory Azurite. The invitations are created in bulk over 90 days (the clock moved day by day), so the count rows are
those of a real quarter; the funnel of the whole window is then read once (warm) and its storage requests counted.
Usage: python -m bench funnel [--stored N]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, datetime, timedelta, timezone

from bench.invitations import RESULTS, _body, _partners, _setup
from bench.results_file import write_section
from devhost.stack import throwaway_stack

DAYS = 90
TARGET = 5


def run(stored: int) -> dict:
    from invite_user import funnel_service, service
    from invite_user.api_models import FunnelQuery, NewInvitation
    from invite_user.records import bulk_record
    from invite_user.repository import InvitationStore
    from partners.registry import PartnerRepository
    from shared import clock
    from shared.context import Context
    from shared.storage import Storage, set_storage

    storage = Storage()
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
    seed_s = time.perf_counter() - t0
    clock.set_clock(clock.SystemClock())
    query = FunnelQuery.model_validate({"from": start.date().isoformat(), "to": (start + timedelta(days=DAYS - 1)).date().isoformat()})
    ctx = Context(storage)
    funnel_service.funnel_of(ctx, caller, query)  # warm
    storage.counter.reset()
    funnel = funnel_service.funnel_of(ctx, caller, query)
    requests = storage.counter.reset()
    return {"stored": made, "days": DAYS, "funnel_requests": requests, "funnel_created": funnel.created,
            "count_rows": len(store.funnel_rows(caller.partner_id, "20260901", "20261130")),
            "bulk_requests_per_invitation": round(bulk_requests / made, 3), "seed_seconds": round(seed_s, 1),
            "measured_on": date.today().isoformat()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stored", type=int, default=100_000)
    args = parser.parse_args(argv if argv is not None else [])
    with throwaway_stack("bench-", services=("azurite",)) as stack:
        _setup(stack)
        report = run(args.stored)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "funnel.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    ok = report["funnel_requests"] <= TARGET and report["funnel_created"] == report["stored"]
    write_section("The partner's funnel", "\n".join([
        f"In-memory Azurite. {report['stored']:,} invitations of one partner created in bulk over {report['days']} days; "
        "the funnel of the whole window read once (warm).",
        "",
        "| figure | target | measured | |",
        "|---|---|---|---|",
        f"| storage requests of the funnel | <= {TARGET} | {report['funnel_requests']} ({report['count_rows']} count rows) | "
        f"{'met' if ok else 'not met'} |",
        f"| invitations counted | {report['stored']:,} | {report['funnel_created']:,} | {'met' if ok else 'not met'} |",
        f"| bulk create: storage requests per invitation (counts kept in its transactions) | | "
        f"{report['bulk_requests_per_invitation']} | |",
    ]))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
