"""bench/RESULTS.md, written one section at a time: each writer replaces only its own `## <title>` section."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
_HEADER = "# Measured results\n\nWritten by the benchmarks and the contract fuzzing test; each section is replaced by its own writer.\n"


def write_section(title: str, body: str) -> None:
    """Put `body` under `## title` in bench/RESULTS.md, replacing that section only (created when missing)."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else _HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    # A section runs from its heading to the next level-2 heading or the end of the file.
    pattern = re.compile(rf"^## {re.escape(title)}[ \t]*\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")
