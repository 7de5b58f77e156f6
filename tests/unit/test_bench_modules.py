"""The cold-start benchmark knows the module of every declared runtime dependency (else `make bench` stops half-way)."""

from __future__ import annotations

import importlib

from bench import cold_start


def test_every_runtime_requirement_has_its_module_and_it_imports():
    modules = cold_start.declared_modules()  # raises SystemExit naming a requirement it does not know
    assert len(modules) == len(set(modules)) > 20
    for name in modules:
        importlib.import_module(name)  # the module named is the one the requirement installs
