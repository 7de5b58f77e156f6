"""The fault sweep: each scenario of the app run with a storage fault at each of its storage requests in turn, then
the fault cleared and the client retrying as a real one would; then an invariant checker walks tables and mailbox.

Runs in-process on the real parts: Azurite behind the fault proxy (tests/support/fault_proxy.py), the real queue
function sending through SMTP to MailDev, the app's own HTTP functions called as the host calls them. The app's clock
is a FixedClock moved by each Retry-After a client is told to wait, so a lease of 30 s costs no real 30 s.
Used by tests/integration/test_fault_sweep.py (a few short runs in `make test`) and `python -m bench.faults` (all).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import requests
from azure.functions.queue import QueueMessage

from accept_invite import attestation_functions as attestation_pages
from accept_invite import company_functions, domain_functions
from accept_invite import functions as pages
from accept_invite.company_form import prefill
from accept_invite.company_users import version_of as user_version
from attest_agreement import functions as attest_fn
from attest_agreement import notices, partner_rights, receipts
from attest_agreement.partner_rights import version_of as relationship_version
from attest_agreement.repository import CustomerStore
from company_domains.domains import txt_value
from devhost import event_grid
from devhost.dns_server import LocalDns, add_record
from devhost.identity import ensure_partner_key, mint_partner_token
from devhost.stack import free_port
from invite_user import functions as invite_fn
from invite_user import reminders
from invite_user.api_models import NewInvitation
from invite_user.delivery import operation_id as invitation_operation
from invite_user.invitations import link_hash
from invite_user.repository import InvitationStore
from notifications import functions as notifications_fn
from notifications import reports
from notifications.sender import SmtpSender
from partners.registry import Partner, PartnerRepository, PartnerType
from shared import clock as clock_module
from shared import idempotency, partner_auth
from shared.settings import get_settings, reset_settings
from shared.storage import Storage, azurite_connection_string, set_storage
from tests.support.accept_invite import COMPANY, form_request, session_header
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.fault_proxy import FaultProxy
from tests.support.http import build_request, json_of
from tests.support.partners import AUDIENCE, ISSUER, _LocalJwks

RETRYABLE = (503, 429)
CSRF = "csrf-token-for-tests"


@dataclass
class World:
    """One run's isolated tables, queue and mail addresses, reached through the proxy (app) or directly (checks)."""

    app: Storage
    direct: Storage
    run: str
    token: Callable[..., str]
    mail_web: int
    clock: clock_module.FixedClock
    context: dict[str, Any] = field(default_factory=dict)

    def email(self, who: str) -> str:
        return f"{who}.{self.run}@contoso.example"


DNS_RECORDS: Path | None = None  # the records file of the sweep's DNS server (set by Sweep)


@dataclass
class Scenario:
    name: str
    setup: Callable[[World], None]
    act: Callable[[World], func.HttpResponse]  # one client call; every retry sends the same request (same key)
    expect: Callable[[World], list[str]]  # what this scenario must have left: one of each, nothing doubled
    deliver: bool = True  # False: emails checked on the queue (one message item per invitation), not sent to MailDev
    success: int = 200  # the answer the client must end with: work that committed is never answered as a failure


@dataclass
class Outcome:
    scenario: str
    point: int
    mode: str
    during: int
    final: int
    attempts: int
    violations: list[str]

    @property
    def verdict(self) -> str:
        return "ok" if not self.violations else "; ".join(self.violations)


