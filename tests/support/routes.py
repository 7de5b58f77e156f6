"""The HTTP routes function_app registers, asked of a fresh interpreter: `get_functions()` may run once per process."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from devhost.local_settings import ROOT

_LIST_ROUTES = """
import json
import function_app
out = []
for f in function_app.app.get_functions():
    spec = f.get_trigger().get_dict_repr()
    if spec["type"] == "httpTrigger":
        methods = [str(m).split(".")[-1].upper() for m in (spec.get("methods") or ["GET", "POST"])]
        out.append({"route": spec.get("route") or f.get_function_name(), "methods": methods, "auth": str(spec.get("authLevel"))})
print(json.dumps(out))
"""


def registered_routes() -> list[dict[str, Any]]:
    """Each HTTP route: its template, its methods and its auth level."""
    out = subprocess.run([sys.executable, "-c", _LIST_ROUTES], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
