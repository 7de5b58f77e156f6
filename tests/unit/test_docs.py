"""README.md and docs/ stay true: every file, module, setting and route they name exists.

What is named is read from the text itself: backticked spans (`invite_user/repository.py`, `shared.uow.attempt`,
`EMAIL_MAX_ATTEMPTS`, `PATCH /api/invitations/{id}`), `python -m <module>` in commands, relative Markdown links, the
README's layout block and localhost:7071 URLs. Settings are checked against the one settings object
(`shared.settings.Settings`), routes against the routes `function_app.app` registers (asked of a fresh interpreter:
`get_functions()` runs once per process).
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.support.routes import registered_routes

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Made at run time and git-ignored (checked below), so a fresh checkout does not have them.
GENERATED = (".local/", "local.settings.json", "bench/results/", "node_modules/", ".venv/", "test-artifacts/")
PATH_SUFFIXES = (".py", ".md", ".json", ".txt", ".toml", ".cfg", ".ini", ".bicep", ".yaml", ".yml", ".sh", ".po", ".mo",
                 ".html", ".js", ".css", ".example", ".pem")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
SETTINGS = {f.alias or name for name, f in Settings.model_fields.items()}
# Code files in which a name the docs give in capitals (a port variable, a constant, a Bicep parameter) must appear.
CODE_GLOBS = ("**/*.py", "**/*.sh", "**/*.bicep", "Makefile", "infra/*.json", ".ci/*")
SKIP_DIRS = {".venv", "node_modules", ".git", ".local", "__pycache__"}


def _spans(text: str) -> list[str]:
    return [s.strip() for s in re.findall(r"`([^`\n]+)`", text)]


def _named(kind: str) -> list[tuple[str, str]]:
    """(doc, name) pairs of one kind across README.md and docs/."""
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        rel = str(doc.relative_to(ROOT))
        for span in _spans(text):
            out += [(rel, name) for name in _classify(span).get(kind, ())]
        if kind == "route":
            out += [(rel, path) for path in re.findall(r"localhost:7071(/api/[^\s)`'\"|,]*)", text)]
        if kind == "path":
            out += [(rel, str((doc.parent / link).resolve().relative_to(ROOT)))
                    for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)]
            if doc.name == "README.md":
                out += [(rel, p) for p in _layout_paths(text)]
    return sorted(set(out))


def _classify(span: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    module = re.search(r"python3? -m ([\w.]+)", span)
    if module:
        found.setdefault("module", []).append(module.group(1))
    m = re.fullmatch(r"(?:(" + "|".join(METHODS) + r") )?(/api/\S*)", span)
    if m:
        return {"route": [span]}
    if " " in span or "|" in span or "://" in span or span.startswith(("/", "application/", "text/", "-")):
        return found
    if re.fullmatch(r"[^@/]+@[^@/]+", span):  # an email address (`victim@ｂomb.example`), not a file
        return found
    if re.fullmatch(r"@?[\w.-]+\.example", span):  # a domain reserved for examples (RFC 2606: `hardbounce.example`), not a file
        return found
    word = re.sub(r"\(.*$", "", span)  # `uow.event(...)`, `endpoint(..., action=...)`
    if re.fullmatch(r"[A-Z][A-Z0-9_]{2,}|AzureWebJobsStorage\w*|__\w+", word):
        name = "AzureWebJobsStorage" + word if word.startswith("__") else word
        return {**found, "setting": [name]}
    if ("/" in word or word.endswith(PATH_SUFFIXES)) and not re.fullmatch(r"\.\w+", word):  # not `.mo` alone
        return {**found, "path": [word]}
    if re.fullmatch(r"[a-z_][a-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+", word) and word.split(".")[0] in _project_packages():
        found.setdefault("module", []).append(word)
    return found


def _layout_paths(text: str) -> list[str]:
    """The first column of the README's layout block: top-level entries, and files under the folder above them."""
    block = re.search(r"## Layout.*?```\n(.*?)```", text, re.S)
    assert block, "README.md lost its layout block"
    out, folder = [], ""
    for line in block.group(1).splitlines():
        if not line.strip() or line.startswith("    "):
            continue  # continued descriptions
        first = re.match(r"(?:[\w.*-]+/?,\s*)*[\w.*-]+/?", line.strip())
        assert first, f"README.md's layout block has a line that names no file or folder: {line!r}"
        for entry in (e.strip() for e in first.group(0).split(",")):
            if line.startswith("  "):
                out.append(folder + entry)
            else:
                folder = entry if entry.endswith("/") else ""
                out.append(entry)
    return out


@cache
def _project_packages() -> frozenset[str]:
    return frozenset(p.parent.name for p in ROOT.glob("*/__init__.py")) | {p.stem for p in ROOT.glob("*.py")}


@cache
def _code_text() -> str:
    files = {p for g in CODE_GLOBS for p in ROOT.glob(g) if p.is_file() and not SKIP_DIRS & set(p.relative_to(ROOT).parts)}
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(files) if "test_docs" not in p.name)