class Sweep:
    """Owns the proxy and the partner key; `run(scenario, point, mode, count)` is one isolated run."""

    def __init__(self, ports: Any) -> None:
        self.ports = ports
        self.proxy = FaultProxy(ports.table, ports.queue).start()
        self.key = ensure_partner_key()
        self._jwks_client = partner_auth._jwks_client  # noqa: SLF001
        partner_auth._jwks_client = lambda settings: _LocalJwks(self.key.public_key())  # noqa: SLF001 - the local issuer's key
        self._environ = dict(os.environ)
        # The domains' TXT records come from a real DNS server (the stack's), as in Azure from the platform's resolver.
        global DNS_RECORDS
        DNS_RECORDS = Path(tempfile.mkdtemp()) / "dns-records.json"
        self.dns = LocalDns(free_port(), DNS_RECORDS).start()
        os.environ["DNS_RESOLVER"] = self.dns.address

    def close(self) -> None:
        self.proxy.stop()
        self.dns.stop()
        partner_auth._jwks_client = self._jwks_client  # noqa: SLF001
        os.environ.clear()
        os.environ.update(self._environ)
        reset_settings()
        set_storage(None)

    def token(self, partner_id: str = "p-direct") -> str:
        return "Bearer " + mint_partner_token(self.key, issuer=ISSUER, audience=AUDIENCE, tenant_id=partner_id, roles=["AdminAgent"],
                                              name="Anna Agent", email="anna@partner.example")

    def requests_of(self, scenario: Scenario) -> int:
        """How many storage requests the scenario's call makes when nothing fails."""
        world = self._world()
        try:
            scenario.setup(world)
            set_storage(world.app)
            before = self.proxy.requests
            scenario.act(world)
            return self.proxy.requests - before
        finally:
            self._drop(world)

    def run(self, scenario: Scenario, point: int | None, mode: str = "500", count: int = 3) -> Outcome:
        world = self._world()
        try:
            scenario.setup(world)
            set_storage(world.app)
            if point is not None:
                self.proxy.fail_nth(point, mode, count)
            first = scenario.act(world)
            self.proxy.clear()
            answers, final, attempts = [first], first, 1
            while _retryable(final) and attempts < 8:
                world.clock.advance(seconds=int(final.headers.get("Retry-After") or 1))
                final = scenario.act(world)
                answers.append(final)
                attempts += 1
            violations = [f"answer {a.status_code} {_problem_type(a)}" for a in answers if not _documented(a)]
            if _retryable(final):
                violations.append(f"stuck: still {final.status_code} after {attempts} tries")
            elif final.status_code != scenario.success:
                violations.append(f"lost: ended with {final.status_code} {_problem_type(final)}")
            set_storage(world.direct)
            if scenario.deliver:
                _deliver(world)
            violations += scenario.expect(world) + check(world, delivered=scenario.deliver)
            return Outcome(scenario.name, point or 0, mode if point else "none", first.status_code, final.status_code, attempts,
                           violations)
        finally:
            self.proxy.clear()
            self._drop(world)

    # -- worlds ---------------------------------------------------------------------------------
    def _world(self) -> World:
        run = uuid.uuid4().hex[:8]
        p = self.ports
        env = {
            "AzureWebJobsStorage": azurite_connection_string(p.blob, self.proxy.ports[1], self.proxy.ports[0]),
            "TABLE_PREFIX": f"f{run}", "EMAIL_QUEUE": f"emails-{run}", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(p.smtp),
            "PUBLIC_BASE_URL": "http://localhost:7071", "SESSION_SECRET": "fault-sweep-secret",
            "PARTNER_AUTH_ISSUER": ISSUER, "PARTNER_AUTH_AUDIENCE": AUDIENCE,
        }
        os.environ.update(env)
        reset_settings()
        settings = get_settings()
        app = Storage(settings)
        direct = Storage(settings.model_copy(update={"storage_connection_string": azurite_connection_string(p.blob, p.queue, p.table)}))
        clock = clock_module.FixedClock(datetime.now(timezone.utc).replace(microsecond=0))
        clock_module.set_clock(clock)
        repo = PartnerRepository(direct)
        repo.save(Partner(id="p-direct", name="Contoso Partner", type=PartnerType.DIRECT))
        repo.save(Partner(id="p-provider", name="Fabrikam Distribution", type=PartnerType.INDIRECT_PROVIDER))
        repo.save(Partner(id="p-reseller", name="Tailspin Reseller", type=PartnerType.INDIRECT_RESELLER, indirect_provider_id="p-provider"))
        set_storage(direct)
        return World(app=app, direct=direct, run=run, token=self.token, mail_web=p.mail_web, clock=clock)

    def _drop(self, world: World) -> None:
        set_storage(None)
        clock_module.set_clock(clock_module.SystemClock())
        prefix = get_settings().table_prefix
        try:
            service = world.direct._table_service  # noqa: SLF001 - tests drop their own tables
            for t in service.list_tables(name_filter=f"TableName ge '{prefix}' and TableName lt '{prefix}~'"):
                service.delete_table(t.name)
            world.direct.drop([], [get_settings().email_queue])
        except Exception:  # noqa: BLE001 - clean-up of a throw-away world
            pass


# -- the client ---------------------------------------------------------------------------------------


def _problem_type(resp: func.HttpResponse) -> str:
    if resp.mimetype != "application/problem+json":
        return ""
    return str(json_of(resp).get("type", "")).rsplit("/", 1)[-1]


def _retryable(resp: func.HttpResponse) -> bool:
    """What a real client retries with the same request: 503 and 429, and 409 for a key still in progress."""
    return resp.status_code in RETRYABLE or resp.status_code == 409 and _problem_type(resp) == "idempotency-in-progress"


def _documented(resp: func.HttpResponse) -> bool:
    """An answer given during a fault: success, a redirect (pages), or a 503/409/429 problem (a page when no JSON)."""
    if resp.status_code < 400:
        return True
    if resp.status_code in (409, 429, 503):
        return bool(resp.headers.get("Retry-After")) or resp.status_code == 409 or resp.mimetype == "text/html"
    return False


def _deliver(world: World) -> None:
    """What the queue-triggered function does, until the queue is empty (the outbox sweep run as its timer would)."""
    world.clock.advance(minutes=notices.GRACE.total_seconds() / 60 + 1)
    notices.sweep(ctx_of(world.direct))
    q = world.direct.queue(get_settings().email_queue)
    for _ in range(100):
        batch = list(q.receive_messages(max_messages=32, visibility_timeout=60))
        if not batch:
            return
        for m in batch:
            notifications_fn.send_queued_email(QueueMessage(id=m.id, body=base64.b64decode(m.content), dequeue_count=m.dequeue_count))
            q.delete_message(m)


def queued(world: World) -> list[dict[str, Any]]:
    q = world.direct.queue(get_settings().email_queue)
    out = []
    while True:  # read every message (each hidden for a minute), the way the checker must see all
        batch = list(q.receive_messages(max_messages=32, visibility_timeout=60))
        if not batch:
            return out
        out += [json.loads(base64.b64decode(m.content)) for m in batch]


def mailbox(world: World) -> list[dict[str, Any]]:
    mails = requests.get(f"http://127.0.0.1:{world.mail_web}/email", timeout=30).json()
    return [m for m in mails if any(world.run in t["address"] for t in m.get("to", []))]


# -- the invariants -----------------------------------------------------------------------------------


def _rows(storage: Storage, table: str) -> list[dict[str, Any]]:
    try:
        return [dict(e) for e in storage.table(table).list_entities()]
    except Exception:  # noqa: BLE001 - a table nobody wrote to yet
        return []


