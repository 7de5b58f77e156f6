"""Storage requests and speed of the invitation paths, on a real (in-memory) Azurite.

Reports: requests per create (target <= 3 including the queue message), per list page, per expiry sweep
relative to the number expired (target <= 1.2 with 100,000 stored and 1,000 expiring), and bulk 1,000
vs 1,000 single creates (target >= 5x faster). Usage: python -m bench invitations [--stored N]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

from bench.results_file import write_section
from devhost.stack import Stack, throwaway_stack
from shared.storage import azurite_connection_string
from tests.support.context import ctx_of

RESULTS = Path(__file__).parent / "results"


def _setup(stack: Stack) -> None:
    p = stack.ports
    os.environ.update({
        "AzureWebJobsStorage": azurite_connection_string(p.blob, p.queue, p.table),
        "TABLE_PREFIX": f"b{uuid.uuid4().hex[:8]}",
        "EMAIL_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
    })
    from shared.settings import reset_settings

    reset_settings()


def _body(i: int, days: int = 60) -> dict:
    return {"email": f"user{i}@contoso.com", "firstName": "Bench", "lastName": f"User{i}", "language": "en", "countryRegion": "DE",
            "kind": "CustomerOnboarding", "company": {"name": f"Company {i}", "country": "DE"}, "expiresInDays": days}


def _partners(storage, partners: int) -> list:
    """`partners` direct partners registered, and an AdminAgent of each to call the services as."""
    from partners.registry import Partner, PartnerRepository, PartnerType
    from shared.partner_auth import Caller

    repo = PartnerRepository(storage)
    ids = [f"bench-partner-{i}" for i in range(partners)]
    for pid in ids:
        repo.save(Partner(id=pid, name=pid, type=PartnerType.DIRECT))
    return [Caller(pid, frozenset({"AdminAgent"}), "Bench Agent", "agent@bench.example", "s") for pid in ids]


def run(stored: int, expiring: int, partners: int) -> dict:
    from invite_user import expiry, service
    from invite_user.api_models import ListQuery, NewInvitation
    from invite_user.records import bulk_record
    from invite_user.repository import InvitationStore
    from partners.registry import PartnerRepository
    from shared import clock
    from shared.storage import Storage, set_storage

    storage = Storage()
    set_storage(storage)
    callers = _partners(storage, partners)
    repo = PartnerRepository(storage)
    report: dict = {}

    # -- single creates ------------------------------------------------------------------
    service.create(ctx_of(storage), callers[0], NewInvitation.model_validate(_body(-1)))  # warm: tables, queue, partner cache
    storage.counter.reset()
    n_single = 1000
    t0 = time.perf_counter()
    for i in range(n_single):
        service.create(ctx_of(storage), callers[0], NewInvitation.model_validate(_body(i)))
    single_s = time.perf_counter() - t0
    report["requests_per_create"] = storage.counter.reset() / n_single
    report["single_1000_seconds"] = round(single_s, 2)

    # -- bulk ------------------------------------------------------------------------------
    t0 = time.perf_counter()
    result = service.create_bulk(ctx_of(storage), callers[1], [_body(i) for i in range(1000)])
    bulk_s = time.perf_counter() - t0
    report["bulk_1000_seconds"] = round(bulk_s, 2)
    report["bulk_requests"] = storage.counter.reset()
    report["bulk_created"] = result.summary["created"]
    report["bulk_speedup"] = round(single_s / bulk_s, 1)

    # -- list page ---------------------------------------------------------------------------
    service.list_page(ctx_of(storage), callers[0], ListQuery())
    storage.counter.reset()
    service.list_page(ctx_of(storage), callers[0], ListQuery())
    report["requests_per_list_page"] = storage.counter.reset()

    # -- expiry sweep: `stored` invitations in all, `expiring` of them due ---------------------------
    store = InvitationStore(storage)
    already = 1000 + 1000 + 1
    remaining = max(0, stored - already)
    t0 = time.perf_counter()
    for start in range(0, remaining, 1000):
        chunk = []
        for i in range(start, min(remaining, start + 1000)):
            caller = callers[i % partners]
            due = i < expiring
            partner = repo.find(caller.partner_id)
            assert partner is not None  # registered by _partners() above
            inv, _ = service.build_invitation(caller, partner, None,
                                              NewInvitation.model_validate(_body(i, days=1 if due else 60)))
            chunk.append(inv)
        store.create_many(chunk, lambda invs: bulk_record(invs, callers[0]))
    report["seed_seconds"] = round(time.perf_counter() - t0, 1)
    report["stored"] = already + remaining
    real = clock.clock
    clock.set_clock(clock.FixedClock(real.now() + timedelta(days=2)))
    try:
        storage.counter.reset()
        t0 = time.perf_counter()
        swept = expiry.sweep(ctx_of(storage))
        report["sweep_seconds"] = round(time.perf_counter() - t0, 2)
        requests = storage.counter.reset()
    finally:
        clock.set_clock(real)
    report["expired"] = swept.expired
    report["sweep_requests"] = requests
    report["sweep_requests_per_expired"] = round(requests / max(1, swept.expired), 3)
    report["partners"] = partners
    return report


def run_http(n: int = 1000) -> dict:
    """The same comparison as partner systems see it: n single POSTs vs one bulk POST, over HTTP on the local stack."""
    import requests

    from devhost.seed import demo_tokens, seed_demo

    with throwaway_stack("bench-http-", extra_env={"EXPIRE_SCHEDULE": "0 0 0 1 1 *"}) as stack:
        seed_demo(stack)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {demo_tokens(stack)['agent']}"
        url = f"{stack.app_url}/api/invitations"
        bodies = [{**_body(i), "sendEmail": False} for i in range(n)]
        session.post(url, json=bodies[0], timeout=30).raise_for_status()  # warm
        t0 = time.perf_counter()
        for body in bodies:
            session.post(url, json=body, timeout=30).raise_for_status()
        single_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        resp = session.post(f"{url}/bulk", json={"invitations": bodies}, timeout=300)
        bulk_s = time.perf_counter() - t0
        resp.raise_for_status()
        return {"http_single_seconds": round(single_s, 2), "http_bulk_seconds": round(bulk_s, 2),
                "http_bulk_created": resp.json()["summary"]["created"], "http_bulk_speedup": round(single_s / bulk_s, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--expiring", type=int, default=1_000)
    parser.add_argument("--partners", type=int, default=10)
    args = parser.parse_args(argv if argv is not None else [])
    with throwaway_stack("bench-", services=("azurite",)) as stack:
        _setup(stack)
        report = run(args.stored, args.expiring, args.partners)
    report |= run_http()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "invitations.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    write_section("Invitations: create, list, expiry sweep, bulk", section(report))


def section(r: dict) -> str:
    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    return "\n".join([
        f"In-memory Azurite. Sweep: {r['stored']:,} invitations stored over {r['partners']} partners, {r['expired']:,} due.",
        "",
        "| figure | target | measured | |",
        "|---|---|---|---|",
        f"| storage requests per create, incl. the queue message | <= 3 | {r['requests_per_create']:.1f} | "
        f"{verdict(r['requests_per_create'] <= 3)} |",
        f"| storage requests per list page | 1 | {r['requests_per_list_page']} | {verdict(r['requests_per_list_page'] == 1)} |",
        f"| expiry sweep requests per expired invitation | <= 1.2 | {r['sweep_requests_per_expired']} "
        f"({r['sweep_requests']} requests, {r['sweep_seconds']} s) | {verdict(r['sweep_requests_per_expired'] <= 1.2)} |",
        f"| bulk 1,000 vs 1,000 single creates, in-process | >= 5x | {r['bulk_speedup']}x ({r['bulk_1000_seconds']} s vs "
        f"{r['single_1000_seconds']} s) | {verdict(r['bulk_speedup'] >= 5)} |",
        f"| bulk 1,000 vs 1,000 single creates, over HTTP | >= 5x | {r['http_bulk_speedup']}x ({r['http_bulk_seconds']} s vs "
        f"{r['http_single_seconds']} s) | {verdict(r['http_bulk_speedup'] >= 5)} |",
    ])


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
