"""The customer's click: storage requests per customer route, the landing handler against one bare point read.

On one in-memory Azurite, in one run: the floor (one `get_entity` of the invitation's row with the same SDK), the
landing handler in-process, the same page over HTTP from the local functions host, each the median of N; and the
storage requests of every customer route and partner change (the same counts tests/integration/test_request_budgets.py
holds as budgets). Targets: landing = 1 request, handler <= 1.5x the floor. Usage: python -m bench landing [--n N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from bench.results_file import write_section
from devhost.stack import Stack, throwaway_stack
from shared.storage import azurite_connection_string
from tests.support.context import ctx_of

RESULTS = Path(__file__).parent / "results"
BODY = {"email": "hanna@contoso.example", "firstName": "Hanna", "lastName": "Schmidt", "language": "de", "countryRegion": "DE",
        "kind": "CustomerOnboarding", "roles": ["ReportViewer"],
        "company": {"name": "Contoso GmbH", "country": "DE", "vatNumber": "DE136695976", "phone": "+49 30 1234567",
                    "address": {"line1": "Hauptstraße 1", "city": "Berlin", "postalCode": "10115", "country": "DE"}}}


def _median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _alternated_ms(first, second, n: int) -> tuple[float, float]:
    """Medians of `first` and `second` called in turn n times: whatever else the machine does meanwhile weighs on both
    alike (measured one block after the other, a busy spell during either block skews the ratio)."""
    a, b = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        first()
        t1 = time.perf_counter()
        second()
        b.append(time.perf_counter() - t1)
        a.append(t1 - t0)
    return statistics.median(a) * 1000, statistics.median(b) * 1000


def _request(path: str, params: dict[str, str], method: str = "GET", headers: dict[str, str] | None = None, body: bytes = b""):
    import azure.functions as func

    return func.HttpRequest(method=method, url=f"http://localhost:7071/api/{path}", params=params, headers=headers or {}, body=body)


def in_process(n: int) -> dict:
    """Floor, handler and storage requests per route, in this process on the stack's Azurite."""
    from urllib.parse import urlencode

    from accept_invite import functions, sessions, signin
    from accept_invite.company_form import prefill
    from invite_user import service
    from invite_user.api_models import ListQuery, NewInvitation
    from invite_user.invitations import link_key, split_link_key
    from partners.registry import Partner, PartnerRepository, PartnerType
    from shared.partner_auth import Caller
    from shared.storage import Storage, set_storage
    from tests.support.accept_invite import FakeAuthClient, session_header  # the provider's token exchange only

    storage = Storage()
    set_storage(storage)
    PartnerRepository(storage).save(Partner(id="p-bench", name="Bench Partner", type=PartnerType.DIRECT))
    caller = Caller("p-bench", frozenset({"AdminAgent"}), "Bench Agent", "agent@bench.example", "s")
    signin.auth_client = lambda settings=None: FakeAuthClient()  # type: ignore[assignment]
    for _ in range(2):
        created = service.create(ctx_of(storage), caller, NewInvitation.model_validate(BODY))
    storage.table("Customers")  # tables are created once per process, not per request
    raw = created.id
    assert raw is not None  # a created invitation answers its link id once
    tag, h = split_link_key(link_key(raw))
    table = storage.table("Invitations")
    report: dict = {}

    landing_req = lambda: functions.redeem_invitation_link(_request("InviteUser", {"invitationId": raw}))  # noqa: E731
    assert landing_req().status_code == 200
    floor, handler = _alternated_ms(lambda: table.get_entity(f"p|{tag}", f"k|{h}"), landing_req, n)
    report |= {"floor_ms": round(floor, 2), "handler_ms": round(handler, 2), "handler_ratio": round(handler / floor, 2)}

    def count(call):
        storage.counter.reset()
        resp = call()
        return resp, storage.counter.reset()

    routes: dict[str, int] = {}
    _, routes["GET /api/InviteUser (landing)"] = count(landing_req)
    _, routes["GET /api/InviteUser (unknown link)"] = count(
        lambda: functions.redeem_invitation_link(_request("InviteUser", {"invitationId": str(uuid.uuid4())})))
    functions.start_sign_in(_request("auth/signin", {"invitationId": raw}))  # warm the flow table
    resp, routes["GET /api/auth/signin"] = count(lambda: functions.start_sign_in(_request("auth/signin", {"invitationId": raw})))
    state = resp.headers["Location"].split("state=")[1].split("&")[0]
    # The callback needs the browser's sign-in binding cookie, set by the sign-in start.
    binding = next(c.split(";")[0] for c in resp.headers.get_all("Set-Cookie") if c.startswith(sessions.binding_cookie_name() + "="))
    resp, routes["GET /api/auth/callback"] = count(
        lambda: functions.finish_sign_in(_request("auth/callback", {"code": "abc", "state": state}, headers={"cookie": binding})))
    handle = resp.headers["Location"].split("invitationId=")[1]
    cookie = session_header(csrf="bench-csrf")
    _, routes["GET /api/companies/new"] = count(
        lambda: functions.new_company_form(_request("companies/new", {"invitationId": handle}, headers=cookie)))
    inv = service.find(ctx_of(storage), handle)
    form = {"csrf": "bench-csrf", "invitationId": handle, **prefill(inv.company, inv.country_region)}  # type: ignore[union-attr]
    resp, routes["POST /api/companies"] = count(lambda: functions.create_company(_request(
        "companies", {}, "POST", {**cookie, "Content-Type": "application/x-www-form-urlencoded"},
        urlencode({k: v for k, v in form.items() if v is not None}).encode())))
    report["create_company_status"] = resp.status_code
    _, routes["POST /api/invitations (incl. the queue message)"] = count(
        lambda: service.create(ctx_of(storage), caller, NewInvitation.model_validate(BODY)))
    _, routes["GET /api/invitations (a page)"] = count(lambda: service.list_page(ctx_of(storage), caller, ListQuery()))
    other = service.create(ctx_of(storage), caller, NewInvitation.model_validate(BODY))
    _, routes["POST /api/invitations/{id}/revoke"] = count(lambda: service.revoke(ctx_of(storage), caller, other.reference))
    report["routes"] = routes
    set_storage(None)
    return report