def check(world: World, delivered: bool = True) -> list[str]:
    """The invariants every run must leave, whatever the scenario."""
    out: list[str] = []
    inv_rows = _rows(world.direct, "Invitations")
    pointers = {r["RowKey"]: r for r in inv_rows if r["PartitionKey"].startswith("l|")}
    expiry = {(r["PartitionKey"], r["RowKey"]) for r in inv_rows if r["RowKey"].startswith("x|")}
    reminder_rows = {(r["PartitionKey"], r["RowKey"]) for r in inv_rows if r["RowKey"].startswith("r|")}
    # An invitation's own row is `k|<hash>` (aliases of additional links carry alias_of); its listing copy `i|...|<hash>`.
    invitations = [r for r in inv_rows if r["PartitionKey"].startswith("p|") and r["RowKey"].startswith("k|") and not r.get("alias_of")]
    listed = {(r["PartitionKey"], r["link_hash"]): r for r in inv_rows if r["PartitionKey"].startswith("p|") and r["RowKey"].startswith("i|")}
    customers = _rows(world.direct, "Customers")
    profiles = {r["PartitionKey"] for r in customers if r["RowKey"] == "profile"}
    sender = SmtpSender("x", 0, get_settings().email_sender)
    mails = mailbox(world)
    message_ids = Counter((m.get("messageId") or m.get("headers", {}).get("message-id", "")).strip("<>") for m in mails)
    for mid, n in message_ids.items():
        if n > 1:
            out.append(f"doubled: email {mid[:8]} x{n}")
    for inv in invitations:
        ref = inv["link_hash"][:8]
        pointer = pointers.get(inv["link_hash"])
        if pointer is None or pointer.get("row_key") != inv["RowKey"]:
            out.append(f"lost: invitation {ref} without its link pointer")
        copy = listed.get((inv["PartitionKey"], inv["link_hash"]))
        if copy is None or copy.get("status") != inv["status"]:
            out.append(f"lost: invitation {ref} without its listing copy as it is")
        if inv["status"] == "PendingAcceptance" and not any(pk == inv["PartitionKey"] and rk.endswith(inv["link_hash"]) for pk, rk in expiry):
            out.append(f"lost: pending invitation {ref} without its expiry index row")
        if (inv["status"] == "PendingAcceptance" and inv.get("remind") and int(inv.get("expires_in_days") or 0) > 7
                and inv.get("reminder_status") in (None, "Queued", "Sending")
                and not any(pk == inv["PartitionKey"] and rk.endswith(inv["link_hash"]) for pk, rk in reminder_rows)):
            out.append(f"lost: pending invitation {ref} without its reminder index row")
        if inv["status"] == "Accepted" and inv.get("customer_id") and f"c|{inv['customer_id']}" not in profiles:
            out.append(f"lost: accepted invitation {ref} without its company")
        status = inv.get("email_status")
        if not delivered:
            continue
        if status in ("Queued", "Sending"):
            out.append(f"lost: invitation {ref} email still {status}")
        elif status == "Failed" and not inv.get("email_error"):
            out.append(f"lost: invitation {ref} email Failed without a reason")
        elif status == "Sent":
            sent = found(InvitationStore(world.direct).find_by_link(inv["link_hash"]), "the invitation its link names")
            if sender.message_id(invitation_operation(sent)).strip("<>") not in message_ids:
                out.append(f"lost: invitation {ref} marked Sent, no such email")
    for pk in profiles:
        rows = [r for r in customers if r["PartitionKey"] == pk]
        from_invitation = any(r["RowKey"] == "profile" and r.get("created_from_invitation") for r in rows)
        if from_invitation and not any(r["RowKey"].startswith("u|") for r in rows):  # partners' customers start userless
            out.append(f"lost: company {pk[2:10]} without its first user")
        audited = [r for r in rows if r["RowKey"].startswith("a|") and str(r.get("action", "")).startswith("relationship.")]
        relationships = [r for r in rows if r["RowKey"].startswith("r|")]
        if len(audited) < len(relationships):
            out.append(f"lost: company {pk[2:10]} relationship without its audit record")
    for row in _rows(world.direct, "AgreementNotices"):
        if row.get("state") != notices.FAILED:
            out.append(f"stuck: attestation confirmation {row['RowKey'][:8]} still {row.get('state')}")
    now = clock_module.utc_now()
    for row in _rows(world.direct, "Idempotency"):
        if row.get("state") == idempotency.PENDING and "|" not in row["RowKey"]:
            lease = row.get("leaseUntil") or row.get("lease_until")
            until = lease if isinstance(lease, datetime) else datetime.fromisoformat(str(lease).replace("Z", "+00:00")) if lease else None
            if until is None or until > now + idempotency.LEASE:
                out.append("stuck: idempotency key locked")
    return out


def _emailed(world: World) -> int:
    """Emails in the mailbox, plus those given up on where the partner sees it (emailStatus Failed with its reason)."""
    failed = [r for r in _invitations_of(world) if r.get("email_status") == "Failed" and r.get("email_error")]
    return len(mailbox(world)) + len(failed)


def count(world: World, what: str, n: int, expected: int) -> list[str]:
    if n > expected:
        return [f"doubled: {what} {n} (expected {expected})"]
    if n < expected:
        return [f"lost: {what} {n} (expected {expected})"]
    return []


# -- the scenarios --------------------------------------------------------------------------------------


def _invitation_body(email: str, **over: Any) -> dict[str, Any]:
    return {"email": email, "firstName": "Hanna", "lastName": "Schmidt", "language": "en", "countryRegion": "DE",
            "kind": "CustomerOnboarding", "company": COMPANY, "roles": ["ReportViewer"], **over}


def _post(handler: Any, path: str, token: str, body: Any, key: str | None, route_params: dict[str, str] | None = None) -> Any:
    headers = {"Authorization": token, **({"Idempotency-Key": key} if key else {})}
    return handler(build_request("POST", path, body=body, headers=headers, route_params=route_params or {}))


def _invitations_of(world: World, email: str | None = None) -> list[dict[str, Any]]:
    rows = [r for r in _rows(world.direct, "Invitations")
            if r["PartitionKey"].startswith("p|") and r["RowKey"].startswith("k|") and not r.get("alias_of")]
    return [r for r in rows if email is None or r["email_normalized"] == email.lower()]


def _setup_invitation(world: World, who: str = "hanna", **over: Any) -> None:
    resp = _post(invite_fn.create_invitation, "invitations", world.token(), _invitation_body(world.email(who), **over), None)
    assert resp.status_code == 201, resp.get_body()
    world.context["invitation"] = json_of(resp)
    _deliver(world)


