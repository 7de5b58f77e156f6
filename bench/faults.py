"""The fault sweep: every scenario with a storage fault at each of its storage requests in turn (`python -m bench.faults`).

For each scenario (create, bulk 1,000, resend, revoke, create company, accept relationship, attest, direct acceptance)
and each storage request N of its path, in turn: "500" x3 (every try of that SDK call fails, nothing reaches storage),
"lost-answer" x1 (storage acts, the answer is lost, the SDK retries) and "blackhole" x1 (no answer: the read timeout
fires); then the fault is cleared, the client retries as a real one would (same Idempotency-Key, after Retry-After),
the email queue is delivered to MailDev and the invariant checker walks tables and mailbox (the bulk of 1,000 is checked
on the queue: every invitation's email queued or visibly failed; sending is deduplicated by the send's claim). Writes the table
(scenario x fault point -> outcome) to bench/RESULTS.md and the raw outcomes to bench/results/faults.json.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import defaultdict
from pathlib import Path

import tests.conftest  # noqa: F401  (drops exported app settings, as the tests do)
from bench.results_file import write_section
from devhost.stack import throwaway_stack
from tests.support import fault_sweep

MODES = (("500", 3), ("lost-answer", 1), ("blackhole", 1))
RESULTS = Path(__file__).parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bulk", type=int, default=1000, help="rows of the bulk scenario (1000)")
    parser.add_argument("--only", nargs="*", default=None, help="scenario names to run (default: all)")
    parser.add_argument("--modes", nargs="*", default=[m for m, _ in MODES], help="fault modes (500 lost-answer blackhole)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    outcomes: list[fault_sweep.Outcome] = []
    started = time.time()
    with throwaway_stack("faults-", services=("azurite", "maildev")) as stack:
        sweep = fault_sweep.Sweep(stack.ports)
        for scenario in fault_sweep.scenarios(bulk=args.bulk):
            if args.only and scenario.name not in args.only:
                continue
            points = sweep.requests_of(scenario)
            outcomes.append(sweep.run(scenario, None))
            # A black hole costs a 3 s timeout per run: the bulk of 1,000 (some 80 points) meets the other two faults.
            modes = [m for m in args.modes if not (m == "blackhole" and scenario.name.startswith("bulk") and args.bulk > 100)]
            for point in range(1, points + 1):
                for mode, count in MODES:
                    if mode in modes:
                        outcome = sweep.run(scenario, point, mode, count)
                        outcomes.append(outcome)
                        if outcome.violations:
                            print(f"{scenario.name} @{point} {mode}: {outcome.verdict}", flush=True)
            print(f"{scenario.name}: {points} storage requests, done at {time.time() - started:.0f} s", flush=True)
        sweep.close()
    report = _report(outcomes, time.time() - started, args)
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "faults.json").write_text(fault_sweep.as_json(outcomes))
    if not args.no_write:
        write_section("Fault sweep: nothing lost, nothing doubled, nothing stuck", report)
    totals = fault_sweep.summarise(outcomes)
    return 0 if totals["lost"] == totals["doubled"] == totals["stuck"] == totals["bad answers"] == 0 else 1


def _report(outcomes: list[fault_sweep.Outcome], seconds: float, args: argparse.Namespace) -> str:
    totals = fault_sweep.summarise(outcomes)
    lines = [
        f"`python -m bench.faults` (bulk of {args.bulk}; modes {', '.join(args.modes)}): {totals['runs']} runs in {seconds:.0f} s. "
        f"**{totals['lost']} lost, {totals['doubled']} doubled, {totals['stuck']} stuck, {totals['bad answers']} undocumented answers.**",
        "",
        "A run: the scenario's storage request N meets the fault (500 = all three tries of that call fail; lost-answer = "
        "storage acts, the answer is lost, the SDK retries; blackhole = no answer until the 3 s read timeout), then the "
        "client retries with the same request until it succeeds, then the email queue is delivered to MailDev and the "
        "invariants are checked (tests/support/fault_sweep.py). Cells: answer during the fault → final answer (tries); "
        "`ok` when every invariant held. The bulk of 1,000 meets 500 and lost-answer only (a black hole costs a 3 s timeout "
        "per run) and is checked on the queue (each email queued or visibly failed; sending is claimed once per email).",
        "",
    ]
    by_scenario: dict[str, list[fault_sweep.Outcome]] = defaultdict(list)
    for o in outcomes:
        by_scenario[o.scenario].append(o)
    for name, rows in by_scenario.items():
        lines += [f"### {name}", "", "| fault point | " + " | ".join(args.modes) + " |", "|---|" + "---|" * len(args.modes)]
        cells: dict[int, dict[str, str]] = defaultdict(dict)
        for o in rows:
            cells[o.point][o.mode] = f"{o.during} → {o.final} ({o.attempts}) {o.verdict}"
        for point in sorted(cells):
            if point == 0:
                lines.append(f"| none | {cells[0].get('none', '')} |" + " |" * (len(args.modes) - 1))
                continue
            lines.append(f"| {point} | " + " | ".join(cells[point].get(m, "") for m in args.modes) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
