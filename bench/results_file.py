"""bench/RESULTS.md: each benchmark writes its own section with `write_section(title, body)`, leaving the others alone."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

PATH = Path(__file__).parent / "RESULTS.md"
HEADER = ("# Benchmark results\n\nWritten by `make bench` (each benchmark replaces only its own section, headed `## <title>`); "
          "every figure stands beside its target. Each section says where, when and at which commit it was measured.\n")


def _provenance() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), platform.processor())
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"_Measured {date} on {machine}, commit {commit}._"


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def write_section(title: str, body: str) -> None:
    """Replace (or append) the section `## {title}` of bench/RESULTS.md with `body` and where it was measured."""
    text = PATH.read_text(encoding="utf-8") if PATH.exists() else HEADER
    section = f"## {title}\n\n{_provenance()}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    PATH.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
