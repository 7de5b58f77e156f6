"""Telemetry without storage: invocation spans, the attribute allow-list, counters, trace ids in answers and logs."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import textwrap

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from opentelemetry.trace import SpanKind, StatusCode

from devhost.functions_host import InvocationContext, TraceContext, invoke
from shared import telemetry
from shared.http import api, json_response
from shared.problems import Problem
from shared.settings import Settings
from tests.support.http import build_request, json_of

REFERENCE = "a" * 64
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@api
def get_thing(req: func.HttpRequest) -> func.HttpResponse:
    if req.route_params["id"] == "missing":
        raise Problem(404, "not-found", "Not found", "No such thing.")
    if req.route_params["id"] == "broken":
        raise RuntimeError("boom for harry.kim@contoso.com")
    telemetry.annotate(partner_id="p-1", reference=REFERENCE)
    return json_response({"id": req.route_params["id"]})


def _get(thing_id: str, **headers: str) -> func.HttpResponse:
    return get_thing(build_request("GET", f"things/{thing_id}/parts", route_params={"id": thing_id}, headers=headers))


def test_an_http_invocation_is_one_server_span_with_route_template_status_and_outcome(recorded):
    resp = _get("secret-link-id")
    assert resp.status_code == 200
    span = recorded.span("get_thing")
    assert span.kind == SpanKind.SERVER
    attrs = dict(span.attributes)
    assert attrs["http.route"] == "things/{id}/parts"  # the template: a path could carry a raw invitation id
    assert attrs["http.request.method"] == "GET"
    assert attrs["http.response.status_code"] == 200
    assert attrs["outcome"] == "ok"
    assert attrs["faas.trigger"] == "http"
    assert re.fullmatch(r"[0-9a-f-]{36}", attrs["faas.invocation_id"])
    assert attrs["partner.id"] == "p-1" and attrs["invitation.reference"] == REFERENCE
    recorded.assert_none_contains("secret-link-id")


def test_problem_answers_carry_the_span_trace_id(recorded):
    body = json_of(_get("missing"))
    span = recorded.span("get_thing")
    assert body["traceId"] == format(span.context.trace_id, "032x")
    assert span.attributes["outcome"] == "rejected" and span.attributes["http.response.status_code"] == 404
    assert span.status.status_code != StatusCode.ERROR


def test_an_unhandled_error_is_a_500_span_marked_error_without_the_exception_message(recorded):
    resp = _get("broken")
    assert resp.status_code == 500
    span = recorded.span("get_thing")
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["outcome"] == "error"
    assert json_of(resp)["traceId"] == format(span.context.trace_id, "032x")
    recorded.assert_none_contains("harry.kim@contoso.com", "boom")


def test_a_caller_traceparent_is_continued(recorded):
    body = json_of(_get("missing", traceparent=TRACEPARENT))
    span = recorded.span("get_thing")
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c" == body["traceId"]
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"


def test_the_functions_context_gives_invocation_id_and_trace_parent(recorded):
    context = InvocationContext("get_thing", TraceContext(TRACEPARENT), invocation_id="11111111-2222-3333-4444-555555555555")
    # `api` is typed as taking the request only; `telemetry.traced` adds the `context` keyword the Functions worker passes.
    get_thing(build_request("GET", "things/x", route_params={"id": "x"}), context=context)  # pyright: ignore[reportCallIssue]
    span = recorded.span("get_thing")
    assert span.attributes["faas.invocation_id"] == "11111111-2222-3333-4444-555555555555"
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"


def test_the_local_host_passes_a_context_like_the_worker(recorded):
    invoke(get_thing, "get_thing", "req", build_request("GET", "things/x", route_params={"id": "x"}), TRACEPARENT)
    span = recorded.span("get_thing")
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    # The host's own span sits between the caller and the function, as in Azure.
    assert format(span.parent.span_id, "016x") != "b7ad6b7169203331"


def test_trigger_functions_declare_context_for_the_worker():
    import inspect

    params = inspect.signature(get_thing).parameters
    assert list(params) == ["req", "context"]
    assert params["context"].annotation is func.Context and params["context"].default is None


def test_queue_and_timer_invocations(recorded):
    @telemetry.traced
    def on_message(msg: func.QueueMessage) -> None:
        telemetry.count("invitations.emailed", partner_id="p-1", kind="CustomerOnboarding", reference=REFERENCE)

    @telemetry.traced
    def on_timer(timer: func.TimerRequest) -> None:
        raise RuntimeError("storage down")

    on_message(func.QueueMessage(id="m1", body=b"{}"))
    with pytest.raises(RuntimeError):  # re-raised, so the host retries the message or logs the timer failure
        on_timer(TimerRequest(past_due=False))
    queued, timed = recorded.span("on_message"), recorded.span("on_timer")
    assert queued.kind == SpanKind.CONSUMER and queued.attributes["faas.trigger"] == "pubsub" and queued.attributes["outcome"] == "ok"
    assert queued.attributes["invitation.reference"] == REFERENCE
    assert timed.attributes["faas.trigger"] == "timer" and timed.attributes["outcome"] == "error"
    assert timed.attributes["error.type"] == "RuntimeError" and not timed.events
    assert recorded.points("invitations.emailed") == [({"partner.id": "p-1", "invitation.kind": "CustomerOnboarding"}, 1)]


def test_values_not_shaped_like_their_name_are_dropped(recorded, caplog):
    @telemetry.traced
    def handler(msg: func.QueueMessage) -> None:
        telemetry.annotate(partner_id="Harry Kim", reference="harry.kim@contoso.com", customer_id="c-1")
        telemetry.count("invitations.created", partner_id="harry.kim@contoso.com", kind="Customer Onboarding")

    with caplog.at_level(logging.WARNING, logger="shared.telemetry"):
        handler(func.QueueMessage(id="m1", body=b"{}"))
    attrs = dict(recorded.span("handler").attributes)
    assert "partner.id" not in attrs and "invitation.reference" not in attrs and attrs["customer.id"] == "c-1"
    assert recorded.points("invitations.created") == [({}, 1)]
    recorded.assert_none_contains("harry", "kim")
    assert "harry" not in caplog.text.casefold()  # the warning names the attribute, never the value


def test_only_known_counters_and_attribute_names_exist():
    with pytest.raises(ValueError):
        telemetry.count("invitations.clicked")
    with pytest.raises(TypeError):
        telemetry.count("invitations.created", email="harry.kim@contoso.com")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        telemetry.annotate(first_name="Harry")  # type: ignore[call-arg]


def test_counts_outside_an_invocation_still_count(recorded):
    telemetry.count("invitations.expired", 3, partner_id="p-1")
    telemetry.count("invitations.expired", 0, partner_id="p-1")
    assert recorded.total("invitations.expired", **{"partner.id": "p-1"}) == 3
    assert recorded.spans() == []


def test_logs_inside_an_invocation_carry_its_ids(recorded, caplog):
    telemetry.configure(Settings())  # installs the log fields; nothing exported without a connection string
    seen = []

    @telemetry.traced
    def handler(msg: func.QueueMessage) -> None:
        logging.getLogger("invite_user.delivery").warning("inside")
        seen.append(telemetry.current_trace_id())

    with caplog.at_level(logging.INFO):
        handler(func.QueueMessage(id="m1", body=b"{}"))
        logging.getLogger("invite_user.delivery").warning("outside")
    inside, outside = [r for r in caplog.records if r.getMessage() in ("inside", "outside")]
    span = recorded.span("handler")
    assert inside.invocation_id == span.attributes["faas.invocation_id"]
    assert inside.trace_id == format(span.context.trace_id, "032x") == seen[0]
    assert not hasattr(outside, "invocation_id")


def test_outside_an_invocation_a_trace_id_is_still_32_hex():
    assert re.fullmatch(r"[0-9a-f]{32}", telemetry.current_trace_id())
    assert Problem(400, "x", "X", "x").to_dict()["traceId"]


def test_without_a_connection_string_nothing_is_exported_yet_answers_have_a_trace_id():
    """A fresh process on the OpenTelemetry API's defaults: no SDK provider, no exporter, ids still consistent."""
    code = textwrap.dedent("""
        import json, sys
        from opentelemetry import metrics, trace
        from shared import telemetry
        from shared.http import api
        from shared.problems import Problem
        from shared.settings import Settings
        from tests.support.http import build_request

        telemetry.configure(Settings())
        telemetry.configure(Settings())

        @api
        def handler(req):
            raise Problem(409, "x", "X", "conflict")

        body = json.loads(handler(build_request("GET", "x")).get_body())
        print(json.dumps({"exporting": telemetry.is_exporting(), "traceId": body["traceId"],
                          "tracer": type(trace.get_tracer_provider()).__name__,
                          "meter": type(metrics.get_meter_provider()).__name__,
                          "distro": "azure.monitor.opentelemetry" in sys.modules}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["exporting"] is False and result["distro"] is False
    assert all(("Proxy" in name or "NoOp" in name) for name in (result["tracer"], result["meter"]))
    assert re.fullmatch(r"[0-9a-f]{32}", result["traceId"])
