"""The code's shape: project imports at module level only, modules of a readable size (or a stated reason)."""

from __future__ import annotations

import ast
import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("accept_invite", "attest_agreement", "company_domains", "invite_user", "notifications", "operations", "partners", "shared",
            "webhooks")
# Not deployed (.funcignore): the local stack, benchmarks, tests and tools have rules of their own.
NOT_THE_APP = {"bench", "devhost", "scripts", "tests"}
# What `import function_app` must not load: a route's own modules (`shared.lazy.on_first_use`) and libraries only some
# calls need. The cold start pays for what the landing pages need and the indexing (bench/cold_start.py measures it):
# the customer's attestation page is a landing page too (its link is emailed), so attest_agreement.service loads at start.
LOADED_BY_THEIR_ROUTES = ("accept_invite.agreement_page", "accept_invite.colleague_views", "accept_invite.colleagues",
                          "accept_invite.company_views", "accept_invite.companies", "accept_invite.domain_views",
                          "accept_invite.user_views", "accept_invite.partner_views", "accept_invite.company_users",
                          "invite_user.company_invitations",
                          "webhooks.feed", "webhooks.publish",
                          "webhooks.service", "company_domains.service", "invite_user.expiry", "invite_user.replacement",
                          "pydantic_settings")
MAX_LINES = 350
# A module longer than MAX_LINES says why in its docstring with this phrase.
LONG_MODULE_REASON = "Longer than usual because"


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")) + [ROOT / "function_app.py"]


def _project_imports_inside_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                names = [a.name for a in inner.names]
            elif isinstance(inner, ast.ImportFrom) and inner.level == 0:
                names = [inner.module] if inner.module else []
            elif isinstance(inner, ast.ImportFrom):
                names = ["." + (inner.module or "")]
            else:
                continue
            found += [f"{path.relative_to(ROOT)}:{inner.lineno} {n}" for n in names
                      if n.startswith(".") or n.split(".")[0] in PACKAGES]
    return found


def test_no_project_import_is_written_inside_a_function():
    offenders = [hit for path in _modules() for hit in _project_imports_inside_functions(path)]
    assert not offenders, "import these at module level (a cycle means a feature reaches into the wrong place):\n" + "\n".join(offenders)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_stays_readable_or_says_why_not(path: Path):
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    docstring = ast.get_docstring(ast.parse(text)) or ""
    assert lines <= MAX_LINES or LONG_MODULE_REASON in docstring, f"{lines} lines; split it by what it is for, or say why not"


def test_every_module_starts_with_what_it_is_for():
    missing = [str(p.relative_to(ROOT)) for p in _modules() if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert not missing, missing


def test_every_app_package_is_held_by_these_tests_and_the_import_contracts():
    found = {p.parent.name for p in ROOT.glob("*/__init__.py")} - NOT_THE_APP
    assert found == set(PACKAGES)
    contracts = configparser.ConfigParser()
    contracts.read(ROOT / ".importlinter")
    assert set(contracts["importlinter"]["root_packages"].split()) == found


def test_a_module_loaded_on_first_use_is_imported_for_the_type_checker_too():
    """`on_first_use("x.y")` is invisible to pyright and the import contracts: the same module imported under
    TYPE_CHECKING makes both see it."""
    missing = []
    for path in (p for p in _modules() if p.name != "lazy.py"):
        text = path.read_text(encoding="utf-8")
        for call in re.findall(r"on_first_use\(([^)]*)\)", text):
            for name in re.findall(r'"([\w.]+)"', call):
                package, _, module = name.rpartition(".")
                if not re.search(rf"if TYPE_CHECKING:(\n    .*)*\n    from {re.escape(package)} import [^\n]*\b{module}\b", text):
                    missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, missing


def test_importing_the_app_loads_no_routes_own_modules():
    code = ("import sys, function_app; function_app.app.get_functions(); "
            f"print([m for m in {LOADED_BY_THEIR_ROUTES!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", "loaded at import; load it where its route runs (shared/lazy.py)"


# Failures of the platform itself (storage, the identity provider, DNS, the email service, a malformed row) and the
# HTTP edge's own shapes; every refusal by a rule of the product is a DomainError, mapped to a status in one table.
NOT_DOMAIN_ERRORS = {"StorageUnavailable", "ConcurrencyConflict", "MalformedRow", "Problem", "SignInUnavailable", "LookupFailed",
                     "EmailError", "CompanyNumberError", "DomainError", "_Rendered"}


def test_every_refusal_of_a_rule_is_a_domain_error():
    import importlib
    import inspect

    from shared.errors import DomainError

    strays = []
    for path in _modules():
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            infrastructure = any(base.__name__ in NOT_DOMAIN_ERRORS - {"DomainError"} for base in cls.__mro__)
            if cls.__module__ == name and issubclass(cls, Exception) and not issubclass(cls, DomainError) and not infrastructure:
                strays.append(f"{name}.{cls_name}")
    assert strays == [], "make these DomainErrors (shared/errors.py), mapped by shared.http.STATUS_OF: " + ", ".join(strays)
