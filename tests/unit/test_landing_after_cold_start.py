"""The landing page after a cold start: the first click after idle pays the import of the app and then its own call, so
what the landing page needs is loaded and built at import, and its first call loads nearly nothing more.

Each check runs in a fresh interpreter, as a Flex Consumption instance does: import the app, index it, then serve
`GET /api/InviteUser` for a stored invitation (made here, in the test's process, as a partner would; handed over as
rows) from in-memory storage, and see what that one call imported and which models it built.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

from tests.support.accept_invite import invite
from tests.support.partners import register_partners
from tests.unit.fakes import MemoryStorage

ROOT = Path(__file__).resolve().parents[2]

# The page's template engine loads with the first page (jinja2, and the modules it imports); nothing else may.
FIRST_PAGE_LOADS = ("jinja2", "markupsafe", "encodings.unicode_escape", "pprint")

_SERVE = """
import json, pickle, sys
import function_app
function_app.app.get_functions()

import azure.functions as func
from pydantic import BaseModel
from accept_invite import functions
from shared.storage import set_storage
from tests.unit.fakes import MemoryStorage, MemoryTable

rows, link = pickle.loads(open(sys.argv[1], "rb").read())
storage = MemoryStorage()
for name, table_rows in rows.items():
    storage.tables[name] = MemoryTable(storage, name)
    storage.tables[name].rows = table_rows
set_storage(storage)

def models():
    stack = list(BaseModel.__subclasses__())
    while stack:
        model = stack.pop()
        stack += model.__subclasses__()
        yield model

built = {m for m in models() if m.__pydantic_complete__}
loaded = set(sys.modules)
request = func.HttpRequest(method="GET", url="http://localhost:7071/api/InviteUser?invitationId=" + link, headers={},
                           params={"invitationId": link}, route_params={}, body=b"")
response = functions.redeem_invitation_link(request)
print(json.dumps({
    "status": response.status_code,
    "page": response.get_body().decode(),
    "imported": sorted(set(sys.modules) - loaded),
    "built": sorted(f"{m.__module__}.{m.__qualname__}" for m in models() if m.__pydantic_complete__ and m not in built),
}))
"""


def _first_landing_call(tmp_path: Path) -> dict:
    storage = MemoryStorage()
    register_partners(storage)
    _, link = invite(storage, language="en")  # with a VAT number and an email, which the page must not check again
    rows = tmp_path / "rows.pickle"
    rows.write_bytes(pickle.dumps(({name: table.rows for name, table in storage.tables.items()}, link)))
    out = subprocess.run([sys.executable, "-c", _SERVE, str(rows)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_first_landing_call_after_a_cold_start_loads_only_the_template_engine(tmp_path: Path):
    served = _first_landing_call(tmp_path)
    assert served["status"] == 200 and "Hanna" in served["page"]
    strays = [m for m in served["imported"] if not m.startswith(FIRST_PAGE_LOADS)]
    assert strays == [], "the landing page's first call imported these: load them at import (or make the page need less)"
    assert served["built"] == [], "the landing page's first call built these models: build them at import (accept_invite/link_views.py)"
