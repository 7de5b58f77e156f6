"""Modules a route needs, imported on the route's first call instead of at cold start.

Flex Consumption pays every import of `function_app` on the first click after idle, the customer's landing page
included; a route's own modules (its service, its views) can wait until that route is called. Indexing needs only the
decorators, so every function is still registered with its metadata at import. Write the real import under
`TYPE_CHECKING` beside it: pyright then knows the module's names and the import contracts still see the dependency
(`tests/unit/test_architecture.py` holds each lazy module to that).
"""

from __future__ import annotations

import importlib
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
