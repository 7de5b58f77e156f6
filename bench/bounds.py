"""Answers within bounds with storage paused (`python -m bench.bounds`): health within 2 s, a create's 503 within ~10 s.

Azurite behind the fault proxy, paused (connections accepted, nothing answered); the app's functions called in-process.
"""

from __future__ import annotations

import statistics
import time

import tests.conftest  # noqa: F401  (drops exported app settings, as the tests do)
from bench.results_file import write_section
from devhost.stack import throwaway_stack
from operations.functions import health
from tests.support import fault_sweep
from tests.support.http import build_request

RUNS = 5


def main() -> int:
    with throwaway_stack("bounds-", services=("azurite", "maildev")) as stack:
        sweep = fault_sweep.Sweep(stack.ports)
        world = sweep._world()  # noqa: SLF001 - one isolated world, as a run makes
        fault_sweep.set_storage(world.app)
        create = fault_sweep.create_scenario()
        assert health(build_request("GET", "health")).status_code == 200
        create.act(world)  # warm: tables and queue exist, partner cached
        sweep.proxy.pause()
        health_s, health_codes, create_s, create_codes = [], set(), [], set()
        for i in range(RUNS):
            t = time.perf_counter()
            health_codes.add(health(build_request("GET", "health")).status_code)
            health_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            world.run = f"{world.run[:8]}{i}"  # a new invitee (and key) each time
            create_codes.add(create.act(world).status_code)
            create_s.append(time.perf_counter() - t)
        sweep.proxy.clear()
        sweep.close()
    body = "\n".join([
        f"Storage paused (the fault proxy holds every request unanswered), {RUNS} calls each:",
        "",
        "| call | target | answers | median | max |",
        "|---|---|---|---|---|",
        f"| GET /api/health | 503 + Retry-After within 2 s | {sorted(health_codes)} | {statistics.median(health_s):.2f} s | {max(health_s):.2f} s |",
        f"| POST /api/invitations | 503 within ~10 s | {sorted(create_codes)} | {statistics.median(create_s):.2f} s | {max(create_s):.2f} s |",
    ])
    print(body)
    write_section("Answers within bounds with storage paused", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
