"""The local functions host routes like the Functions host does."""

import io

import azure.functions as func
import pytest

from devhost.functions_host import FunctionHost, HttpRoute, LocalKeys, local_keys, resolve

GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def _route(template, methods=("GET",)):
    return HttpRoute("f", template, set(methods), "ANONYMOUS", "req", lambda req: None)


def test_route_parameters_and_literals():
    r = _route("invitations/{id}/resend")
    assert r.match("/invitations/abc-123/resend") == {"id": "abc-123"}
    assert r.match("/invitations/abc/other") is None
    assert r.match("/INVITATIONS/x/resend") == {"id": "x"}  # routes are case-insensitive in Azure


def test_optional_and_constrained_parameters():
    r = _route("items/{id:guid}/{part?}")
    assert r.match("/items/1/") is None  # Azure: {id:guid} does not match 1
    assert r.match(f"/items/{GUID}/") == {"id": GUID}
    assert r.match(f"/items/{GUID}/two") == {"id": GUID, "part": "two"}
    for form in (GUID.replace("-", ""), "{" + GUID + "}", "(" + GUID.upper() + ")"):
        assert r.match(f"/items/{form}") is not None, form


@pytest.mark.parametrize(("template", "good", "bad"), [
    ("n/{n:int}", ["1", "-7", "2147483647"], ["x", "1.5", "2147483648"]),
    ("n/{n:long}", ["9223372036854775807"], ["9223372036854775808", "1e3"]),
    ("x/{x:alpha}", ["abc", "ABC"], ["ab1", "a-b"]),
    ("b/{b:bool}", ["true", "False"], ["yes", "1"]),
    ("s/{s:length(3)}", ["abc"], ["ab", "abcd"]),
    ("s/{s:length(2,3)}", ["ab", "abc"], ["a", "abcd"]),
    ("s/{s:minlength(2)}", ["ab", "abcdef"], ["a"]),
    ("s/{s:maxlength(2)}", ["a", "ab"], ["abc"]),
    ("n/{n:min(10)}", ["10", "99"], ["9", "ten"]),
    ("n/{n:max(10)}", ["10", "-3"], ["11"]),
    ("n/{n:range(1,5)}", ["1", "5"], ["0", "6"]),
    ("n/{n:int:min(1)}", ["1"], ["0", "x"]),
    ("d/{d:double}", ["1.5", "-2e3", ".5"], ["1,5", "one"]),
    ("t/{t:datetime}", ["2026-11-24", "2026-11-24T10:00:00"], ["yesterday"]),
    ("p/{p:regex(^(welcome|users)$)}", ["welcome", "USERS"], ["welcomes", "profile"]),
    ("p/{p:regex(^\\d{{3}}$)}", ["123"], ["12", "1234"]),
])
def test_route_constraints_as_in_azure(template, good, bad):
    r = _route(template)
    prefix = "/" + template.split("/")[0]
    for value in good:
        assert r.match(f"{prefix}/{value}") is not None, (template, value)
    for value in bad:
        assert r.match(f"{prefix}/{value}") is None, (template, value)


def test_defaults_catch_all_and_complex_segments():
    assert _route("page/{n:int=1}").match("/page") == {"n": "1"}
    assert _route("page/{n:int=1}").match("/page/x") is None
    assert _route("files/{*path}").match("/files/a/b/c.txt") == {"path": "a/b/c.txt"}
    assert _route("files/{name}.{ext:alpha}").match("/files/report.v2.pdf") == {"name": "report.v2", "ext": "pdf"}


def test_an_unknown_constraint_stops_the_host_as_in_azure():
    with pytest.raises(ValueError, match="unknown route constraint 'guidd'"):
        _route("items/{id:guidd}")


def test_literals_before_constrained_before_plain_parameters():
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="things/{name}", methods=["GET"])
    def by_name(req):
        return func.HttpResponse("name:" + req.route_params["name"])

    @app.route(route="things/{id:int}", methods=["GET"])
    def by_number(req):
        return func.HttpResponse("number:" + req.route_params["id"])

    @app.route(route="things/latest", methods=["GET"])
    def latest(req):
        return func.HttpResponse("latest")

    host = FunctionHost(functions=tuple(app.get_functions()), keys=LocalKeys("k", "m"))
    assert _call(host, "GET", "/api/things/latest")[2] == b"latest"
    assert _call(host, "GET", "/api/things/42")[2] == b"number:42"
    assert _call(host, "GET", "/api/things/abc")[2] == b"name:abc"


