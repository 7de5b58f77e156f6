"""Modules a route needs, imported on the route's first call instead of at cold start.

Flex Consumption pays every import of `function_app` on the first click after idle, the customer's landing page
included; a route's own modules (its service, its views) can wait until that route is called. Indexing needs only the
decorators, so every function is still registered with its metadata at import. Write the real import under
`TYPE_CHECKING` beside it: pyright then knows the module's names and the import contracts still see the dependency
(`tests/unit/test_architecture.py` holds each lazy module to that).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any


class OnFirstUse:
    """Stands for a module: the first attribute read imports it (the import system's own locks make that thread-safe),
    every read after that is a dictionary look-up. Setting an attribute sets it on the module (tests patch modules)."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(importlib.import_module(self._name), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<{self._name}, imported on first use>"


def on_first_use(*names: str) -> Any:
    """One stand-in per module name, in order: `service, notices = on_first_use("x.service", "x.notices")`."""
    found = tuple(OnFirstUse(name) for name in names)
    return found[0] if len(found) == 1 else found


# Modules that register something with another module at their import (a kind of email with the queue, how standing is
# read with the policy) but load on first use: named at start by the feature's trigger module, imported by the registry
# before it is first read, so a fresh instance's first call finds what a warm one would.
_PROVIDERS: dict[Callable[..., Any], set[str]] = {}
_PROVIDERS_LOCK = threading.Lock()


def provided_by(registry: Callable[..., Any], *modules: str) -> None:
    """Say that these modules call `registry` at their import (`provided_by(queue.register, "x.notices")`)."""
    _PROVIDERS.setdefault(registry, set()).update(modules)


def providers_of(registry: Callable[..., Any]) -> None:
    """Import the modules named for `registry` (by the first caller; the others wait for it, then find none left)."""
    if _PROVIDERS.get(registry):
        with _PROVIDERS_LOCK:
            for name in sorted(_PROVIDERS.get(registry, ())):
                importlib.import_module(name)
            _PROVIDERS[registry] = set()