@pytest.fixture(scope="module")
def registered() -> list[dict]:
    return registered_routes()


def _route_matches(doc_path: str, route: str) -> bool:
    want = doc_path.split("?")[0].removeprefix("/api/").strip("/").split("/")
    have = route.strip("/").split("/")
    if want[-1].endswith("..."):  # `/api/invitations...`: routes under that prefix
        return have[: len(want)][:-1] == want[:-1] and have[len(want) - 1].startswith(want[-1].removesuffix("..."))
    if len(want) != len(have):
        return False
    return all(_segment_matches(w, h) for w, h in zip(want, have, strict=True))


def _segment_matches(want: str, have: str) -> bool:
    """A doc's `{id}` matches any parameter; a literal matches itself or a parameter constrained to it
    (`{page:regex(^(welcome|users)$)}`, the company pages)."""
    constrained = re.fullmatch(r"\{\w+:regex\((.*)\)\}", have)
    if want.startswith(("{", "<")):
        return have.startswith("{")
    return want == have or bool(constrained and re.fullmatch(constrained.group(1), want))


def test_every_file_the_docs_name_exists():
    missing = []
    for doc, name in _named("path"):
        rel, _, test = name.rstrip("/").partition("::")
        if name.startswith(GENERATED):
            continue
        if test:  # a test's node id: its file and its function
            pattern = re.escape(test).replace(r"\*", r"\w*")  # `test_flipping_*`: every test so named
            if not (ROOT / rel).is_file() or not re.search(rf"^def {pattern}\(", (ROOT / rel).read_text(), re.M):
                missing.append(f"{doc}: {name}")
            continue
        pattern = re.sub(r"<[^>]+>", "*", rel)
        candidates = [pattern] if "/" in pattern else [pattern, f"**/{pattern}"]
        if not any(any(p for p in ROOT.glob(c) if not SKIP_DIRS & set(p.relative_to(ROOT).parts)) for c in candidates):
            missing.append(f"{doc}: {name}")
    assert not missing, "named in the docs but not in the repository:\n" + "\n".join(missing)


def test_what_the_docs_call_generated_is_git_ignored():
    ignored = set((ROOT / ".gitignore").read_text(encoding="utf-8").splitlines())
    assert set(GENERATED) <= ignored


def test_every_module_the_docs_name_imports():
    missing = []
    for doc, name in _named("module"):
        parts = name.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ModuleNotFoundError:
                continue
            try:
                for attr in parts[i:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                missing.append(f"{doc}: {name}")
            break
        else:
            missing.append(f"{doc}: {name}")
    assert not missing, "named in the docs but not in the code:\n" + "\n".join(missing)


def test_every_setting_the_docs_name_exists():
    code = _code_text()
    missing = [f"{doc}: {name}" for doc, name in _named("setting")
               if name not in SETTINGS and not re.search(rf"\b{re.escape(name)}\b", code)]
    assert not missing, "named in the docs but neither a setting of shared.settings.Settings nor in the code:\n" + "\n".join(missing)


def test_the_settings_table_lists_only_real_settings_and_every_one():
    table = [line for line in (ROOT / "docs" / "SETTINGS.md").read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    listed = {("AzureWebJobsStorage" + s if s.startswith("__") else s) for line in table for s in _spans(line.split("|")[1])}
    assert listed - SETTINGS == set(), "in docs/SETTINGS.md's table but not in shared.settings.Settings"
    assert SETTINGS - listed - {"APP_VERSION"} == set(), "settings that docs/SETTINGS.md's table does not explain"


def test_every_route_the_docs_name_is_registered(registered):
    missing = []
    for doc, span in _named("route"):
        method, _, path = span.rpartition(" ")
        hits = [r for r in registered if _route_matches(path, r["route"])]
        if not hits or (method and not any(method in r["methods"] for r in hits)):
            missing.append(f"{doc}: {span}")
    assert not missing, "named in the docs but not a route of function_app.app:\n" + "\n".join(missing)


def test_the_checks_see_what_they_check():
    """Each check has something to check: a parser that finds nothing would pass everything."""
    assert len(_named("path")) > 50 and len(_named("module")) > 5 and len(_named("setting")) > 20 and len(_named("route")) > 20
    assert _classify("PATCH /api/invitations/{id}") == {"route": ["PATCH /api/invitations/{id}"]}
    assert _classify("shared/customers.py") == {"path": ["shared/customers.py"]}
    assert _classify("EMAIL_MAX_ATTEMPTS") == {"setting": ["EMAIL_MAX_ATTEMPTS"]}
    assert _classify(".venv/bin/python -m bench.faults") == {"module": ["bench.faults"]}
    assert not _route_matches("/api/companies/{id}/domains", "companies/new")
    assert _route_matches("/api/companies/{id}/users", "companies/{companyId}/{page:regex(^(welcome|users)$)}")
    assert not _route_matches("/api/companies/{id}/domains", "companies/{companyId}/{page:regex(^(welcome|users)$)}")
