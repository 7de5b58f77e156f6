"""Storage requests of the agreement pipeline and of the attestation expiry sweep, on a real (in-memory) Azurite.

The pipeline (`GET /api/agreement-attestations`) must cost in proportion to the calling partner's customers, never to
all customers: a small partner's pipeline is measured, then `--others` customers of other partners are added and it is
measured again (target: the same count, a ratio of 1.0); a big partner's pipeline shows the requests per 100 of its
customers. Then `--expiring` attestations of the big partner expire and the sweep runs (target: a bounded number of
requests per expired attestation, pipeline filing included), and again with nothing due.
Usage: python -m bench attestations [--small N] [--big N] [--others N] [--expiring N]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import timedelta
from pathlib import Path

from bench.invitations import _partners, _setup
from bench.results_file import write_section
from devhost.stack import throwaway_stack

RESULTS = Path(__file__).parent / "results"


def _customers(storage, caller, n: int, tag: str) -> list[str]:
    from attest_agreement import service
    from attest_agreement.api_models import NewCustomer
    from shared.context import Context

    ids = []
    for i in range(n):
        body = NewCustomer.model_validate({"name": f"{tag} {i}", "country": "DE",
                                           "primaryContact": {"firstName": "Bench", "lastName": f"Contact{i}",
                                                              "email": f"contact{i}@{tag}.example"}})
        ids.append(service.create_customer(Context(storage), caller, body, None).customer.id)
    return ids


def _pipeline_requests(storage, caller, status: str = "Required") -> tuple[int, int]:
    """(storage requests, customers listed) of reading every page of the partner's pipeline at `status`."""
    from attest_agreement import service
    from attest_agreement.attestation_models import PipelineQuery
    from shared.context import Context

    storage.counter.reset()
    listed, token = 0, None
    while True:
        page = service.agreement_pipeline(Context(storage), caller, PipelineQuery.model_validate(
            {"status": status, "pageSize": 100, **({"continuationToken": token} if token else {})}))
        listed += len(page.items)
        token = page.continuation_token
        if not token:
            return storage.counter.reset(), listed


def run(small: int, big: int, others: int, expiring: int) -> dict:
    from attest_agreement import service
    from attest_agreement.attestation_models import AttestationRequestIn
    from shared import clock
    from shared.context import Context
    from shared.settings import get_settings
    from shared.storage import Storage, set_storage

    storage = Storage()
    set_storage(storage)
    small_caller, big_caller, other_caller = _partners(storage, 3)
    storage.queue(get_settings().email_queue)
    storage.queue(get_settings().webhooks_queue)
    t0 = time.perf_counter()
    _customers(storage, small_caller, small, "small")
    big_ids = _customers(storage, big_caller, big, "big")
    report: dict = {"small": small, "big": big, "others": others, "expiring": expiring}
    first, _ = _pipeline_requests(storage, small_caller)  # first sight files every customer of the partner
    report["small_first_requests"] = first
    report["small_requests"], report["small_listed"] = _pipeline_requests(storage, small_caller)
    _customers(storage, other_caller, others, "other")
    report["seed_seconds"] = round(time.perf_counter() - t0, 1)
    report["small_requests_with_others"], _ = _pipeline_requests(storage, small_caller)
    _pipeline_requests(storage, big_caller)
    t0 = time.perf_counter()
    report["big_requests"], report["big_listed"] = _pipeline_requests(storage, big_caller)
    report["big_seconds"] = round(time.perf_counter() - t0, 2)

    for cid in big_ids[:expiring]:
        service.request_attestation(Context(storage), big_caller, cid, AttestationRequestIn.model_validate(
            {"contact": {"firstName": "Bench", "lastName": "Contact", "email": "c@big.example"}, "companyName": "Big",
             "validityDays": 1, "sendEmail": False}))
    real = clock.clock
    try:
        clock.set_clock(clock.FixedClock(real.now() + timedelta(days=2)))
        storage.counter.reset()
        t0 = time.perf_counter()
        swept = service.expire_attestations(Context(storage))
        report["sweep_seconds"] = round(time.perf_counter() - t0, 2)
        report["sweep_requests"], report["expired"] = storage.counter.reset(), swept["expired"]
        report["requests_per_expired"] = round(report["sweep_requests"] / max(1, swept["expired"]), 2)
        service.expire_attestations(Context(storage))
        report["again_requests"] = storage.counter.reset()
        report["expired_listed"] = _pipeline_requests(storage, big_caller, "Expired")[1]
    finally:
        clock.set_clock(real)
    return report


def section(r: dict) -> str:
    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    ratio = round(r["small_requests_with_others"] / max(1, r["small_requests"]), 2)
    per100 = round(100 * r["big_requests"] / max(1, r["big"]), 2)
    return "\n".join([
        f"A small partner with {r['small']} customers, a big one with {r['big']}, then {r['others']:,} customers of another "
        f"partner (seeded in {r['seed_seconds']} s).",
        "",
        "| what | target | measured | |",
        "|---|---|---|---|",
        f"| pipeline of the small partner, with the others' customers added / without | 1.0 (cost follows the partner's "
        f"customers only) | {ratio} ({r['small_requests_with_others']} / {r['small_requests']} requests, {r['small_listed']} "
        f"listed; first sight, filing each: {r['small_first_requests']}) | {verdict(ratio == 1.0)} |",
        f"| pipeline of the big partner: requests per 100 of its customers | <= 2 (its customer list and its pipeline rows, "
        f"100 a page) | {per100} ({r['big_requests']} for {r['big_listed']} listed, {r['big_seconds']} s) | {verdict(per100 <= 2)} |",
        f"| expiry sweep: requests per expired attestation (read, transaction, announcement, index row, pipeline filed) | "
        f"<= 9 | {r['requests_per_expired']} ({r['sweep_requests']} for {r['expired']}, {r['sweep_seconds']} s; the pipeline "
        f"then lists {r['expired_listed']} Expired) | {verdict(r['expired'] == r['expiring'] and r['requests_per_expired'] <= 9)} |",
        f"| the sweep again, nothing due | 1 (one index query) | {r['again_requests']} | {verdict(r['again_requests'] <= 1)} |",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=20)
    parser.add_argument("--big", type=int, default=300)
    parser.add_argument("--others", type=int, default=300)
    parser.add_argument("--expiring", type=int, default=50)
    args = parser.parse_args(argv if argv is not None else [])
    with throwaway_stack("bench-attestations-", services=("azurite",)) as stack:
        _setup(stack)
        report = run(args.small, args.big, args.others, args.expiring)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "attestations.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    write_section("Attestations: the pipeline's and the expiry sweep's storage requests", section(report))


if __name__ == "__main__":
    main()
