"""Every event the code stages is in the catalog (named, documented, subscribable), and payloads stay thin."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from shared.events import EventRow, event
from webhooks.api_models import SUBSCRIBABLE
from webhooks.catalog import EVENT_FIELDS, EVENT_TYPES, TEST, payload_of

ROOT = Path(__file__).resolve().parents[2]
STAGED = re.compile(r"""(?:uow\.event|events\.event)\((?:[^,()]+,\s*)?["']([A-Za-z.-]+)["']|\bevent(?:: str)? ?= ?["']([a-z.-]+)["']""")


def staged_in_code() -> set[str]:
    found = set()
    for path in ROOT.glob("*/*.py"):
        if path.parts[-2] in {"tests", "webhooks", ".venv", "node_modules"}:
            continue
        found |= {a or b for a, b in STAGED.findall(path.read_text(encoding="utf-8"))}
    return found


def test_every_staged_event_is_in_the_catalog_with_its_fields():
    staged = staged_in_code()
    assert {"invitation.created", "invitation.accepted", "invitation.expired", "company.created", "agreement.attested"} <= staged
    assert staged <= set(EVENT_TYPES)
    assert set(EVENT_FIELDS) == set(EVENT_TYPES)
    assert TEST not in SUBSCRIBABLE and set(SUBSCRIBABLE) == set(EVENT_TYPES) - {TEST}


def test_partner_center_names_are_kept():
    assert {"reseller-relationship-accepted-by-customer", "indirect-reseller-relationship-accepted-by-customer",
            "dap-admin-relationship-terminated", "test-created"} <= set(EVENT_TYPES)


def test_a_payload_carries_a_link_and_no_resource_path_or_absent_values():
    row = event("p|x", "invitation.accepted", "x", at=datetime(2026, 1, 2, tzinfo=timezone.utc), reference="ab", customerId=None,
                resource="invitations/ab")
    payload = payload_of(row)
    assert payload["timestamp"] == "2026-01-02T00:00:00Z" and payload["id"] == row.event_id
    assert payload["data"] == {"reference": "ab", "links": {"self": "http://localhost:7071/api/invitations/ab"}}


def test_outbox_row_keys_sort_by_time():
    early = event("p", "invitation.created", "x", at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    late = event("p", "invitation.created", "x", at=datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone.utc))
    assert early.row_key < late.row_key and early.row_key.startswith("e|") and isinstance(early, EventRow)