def _create_customer(world: World) -> None:
    body = {"name": "Contoso Berlin GmbH", "country": "DE", "language": "de",
            "address": {"line1": "Unter den Linden 1", "city": "Berlin", "postalCode": "10117", "country": "DE"},
            "phone": "030 1234567", "primaryContact": {"firstName": "Greta", "lastName": "Maier", "email": world.email("greta")}}
    resp = _post(attest_fn.create_customer, "customers", world.token(), body, None)
    assert resp.status_code == 201, resp.get_body()
    world.context["customer"] = json_of(resp)["customer"]["id"]


def create_scenario() -> Scenario:
    def act(w: World) -> Any:
        return _post(invite_fn.create_invitation, "invitations", w.token(), _invitation_body(w.email("hanna")), "key-create")

    def expect(w: World) -> list[str]:
        return (count(w, "invitations", len(_invitations_of(w, w.email("hanna"))), 1) + count(w, "emails", _emailed(w), 1)
                + _funnel_counts(w, 1))

    return Scenario("create", lambda w: None, act, expect, success=201)


def bulk_scenario(n: int, deliver: bool = True) -> Scenario:
    def act(w: World) -> Any:
        rows = [_invitation_body(w.email(f"b{i}")) for i in range(n)]
        return _post(invite_fn.create_invitations_bulk, "invitations/bulk", w.token(), {"invitations": rows}, "key-bulk")

    def expect(w: World) -> list[str]:
        out = count(w, "invitations", len(_invitations_of(w)), n) + _funnel_counts(w, n)
        if deliver:
            return out + count(w, "emails", _emailed(w), n)
        # Copies of one queue message (a send whose answer was lost, retried) are harmless: a send is claimed once.
        items = Counter(item["rowKey"] for m in queued(w) for item in m.get("items", []))
        queued_ok = [r for r in _invitations_of(w) if items[r["RowKey"]] >= 1 or r.get("email_status") == "Failed" and r.get("email_error")]
        return out + count(w, "emails queued or failed visibly", len(queued_ok), n)

    return Scenario(f"bulk {n}", lambda w: None, act, expect, deliver=deliver)


def _change_scenario(name: str, action: str, emails: int, status: str) -> Scenario:
    def act(w: World) -> Any:
        inv_id = w.context["invitation"]["id"]
        handler = invite_fn.resend_invitation if action == "resend" else invite_fn.revoke_invitation
        return _post(handler, f"invitations/{inv_id}/{action}", w.token(), None, f"key-{action}", {"id": inv_id})

    def expect(w: World) -> list[str]:
        [inv] = _invitations_of(w, w.email("hanna"))
        out = count(w, "emails", _emailed(w), emails)
        if inv["status"] != status:
            out.append(f"lost: invitation {inv['status']}, expected {status}")
        if action == "resend" and int(inv.get("resent_count", 0)) != 1:
            out.append(f"doubled: resent {inv.get('resent_count')} times")
        return out

    return Scenario(name, _setup_invitation, act, expect)


def change_invitee_scenario() -> Scenario:
    """A change of invitee (PATCH, If-Match from a GET before the fault): the old invitation Replaced, exactly one new one
    for the new address, one email each."""

    def setup(w: World) -> None:
        _setup_invitation(w)
        inv_id = w.context["invitation"]["id"]
        read = invite_fn.get_invitation(build_request("GET", "x", headers={"Authorization": w.token()}, route_params={"id": inv_id}))
        w.context["etag"] = read.headers["ETag"]

    def act(w: World) -> Any:
        inv_id = w.context["invitation"]["id"]
        headers = {"Authorization": w.token(), "Idempotency-Key": "key-change", "If-Match": w.context["etag"]}
        return invite_fn.change_invitee(build_request("PATCH", f"invitations/{inv_id}", body={"email": w.email("nora"), "firstName": "Nora"},
                                                      headers=headers, route_params={"id": inv_id}))

    def expect(w: World) -> list[str]:
        [old] = _invitations_of(w, w.email("hanna"))
        new = _invitations_of(w, w.email("nora"))
        out = count(w, "new invitations", len(new), 1) + count(w, "emails", _emailed(w), 2)
        if old["status"] != "Replaced" or (new and old.get("replaced_by") != new[0]["link_hash"]):
            out.append(f"lost: old invitation {old['status']}, replaced by {old.get('replaced_by')}")
        if new and (new[0]["status"] != "PendingAcceptance" or new[0].get("replaces") != old["link_hash"]):
            out.append(f"lost: new invitation {new[0]['status']} replacing {new[0].get('replaces')}")
        return out

    return Scenario("change invitee", setup, act, expect)


def _company_form(w: World) -> dict[str, str]:
    inv_hash = link_hash(w.context["invitation"]["id"])
    company = NewInvitation.model_validate(_invitation_body(w.email("hanna"))).company
    return {"csrf": CSRF, "invitationId": inv_hash, **prefill(company, "DE")}


def create_company_scenario() -> Scenario:
    def act(w: World) -> Any:
        return pages.create_company(form_request("companies", _company_form(w), session_header(email=w.email("hanna"))))

    def expect(w: World) -> list[str]:
        [inv] = _invitations_of(w, w.email("hanna"))
        profiles = [r for r in _rows(w.direct, "Customers") if r["RowKey"] == "profile"]
        out = count(w, "companies", len(profiles), 1)
        return out + ([] if inv["status"] == "Accepted" else [f"lost: invitation {inv['status']}, expected Accepted"])

    return Scenario("create company", _setup_invitation, act, expect, success=303)


