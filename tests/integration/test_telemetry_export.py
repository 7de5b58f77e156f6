"""The real Azure Monitor distro, configured by the app, exporting to a local ingestion endpoint: what Application Insights would get."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

APP = textwrap.dedent("""
    import json, logging
    from azure.functions.queue import QueueMessage
    from opentelemetry import _logs, metrics, trace
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from shared import telemetry
    from shared.settings import get_settings
    from tests.support.http import build_request

    import function_app  # configures telemetry, as in Azure
    telemetry.configure(get_settings())  # a second call must not add a second exporter or handler
    from invite_user import functions as fn

    resp = fn.create_invitation(build_request("POST", "invitations", body={"email": "harry.kim@contoso.com", "firstName": "Harry"}))

    @telemetry.traced
    def on_message(msg):
        logging.getLogger("invite_user.delivery").warning("delivering")
        telemetry.count("invitations.emailed", partner_id="p-1", kind="CustomerOnboarding", reference="ab" * 32)

    on_message(QueueMessage(id="m1", body=b"{}"))
    trace.get_tracer_provider().force_flush()
    metrics.get_meter_provider().force_flush()
    _logs.get_logger_provider().force_flush()
    print(json.dumps({"status": resp.status_code, "problem": json.loads(resp.get_body()), "exporting": telemetry.is_exporting(),
                      "handlers": sum(isinstance(h, LoggingHandler) for h in logging.getLogger().handlers)}))
""")


class _Ingestion(BaseHTTPRequestHandler):
    """Application Insights' track endpoint: takes a JSON array of envelopes and says all were accepted."""

    received: list[dict] = []

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.headers.get("content-encoding") == "gzip":
            data = gzip.decompress(data)
        envelopes = json.loads(data)
        type(self).received.extend(envelopes)
        body = json.dumps({"itemsReceived": len(envelopes), "itemsAccepted": len(envelopes), "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ingestion() -> Iterator[tuple[int, list[dict]]]:
    received: list[dict] = []
    handler = type("Ingestion", (_Ingestion,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], received
    server.shutdown()
    server.server_close()


def test_application_insights_gets_requests_metrics_and_logs_without_personal_data(ingestion, tmp_path):
    port, received = ingestion
    env = {**os.environ, "TMPDIR": str(tmp_path),  # the exporter's offline retry store, should a send fail
           "APPLICATIONINSIGHTS_CONNECTION_STRING":
               f"InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=http://127.0.0.1:{port}/",
           # The SDK's own usage reports go to Microsoft's endpoints, which this machine cannot reach.
           "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true"}
    out = subprocess.run([sys.executable, "-c", APP], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["exporting"] is True and result["handlers"] == 1
    assert result["status"] == 401

    requests = {e["data"]["baseData"]["name"]: e for e in received if e["name"].endswith(".Request")}
    create = requests["POST invitations"]
    assert create["data"]["baseData"]["responseCode"] == "401"
    assert create["data"]["baseData"]["properties"]["outcome"] == "rejected"
    assert create["tags"]["ai.operation.id"] == result["problem"]["traceId"]  # support can find the answer's trace

    delivering = next(e for e in received if e["name"].endswith(".Message") and e["data"]["baseData"]["message"] == "delivering")
    queued = requests["on_message"]
    assert delivering["data"]["baseData"]["properties"]["invocation_id"] == queued["data"]["baseData"]["properties"]["faas.invocation_id"]
    assert delivering["tags"]["ai.operation.id"] == queued["tags"]["ai.operation.id"]
    assert queued["data"]["baseData"]["properties"]["invitation.reference"] == "ab" * 32

    emailed = [e for e in received if e["name"].endswith(".Metric")
               and e["data"]["baseData"]["metrics"][0]["name"] == "invitations.emailed"]
    assert [e["data"]["baseData"]["properties"] for e in emailed] == [{"partner.id": "p-1", "invitation.kind": "CustomerOnboarding"}]

    exported = json.dumps(received).casefold()
    assert "harry" not in exported and "contoso" not in exported
    # No outgoing-call telemetry: request URLs would carry table keys, and some hold emails.
    assert not [e for e in received if e["name"].endswith(".RemoteDependency")]
