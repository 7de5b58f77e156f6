"""Helpers for the accept_invite tests: invitations made through the real invitations service, a stand-in
for the MSAL client (the browser test uses the real one), signed-in sessions and page bodies."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import azure.functions as func

from accept_invite import companies, sessions
from accept_invite.company_form import check, prefill
from invite_user import service
from invite_user.api_models import NewInvitation
from invite_user.invitations import Invitation, link_hash
from invite_user.repository import InvitationUnitOfWork
from shared.http import dump
from shared.partner_auth import Caller
from shared.storage import Storage
from tests.support.context import ctx_of

AGENT = Caller(partner_id="p-direct", roles=frozenset({"AdminAgent"}), name="Anna Agent", email="anna@partner.example", subject="anna")

COMPANY = {
    "name": "Contoso GmbH", "country": "DE", "vatNumber": "DE136695976", "phone": "+49 30 1234567", "website": "https://contoso.example",
    "address": {"line1": "Hauptstraße 1", "city": "Berlin", "postalCode": "10115", "country": "DE"},
}


def invite(storage: Storage, caller: Caller = AGENT, **fields: Any) -> tuple[Invitation, str]:
    """A stored invitation (and its link id), created as a partner would."""
    body = {"email": "hanna@contoso.example", "firstName": "Hanna", "lastName": "Schmidt", "language": "de", "countryRegion": "DE",
            "kind": "CustomerOnboarding", "company": COMPANY, "roles": ["ReportViewer"], **fields}
    created = dump(service.create(ctx_of(storage), caller, NewInvitation.model_validate(body)))
    inv = service.find(ctx_of(storage), link_hash(created["id"]))
    assert inv is not None
    return inv, created["id"]


def reload(storage: Storage, inv: Invitation) -> Invitation:
    found = service.find(ctx_of(storage), inv.link_hash)
    assert found is not None
    return found


def create_company(storage: Storage, inv: Invitation, person: companies.Person) -> str:
    """The invitee creates the company from the invitation's own company data (valid as the partner sent it); its id."""
    form, reasons = check(prefill(inv.company))
    assert form is not None, f"the invitation's company data does not pass the form: {reasons}"
    return companies.create_company(ctx_of(storage), inv.link_hash, person, form)


def etag_of(storage: Storage, inv: Invitation) -> str | None:
    """The ETag the invitation's row has now: it changes with every write."""
    uow = InvitationUnitOfWork(storage)
    found = uow.by_link(inv.link_hash)
    version = uow.version(found) if found is not None else None
    return version.etag if version else None


class FakeAuthClient:
    """Answers like MSAL's ConfidentialClientApplication for whoever `email` is set to."""

    def __init__(self, email: str = "hanna@contoso.example", name: str = "Hanna Schmidt") -> None:
        self.email = email
        self.name = name
        self.claims: dict[str, Any] = {"email_verified": True}  # what the provider adds (tests change it)
        self.started: list[dict[str, Any]] = []

    def initiate_auth_code_flow(self, scopes: list[str], **kwargs: Any) -> dict[str, Any]:
        self.started.append({"scopes": scopes, **kwargs})
        query = {k: v for k, v in kwargs.items() if k in ("state", "prompt", "login_hint", "redirect_uri")}
        return {"state": kwargs["state"], "redirect_uri": kwargs.get("redirect_uri"), "scope": scopes, "code_verifier": "v" * 43,
                "nonce": "n", "auth_uri": "https://idp.example/authorize?" + urlencode(query)}

    def acquire_token_by_auth_code_flow(self, flow: dict[str, Any], response: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if response.get("state") != flow["state"]:
            raise ValueError("state mismatch")
        return {"id_token_claims": {"iss": ISSUER, "email": self.email, "name": self.name, "sub": self.email, **self.claims},
                "access_token": "secret-token"}


ISSUER = "https://idp.example"


def subject_for(email: str) -> str:
    """The subject the FakeAuthClient's account of `email` signs in with."""
    return f"{ISSUER}|{email}"


def state_of(location: str) -> str:
    return parse_qs(urlparse(location).query)["state"][0]


def session_header(email: str = "hanna@contoso.example", name: str = "Hanna Schmidt", csrf: str = "csrf-token-for-tests",
                   lang: str | None = None, subject: str | None = None) -> dict[str, str]:
    """The Cookie header of a signed-in browser (with the language switcher's choice, if any)."""
    session = sessions.Session(csrf=csrf, email=email, name=name, subject=subject or subject_for(email))
    cookie = f"{sessions.cookie_name()}={sessions.encode(session)}"
    return {"cookie": cookie + (f"; lang={lang}" if lang else "")}


def form_request(path: str, form: dict[str, Any], headers: dict[str, str] | None = None,
                 route_params: dict[str, str] | None = None) -> func.HttpRequest:
    body = urlencode(form, doseq=True).encode()
    return func.HttpRequest(method="POST", url=f"http://localhost:7071/api/{path}", headers={
        "content-type": "application/x-www-form-urlencoded", **(headers or {})}, params={}, route_params=route_params or {}, body=body)


def get_request(path: str, params: dict[str, str] | None = None, headers: dict[str, str] | None = None, method: str = "GET",
                route_params: dict[str, str] | None = None) -> func.HttpRequest:
    query = urlencode(params or {})
    return func.HttpRequest(method=method, url=f"http://localhost:7071/api/{path}" + (f"?{query}" if query else ""),
                            headers={k.lower(): v for k, v in (headers or {}).items()}, params=params or {},
                            route_params=route_params or {}, body=b"")


def text_of(resp: func.HttpResponse) -> str:
    """The visible text of a page, whitespace collapsed (for asserting what a person reads)."""
    html = (resp.get_body() or b"").decode()
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace("&#39;", "'").replace("&amp;", "&")


def cookies_set(resp: func.HttpResponse) -> list[str]:
    return resp.headers.get_all("Set-Cookie") if hasattr(resp.headers, "get_all") else []