def accept_relationship_scenario() -> Scenario:
    def setup(w: World) -> None:
        _setup_invitation(w)
        resp = pages.create_company(form_request("companies", _company_form(w), session_header(email=w.email("hanna"))))
        assert resp.status_code == 303, resp.get_body()
        customer_id = resp.headers["Location"].split("/")[3]
        body = _invitation_body(w.email("hanna"), kind="ResellerRelationship", customerId=customer_id, roles=[])
        created = _post(invite_fn.create_invitation, "invitations", w.token("p-reseller"), body, None)
        assert created.status_code == 201, created.get_body()
        w.context.update(customer=customer_id, relationship=json_of(created))
        _deliver(w)

    def act(w: World) -> Any:
        form = {"csrf": CSRF, "invitationId": link_hash(w.context["relationship"]["id"])}
        return pages.accept_invitation(form_request("companies/accept", form, session_header(email=w.email("hanna"))))

    def expect(w: World) -> list[str]:
        rels = [r for r in _rows(w.direct, "Customers") if r["RowKey"] == "r|p-reseller" and r.get("status") == "Active"]
        return count(w, "reseller relationships", len(rels), 1)

    return Scenario("accept relationship", setup, act, expect, success=303)


def attest_scenario() -> Scenario:
    def act(w: World) -> Any:
        body = {"type": "MicrosoftCustomerAgreement", "dateAgreed": (w.clock.now() - timedelta(days=1)).date().isoformat(),
                "primaryContact": {"firstName": "Greta", "lastName": "Maier", "email": w.email("greta")}}
        cid = w.context["customer"]
        return _post(attest_fn.attest_customer_agreement, f"customers/{cid}/agreements", w.token(), body, "key-attest", {"customerId": cid})

    def expect(w: World) -> list[str]:
        acceptances = [r for r in _rows(w.direct, "Customers") if r.get("how") == "PartnerAttestation"]
        return count(w, "acceptances", len(acceptances), 1) + count(w, "confirmation emails", len(mailbox(w)), 1)

    return Scenario("attest", _create_customer, act, expect, success=201)


def direct_acceptance_scenario() -> Scenario:
    def setup(w: World) -> None:
        _create_customer(w)
        cid = w.context["customer"]
        resp = _post(attest_fn.invite_to_accept_agreement, f"customers/{cid}/agreement-invitations", w.token(), None, None,
                     {"customerId": cid})
        assert resp.status_code == 201, resp.get_body()
        w.context["invitation"] = json_of(resp)
        _deliver(w)

    def act(w: World) -> Any:
        form = {"csrf": CSRF, "invitationId": link_hash(w.context["invitation"]["id"]), "accept": "yes"}
        headers = {"content-type": "application/x-www-form-urlencoded", **session_header(email=w.email("greta"))}
        return pages.accept_agreement(func.HttpRequest(method="POST", url="http://localhost:7071/api/agreements/accept",
                                                       headers=headers, params={}, route_params={}, body=urlencode(form).encode()))

    def expect(w: World) -> list[str]:
        acceptances = [r for r in _rows(w.direct, "Customers") if r.get("how") == "DirectAcceptance"]
        [inv] = _invitations_of(w, w.email("greta"))
        out = count(w, "acceptances", len(acceptances), 1)
        return out + ([] if inv["status"] == "Accepted" else [f"lost: invitation {inv['status']}, expected Accepted"])

    return Scenario("direct acceptance", setup, act, expect, success=303)


def update_contact_scenario() -> Scenario:
    """PATCH the primary contact under the ETag read before: a retry after a committed change must end 200, not 412."""

    def setup(w: World) -> None:
        _create_customer(w)
        cid = w.context["customer"]
        read = attest_fn.get_customer(build_request("GET", f"customers/{cid}", headers={"Authorization": w.token()},
                                                    route_params={"customerId": cid}))
        w.context["etag"] = read.headers["ETag"]

    def act(w: World) -> Any:
        cid = w.context["customer"]
        body = {"firstName": "Jonas", "lastName": "Weber", "email": w.email("jonas")}
        headers = {"Authorization": w.token(), "Idempotency-Key": "key-contact", "If-Match": w.context["etag"]}
        return attest_fn.update_primary_contact(build_request("PATCH", f"customers/{cid}/primary-contact", body=body, headers=headers,
                                                              route_params={"customerId": cid}))

    def expect(w: World) -> list[str]:
        rows = [r for r in _rows(w.direct, "Customers") if r["PartitionKey"] == f"c|{w.context['customer']}"]
        [profile] = [r for r in rows if r["RowKey"] == "profile"]
        out = [] if w.email("jonas") in str(profile.get("primary_contact")) else ["lost: the primary contact was not changed"]
        audited = [r for r in rows if r["RowKey"].startswith("a|") and r.get("action") == "customer.primaryContactUpdated"]
        announced = [r for r in rows if r.get("type") == "customer.primaryContactUpdated"]
        return out + count(w, "contact audit records", len(audited), 1) + count(w, "contact events", len(announced), 1)

    return Scenario("update primary contact", setup, act, expect)


def verify_domain_scenario() -> Scenario:
    """The company's Account manager verifies a domain whose TXT record the sweep's DNS server serves: claimed, verified."""

    def domain(w: World) -> str:
        return f"d{w.run}.example"

    def setup(w: World) -> None:
        _setup_invitation(w)
        resp = pages.create_company(form_request("companies", _company_form(w), session_header(email=w.email("hanna"))))
        assert resp.status_code == 303, resp.get_body()
        cid = w.context["customer"] = resp.headers["Location"].split("/")[3]
        resp = domain_functions.add_domain(form_request(f"companies/{cid}/domains", {"csrf": CSRF, "domain": domain(w)},
                                                        session_header(email=w.email("hanna")), route_params={"companyId": cid}))
        assert resp.status_code == 200, resp.get_body()
        row = next(r for r in _rows(w.direct, "Customers") if r["PartitionKey"] == f"c|{cid}" and r["RowKey"] == f"d|{domain(w)}")
        assert DNS_RECORDS is not None
        add_record(DNS_RECORDS, domain(w), txt_value(row["token"]))

    def act(w: World) -> Any:
        cid = w.context["customer"]
        return domain_functions.verify_domain(form_request(f"companies/{cid}/domains/verify", {"csrf": CSRF, "domain": domain(w)},
                                                           session_header(email=w.email("hanna")), route_params={"companyId": cid}))

    def expect(w: World) -> list[str]:
        cid, rows, name = w.context["customer"], _rows(w.direct, "Customers"), domain(w)
        mine = [r for r in rows if r["PartitionKey"] == f"c|{cid}"]
        verified = [r for r in mine if r["RowKey"] == f"d|{name}" and r.get("status") == "Verified"]
        claims = [r for r in rows if r["PartitionKey"] == f"dc|{name}" and r.get("customer_id") == cid]
        audited = [r for r in mine if r["RowKey"].startswith("a|") and r.get("action") == "domain.verified"]
        announced = [r for r in mine if r["RowKey"].startswith("e|") and r.get("type") == "company.domainVerified"]
        return (count(w, "verified domains", len(verified), 1) + count(w, "domain claims", len(claims), 1)
                + count(w, "domain.verified audit records", len(audited), 1) + count(w, "company.domainVerified events", len(announced), 1))

    return Scenario("verify domain", setup, act, expect, success=200)


