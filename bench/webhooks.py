"""Delay from a change to its webhook in the receiver, on the whole local stack (app, queues, webhook inbox).

The demo partner is subscribed to the stack's webhook inbox (as `make run` does). For each sample an invitation is
created over HTTP (its event is announced with the email's queue message) and then revoked (announced by the unit of
work's own message); the clock runs from just before each request until the inbox lists that event with a verified
signature. Target: median under 2 s. Usage: python -m bench webhooks [--samples N] [--timeout S]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path

import requests

from bench.results_file import write_section
from devhost.stack import Stack, throwaway_stack

RESULTS = Path(__file__).parent / "results"
TARGET_SECONDS = 2.0


def _arrived(stack: Stack, event_type: str, reference: str) -> dict | None:
    for d in requests.get(f"{stack.webhook_inbox_url}/deliveries.json", timeout=10).json():
        if d["type"] == event_type and d["event"].get("data", {}).get("reference") == reference:
            return d
    return None


def _wait(stack: Stack, event_type: str, reference: str, t0: float, timeout: float) -> tuple[float | None, bool]:
    while time.perf_counter() - t0 < timeout:
        d = _arrived(stack, event_type, reference)
        if d is not None:
            return time.perf_counter() - t0, d["verdict"] == "verified"
        time.sleep(0.02)
    return None, False


def sample(stack: Stack, auth: dict[str, str], timeout: float) -> dict:
    body = {"email": f"bench-{uuid.uuid4().hex[:8]}@contoso.example", "firstName": "Bea", "lastName": "Bench", "language": "en",
            "countryRegion": "US", "kind": "CustomerOnboarding", "company": {"name": "Bench Inc", "country": "US"}}
    t0 = time.perf_counter()
    created = requests.post(f"{stack.app_url}/api/invitations", json=body, headers=auth, timeout=30)
    created.raise_for_status()
    ref = created.json()["reference"]
    created_s, ok1 = _wait(stack, "invitation.created", ref, t0, timeout)
    t1 = time.perf_counter()
    requests.post(f"{stack.app_url}/api/invitations/{ref}/revoke", headers=auth, timeout=30).raise_for_status()
    revoked_s, ok2 = _wait(stack, "invitation.revoked", ref, t1, timeout)
    return {"created": created_s, "revoked": revoked_s, "verified": ok1 and ok2}


def _stats(values: list[float | None]) -> dict:
    got = sorted(v for v in values if v is not None)
    if not got:
        return {"arrived": 0}
    return {"arrived": len(got), "min": round(got[0], 3), "median": round(statistics.median(got), 3), "max": round(got[-1], 3)}


def run(stack: Stack, samples: int, timeout: float) -> dict:
    from devhost.seed import demo_tokens, seed_demo

    seed_demo(stack)
    auth = {"Authorization": f"Bearer {demo_tokens(stack)['agent']}"}
    sample(stack, auth, timeout)  # warm: tables, queues, the partner cache
    results = [sample(stack, auth, timeout) for _ in range(samples)]
    return {"samples": samples, "created_seconds": _stats([r["created"] for r in results]),
            "revoked_seconds": _stats([r["revoked"] for r in results]),
            "all_verified": all(r["verified"] for r in results), "target_median_seconds": TARGET_SECONDS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv if argv is not None else [])
    with throwaway_stack("bench-", extra_env={"EXPIRE_SCHEDULE": "0 0 0 1 1 *"}) as stack:
        report = run(stack, args.samples, args.timeout)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "webhooks.json").write_text(json.dumps(report, indent=2))
    c, r = report["created_seconds"], report["revoked_seconds"]
    write_section("Webhooks: change to receiver", (
        f"Local stack (Azurite in memory, devhost functions host, webhook inbox), {args.samples} samples, 2 cores; target: median "
        f"under {TARGET_SECONDS:g} s. Clock from just before the partner's request until the inbox lists the event.\n\n"
        "| change | how it is announced | arrived | min | median | max |\n|---|---|---|---|---|---|\n"
        f"| POST /api/invitations → `invitation.created` | with the email's queue message | {c.get('arrived')} | {c.get('min')} s "
        f"| {c.get('median')} s | {c.get('max')} s |\n"
        f"| POST .../revoke → `invitation.revoked` | its own queue message after the commit | {r.get('arrived')} | {r.get('min')} s "
        f"| {r.get('median')} s | {r.get('max')} s |\n\n"
        f"Every signature verified in the inbox (standardwebhooks): {report['all_verified']}."))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
