"""bench/RESULTS.md, the committed record of measured figures: each benchmark writes (or replaces) its own section."""

from __future__ import annotations

import re
from pathlib import Path

PATH = Path(__file__).parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nWritten by the benchmarks under bench/ (`make bench`); each section is replaced by its next run.\n"


def write_section(title: str, body: str) -> None:
    """Replace the section `## <title>` with `body`, or add it at the end."""
    text = PATH.read_text(encoding="utf-8") if PATH.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    PATH.write_text(text, encoding="utf-8")
