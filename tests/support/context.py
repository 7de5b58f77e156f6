"""Contexts for tests that call services directly over real storage (Azurite): the process's clock and settings."""

from __future__ import annotations

from shared.context import Context
from shared.storage import Storage


def ctx_of(storage: Storage) -> Context:
    """The context a route would build over this storage: the process's clock (`fixed_clock` applies) and settings."""
    return Context(storage)
