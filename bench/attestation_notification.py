"""Delay from a partner's attestation to the confirmation email in the primary contact's inbox (promised "within 30 minutes").

On the whole local stack (app, queue-triggered sender, MailDev): for each sample a customer is created over
HTTP, then attested; the clock runs from just before the attestation request until the email is listed by
MailDev. Also reports the request's own latency. Bounded: a few samples, each given up after --timeout seconds.
Usage: python -m bench attestation_notification [--samples N] [--timeout S]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import requests

from bench.results_file import write_section
from devhost.stack import Stack, throwaway_stack

RESULTS = Path(__file__).parent / "results"
TARGET_SECONDS = 30 * 60


def _inbox_has(stack: Stack, to: str) -> bool:
    mails = requests.get(f"{stack.mail_url}/email", timeout=10).json()
    return any(t["address"] == to for m in mails for t in m["to"])


def sample(stack: Stack, auth: dict[str, str], timeout: float) -> dict[str, float | None]:
    email = f"contact-{uuid.uuid4().hex[:10]}@contoso.example"
    body = {"name": "Bench Customer GmbH", "country": "DE", "language": "de",
            "primaryContact": {"firstName": "Bea", "lastName": "Bench", "email": email}}
    created = requests.post(f"{stack.app_url}/api/customers", json=body, headers=auth, timeout=30)
    created.raise_for_status()
    cid = created.json()["customer"]["id"]
    today = datetime.now(timezone.utc).date().replace(day=1).isoformat()  # the first of the month is never in the future
    attestation = {"type": "MicrosoftCustomerAgreement", "dateAgreed": today, "primaryContact": body["primaryContact"]}
    t0 = time.perf_counter()
    resp = requests.post(f"{stack.app_url}/api/customers/{cid}/agreements", json=attestation, headers=auth, timeout=30)
    request_s = time.perf_counter() - t0
    resp.raise_for_status()
    while time.perf_counter() - t0 < timeout:
        if _inbox_has(stack, email):
            return {"request_seconds": round(request_s, 3), "email_seconds": round(time.perf_counter() - t0, 3)}
        time.sleep(0.05)
    return {"request_seconds": round(request_s, 3), "email_seconds": None}


def run(stack: Stack, samples: int, timeout: float) -> dict:
    from devhost.seed import demo_tokens, seed_demo

    seed_demo(stack)
    auth = {"Authorization": f"Bearer {demo_tokens(stack)['agent']}"}
    results = [sample(stack, auth, timeout) for _ in range(samples)]
    delays = [r["email_seconds"] for r in results if r["email_seconds"] is not None]
    return {
        "samples": samples,
        "delivered": len(delays),
        "email_seconds_min": min(delays) if delays else None,
        "email_seconds_median": round(statistics.median(delays), 3) if delays else None,
        "email_seconds_p99": round(statistics.quantiles(delays, n=100, method="inclusive")[98], 3) if len(delays) > 1 else None,
        "email_seconds_max": max(delays) if delays else None,
        "request_seconds_median": round(statistics.median(r["request_seconds"] or 0.0 for r in results), 3),  # never None
        "target_seconds": TARGET_SECONDS,
        "within_target": len(delays) == samples and max(delays) <= TARGET_SECONDS,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv if argv is not None else [])
    with throwaway_stack("bench-", extra_env={"EXPIRE_SCHEDULE": "0 0 0 1 1 *"}) as stack:
        report = run(stack, args.samples, args.timeout)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "attestation_notification.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    ok = report["within_target"]
    write_section("Attestation to confirmation email", "\n".join([
        f"{report['samples']} attestations on the local stack, each until its email shows in MailDev.",
        "",
        "| figure | target | measured | |",
        "|---|---|---|---|",
        f"| delivered | all | {report['delivered']} of {report['samples']} | {'met' if report['delivered'] == report['samples'] else 'not met'} |",
        f"| delay p50 | within 30 min | {report['email_seconds_median']} s | {'met' if ok else 'not met'} |",
        f"| delay p99 | within 30 min | {report['email_seconds_p99']} s | {'met' if ok else 'not met'} |",
        f"| delay max | within 30 min | {report['email_seconds_max']} s | {'met' if ok else 'not met'} |",
    ]))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