def _funnel_counts(w: World, expected: dict[str, int] | int) -> list[str]:
    """The partner's funnel counts, summed over its count rows: each invitation counted once, under its stage (an int:
    the total only, where the stage may be either, e.g. an email that could not be queued is DeliveryFailed)."""
    totals: Counter[str] = Counter()
    for row in _rows(w.direct, "Invitations"):
        if row["RowKey"].startswith("f|"):
            for per_stage in json.loads(str(row.get("counts", "{}")).removeprefix("json:")).values():
                totals.update({k: v for k, v in per_stage.items() if v})
    totals = Counter({k: v for k, v in totals.items() if v})
    if isinstance(expected, int):
        return count(w, "funnel counts", sum(totals.values()), expected)
    return [] if dict(totals) == expected else [f"{'doubled' if sum(totals.values()) > sum(expected.values()) else 'lost'}: "
                                                f"funnel counts {dict(totals)}, expected {expected}"]


def _reports_through_event_grid(w: World, op: str) -> func.HttpResponse:
    """One Event Grid delivery of an email's reports: a newer Bounced, the older Delivered (out of order), the Bounced
    again (a duplicate). A function that fails answers 500 and Event Grid delivers the same batch again (modelled as a 503
    with Retry-After for this client)."""
    t0 = w.context.setdefault("reported_at", w.clock.now())  # every redelivery carries the same reports

    def report(status: str, minutes: int, event_id: str) -> dict[str, Any]:
        at = (t0 + timedelta(minutes=minutes)).isoformat()
        return {"id": event_id, "topic": "/acs", "subject": f"sender/s/message/{op}", "eventType": reports.EVENT_TYPE,
                "eventTime": at, "dataVersion": "1.0", "data": {"messageId": op, "status": status, "deliveryAttemptTimestamp": at,
                                                                 "deliveryStatusDetails": {"statusMessage": "550 5.1.1 unknown"}}}

    batch = [report("Bounced", 2, "b"), report("Delivered", 1, "d"), report("Bounced", 2, "b")]
    status, _, _ = event_grid.answer("POST", {"aeg-event-type": "Notification"}, {"functionName": "receive_email_delivery_report"},
                                     json.dumps(batch).encode(), key_ok=True, functions={"receive_email_delivery_report"},
                                     invoke=lambda name, event: notifications_fn.receive_email_delivery_report(event))
    if status >= 500:
        return func.HttpResponse(status_code=503, headers={"Retry-After": "1"})
    return func.HttpResponse(status_code=status)


def _sent_of(w: World, kind: str) -> str:
    """The operation id of the one email of this kind the run sent (what its report names)."""
    [row] = [r for r in _rows(w.direct, "SentEmails") if r.get("kind") == kind]
    return str(row["operation_id"])


def other_kinds_report_scenarios() -> list[Scenario]:
    """The same reports for the kinds whose report lives elsewhere: a reminder's on its invitation (the trail), the
    attestation confirmation's on the acceptance, the receipt's on the attestation. Each ends Bounced, once."""

    def reminded(w: World) -> None:
        _setup_invitation(w)
        w.clock.advance(days=53, minutes=1)  # 7 days before the 60-day link expires
        assert reminders.sweep(ctx_of(w.direct)).reminded == 1
        _deliver(w)

    def attested(w: World) -> None:
        _create_customer(w)
        cid = w.context["customer"]
        body = {"type": "MicrosoftCustomerAgreement", "dateAgreed": (w.clock.now() - timedelta(days=1)).date().isoformat(),
                "primaryContact": {"firstName": "Greta", "lastName": "Maier", "email": w.email("greta")}}
        assert _post(attest_fn.attest_customer_agreement, f"customers/{cid}/agreements", w.token(), body, None,
                     {"customerId": cid}).status_code == 201
        _deliver(w)

    def receipted(w: World) -> None:
        _ask_attestation(w)
        assert _accept_on_page(w).status_code == 200
        _deliver(w)

    def bounced_once(w: World, rows: list[dict[str, Any]], field_name: str, what: str) -> list[str]:
        kept = [r for r in rows if '"status":"Bounced"' in str(r.get(field_name))]
        tracked = [r for r in _rows(w.direct, "SentEmails") if '"status":"Bounced"' in str(r.get("detail"))]
        return count(w, what, len(kept), 1) + count(w, "tracked reports", len(tracked), 1)

    def reminder_expect(w: World) -> list[str]:
        [inv] = _invitations_of(w, w.email("hanna"))
        out = [] if inv.get("email_status") == "Sent" else [f"changed: emailStatus {inv.get('email_status')} by a reminder's report"]
        return out + bounced_once(w, [inv], "reminder_reports", "reminder reports on the invitation")

    return [
        Scenario("reminder report", reminded, lambda w: _reports_through_event_grid(w, _sent_of(w, reminders.KIND)), reminder_expect),
        Scenario("confirmation report", attested, lambda w: _reports_through_event_grid(w, _sent_of(w, notices.KIND)),
                 lambda w: bounced_once(w, _rows(w.direct, "Customers"), "confirmation_email_detail", "confirmation reports")),
        Scenario("receipt report", receipted, lambda w: _reports_through_event_grid(w, _sent_of(w, receipts.KIND)),
                 lambda w: bounced_once(w, _rows(w.direct, "Customers"), "receipt_email_detail", "receipt reports")),
    ]


