"""Demo data for `make run`: one partner and a ready-to-use token for it."""

from __future__ import annotations

from devhost.stack import Stack


def seed_demo(stack: Stack) -> str:
    return "  (no demo data yet)"