@pytest.fixture(scope="module")
def keyed_host():
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="items/{id:guid}", methods=["GET"])
    def get_item(req):
        return func.HttpResponse("item " + req.route_params["id"])

    @app.route(route="admin/reset", methods=["POST"], auth_level=func.AuthLevel.ADMIN)
    def reset(req):
        return func.HttpResponse("reset")

    @app.route(route="ping", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def ping(req):
        return func.HttpResponse("pong")

    return FunctionHost(functions=tuple(app.get_functions()), keys=LocalKeys(default="the-function-key", master="the-master-key"))


def test_auth_levels_as_in_azure(keyed_host):
    h = keyed_host
    assert {r.name: r.auth_level for r in h.routes} == {"get_item": "function", "reset": "admin", "ping": "anonymous"}
    assert _call(h, "GET", "/api/ping")[0] == 200
    status, _, body = _call(h, "GET", f"/api/items/{GUID}")
    assert (status, body) == (401, b"")
    assert _call(h, "GET", f"/api/items/{GUID}", query="code=wrong")[0] == 401
    assert _call(h, "GET", f"/api/items/{GUID}", query="code=the-function-key")[2] == f"item {GUID}".encode()
    assert _call(h, "GET", f"/api/items/{GUID}", headers={"x-functions-key": "the-function-key"})[0] == 200
    assert _call(h, "GET", f"/api/items/{GUID}", headers={"x-functions-key": "the-master-key"})[0] == 200
    # A constraint that fails is a 404 before any key is asked for, as in Azure.
    assert _call(h, "GET", "/api/items/1", query="code=the-function-key")[0] == 404
    assert _call(h, "POST", "/api/admin/reset", query="code=the-function-key")[0] == 401
    assert _call(h, "POST", "/api/admin/reset", query="code=the-master-key")[2] == b"reset"


def test_local_keys_are_made_once_and_kept(tmp_path):
    path = tmp_path / "keys.json"
    first = local_keys(path)
    assert first == local_keys(path)
    assert first.default != first.master and len(first.default) >= 40
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_setting_references_resolve(monkeypatch):
    monkeypatch.setenv("SOME_QUEUE", "q1")
    assert resolve("%SOME_QUEUE%-poison") == "q1-poison"
    assert resolve("%MISSING_SETTING%") == "%MISSING_SETTING%"


@pytest.fixture(scope="module")
def host():
    return FunctionHost(keys=LocalKeys("k", "m"))


def _call(host, method, path, body=b"", query="", headers=None):
    seen = {}

    def start_response(status, headers):
        seen["status"] = int(status.split()[0])
        seen["headers"] = dict(headers)

    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "localhost", "SERVER_PORT": "7071",
        "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)), "wsgi.url_scheme": "http",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()},
    }
    out = b"".join(host.wsgi(environ, start_response))
    return seen["status"], seen["headers"], out


def test_every_registered_function_is_served(host):
    names = {r.name for r in host.routes} | {t[0] for t in host.timers} | {q[0] for q in host.queues} | set(host.event_grid)
    assert {"health", "create_invitation", "expire_invitations", "send_queued_email", "receive_email_delivery_report"} <= names
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


def test_the_local_host_appends_the_peer_address_to_x_forwarded_for_as_azure_does():
    # Regression: the local host passed X-Forwarded-For through (or none), so every local caller shared one bucket.
    app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="echo", methods=["GET"])
    def echo(req):
        return func.HttpResponse(req.headers.get("x-forwarded-for") or "-")

    host = FunctionHost(functions=tuple(app.get_functions()), keys=LocalKeys("k", "m"))

    def call(headers, peer):
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/echo", "QUERY_STRING": "", "SERVER_NAME": "localhost",
                   "SERVER_PORT": "7071", "wsgi.input": io.BytesIO(b""), "CONTENT_LENGTH": "0", "wsgi.url_scheme": "http",
                   "REMOTE_ADDR": peer, **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}}
        return b"".join(host.wsgi(environ, lambda status, hdrs: None))

    assert call({}, "127.0.0.1") == b"127.0.0.1"
    assert call({"X-Forwarded-For": "6.6.6.6"}, "::1") == b"6.6.6.6, ::1"
