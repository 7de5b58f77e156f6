"""Delivery report to visible status: from the moment the mail service accepted an email to the moment the partner's
`GET /api/invitations/{id}` shows the reported status.

On the whole local stack: the invitation is created over HTTP, the queue-triggered function sends it to MailDev, the
stack's relay (devhost/mail_reports.py) posts the ACS-shaped report to the Functions host's Event Grid webhook, and the
Event Grid trigger applies it. The clock runs from MailDev's own receive time of the mail (same machine clock) until the
API shows the status (polled every 25 ms). Half the samples bounce (hardbounce.example), half are delivered.
Usage: python -m bench delivery_reports [--samples N] [--timeout S]
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


def _mail_time(stack: Stack, to: str, timeout: float) -> datetime | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for mail in requests.get(f"{stack.mail_url}/email", params={"to.address": to}, timeout=10).json():
            if any(t["address"] == to for t in mail["to"]):
                return datetime.fromisoformat(mail["time"].replace("Z", "+00:00"))
        time.sleep(0.025)
    return None


def sample(stack: Stack, auth: dict[str, str], domain: str, timeout: float) -> float | None:
    email = f"bench-{uuid.uuid4().hex[:10]}@{domain}"
    body = {"email": email, "firstName": "Bea", "lastName": "Bench", "language": "en", "countryRegion": "DE",
            "kind": "CustomerOnboarding", "company": {"name": "Bench GmbH", "country": "DE"}}
    created = requests.post(f"{stack.app_url}/api/invitations", json=body, headers=auth, timeout=30)
    created.raise_for_status()
    wanted = "Bounced" if domain == "hardbounce.example" else "Delivered"
    url = f"{stack.app_url}/api/invitations/{created.json()['id']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if requests.get(url, headers=auth, timeout=10).json()["emailStatus"] == wanted:
            seen = datetime.now(timezone.utc)
            accepted = _mail_time(stack, email, 5)
            return round((seen - accepted).total_seconds(), 3) if accepted else None
        time.sleep(0.025)
    return None


def run(stack: Stack, samples: int, timeout: float) -> dict:
    from devhost.seed import demo_tokens, seed_demo

    seed_demo(stack)
    auth = {"Authorization": f"Bearer {demo_tokens(stack)['agent']}"}
    delays = [d for i in range(samples)
              if (d := sample(stack, auth, "hardbounce.example" if i % 2 else "contoso.example", timeout)) is not None]
    quantiles = statistics.quantiles(delays, n=100, method="inclusive") if len(delays) > 1 else [None] * 99
    return {"samples": samples, "reported": len(delays), "seconds_p50": round(statistics.median(delays), 3) if delays else None,
            "seconds_p99": round(quantiles[98], 3) if quantiles[98] is not None else None,
            "seconds_max": max(delays) if delays else None}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv if argv is not None else [])
    with throwaway_stack("bench-", extra_env={"EXPIRE_SCHEDULE": "0 0 0 1 1 *", "REMIND_SCHEDULE": "0 0 0 1 1 *"}) as stack:
        report = run(stack, args.samples, args.timeout)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "delivery_reports.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    write_section("Delivery report to visible status", "\n".join([
        f"{report['samples']} invitations on the local stack (half to hardbounce.example), from MailDev accepting the mail "
        "to the partner's GET showing the reported status (the stack's relay, the Event Grid webhook, the trigger).",
        "",
        "| figure | measured |",
        "|---|---|",
        f"| reported and visible | {report['reported']} of {report['samples']} |",
        f"| p50 | {report['seconds_p50']} s |",
        f"| p99 | {report['seconds_p99']} s |",
        f"| max | {report['seconds_max']} s |",
    ]))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
