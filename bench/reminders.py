"""Storage requests of the reminder timer per due reminder, with many invitations stored, on a real (in-memory) Azurite.

Seeds `--stored` pending invitations over `--partners` partners (bulk create, so every one has its expiry and reminder
index rows), `--due` of them with a 30-day link and the rest with 60 days; moves the clock 24 days on, so only the
30-day ones are 7 days from expiry, and runs the reminder sweep (the target: its cost follows what is due, about two
requests per reminder plus one query per partner), then again (nothing due: one query per partner). Then it moves the
clock past the 30-day expiry and runs the expiry sweep, which now deletes each reminder row too (6 operations per
invitation, 14 per transaction). Usage: python -m bench reminders [--stored N]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import timedelta
from pathlib import Path

from bench.invitations import _body, _partners, _setup
from bench.results_file import write_section
from devhost.stack import throwaway_stack
from tests.support.context import ctx_of

RESULTS = Path(__file__).parent / "results"


def run(stored: int, due: int, partners: int) -> dict:
    from invite_user import expiry, reminders, service
    from invite_user.api_models import NewInvitation
    from invite_user.records import bulk_record
    from invite_user.repository import InvitationStore
    from partners.registry import PartnerRepository
    from shared import clock
    from shared.settings import get_settings
    from shared.storage import Storage, set_storage

    storage = Storage()
    set_storage(storage)
    callers = _partners(storage, partners)
    repo = PartnerRepository(storage)
    store = InvitationStore(storage)
    t0 = time.perf_counter()
    for start in range(0, stored, 1000):
        chunk = []
        for i in range(start, min(stored, start + 1000)):
            caller = callers[i % partners]
            partner = repo.find(caller.partner_id)
            assert partner is not None  # registered by _partners() above
            inv, _ = service.build_invitation(caller, partner, None,
                                              NewInvitation.model_validate(_body(i, days=30 if i < due else 60)))
            chunk.append(inv)
        store.create_many(chunk, lambda invs: bulk_record(invs, callers[0]))
    report: dict = {"stored": stored, "due": due, "partners": partners, "seed_seconds": round(time.perf_counter() - t0, 1)}
    storage.queue(get_settings().email_queue)  # warm: the queue client (and queue) is made once per process

    real = clock.clock
    try:
        clock.set_clock(clock.FixedClock(real.now() + timedelta(days=24)))
        storage.counter.reset()
        t0 = time.perf_counter()
        swept = reminders.sweep(ctx_of(storage))
        report["sweep_seconds"] = round(time.perf_counter() - t0, 2)
        report["sweep_requests"] = storage.counter.reset()
        report["reminded"] = swept.reminded
        report["requests_per_reminder"] = round(report["sweep_requests"] / max(1, swept.reminded), 3)
        again = reminders.sweep(ctx_of(storage))
        report["again_requests"] = storage.counter.reset()
        report["again_reminded"] = again.reminded

        clock.set_clock(clock.FixedClock(real.now() + timedelta(days=31)))
        storage.counter.reset()
        t0 = time.perf_counter()
        expired = expiry.sweep(ctx_of(storage))
        report["expiry_seconds"] = round(time.perf_counter() - t0, 2)
        report["expiry_requests"] = storage.counter.reset()
        report["expired"] = expired.expired
        report["expiry_requests_per_expired"] = round(report["expiry_requests"] / max(1, expired.expired), 3)
    finally:
        clock.set_clock(real)
    return report


def section(r: dict) -> str:
    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    per = r["requests_per_reminder"]
    messages = r["partners"] * math.ceil(r["due"] / r["partners"] / 32)  # the claims of each partner, 32 a message
    budget = round(2 + (1 + r["partners"] + messages) / max(1, r["due"]), 3)
    return "\n".join([
        f"{r['stored']:,} pending invitations stored over {r['partners']} partners, {r['due']:,} of them 7 days from expiry "
        f"(seeded in {r['seed_seconds']} s with bulk create).",
        "",
        "| what | target | measured | |",
        "|---|---|---|---|",
        f"| reminder sweep: storage requests per due reminder | <= {budget} (read + claim each, one query per partner, "
        f"a queue message per 32) | {per} ({r['sweep_requests']} requests for {r['reminded']:,}, {r['sweep_seconds']} s) "
        f"| {verdict(r['reminded'] == r['due'] and per <= budget)} |",
        f"| the sweep again, nothing due | {1 + r['partners']} (partners + a query each) | {r['again_requests']} requests, "
        f"{r['again_reminded']} reminded | {verdict(r['again_requests'] <= 1 + r['partners'] and r['again_reminded'] == 0)} |",
        f"| expiry sweep (reminder rows deleted with it, 14 per transaction): requests per expired | <= 1.2 | "
        f"{r['expiry_requests_per_expired']} ({r['expiry_requests']} for {r['expired']:,}, {r['expiry_seconds']} s) "
        f"| {verdict(r['expiry_requests_per_expired'] <= 1.2)} |",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stored", type=int, default=20_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--partners", type=int, default=10)
    args = parser.parse_args(argv if argv is not None else [])
    with throwaway_stack("bench-reminders-", services=("azurite",)) as stack:
        _setup(stack)
        report = run(args.stored, args.due, args.partners)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "reminders.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    write_section("Reminders: the timer's storage requests per due reminder", section(report))


if __name__ == "__main__":
    main()
