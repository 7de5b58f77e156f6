"""The API reference ships with the app: Redoc's bundle is the npm package's own file, published with the app, and
served under the pages' Content-Security-Policy plus only what Redoc needs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from accept_invite.pages import CONTENT_SECURITY_POLICY
from operations import api_reference
from tests.support.expect import found

ROOT = Path(__file__).resolve().parents[2]


def _directives(policy: str) -> dict[str, set[str]]:
    return {d.split()[0]: set(d.split()[1:]) for d in policy.split(";") if d.strip()}


def test_the_bundle_is_the_installed_redoc_packages_own():
    package = json.loads((ROOT / "package.json").read_text())
    installed = json.loads((ROOT / "node_modules" / "redoc" / "package.json").read_text())
    assert package["devDependencies"]["redoc"] == installed["version"], "pin redoc exactly: the copy must say which version it is"
    for name in api_reference.ASSETS:
        shipped = (ROOT / "operations" / "static" / name).read_bytes()
        assert shipped == (ROOT / "node_modules" / "redoc" / "bundles" / name).read_bytes(), f"copy {name} again after updating redoc"


def test_a_publish_ships_the_bundle():
    """.funcignore lists what a publish leaves behind (gitignore patterns): none may match the shipped files."""
    left_behind = subprocess.run(["git", "ls-files", "--cached", "--ignored", "--exclude-from=.funcignore", "operations/"],
                                 cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    tracked = subprocess.run(["git", "ls-files", "operations/static/"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert sorted(tracked) == sorted(f"operations/static/{name}" for name in api_reference.ASSETS)
    assert not left_behind, left_behind


def test_the_policy_is_the_pages_policy_plus_only_what_redoc_needs():
    pages, reference = _directives(CONTENT_SECURITY_POLICY), _directives(api_reference.CONTENT_SECURITY_POLICY_OF_THE_REFERENCE)
    added = {k: reference[k] - pages.get(k, set()) for k in reference if reference[k] - pages.get(k, set())}
    assert added == {"style-src": {"'unsafe-inline'"}, "img-src": {"data:"}, "worker-src": {"blob:"}}
    assert all(pages[k] <= reference[k] for k in pages)
    assert reference["script-src"] == {"'self'"} and reference["default-src"] == {"'none'"}


def test_only_the_listed_files_are_served():
    assert found(api_reference.asset("redoc.standalone.js"), "Redoc's bundle")[1] == "text/javascript"
    assert api_reference.asset("../../shared/settings.py") is None
    assert api_reference.asset("redoc.standalone.js.map") is None