def over_http(stack: Stack, n: int) -> dict:
    import requests

    from devhost.seed import demo_tokens, seed_demo

    seed_demo(stack)
    session = requests.Session()
    auth = {"Authorization": f"Bearer {demo_tokens(stack)['agent']}"}
    created = session.post(f"{stack.app_url}/api/invitations", json={**BODY, "sendEmail": False}, headers=auth, timeout=30)
    if created.status_code != 201:
        raise SystemExit(f"bench.landing: creating the invitation over HTTP: {created.status_code} {created.text}")
    url = f"{stack.app_url}/api/InviteUser?invitationId={created.json()['id']}"
    session.get(url, timeout=30).raise_for_status()
    return {"http_ms": round(_median_ms(lambda: session.get(url, timeout=30).raise_for_status(), n), 2)}


def section(report: dict) -> str:
    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    routes = report["routes"]
    budgets = {"GET /api/InviteUser (landing)": 1, "POST /api/invitations (incl. the queue message)": 3, "GET /api/invitations (a page)": 1}
    lines = [
        f"In-memory Azurite; medians of {report['n']} calls each, the floor and the handler in the same process and run, "
        "called in turn (a floor read, a landing, a floor read, ...) so the machine's other work weighs on both alike.",
        "",
        "| figure | target | measured | |",
        "|---|---|---|---|",
        f"| floor: one bare point read (`TableClient.get_entity`) | - | {report['floor_ms']:.2f} ms | |",
        f"| landing handler in-process | <= 1.5x floor | {report['handler_ms']:.2f} ms = {report['handler_ratio']:.2f}x | "
        f"{verdict(report['handler_ratio'] <= 1.5)} |",
        f"| landing over HTTP (local functions host) | - | {report['http_ms']:.2f} ms = {report['http_ms'] / report['floor_ms']:.2f}x | |",
        "",
        "Storage requests per call (warm: tables created, partner cached):",
        "",
        "| route | target | requests | |",
        "|---|---|---|---|",
    ]
    for route, count in routes.items():
        target = budgets.get(route)
        lines.append(f"| {route} | {'<= ' + str(target) if target and target > 1 else target or 'fewest'} | {count} | "
                     f"{verdict(count <= target) if target else ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args(argv if argv is not None else [])
    with throwaway_stack("bench-landing-", extra_env={"EXPIRE_SCHEDULE": "0 0 0 1 1 *"}) as stack:
        http = over_http(stack, args.n)  # first: the seed writes where the app reads (no table prefix)
        p = stack.ports
        os.environ.update({"AzureWebJobsStorage": azurite_connection_string(p.blob, p.queue, p.table),
                           "TABLE_PREFIX": f"b{uuid.uuid4().hex[:8]}", "EMAIL_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
                           "SESSION_SECRET": "bench-session-secret"})
        from shared.settings import reset_settings

        reset_settings()
        report = {"n": args.n} | in_process(args.n) | http
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "landing.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    write_section("The customer's click: landing and storage requests per route", section(report))


if __name__ == "__main__":
    main(sys.argv[1:])
