"""The local functions host serves Event Grid triggers as the Functions host does: path, system key, both schemas,
the validation handshakes, malformed or keyless requests refused, a failing function answered 500 (Event Grid retries)."""

import io
import json

import azure.functions as func
import pytest

from devhost.event_grid import EVENT_GRID_PATH, SYSTEM_KEY
from devhost.functions_host import FunctionHost, LocalKeys

KEYS = LocalKeys("the-function-key", "the-master-key")
SYSTEM = KEYS.system_key(SYSTEM_KEY)


@pytest.fixture
def host_and_seen():
    app = func.FunctionApp()
    seen: list[func.EventGridEvent] = []

    @app.event_grid_trigger(arg_name="event")
    def on_report(event: func.EventGridEvent) -> None:
        if (event.get_json() or {}).get("fail"):
            raise RuntimeError("storage unavailable")
        seen.append(event)

    return FunctionHost(functions=tuple(app.get_functions()), keys=KEYS), seen


def _post(host, body, *, key: str | None = SYSTEM, kind: str | None = "Notification", method="POST", function="on_report", headers=None,
          in_header=False):
    query = f"functionName={function}" + (f"&code={key}" if key and not in_header else "")
    hdrs = {**({"aeg-event-type": kind} if kind else {}), **({"x-functions-key": key} if key and in_header else {}), **(headers or {})}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    seen = {}
    environ = {"REQUEST_METHOD": method, "PATH_INFO": EVENT_GRID_PATH, "QUERY_STRING": query, "SERVER_NAME": "localhost",
               "SERVER_PORT": "7071", "wsgi.input": io.BytesIO(raw), "CONTENT_LENGTH": str(len(raw)), "wsgi.url_scheme": "http",
               **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in hdrs.items()}}
    out = b"".join(host.wsgi(environ, lambda status, h: seen.update(status=int(status.split()[0]), headers=dict(h))))
    return seen["status"], seen["headers"], out


def _eg(event_id="e1", data=None):
    return {"id": event_id, "topic": "/subscriptions/x/providers/Microsoft.Communication/communicationServices/acs",
            "subject": "sender/s/message/m", "eventType": "Microsoft.Communication.EmailDeliveryReportReceived",
            "eventTime": "2026-12-06T08:00:00Z", "dataVersion": "1.0", "data": data or {"messageId": "m", "status": "Delivered"}}


def test_event_grid_schema_events_reach_the_function_one_by_one(host_and_seen):
    host, seen = host_and_seen
    status, _, _ = _post(host, [_eg("a"), _eg("b")])
    assert status == 200
    assert [(e.id, e.event_type, e.get_json()["status"]) for e in seen] == [
        ("a", "Microsoft.Communication.EmailDeliveryReportReceived", "Delivered")] + [
        ("b", "Microsoft.Communication.EmailDeliveryReportReceived", "Delivered")]


def test_cloud_events_single_and_batch(host_and_seen):
    host, seen = host_and_seen
    cloud = {"specversion": "1.0", "id": "c1", "type": "Microsoft.Communication.EmailDeliveryReportReceived",
             "source": "/subscriptions/x/acs", "time": "2026-12-06T08:00:00Z", "data": {"messageId": "m", "status": "Bounced"}}
    ctype = {"content-type": "application/cloudevents+json; charset=utf-8"}
    assert _post(host, cloud, kind=None, headers=ctype)[0] == 200
    assert _post(host, [cloud, {**cloud, "id": "c2"}], kind="Notification",
                 headers={"content-type": "application/cloudevents-batch+json"})[0] == 200
    assert [e.id for e in seen] == ["c1", "c1", "c2"] and seen[0].topic == "/subscriptions/x/acs"


def test_the_validation_handshakes_of_both_schemas(host_and_seen):
    host, seen = host_and_seen
    validation = [{"id": "v", "topic": "t", "subject": "", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                   "eventTime": "2026-12-06T08:00:00Z", "dataVersion": "1", "data": {"validationCode": "512d38b6-c7b8"}}]
    status, _, body = _post(host, validation, kind="SubscriptionValidation")
    assert status == 200 and json.loads(body) == {"validationResponse": "512d38b6-c7b8"}
    status, headers, _ = _post(host, b"", kind=None, method="OPTIONS", headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
    assert status == 200 and headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    assert seen == []  # a handshake is not an event


def test_the_system_key_in_the_query_or_the_header_and_nothing_else(host_and_seen):
    host, seen = host_and_seen
    assert _post(host, [_eg()], in_header=True)[0] == 200
    assert _post(host, [_eg()], key="the-master-key")[0] == 200  # the master key opens everything, as in Azure
    assert _post(host, [_eg()], key=None)[0] == 401
    assert _post(host, [_eg()], key="the-function-key")[0] == 401  # a function key is not the extension's system key
    assert _post(host, [_eg()], key="wrong")[0] == 401
    assert len(seen) == 2


@pytest.mark.parametrize("body", [b"not json", b"{}", json.dumps([{"id": "x"}]).encode(), json.dumps([17]).encode(),
                                  json.dumps([]).encode(), json.dumps([{**_eg(), "eventTime": "yesterday"}]).encode()])
def test_malformed_deliveries_are_refused(host_and_seen, body):
    host, seen = host_and_seen
    assert _post(host, body)[0] == 400
    assert seen == []


def test_unknown_function_wrong_header_and_a_failing_function(host_and_seen):
    host, _ = host_and_seen
    assert _post(host, [_eg()], function="nobody")[0] == 404
    assert _post(host, [_eg()], kind="Something")[0] == 400
    assert _post(host, [_eg()], method="GET")[0] == 405
    assert _post(host, [_eg(data={"fail": True})])[0] == 500  # Event Grid delivers it again
