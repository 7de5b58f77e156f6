"""The code's shape: project imports at module level only, modules of a readable size (or a stated reason)."""

from __future__ import annotations

import ast
import configparser
import importlib
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
# What `import function_app` must not load: a route's own modules (`shared.lazy.on_first_use`), the API models routes
# name ("module:Name", `shared.endpoints.ModelRef`) and libraries only some calls need. The cold start pays for the
# indexing and what the landing page (GET /api/InviteUser) needs (bench/cold_start.py measures it;
# tests/unit/test_landing_after_cold_start.py holds the landing page's first call to nearly nothing more).
LOADED_BY_THEIR_ROUTES = ("accept_invite.agreement_page", "accept_invite.colleague_views", "accept_invite.colleagues",
                          "accept_invite.company_views", "accept_invite.companies", "accept_invite.domain_views",
                          "accept_invite.user_views", "accept_invite.partner_views", "accept_invite.company_users",
                          "accept_invite.attestation_views", "accept_invite.colleague_invitation",
                          "attest_agreement.service", "attest_agreement.customers", "attest_agreement.api_models",
                          "attest_agreement.attestation_models", "attest_agreement.company_user_models",
                          "invite_user.company_invitations", "invite_user.funnel_service",
                          "webhooks.feed", "webhooks.publish", "webhooks.api_models", "webhooks.catalog", "operations.openapi",
                          "webhooks.service", "company_domains.service", "invite_user.expiry", "invite_user.replacement",
                          "pydantic_settings", "email_validator", "stdnum", "phonenumbers", "jwt", "msal", "dns")
# Models are built on first use (shared/models.py); these are built at import on purpose: the settings (read at start)
# and what the landing page reads.
BUILT_AT_IMPORT = {"shared.settings.Settings", "invite_user.invitations.Invitation"}
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


def test_what_a_module_registers_at_import_is_there_on_a_fresh_instance():
    """A module that registers with another at its import (a kind of email, how standing or the trail's customer steps
    are read) is loaded at import or named with `shared.lazy.provided_by`: a fresh instance's first call may need it
    (without it an email of that kind is dropped as failed, a partner's standing reads as none)."""
    registering = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in _modules()
                         if re.search(r"^(queue\.register\(|@queue\.handles\(|provide_\w+\()", p.read_text(encoding="utf-8"), re.M))
    assert {"attest_agreement.notices", "attest_agreement.relationships_service"} <= set(registering)
    code = ("import sys, function_app; function_app.app.get_functions()\n"
            "from shared import lazy\n"
            "named = set().union(*lazy._PROVIDERS.values())\n"
            f"print([m for m in {registering!r} if m not in sys.modules and m not in named])\n"
            "from shared import authorization\n"
            "from notifications import queue\n"
            "from invite_user import trail\n"
            "lazy.providers_of(authorization.provide_standing); standing = bool(authorization._standing_source)\n"
            "lazy.providers_of(trail.provide_customer_steps); steps = bool(trail._customer_steps)\n"
            "print([standing, steps, sorted(queue._every_kind())])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    missing, provided = out.stdout.strip().splitlines()[-2:]
    assert missing == "[]", "name these with shared.lazy.provided_by where the feature's triggers are declared"
    standing, steps, kinds = ast.literal_eval(provided)
    assert standing and steps
    assert {"attestation-notice", "attestation-receipt", "partner-rights-changed", "invitation-email"} <= set(kinds)


def test_importing_the_app_builds_only_the_settings_and_the_landing_pages_model():
    code = ("import function_app; function_app.app.get_functions()\n"
            "from pydantic import BaseModel\n"
            "stack, built = list(BaseModel.__subclasses__()), []\n"
            "while stack:\n"
            "    m = stack.pop(); stack += m.__subclasses__()\n"
            "    built += [f'{m.__module__}.{m.__qualname__}'] if m.__pydantic_complete__ else []\n"
            "print(sorted(built))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert set(ast.literal_eval(out.stdout.strip().splitlines()[-1])) == BUILT_AT_IMPORT, "a model built at import (an instance "\
        "made at module level, or a model not on shared.models.Model): make it on first use"


def test_every_model_of_the_app_is_built_on_first_use():
    from pydantic import BaseModel

    from shared.models import Model

    eager = []
    for path in _modules():
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        module = importlib.import_module(name)
        eager += [f"{name}.{cls.__name__}" for cls in vars(module).values()
                  if isinstance(cls, type) and issubclass(cls, BaseModel) and cls.__module__ == name and not issubclass(cls, Model)]
    assert eager == [], "derive these from shared.models.Model (built on first use, not at every cold start)"


def test_every_model_a_route_names_exists():
    """Routes may name their models as "module:Name" (imported on first use): each name must lead to a model."""
    from pydantic import BaseModel

    import function_app  # noqa: F401 - declares every route
    from shared.endpoints import CONTRACTS

    named = [(c.function, ref) for c in CONTRACTS for ref in (c.body_ref, c.query_ref, c.response_ref) if isinstance(ref, str)]
    assert named, "no route names its models lazily: the cold start pays for every route's API models"
    wrong = []
    for function, ref in named:
        module, _, name = ref.partition(":")
        found = getattr(importlib.import_module(module), name, None)
        if not (isinstance(found, type) and issubclass(found, BaseModel)):
            wrong.append(f"{function}: {ref}")
    assert wrong == [], wrong

# Failures of the platform itself (storage, the identity provider, DNS, the email service, a malformed row) and the
# HTTP edge's own shapes; every refusal by a rule of the product is a DomainError, mapped to a status in one table.
NOT_DOMAIN_ERRORS = {"StorageUnavailable", "ConcurrencyConflict", "MalformedRow", "Problem", "SignInUnavailable", "LookupFailed",
                     "EmailError", "CompanyNumberError", "DomainError", "_Rendered"}


def test_every_refusal_of_a_rule_is_a_domain_error():
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
