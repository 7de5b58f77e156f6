"""The authorization matrix: every partner route x every kind of caller, every customer page x every kind of visitor.

Each cell's expected status is in a table below and every cell is asserted, on real storage (Azurite), each write cell
in a world of its own. The partner world: a customer created by the indirect reseller `p-reseller` (so `p-provider` is
its IndirectProvider), which `p-direct` also serves as Reseller with DAP, `p-gone` served until its relationship was
removed (it invited a company user while it served), and `p-other` never served; `t-unknown` is a tenant of the partners'
identity provider that is not a registered partner. The `replay` column is a SalesAgent of `p-direct` sending, with the
same Idempotency-Key, the request an AdminAgent of `p-direct` just made (GET routes: the SalesAgent's own request).
The page world: company A (Hanna, its first user), company B (Bob) and pending invitations for Ivy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest

from accept_invite import companies
from accept_invite import company_functions as company_pages
from accept_invite import domain_functions as domain_pages
from accept_invite import functions as pages
from accept_invite.company_form import prefill
from accept_invite.company_users import version_of as user_version
from attest_agreement import functions as customers_fn
from attest_agreement.api_models import RemoveRelationshipIn
from attest_agreement.attestation_models import AttestationRequestIn
from attest_agreement.partner_rights import version_of as relationship_version
from attest_agreement.repository import CustomerStore, CustomerUnitOfWork
from attest_agreement.service import index_partner_lists, join_relationship, remove_relationship, request_attestation
from company_domains import service as domains
from company_domains.domains import txt_value
from company_domains.repository import DomainClaims
from invite_user import functions as invitations_fn
from invite_user import service
from operations import functions as operations_fn
from partners import functions as partners_fn
from partners.registry import Partner, PartnerRepository, PartnerType
from shared.clock import utc_now
from shared.partner_auth import Caller
from tests.integration.test_attest_customers import create
from tests.support.accept_invite import create_company, form_request, get_request, invite, session_header, subject_for
from tests.support.context import ctx_of
from tests.support.expect import found
from tests.support.http import build_request
from tests.support.partners import AUDIENCE, ISSUER
from webhooks import functions as webhooks_fn
from webhooks import service as webhooks_service
from webhooks.api_models import NewSubscription

COLUMNS = ("none", "expired", "audience", "alg-none", "other", "removed", "sales", "admin", "reseller", "provider", "pa-other",
           "unregistered", "replay")


def _tokens(token: Callable[..., str]) -> dict[str, str | None]:
    now = int(utc_now().timestamp())
    unsigned = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "tid": "p-direct", "roles": ["AdminAgent"], "iat": now, "exp": now + 600},
                          "", algorithm="none")  # alg none takes no key: PyJWT reads "" as none
    return {
        "none": None,
        "expired": token("p-direct", lifetime_seconds=-3600),
        "audience": token("p-direct", audience="api://someone-else"),
        "alg-none": f"Bearer {unsigned}",
        "other": token("p-other"),
        "removed": token("p-gone"),
        "sales": token("p-direct", roles=("SalesAgent",)),
        "admin": token("p-direct"),
        "reseller": token("p-reseller"),
        "provider": token("p-provider"),
        "pa-other": token("p-direct", roles=("PlatformAdmin",)),
        "unregistered": token("t-unknown"),
        "replay": token("p-direct", roles=("SalesAgent",)),
    }


@dataclass
class World:
    customer_id: str
    link_id: str  # an invitation of p-direct's
    tokens: dict[str, str | None] = field(default_factory=dict)
    subscription_id: str = ""  # a webhook subscription of p-direct's
    invitation_etag: str = ""  # the ETag of that invitation (If-Match of a change)
    gone_link_id: str = ""  # the CompanyUser invitation p-gone made while it served the customer
    attestation_id: str = ""  # an attestation of p-direct's for the customer (the customer confirms it itself)


@pytest.fixture
def build_world(storage, partner_tokens, fixed_clock) -> Callable[[], World]:
    repo = PartnerRepository(storage)
    repo.save(Partner(id="p-other", name="Other Partner", type=PartnerType.DIRECT))
    repo.save(Partner(id="p-gone", name="Gone Partner", type=PartnerType.DIRECT))
    tokens = _tokens(partner_tokens)
    subscription: list[str] = []

    def build() -> World:
        cid = create(partner_tokens("p-reseller"))["customer"]["id"]
        uow = CustomerUnitOfWork(storage, cid)
        now = utc_now()
        for pid in ("p-direct", "p-gone"):
            join_relationship(uow, found(repo.find(pid)), "matrix setup", now)
        uow.commit()
        index_partner_lists(ctx_of(storage), cid, "Contoso Berlin GmbH")
        gone = Caller(partner_id="p-gone", roles=frozenset({"AdminAgent"}), name="G", email="g@gone.example", subject="g")
        _, gone_link_id = invite(storage, gone, email="neu@contoso.de", kind="CompanyUser", customerId=cid, roles=["AccountViewer"])
        remove_relationship(ctx_of(storage), gone, cid, RemoveRelationshipIn.model_validate({"goodFaithDeclaration": True}))
        admin = Caller(partner_id="p-direct", roles=frozenset({"AdminAgent"}), name="Anna", email="anna@partner.example", subject="a")
        _, link_id = invite(storage, admin)
        if not subscription:  # one per test: a partner may hold only a few, and no cell depends on a fresh one
            body = NewSubscription.model_validate({"url": HOOK_URL, "events": ["invitation.created"]})
            subscription.append(webhooks_service.create(ctx_of(storage), admin, body).id)
        attestation = request_attestation(ctx_of(storage), admin, cid, AttestationRequestIn.model_validate(
            {"contact": {"firstName": "Greta", "lastName": "Maier", "email": "greta@contoso.de"}, "companyName": "Contoso",
             "sendEmail": False}))
        return World(cid, link_id, tokens, subscription[0], service.get(ctx_of(storage), admin, link_id)[1], gone_link_id,
                     attestation.id)

    return build


COMPANY_USER = {"email": "neu@contoso.de", "firstName": "Neu", "lastName": "Nutzer", "language": "de", "countryRegion": "DE",
                "roles": ["AccountViewer"]}
ASK = {"email": "greta@contoso.de", "firstName": "Greta", "lastName": "Maier", "companyName": "Contoso Berlin GmbH",
       "countryRegion": "DE"}


@dataclass(frozen=True)
class Route:
    handler: Any
    method: str
    path: str
    body: Callable[[World], Any] | None = None
    params: dict[str, str] | None = None
    route_params: Callable[[World], dict[str, str]] = lambda w: {}
    headers: Callable[[World], dict[str, str]] = lambda w: {}


def _customer(w: World) -> dict[str, str]:
    return {"customerId": w.customer_id}


def _invitation(w: World) -> dict[str, str]:
    return {"id": w.link_id}


def _gone_invitation(w: World) -> dict[str, str]:
    return {"id": w.gone_link_id}


def _subscription(w: World) -> dict[str, str]:
    return {"id": w.subscription_id}


# Loopback is allowed for webhooks in tests (WEBHOOKS_ALLOW_LOOPBACK); nothing listens there, nothing is delivered in a cell.
HOOK_URL = "https://127.0.0.1:9/matrix-hook"


PARTNER_ROUTES: dict[str, Route] = {
    "create_invitation": Route(invitations_fn.create_invitation, "POST", "invitations",
                               lambda w: {**COMPANY_USER, "kind": "CompanyUser", "customerId": w.customer_id}),
    "create_invitations_bulk": Route(invitations_fn.create_invitations_bulk, "POST", "invitations/bulk",
                                     lambda w: {"invitations": [{**COMPANY_USER, "kind": "CompanyUser", "customerId": w.customer_id}]}),
    "list_invitations": Route(invitations_fn.list_invitations, "GET", "invitations"),
    "get_invitation": Route(invitations_fn.get_invitation, "GET", "invitations/x", route_params=_invitation),
    "draft_invitation_email": Route(invitations_fn.draft_invitation_email, "GET", "invitations/x/draft-email", route_params=_invitation),
    "invitation_trail": Route(invitations_fn.invitation_trail, "GET", "invitations/x/trail", route_params=_invitation),
    "invitation_funnel": Route(invitations_fn.invitation_funnel, "GET", "invitations/funnel",
                               params={"from": "2026-11-01", "to": "2026-11-30"}),
    "resend_invitation": Route(invitations_fn.resend_invitation, "POST", "invitations/x/resend", route_params=_invitation),
    "revoke_invitation": Route(invitations_fn.revoke_invitation, "POST", "invitations/x/revoke", route_params=_invitation),
    "register_partner": Route(partners_fn.register_partner, "POST", "partners", lambda w: {"id": "new-one", "name": "N", "type": "Direct"}),
    "list_partners": Route(partners_fn.list_partners, "GET", "partners"),
    "create_customer": Route(customers_fn.create_customer, "POST", "customers", lambda w: {
        "name": "New GmbH", "country": "DE", "primaryContact": {"firstName": "N", "lastName": "N", "email": "n@new.example"}}),
    "list_customers": Route(customers_fn.list_customers, "GET", "customers"),
    "get_customer": Route(customers_fn.get_customer, "GET", "customers/x", route_params=_customer),
    "attest_customer_agreement": Route(customers_fn.attest_customer_agreement, "POST", "customers/x/agreements", lambda w: {
        "type": "MicrosoftCustomerAgreement", "dateAgreed": "2026-11-20",
        "primaryContact": {"firstName": "Greta", "lastName": "Maier", "email": "greta@contoso.de"}},
        route_params=_customer),
    "get_customer_agreement": Route(customers_fn.get_customer_agreement, "GET", "customers/x/agreements", route_params=_customer),
    "invite_to_accept_agreement": Route(customers_fn.invite_to_accept_agreement, "POST", "customers/x/agreement-invitations",
                                        lambda w: {}, route_params=_customer),
    "direct_signing_status": Route(customers_fn.direct_signing_status, "GET", "customers/x/direct-signing-status", route_params=_customer),
    "purchase_eligibility": Route(customers_fn.purchase_eligibility, "GET", "customers/x/purchase-eligibility", route_params=_customer),
    "request_reseller_relationship": Route(customers_fn.request_reseller_relationship, "POST", "customers/x/relationship-requests",
                                           lambda w: ASK, route_params=_customer),
    "get_reseller_relationship": Route(customers_fn.get_reseller_relationship, "GET", "customers/x/relationship", route_params=_customer),
    "remove_reseller_relationship": Route(customers_fn.remove_reseller_relationship, "DELETE", "customers/x/relationship",
                                          lambda w: {"goodFaithDeclaration": True}, route_params=_customer),
    "customer_audit": Route(customers_fn.customer_audit, "GET", "customers/x/audit", route_params=_customer),
    "invite_colleague": Route(pages.invite_colleague, "POST", "companies/x/invitations", lambda w: COMPANY_USER,
                              route_params=lambda w: {"companyId": w.customer_id}),
    "create_subscription": Route(webhooks_fn.create_subscription, "POST", "webhooks",
                                 lambda w: {"url": HOOK_URL, "events": ["invitation.accepted"]}),
    "list_subscriptions": Route(webhooks_fn.list_subscriptions, "GET", "webhooks"),
    "get_subscription": Route(webhooks_fn.get_subscription, "GET", "webhooks/x", route_params=_subscription),
    "update_subscription": Route(webhooks_fn.update_subscription, "PATCH", "webhooks/x", lambda w: {"enabled": False},
                                 route_params=_subscription),
    "delete_subscription": Route(webhooks_fn.delete_subscription, "DELETE", "webhooks/x", route_params=_subscription),
    "rotate_secret": Route(webhooks_fn.rotate_secret, "POST", "webhooks/x/rotate-secret", route_params=_subscription),
    "test_subscription": Route(webhooks_fn.test_subscription, "POST", "webhooks/x/test", route_params=_subscription),
    "list_deliveries": Route(webhooks_fn.list_deliveries, "GET", "webhooks/x/deliveries", route_params=_subscription),
    "read_events": Route(webhooks_fn.read_events, "GET", "events"),
    "update_primary_contact": Route(customers_fn.update_primary_contact, "PATCH", "customers/x/primary-contact", lambda w: {
        "firstName": "Greta", "lastName": "Maier-Neu", "email": "greta.neu@contoso.de"}, route_params=_customer,
        headers=lambda w: {"If-Match": "*"}),
    "request_agreement_attestation": Route(customers_fn.request_agreement_attestation, "POST", "customers/x/agreement-attestations",
                                           lambda w: {"contact": {"firstName": "Greta", "lastName": "Maier", "email": "greta@contoso.de"},
                                                      "companyName": "Contoso", "sendEmail": False}, route_params=_customer),
    "get_agreement_attestation": Route(customers_fn.get_agreement_attestation, "GET", "customers/x/agreement-attestations/y",
                                       route_params=lambda w: {"customerId": w.customer_id, "attestationId": w.attestation_id}),
    "agreement_pipeline": Route(customers_fn.agreement_pipeline, "GET", "agreement-attestations", params={"status": "Pending"}),
    "list_customer_users": Route(customers_fn.list_customer_users, "GET", "customers/x/users", route_params=_customer),
    "change_invitee": Route(invitations_fn.change_invitee, "PATCH", "invitations/x", lambda w: {"email": "nora@contoso.example"},
                            route_params=_invitation, headers=lambda w: {"If-Match": w.invitation_etag}),
    # A partner that removed its relationship holds none of the company's invitations, even one it made (issue 19 item 5).
    "get_invitation (removed relationship)": Route(invitations_fn.get_invitation, "GET", "invitations/x", route_params=_gone_invitation),
    "revoke_invitation (removed relationship)": Route(invitations_fn.revoke_invitation, "POST", "invitations/x/revoke",
                                                      route_params=_gone_invitation),
}

# none expired audience alg-none | other removed | sales admin | reseller provider | pa-other | unregistered replay
# A partner's own invitations are "not found" to other partners; another partner's customer is "not found" (404), never 403;
# a role or partner type the row does not allow is 403; PlatformAdmin from another tenant counts as no role at all; a tenant
# that is not a registered partner is 403 on every route; a replay answers a SalesAgent only what it may do itself: a bulk
# of company users an AdminAgent sent is 403 to it (a fresh one would be 200 with every row refused).
UNAUTHENTICATED = (401, 401, 401, 401)
EXPECTED: dict[str, tuple[int, ...]] = {
    "create_invitation":             (*UNAUTHENTICATED, 404, 404, 403, 201, 201, 403, 403, 403, 403),
    "create_invitations_bulk":       (*UNAUTHENTICATED, 200, 200, 200, 200, 200, 200, 403, 403, 403),
    "list_invitations":              (*UNAUTHENTICATED, 200, 200, 200, 200, 200, 200, 403, 403, 200),
    "get_invitation":                (*UNAUTHENTICATED, 404, 404, 200, 200, 404, 404, 403, 403, 200),
    "draft_invitation_email":        (*UNAUTHENTICATED, 404, 404, 200, 200, 404, 404, 403, 403, 200),
    "invitation_trail":              (*UNAUTHENTICATED, 404, 404, 200, 200, 404, 404, 403, 403, 200),
    "invitation_funnel":             (*UNAUTHENTICATED, 200, 200, 200, 200, 200, 200, 403, 403, 200),  # each partner its own counts
    "resend_invitation":             (*UNAUTHENTICATED, 404, 404, 200, 200, 404, 404, 403, 403, 200),
    "revoke_invitation":             (*UNAUTHENTICATED, 404, 404, 200, 200, 404, 404, 403, 403, 200),
    "register_partner":              (*UNAUTHENTICATED, 403, 403, 403, 403, 403, 403, 403, 403, 403),
    "list_partners":                 (*UNAUTHENTICATED, 403, 403, 403, 403, 403, 403, 403, 403, 403),
    "create_customer":               (*UNAUTHENTICATED, 201, 201, 201, 201, 201, 201, 403, 403, 201),
    "list_customers":                (*UNAUTHENTICATED, 200, 200, 200, 200, 200, 200, 403, 403, 200),
    "get_customer":                  (*UNAUTHENTICATED, 404, 404, 200, 200, 200, 200, 403, 403, 200),
    "attest_customer_agreement":     (*UNAUTHENTICATED, 404, 404, 201, 201, 403, 201, 403, 403, 201),
    "get_customer_agreement":        (*UNAUTHENTICATED, 404, 404, 200, 200, 200, 200, 403, 403, 200),
    "invite_to_accept_agreement":    (*UNAUTHENTICATED, 404, 404, 201, 201, 201, 201, 403, 403, 201),
    "direct_signing_status":         (*UNAUTHENTICATED, 404, 404, 200, 200, 200, 200, 403, 403, 200),
    "purchase_eligibility":          (*UNAUTHENTICATED, 404, 404, 200, 200, 200, 200, 403, 403, 200),
    "request_reseller_relationship": (*UNAUTHENTICATED, 201, 201, 409, 409, 409, 409, 403, 403, 409),
    "get_reseller_relationship":     (*UNAUTHENTICATED, 404, 200, 200, 200, 200, 200, 403, 403, 200),
    "remove_reseller_relationship":  (*UNAUTHENTICATED, 404, 404, 200, 200, 200, 200, 403, 403, 200),
    "customer_audit":                (*UNAUTHENTICATED, 404, 404, 200, 200, 200, 200, 403, 403, 200),
    "invite_colleague":              (*UNAUTHENTICATED, 404, 404, 403, 201, 201, 403, 403, 403, 403),
    # A webhook subscription is the partner's own: another partner's is "not found"; only AdminAgents manage them.
    "create_subscription":           (*UNAUTHENTICATED, 201, 201, 403, 201, 201, 201, 403, 403, 403),
    "list_subscriptions":            (*UNAUTHENTICATED, 200, 200, 403, 200, 200, 200, 403, 403, 403),
    "get_subscription":              (*UNAUTHENTICATED, 404, 404, 403, 200, 404, 404, 403, 403, 403),
    "update_subscription":           (*UNAUTHENTICATED, 404, 404, 403, 200, 404, 404, 403, 403, 403),
    "delete_subscription":           (*UNAUTHENTICATED, 404, 404, 403, 204, 404, 404, 403, 403, 403),
    "rotate_secret":                 (*UNAUTHENTICATED, 404, 404, 403, 200, 404, 404, 403, 403, 403),
    "test_subscription":             (*UNAUTHENTICATED, 404, 404, 403, 200, 404, 404, 403, 403, 403),
    "list_deliveries":               (*UNAUTHENTICATED, 404, 404, 403, 200, 404, 404, 403, 403, 403),
    "read_events":                   (*UNAUTHENTICATED, 200, 200, 200, 200, 200, 200, 403, 403, 200),
    "update_primary_contact":        (*UNAUTHENTICATED, 404, 404, 200, 200, 200, 200, 403, 403, 200),
    "change_invitee":                (*UNAUTHENTICATED, 404, 404, 200, 200, 404, 404, 403, 403, 200),
    # As attesting: the provider attests for its indirect reseller's customer. An attestation is its partner's own.
    "request_agreement_attestation": (*UNAUTHENTICATED, 404, 404, 201, 201, 403, 201, 403, 403, 201),
    "get_agreement_attestation":     (*UNAUTHENTICATED, 404, 404, 200, 200, 404, 404, 403, 403, 200),
    "agreement_pipeline":            (*UNAUTHENTICATED, 200, 200, 200, 200, 200, 200, 403, 403, 200),
    "get_invitation (removed relationship)":    (*UNAUTHENTICATED, 404, 404, 404, 404, 404, 404, 403, 403, 404),
    "revoke_invitation (removed relationship)": (*UNAUTHENTICATED, 404, 404, 404, 404, 404, 404, 403, 403, 404),
    # Names and roles of the customer's people: an AdminAgent whose active relationship holds DAP (the provider's does too).
    "list_customer_users":           (*UNAUTHENTICATED, 404, 404, 403, 200, 200, 200, 403, 403, 403),
}


def _partner_route_names() -> set[str]:
    from shared.endpoints import ADMIN, CONTRACTS, PARTNER, SESSION_OR_PARTNER

    return {c.function for c in CONTRACTS if c.auth in (PARTNER, ADMIN, SESSION_OR_PARTNER)}


def test_the_table_covers_every_partner_route():
    assert set(EXPECTED) == set(PARTNER_ROUTES)
    assert {name.split(" (")[0] for name in EXPECTED} == _partner_route_names()
    assert all(len(row) == len(COLUMNS) for row in EXPECTED.values())


@pytest.mark.parametrize("route", sorted(PARTNER_ROUTES))
def test_partner_route_matrix(route, build_world):
    spec = PARTNER_ROUTES[route]
    seen: dict[str, int] = {}
    shared = build_world() if spec.method == "GET" else None
    for column in COLUMNS:
        world = shared or build_world()  # every write cell on a world of its own: one cell's write never decides another
        token = world.tokens[column]
        headers = {**spec.headers(world), **({"Authorization": token} if token else {})}
        body = spec.body(world) if spec.body else None

        def send(headers: dict[str, str], body: Any = body, world: World = world) -> Any:
            return spec.handler(build_request(spec.method, spec.path, body=body, headers=headers, params=spec.params,
                                              route_params=spec.route_params(world)))

        if column == "replay" and spec.method != "GET":
            key = {"Idempotency-Key": f"matrix-{route}"}
            send({**headers, **key, "Authorization": world.tokens["admin"]})  # the AdminAgent's request, answered and stored
            headers = {**headers, **key}
        resp = send(headers)
        seen[column] = resp.status_code
        if resp.status_code >= 400:
            assert resp.mimetype == "application/problem+json", (route, column, resp.get_body())
    assert seen == dict(zip(COLUMNS, EXPECTED[route], strict=True)), route


# -- customer pages ---------------------------------------------------------------------------------------------

VISITORS = ("no-session", "other-company", "invitee")
HANNA, BOB, IVY = "hanna@contoso.example", "bob@fabrikam.example", "ivy@contoso.example"
MAX = "max@contoso.example"  # at company A's verified domain, asked to join
OLA = "ola@contoso.example"  # a second user of company A
CSRF = "csrf-token-for-tests"


@dataclass
class PageWorld:
    company: str  # company A: Hanna is its first user (the invitee who created it)
    onboarding: str  # a pending CustomerOnboarding invitation for Ivy (link hash)
    joining: str  # a pending CompanyUser invitation for Ivy into company A
    agreement: str  # a pending AgreementAcceptance invitation for Hanna about company A
    company_form: dict[str, str]  # the company data the seller registered, as the form shows it
    versions: dict[str, str] = field(default_factory=dict)  # what company A's forms were rendered from (users, partners)


@pytest.fixture
def build_pages(storage, partner_tokens, fixed_clock) -> Callable[[], PageWorld]:
    agent = Caller(partner_id="p-direct", roles=frozenset({"AdminAgent"}), name="Anna", email="anna@partner.example", subject="a")

    def company_of(email: str) -> str:
        inv, _ = invite(storage, agent, email=email)
        return create_company(storage, inv, companies.Person(email, "", subject_for(email)))

    def build() -> PageWorld:
        a = company_of(HANNA)
        company_of(BOB)
        onboarding, _ = invite(storage, agent, email=IVY)
        joining, _ = invite(storage, agent, email=IVY, kind="CompanyUser", customerId=a, roles=["AccountViewer"])
        agreement, _ = invite(storage, agent, email=HANNA, kind="AgreementAcceptance", customerId=a, roles=[])
        # Company A verified contoso.example (by its TXT record) and Max asked to join through it. Each world
        # has its own company A on the same storage: the previous world's claim of the domain is let go first.
        claim = DomainClaims(storage).get("contoso.example")
        if claim is not None:
            DomainClaims(storage).release(claim)
        token = domains.add_domain(ctx_of(storage), a, domains.Person(HANNA, subject_for(HANNA)), "contoso.example").token
        domains.verify_domain(ctx_of(storage), a, domains.Person(HANNA, subject_for(HANNA)), "contoso.example",
                              lookup=lambda name: [txt_value(token)])  # its TXT record (the DNS server's part: test_company_domains)
        domains.join(ctx_of(storage), a, domains.Person(MAX, subject_for(MAX), "Max Muster"))
        # Ola is a second user of company A (so Hanna may remove her); p-direct is its reseller with DAP.
        ola, _ = invite(storage, agent, email=OLA, kind="CompanyUser", customerId=a, roles=["ReportViewer"])
        companies.accept_existing(ctx_of(storage), ola.link_hash, companies.Person(OLA, "", subject_for(OLA)))
        store = CustomerStore(storage)
        versions = {"ola": user_version(found(store.user(a, OLA))), "p-direct": relationship_version(found(store.relationship(a, "p-direct")))}
        return PageWorld(a, onboarding.link_hash, joining.link_hash, agreement.link_hash, dict(prefill(onboarding.company)), versions)

    return build


@dataclass(frozen=True)
class Page:
    handler: Any
    method: str
    path: str
    invitee: str  # whose session is "the invitee's" on this page
    params: Callable[[PageWorld], dict[str, str]] = lambda w: {}
    form: Callable[[PageWorld], dict[str, Any]] | None = None
    route_params: Callable[[PageWorld], dict[str, str]] = lambda w: {}


def _company(w: PageWorld) -> dict[str, str]:
    return {"companyId": w.company}


CUSTOMER_PAGES: dict[str, Page] = {
    "new_company_form": Page(pages.new_company_form, "GET", "companies/new", IVY, lambda w: {"invitationId": w.onboarding}),
    "validate_company": Page(pages.validate_company, "POST", "companies/validate", IVY, form=lambda w: {**w.company_form, "csrf": CSRF}),
    "create_company": Page(pages.create_company, "POST", "companies", IVY,
                           form=lambda w: {**w.company_form, "csrf": CSRF, "invitationId": w.onboarding}),
    "confirm_invitation": Page(pages.confirm_invitation, "GET", "companies/accept", IVY, lambda w: {"invitationId": w.joining}),
    "accept_invitation": Page(pages.accept_invitation, "POST", "companies/accept", IVY,
                              form=lambda w: {"csrf": CSRF, "invitationId": w.joining}),
    "company_page": Page(pages.company_page, "GET", "companies/x/welcome", HANNA,
                         route_params=lambda w: {"companyId": w.company, "page": "welcome"}),
    "colleague_invitation_form": Page(pages.colleague_invitation_form, "GET", "companies/x/invitations/new", HANNA, route_params=_company),
    "invite_colleague": Page(pages.invite_colleague, "POST", "companies/x/invitations", HANNA, route_params=_company, form=lambda w: {
        "csrf": CSRF, "submissionId": "s-1", "email": "max@contoso.example", "firstName": "Max", "lastName": "Muster",
        "language": "de", "countryRegion": "DE", "roles": "AccountViewer"}),
    "agreement_page": Page(pages.agreement_page, "GET", "agreements/accept", HANNA, lambda w: {"invitationId": w.agreement}),
    "accept_agreement": Page(pages.accept_agreement, "POST", "agreements/accept", HANNA,
                             form=lambda w: {"csrf": CSRF, "invitationId": w.agreement, "accept": "yes"}),
    "sign_out": Page(pages.sign_out, "POST", "auth/signout", HANNA, form=lambda w: {"csrf": CSRF}),
    "domains_page": Page(domain_pages.domains_page, "GET", "companies/x/domains", HANNA, route_params=_company),
    "add_domain": Page(domain_pages.add_domain, "POST", "companies/x/domains", HANNA, route_params=_company,
                       form=lambda w: {"csrf": CSRF, "domain": "contoso-group.example"}),
    "verify_domain": Page(domain_pages.verify_domain, "POST", "companies/x/domains/verify", HANNA, route_params=_company,
                          form=lambda w: {"csrf": CSRF, "domain": "contoso.example"}),
    "remove_domain": Page(domain_pages.remove_domain, "POST", "companies/x/domains/remove", HANNA, route_params=_company,
                          form=lambda w: {"csrf": CSRF, "domain": "contoso.example"}),
    "set_joining": Page(domain_pages.set_joining, "POST", "companies/x/joining", HANNA, route_params=_company,
                        form=lambda w: {"csrf": CSRF, "joinAutomatically": "yes"}),
    "decide_join_request": Page(domain_pages.decide_join_request, "POST", "companies/x/join-requests", HANNA, route_params=_company,
                                form=lambda w: {"csrf": CSRF, "email": MAX, "decision": "approve"}),
    "ask_to_join": Page(domain_pages.ask_to_join, "POST", "companies/join", IVY, form=lambda w: {"csrf": CSRF, "companyId": w.company}),
    "change_user_roles": Page(company_pages.change_user_roles, "POST", "companies/x/users/roles", HANNA, route_params=_company,
                              form=lambda w: {"csrf": CSRF, "email": OLA, "version": w.versions["ola"], "roles": "AccountViewer"}),
    "remove_user": Page(company_pages.remove_user, "POST", "companies/x/users/remove", HANNA, route_params=_company,
                        form=lambda w: {"csrf": CSRF, "email": OLA, "version": w.versions["ola"]}),
    "resend_company_invitation": Page(company_pages.resend_company_invitation, "POST", "companies/x/invitations/resend", HANNA,
                                      route_params=_company, form=lambda w: {"csrf": CSRF, "reference": w.joining}),
    "revoke_company_invitation": Page(company_pages.revoke_company_invitation, "POST", "companies/x/invitations/revoke", HANNA,
                                      route_params=_company, form=lambda w: {"csrf": CSRF, "reference": w.joining}),
    "company_partners_page": Page(company_pages.company_partners_page, "GET", "companies/x/partners", HANNA, route_params=_company),
    "remove_partner_admin_rights": Page(company_pages.remove_partner_admin_rights, "POST", "companies/x/partners/remove-admin-rights",
                                        HANNA, route_params=_company,
                                        form=lambda w: {"csrf": CSRF, "partnerId": "p-direct", "version": w.versions["p-direct"]}),
    "end_partner_relationship": Page(company_pages.end_partner_relationship, "POST", "companies/x/partners/end", HANNA,
                                     route_params=_company,
                                     form=lambda w: {"csrf": CSRF, "partnerId": "p-direct", "version": w.versions["p-direct"]}),
}

# no session | a user of another company (Bob) | the invitee (signed in as the address invited, or the company's own user)
PAGE_EXPECTED: dict[str, tuple[int, int, int]] = {
    "new_company_form":          (303, 403, 200),
    "validate_company":          (200, 200, 200),  # a stateless check of the form's fields: nothing to protect
    "create_company":            (403, 403, 303),
    "confirm_invitation":        (303, 403, 200),
    "accept_invitation":         (403, 403, 303),
    "company_page":              (401, 403, 200),
    "colleague_invitation_form": (401, 403, 200),
    "invite_colleague":          (403, 403, 201),  # a form POST without a session fails its CSRF check first
    "agreement_page":            (303, 403, 200),
    "accept_agreement":          (403, 403, 303),
    "sign_out":                  (200, 200, 200),
    "domains_page":              (401, 403, 200),
    "add_domain":                (403, 403, 200),
    "verify_domain":             (403, 403, 200),
    "remove_domain":             (403, 403, 200),
    "set_joining":               (403, 403, 200),
    "decide_join_request":       (403, 403, 200),
    "ask_to_join":               (403, 403, 303),  # Bob's address is at no domain company A verified
    "change_user_roles":         (403, 403, 200),
    "remove_user":               (403, 403, 200),
    "resend_company_invitation": (403, 403, 200),
    "revoke_company_invitation": (403, 403, 200),
    "company_partners_page":     (401, 403, 200),
    "remove_partner_admin_rights": (403, 403, 200),
    "end_partner_relationship":  (403, 403, 200),
}


def test_the_table_covers_every_customer_page():
    from shared.endpoints import CONTRACTS, SESSION

    session_pages = {c.function for c in CONTRACTS if c.auth == SESSION} | {"invite_colleague"}
    assert set(PAGE_EXPECTED) == set(CUSTOMER_PAGES) == session_pages


@pytest.mark.parametrize("name", sorted(CUSTOMER_PAGES))
def test_customer_page_matrix(name, build_pages):
    spec = CUSTOMER_PAGES[name]
    seen: dict[str, int] = {}
    shared = build_pages() if spec.form is None else None
    for visitor in VISITORS:
        world = shared or build_pages()
        headers = {} if visitor == "no-session" else session_header(BOB if visitor == "other-company" else spec.invitee)
        if spec.form is not None:
            req = form_request(spec.path, spec.form(world), headers, route_params=spec.route_params(world))
        else:
            req = get_request(spec.path, spec.params(world), headers, route_params=spec.route_params(world))
        seen[visitor] = spec.handler(req).status_code
    assert seen == dict(zip(VISITORS, PAGE_EXPECTED[name], strict=True)), name


# -- public routes: the same answer for everyone ------------------------------------------------------------------

PUBLIC_ROUTES = {"api_reference_page": ("docs", {}), "api_reference_asset": ("docs/redoc.standalone.js", {"name": "redoc.standalone.js"}),
                 "openapi_document": ("openapi.json", {})}


@pytest.mark.parametrize("name", sorted(PUBLIC_ROUTES))
def test_public_routes_answer_every_caller_alike(name, build_world):
    path, route_params = PUBLIC_ROUTES[name]
    world = build_world()
    seen = {}
    for column in COLUMNS:
        token = world.tokens[column]
        req = build_request("GET", path, headers={"Authorization": token} if token else {}, route_params=route_params)
        seen[column] = getattr(operations_fn, name)(req).status_code
    assert seen == dict.fromkeys(COLUMNS, 200), name