def delivery_report_scenario() -> Scenario:
    """ACS's reports of one email through the Functions host's Event Grid webhook, as Event Grid delivers them: a newer
    Bounced, then the older Delivered (out of order) and the Bounced again (a duplicate), in one delivery. A function that
    fails answers 500 and Event Grid delivers the same batch again (modelled as a 503 with Retry-After for this client)."""

    def act(w: World) -> Any:
        return _reports_through_event_grid(w, _invitations_of(w, w.email("hanna"))[0]["email_operation_id"])

    def expect(w: World) -> list[str]:
        [inv] = _invitations_of(w, w.email("hanna"))
        out = [] if inv.get("email_status") == "Bounced" else [f"lost: emailStatus {inv.get('email_status')}, expected Bounced"]
        events = [r for r in _rows(w.direct, "Invitations") if r["RowKey"].startswith("e|") and r.get("type") == "invitation.deliveryFailed"]
        tracked = [r for r in _rows(w.direct, "SentEmails") if '"status":"Bounced"' in str(r.get("detail"))]
        return (out + count(w, "invitation.deliveryFailed events", len(events), 1) + count(w, "tracked reports", len(tracked), 1)
                + _funnel_counts(w, {"DeliveryFailed": 1}))

    return Scenario("delivery report", _setup_invitation, act, expect)


def opened_scenario() -> Scenario:
    """The invitee presses sign-in (the page's beacon) with a fault at each storage request, and presses again as a person
    would after an error: the invitation is opened once, with one invitation.opened."""

    def act(w: World) -> Any:
        return pages.invitation_opened(form_request("auth/opened", {"invitationId": w.context["invitation"]["id"]}))

    def expect(w: World) -> list[str]:
        [inv] = _invitations_of(w, w.email("hanna"))
        events = [r for r in _rows(w.direct, "Invitations") if r["RowKey"].startswith("e|") and r.get("type") == "invitation.opened"]
        return (([] if inv.get("opened_at") else ["lost: invitation not opened"]) + count(w, "invitation.opened events", len(events), 1)
                + _funnel_counts(w, {"Opened": 1}))

    return Scenario("opened", _setup_invitation, act, expect, success=204)
def _ask_attestation(w: World) -> None:
    _create_customer(w)
    cid = w.context["customer"]
    body = {"contact": {"firstName": "Greta", "lastName": "Maier", "email": w.email("greta")}, "companyName": "Contoso Berlin GmbH",
            "sendEmail": False}
    resp = _post(attest_fn.request_agreement_attestation, f"customers/{cid}/agreement-attestations", w.token(), body, None,
                 {"customerId": cid})
    assert resp.status_code == 201, resp.get_body()
    created = json_of(resp)
    w.context["attestation"], w.context["link"] = created["id"], created["acceptanceUrl"].split("link=", 1)[1]


def _accept_on_page(w: World) -> Any:
    form = {"csrf": CSRF, "link": w.context["link"], "name": "Greta Maier", "accept": "yes"}
    headers = {"content-type": "application/x-www-form-urlencoded", **session_header(email=w.email("greta"))}
    return attestation_pages.accept_attestation(func.HttpRequest(
        method="POST", url="http://localhost:7071/api/agreements/attestation", headers=headers, params={}, route_params={},
        body=urlencode(form).encode()))


def accept_attestation_scenario() -> Scenario:
    """The contact accepts on the personal link (no sign-in): accepted once with its evidence, event and one receipt."""

    def expect(w: World) -> list[str]:
        mine = [r for r in _rows(w.direct, "Customers") if r["PartitionKey"] == f"c|{w.context['customer']}"]
        accepted = [r for r in mine if r["RowKey"] == f"t|{w.context['attestation']}" and r.get("status") == "Accepted"]
        evidence = [r for r in mine if r["RowKey"].startswith("a|") and r.get("action") == "attestation.accepted"]
        announced = [r for r in mine if r["RowKey"].startswith("e|") and r.get("type") == "agreement.attestationAccepted"]
        return (count(w, "accepted attestations", len(accepted), 1) + count(w, "evidence records", len(evidence), 1)
                + count(w, "attestationAccepted events", len(announced), 1) + count(w, "receipts", len(mailbox(w)), 1))

    return Scenario("accept attestation", _ask_attestation, _accept_on_page, expect)


def finalize_attestation_scenario() -> Scenario:
    """The partner creates the agreement from the accepted attestation (Idempotency-Key): one agreement, CustomerConfirmed."""

    def setup(w: World) -> None:
        _ask_attestation(w)
        assert _accept_on_page(w).status_code == 200
        _deliver(w)

    def act(w: World) -> Any:
        cid = w.context["customer"]
        return _post(attest_fn.attest_customer_agreement, f"customers/{cid}/agreements", w.token(),
                     {"type": "MicrosoftCustomerAgreement", "attestationId": w.context["attestation"]}, "key-finalize", {"customerId": cid})

    def expect(w: World) -> list[str]:
        mine = [r for r in _rows(w.direct, "Customers") if r["PartitionKey"] == f"c|{w.context['customer']}"]
        agreements = [r for r in mine if r["RowKey"].startswith("g|") and r.get("how") == "CustomerConfirmed"]
        finalized = [r for r in mine if r["RowKey"] == f"t|{w.context['attestation']}" and r.get("status") == "Finalized"]
        return count(w, "agreements", len(agreements), 1) + count(w, "finalized attestations", len(finalized), 1)

    return Scenario("finalize attestation", setup, act, expect, success=201)
