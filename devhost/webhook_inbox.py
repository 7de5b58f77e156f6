"""The local webhook inbox: receives the app's webhook deliveries, checks each signature, and lists them on a page.

`python -m devhost.webhook_inbox --port 1090` (the stack starts it). Deliveries go to `/hooks/<name>`; the secret of
each name is read from the secrets file (the demo seed writes the demo partner's there), so the page can say whether
each signature verified, with the standardwebhooks library as a partner's receiver would. `/` lists the deliveries
(newest first), `/deliveries.json` gives them as JSON. Tests use `WebhookInbox` directly, and may script answers.
"""

from __future__ import annotations

import argparse
import html
import json
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from devhost.identity import LOCAL_DIR

SECRETS_FILE = LOCAL_DIR / "webhook-inbox-secrets.json"
KEEP = 500


class WebhookInbox:
    """A real HTTP receiver on loopback. `answers` (status codes) are used up first, then 200."""

    def __init__(self, port: int = 0, secrets: Callable[[], dict[str, str]] | None = None, *, tls_cert: Path | None = None) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.secrets = secrets or (lambda: {})
        self.arrived = threading.Condition()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status = inbox.receive(self.path, dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/deliveries.json"):
                    data, kind = json.dumps(inbox.deliveries[::-1], default=str).encode(), "application/json"
                else:
                    data, kind = inbox.page().encode(), "text/html; charset=utf-8"
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.tls = tls_cert is not None
        if tls_cert is not None:  # https, with a certificate (key and chain in one file) for localhost
            import ssl

            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(tls_cert))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)

    def url(self, name: str = "demo") -> str:
        return f"https://localhost:{self.port}/hooks/{name}" if self.tls else f"http://127.0.0.1:{self.port}/hooks/{name}"

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        name = path.rsplit("/", 1)[-1]
        secret = self.secrets().get(name)
        verdict = "no secret for this path"
        if secret:
            try:
                Webhook(secret).verify(body, headers)
                verdict = "verified"
            except WebhookVerificationError as exc:
                verdict = f"NOT verified: {exc}"
        try:
            event = json.loads(body)
        except ValueError:
            event = {}
        status = self.answers.pop(0) if self.answers else 200
        entry = {"receivedAt": datetime.now(timezone.utc).isoformat(), "path": path, "webhookId": headers.get("webhook-id") or
                 headers.get("Webhook-Id"), "type": event.get("type"), "verdict": verdict, "answered": status, "event": event,
                 "headers": headers, "body": body.decode(errors="replace")}
        with self.arrived:
            self.deliveries.append(entry)
            del self.deliveries[:-KEEP]
            self.arrived.notify_all()
        return status

    def wait_for(self, test: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: any(test(d) for d in self.deliveries), timeout):
                raise TimeoutError("no such delivery arrived")
            return next(d for d in self.deliveries if test(d))

    def page(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(d['receivedAt'])}</td><td>{html.escape(str(d['type']))}</td><td>{html.escape(str(d['webhookId']))}</td>"
            f"<td>{html.escape(d['verdict'])}</td><td>{d['answered']}</td><td><pre>{html.escape(json.dumps(d['event'], indent=1))}</pre></td></tr>"
            for d in reversed(self.deliveries))
        return ("<!doctype html><html lang=en><meta charset=utf-8><title>Webhook inbox</title><meta http-equiv=refresh content=5>"
                "<h1>Webhook inbox</h1><p>Deliveries of the local app, newest first; the signature checked with standardwebhooks.</p>"
                "<table border=1 cellpadding=4><tr><th>received</th><th>type</th><th>webhook-id</th><th>signature</th><th>answered</th>"
                f"<th>event</th></tr>{rows}</table></html>")

    def start(self) -> WebhookInbox:
        threading.Thread(target=self.server.serve_forever, name="webhook-inbox", daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def file_secrets(path: Path) -> Callable[[], dict[str, str]]:
    def read() -> dict[str, str]:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    return read


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devhost.webhook_inbox", description=__doc__)
    parser.add_argument("--port", type=int, default=1090)
    parser.add_argument("--secrets", type=Path, default=SECRETS_FILE)
    args = parser.parse_args()
    inbox = WebhookInbox(args.port, file_secrets(args.secrets))
    inbox.server.serve_forever()


if __name__ == "__main__":
    main()
