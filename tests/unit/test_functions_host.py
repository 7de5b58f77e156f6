"""The local functions host routes like the Functions host does."""

import io

import pytest

from devhost.functions_host import FunctionHost, HttpRoute, resolve


def _route(template, methods=("GET",)):
    return HttpRoute("f", template, set(methods), "ANONYMOUS", "req", lambda req: None)


def test_route_parameters_and_literals():
    r = _route("invitations/{id}/resend")
    m = r.pattern.match("/invitations/abc-123/resend")
    assert m and m.group("id") == "abc-123"
    assert not r.pattern.match("/invitations/abc/other")
    assert r.pattern.match("/INVITATIONS/x/resend")  # routes are case-insensitive in Azure


def test_optional_and_constrained_parameters():
    r = _route("items/{id:guid}/{part?}")
    assert r.pattern.match("/items/1/")
    assert r.pattern.match("/items/1/two").group("part") == "two"


def test_setting_references_resolve(monkeypatch):
    monkeypatch.setenv("SOME_QUEUE", "q1")
    assert resolve("%SOME_QUEUE%-poison") == "q1-poison"
    assert resolve("%MISSING_SETTING%") == "%MISSING_SETTING%"


@pytest.fixture(scope="module")
def host():
    return FunctionHost()


def _call(host, method, path, body=b""):
    seen = {}

    def start_response(status, headers):
        seen["status"] = int(status.split()[0])
        seen["headers"] = dict(headers)

    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "localhost", "SERVER_PORT": "7071",
        "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)), "wsgi.url_scheme": "http",
    }
    out = b"".join(host.wsgi(environ, start_response))
    return seen["status"], seen["headers"], out


def test_every_registered_function_is_served(host):
    names = {r.name for r in host.routes} | {t[0] for t in host.timers} | {q[0] for q in host.queues}
    assert {"health", "create_invitation", "expire_invitations", "send_queued_email"} <= names
    # literal segments first: invitations/bulk must not be taken for invitations/{id}
    templates = [r.template for r in host.routes]
    assert templates.index("invitations/bulk") < templates.index("invitations/{id}")


def test_unknown_path_and_wrong_method(host):
    assert _call(host, "GET", "/api/no-such-thing")[0] == 404
    assert _call(host, "DELETE", "/api/health")[0] == 405


def test_head_returns_no_body(host, monkeypatch):
    monkeypatch.setenv("AzureWebJobsStorage", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
                       "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;")
    from shared.settings import reset_settings
    from shared.storage import set_storage

    reset_settings()
    set_storage(None)
    try:
        status, headers, body = _call(host, "HEAD", "/api/health")
    finally:
        set_storage(None)
        reset_settings()
    assert status == 503
    assert body == b""
    assert int(headers["Content-Length"]) > 0
