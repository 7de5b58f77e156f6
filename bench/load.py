"""Load: requests/s and p50/p99 at 1, 8 and 32 concurrent clients for the landing page, create and list (locust, headless).

The local stack (in-memory Azurite, the local functions host) on loopback; each run is bounded in time. Target: zero
errors at 32 clients. Usage: python -m bench load [--seconds S]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from bench.results_file import write_section
from devhost.stack import Stack, throwaway_stack

RESULTS = Path(__file__).parent / "results"
LOCUSTFILE = Path(__file__).parent / "_locustfile.py"  # underscored: `make bench` must not import it (gevent)
SCENARIOS = ("landing", "create", "list")
CLIENTS = (1, 8, 32)


def _run(stack: Stack, scenario: str, clients: int, seconds: int, env: dict[str, str], out: Path) -> dict:
    prefix = out / f"{scenario}-{clients}"
    locust = Path(sys.executable).parent / "locust"
    subprocess.run([str(locust), "-f", str(LOCUSTFILE), "--headless", "-u", str(clients), "-r", str(clients), "-t", f"{seconds}s",
                    "--host", stack.app_url, "--csv", str(prefix), "--only-summary", "--stop-timeout", "5", "--loglevel", "WARNING"],
                   env={**os.environ, **env, "LOAD_SCENARIO": scenario}, check=False, capture_output=True, timeout=seconds + 60)
    with open(f"{prefix}_stats.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return {"scenario": scenario, "clients": clients, "requests": int(row["Request Count"]), "errors": int(row["Failure Count"]),
            "rps": round(float(row["Requests/s"]), 1), "p50_ms": float(row["50%"]), "p99_ms": float(row["99%"])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args(argv if argv is not None else [])
    rows = []
    with throwaway_stack("bench-load-", extra_env={"EXPIRE_SCHEDULE": "0 0 0 1 1 *"}) as stack:
        from devhost.seed import demo_tokens, seed_demo

        seed_demo(stack)
        token = demo_tokens(stack)["agent"]
        body = {"email": "load@contoso.example", "firstName": "Load", "lastName": "Test", "language": "en", "countryRegion": "DE",
                "kind": "CustomerOnboarding", "company": {"name": "Contoso", "country": "DE"}, "sendEmail": False}
        made = requests.post(f"{stack.app_url}/api/invitations/bulk", json={"invitations": [body] * 200},
                             headers={"Authorization": f"Bearer {token}"}, timeout=120)
        made.raise_for_status()
        links = [r["invitation"]["id"] for r in made.json()["results"] if r["status"] == "created"]
        env = {"LOAD_TOKEN": token, "LOAD_LINKS": json.dumps(links)}
        for scenario in SCENARIOS:
            for clients in CLIENTS:
                rows.append(_run(stack, scenario, clients, args.seconds, env, stack.log_dir.parent))
                print(json.dumps(rows[-1]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(rows, indent=2))
    at_32 = [r for r in rows if r["clients"] == 32]
    lines = [f"locust {args.seconds} s per row, headless, no wait between requests, against the local stack on loopback "
             "(in-memory Azurite, the local functions host; both share this machine's cores with locust).", "",
             "| route | clients | requests/s | p50 | p99 | errors |", "|---|---|---|---|---|---|"]
    names = {"landing": "GET /api/InviteUser", "create": "POST /api/invitations", "list": "GET /api/invitations (50)"}
    lines += [f"| {names[r['scenario']]} | {r['clients']} | {r['rps']} | {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms | {r['errors']} |"
              for r in rows]
    errors = sum(r["errors"] for r in at_32)
    lines += ["", f"Errors at 32 clients: {errors} (target 0): {'met' if errors == 0 and len(at_32) == len(SCENARIOS) else 'not met'}."]
    write_section("Load", "\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