def _company_with_colleague(w: World) -> None:
    """Hanna's company (she is its Account manager, p-direct its reseller with DAP) and Ola, a colleague who joined it."""
    _setup_invitation(w)
    resp = pages.create_company(form_request("companies", _company_form(w), session_header(email=w.email("hanna"))))
    assert resp.status_code == 303, resp.get_body()
    cid = resp.headers["Location"].split("/")[3]
    body = _invitation_body(w.email("ola"), kind="CompanyUser", customerId=cid, roles=["ReportViewer"])
    created = _post(invite_fn.create_invitation, "invitations", w.token(), body, None)
    assert created.status_code == 201, created.get_body()
    _deliver(w)  # her email is sent before she accepts, as in life
    form = {"csrf": CSRF, "invitationId": link_hash(json_of(created)["id"])}
    assert pages.accept_invitation(form_request("companies/accept", form, session_header(email=w.email("ola")))).status_code == 303
    w.context["customer"] = cid


def _customer_rows(w: World) -> list[dict[str, Any]]:
    return [r for r in _rows(w.direct, "Customers") if r["PartitionKey"] == f"c|{w.context['customer']}"]


def remove_user_scenario() -> Scenario:
    """The Account manager removes a colleague with the users page's form; the browser sends the same form again after a 503."""

    def setup(w: World) -> None:
        _company_with_colleague(w)
        w.context["version"] = user_version(found(CustomerStore(w.direct).user(w.context["customer"], w.email("ola"))))

    def act(w: World) -> Any:
        cid = w.context["customer"]
        form = {"csrf": CSRF, "email": w.email("ola"), "version": w.context["version"]}
        return company_functions.remove_user(form_request(f"companies/{cid}/users/remove", form, session_header(email=w.email("hanna")),
                                                          route_params={"companyId": cid}))

    def expect(w: World) -> list[str]:
        rows, ola = _customer_rows(w), w.email("ola")
        users = [r for r in rows if r["RowKey"] == f"u|{ola}"]
        gone = [r for r in rows if r["RowKey"] == f"x|{ola}"]
        audited = [r for r in rows if r["RowKey"].startswith("a|") and r.get("action") == "user.removed"]
        return (count(w, "removed users still users", len(users), 0) + count(w, "removal records", len(gone), 1)
                + count(w, "user.removed audit records", len(audited), 1))

    return Scenario("remove user", setup, act, expect)


def remove_admin_rights_scenario() -> Scenario:
    """The company's Account manager removes the partner's DAP: one change, one audit record, one event, and exactly one
    email to each side (queued before the commit, sent once the commit's audit record is there)."""

    def setup(w: World) -> None:
        PartnerRepository(w.direct).save(Partner(id="p-direct", name="Contoso Partner", type=PartnerType.DIRECT,
                                                 contact_email=w.email("partner")))
        _company_with_colleague(w)
        w.context["version"] = relationship_version(found(CustomerStore(w.direct).relationship(w.context["customer"], "p-direct")))

    def act(w: World) -> Any:
        cid = w.context["customer"]
        form = {"csrf": CSRF, "partnerId": "p-direct", "version": w.context["version"]}
        return company_functions.remove_partner_admin_rights(form_request(f"companies/{cid}/partners/remove-admin-rights", form,
                                                                          session_header(email=w.email("hanna")),
                                                                          route_params={"companyId": cid}))

    def expect(w: World) -> list[str]:
        time.sleep(partner_rights.COMMIT_DELAY + 0.5)  # its message becomes visible a moment after the change
        _deliver(w)
        rows = _customer_rows(w)
        [rel] = [r for r in rows if r["RowKey"] == "r|p-direct"]
        out = [] if '"active":false' in str(rel.get("dap")).replace(" ", "") else ["lost: DAP still active"]
        audited = [r for r in rows if r["RowKey"].startswith("a|") and r.get("action") == "relationship.adminRightsRemovedByCustomer"]
        announced = [r for r in rows if r["RowKey"].startswith("e|") and r.get("type") == "relationship.adminRightsRemovedByCustomer"]
        mails = [m for m in mailbox(w) if "admin rights" in m.get("subject", "")]
        to_partner = [m for m in mails if any(t["address"] == w.email("partner") for t in m["to"])]
        return (out + count(w, "DAP removal audit records", len(audited), 1) + count(w, "DAP removal events", len(announced), 1)
                + count(w, "emails to the partner", len(to_partner), 1) + count(w, "emails to either side", len(mails), 2))

    return Scenario("remove admin rights", setup, act, expect)


def scenarios(bulk: int = 1000) -> list[Scenario]:
    return [create_scenario(), _change_scenario("resend", "resend", 2, "PendingAcceptance"),
            _change_scenario("revoke", "revoke", 1, "Revoked"), change_invitee_scenario(), create_company_scenario(),
            accept_relationship_scenario(), attest_scenario(), direct_acceptance_scenario(), update_contact_scenario(),
            verify_domain_scenario(), delivery_report_scenario(), opened_scenario(), accept_attestation_scenario(),
            finalize_attestation_scenario(), remove_user_scenario(), remove_admin_rights_scenario(),
            bulk_scenario(bulk, deliver=bulk <= 100)]


def summarise(outcomes: list[Outcome]) -> dict[str, int]:
    text = [o.verdict for o in outcomes]
    return {"runs": len(outcomes), "lost": sum("lost" in t for t in text), "doubled": sum("doubled" in t for t in text),
            "stuck": sum("stuck" in t for t in text), "bad answers": sum("answer " in t for t in text)}


def as_json(outcomes: list[Outcome]) -> str:
    return json.dumps([o.__dict__ | {"verdict": o.verdict} for o in outcomes], indent=1)
