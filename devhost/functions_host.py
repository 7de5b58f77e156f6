"""A small local host for this app's functions, standing in for Azure Functions Core Tools.

It reads the registered functions' trigger metadata through the azure-functions library, so adding a
function needs no change here: HTTP triggers are served on a real WSGI server (waitress), timer
triggers fire on their NCRONTAB schedules, queue triggers poll their Azurite queues with Azure's
dequeue-count and `-poison` rules.
"""

from __future__ import annotations

import argparse
import base64
import functools
import importlib
import inspect
import logging
import os
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

import azure.functions as func
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from devhost.local_settings import load_local_settings

log = logging.getLogger("devhost")

MAX_DEQUEUE_COUNT = 5  # host.json extensions.queues.maxDequeueCount, as in Azure


def resolve(value: str) -> str:
    """Resolve %SETTING% references the way the Functions host does, from the environment."""
    return re.sub(r"%([^%]+)%", lambda m: os.environ.get(m.group(1), m.group(0)), value)


@dataclass
class HttpRoute:
    name: str
    template: str
    methods: set[str]
    auth_level: str
    param: str
    call: Callable[..., Any]
    pattern: re.Pattern[str] = field(init=False)
    literal_segments: int = field(init=False)

    def __post_init__(self) -> None:
        parts = []
        self.literal_segments = 0
        for seg in self.template.strip("/").split("/"):
            m = re.fullmatch(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]*)?(\?)?\}", seg)
            if m:
                star, pname, optional = m.groups()
                body = f"(?P<{pname}>.+)" if star else f"(?P<{pname}>[^/]+)"
                parts.append(f"(?:/{body})?" if optional else f"/{body}")
            else:
                self.literal_segments += 1
                parts.append("/" + re.escape(seg))
        self.pattern = re.compile("^" + "".join(parts) + "/?$", re.IGNORECASE)


@dataclass(frozen=True)
class TraceContext:
    Traceparent: str
    Tracestate: str = ""
    Attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InvocationContext:
    """What the Functions worker passes as `context: func.Context`: a fresh invocation id and the host's trace parent."""

    function_name: str
    trace_context: TraceContext
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_directory: str = field(default_factory=os.getcwd)
    retry_context: Any = None


_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def invoke(call: Callable[..., Any], name: str, param: str, arg: Any, traceparent: str | None = None) -> Any:
    """Call a function as the worker does: its trigger argument, plus `context` when it declares one.

    Like the host, it starts its own span under the caller's trace (or a new trace) and hands that on.
    """
    kwargs = {param: arg}
    if "context" in inspect.signature(call).parameters:
        m = _TRACEPARENT.fullmatch(traceparent or "")
        trace_id = m.group(1) if m and m.group(1) != "0" * 32 else secrets.token_hex(16)
        kwargs["context"] = InvocationContext(name, TraceContext(f"00-{trace_id}-{secrets.token_hex(8)}-01"))
    return call(**kwargs)


@functools.cache
def registered_functions(module: str = "function_app") -> tuple[Any, ...]:
    """The app's functions; azure-functions allows `get_functions()` once per process, so it is read once here."""
    return tuple(importlib.import_module(module).app.get_functions())


class FunctionHost:
    def __init__(self, module: str = "function_app") -> None:
        self.routes: list[HttpRoute] = []
        self.timers: list[tuple[str, str, str, Callable[..., Any]]] = []
        self.queues: list[tuple[str, str, str, str, Callable[..., Any]]] = []
        for fn in registered_functions(module):
            trigger = fn.get_trigger()
            spec = trigger.get_dict_repr()
            kind = spec["type"]
            name = fn.get_function_name()
            call = fn.get_user_function()
            if kind == "httpTrigger":
                route = spec.get("route") or name
                methods = {str(m).upper().split(".")[-1] for m in (spec.get("methods") or ["GET", "POST"])}
                auth = str(spec.get("authLevel", "FUNCTION"))
                self.routes.append(HttpRoute(name, route, methods, auth, spec["name"], call))
            elif kind == "timerTrigger":
                self.timers.append((name, resolve(spec["schedule"]), spec["name"], call))
            elif kind == "queueTrigger":
                self.queues.append(
                    (name, resolve(spec["queueName"]), spec.get("connection") or "AzureWebJobsStorage", spec["name"], call)
                )
            else:
                log.warning("function %s has a %s trigger, which this local host does not run", name, kind)
        # Literal segments win over parameters, as in ASP.NET routing (invitations/bulk before invitations/{id}).
        self.routes.sort(key=lambda r: (-r.literal_segments, r.template))
        self._stop = threading.Event()

    # -- HTTP ------------------------------------------------------------------------
    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"].upper()
        if not path.startswith("/api/"):
            return _plain(start_response, 404, "Not found")
        sub = path[len("/api") :]
        matched_path = False
        for route in self.routes:
            m = route.pattern.match(sub)
            if not m:
                continue
            matched_path = True
            allowed = route.methods | ({"HEAD"} if "GET" in route.methods else set())
            if method not in allowed:
                continue
            return self._invoke_http(route, {k: v for k, v in m.groupdict().items() if v is not None}, environ, start_response)
        if matched_path:
            return _plain(start_response, 405, "Method not allowed")
        return _plain(start_response, 404, "Not found")

    def _invoke_http(self, route: HttpRoute, params: dict[str, str], environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        host = headers.get("host") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        query = environ.get("QUERY_STRING", "")
        url = f"{environ.get('wsgi.url_scheme', 'http')}://{host}{environ.get('PATH_INFO', '')}" + (f"?{query}" if query else "")
        method = environ["REQUEST_METHOD"].upper()
        req = func.HttpRequest(
            method=method,
            url=url,
            headers=headers,
            params=dict(parse_qsl(query, keep_blank_values=True)),
            route_params=params,
            body=body,
        )
        try:
            resp = invoke(route.call, route.name, route.param, req, headers.get("traceparent"))
        except Exception:
            # Azure answers 500 with no body when a function raises; so do we, and say why in the log.
            log.exception("function %s raised", route.name)
            return _plain(start_response, 500, "")
        if not isinstance(resp, func.HttpResponse):
            log.error("function %s returned %r, not an HttpResponse", route.name, type(resp))
            return _plain(start_response, 500, "")
        out_headers = [(k, v) for k, v in resp.headers.items() if k.lower() not in ("content-type", "content-length")]
        ctype = resp.mimetype or "text/plain"
        if resp.charset and "charset" not in ctype:
            ctype += f"; charset={resp.charset}"
        payload = resp.get_body() or b""
        out_headers.append(("Content-Type", ctype))
        out_headers.append(("Content-Length", str(len(payload))))
        start_response(f"{resp.status_code} {_reason(resp.status_code)}", out_headers)
        return [b""] if method == "HEAD" else [payload]

    # -- timers --------------------------------------------------------------------
    def _run_timer(self, name: str, schedule: str, param: str, call: Callable[..., Any]) -> None:
        from croniter import croniter

        it = croniter(schedule, datetime.now(timezone.utc), second_at_beginning=True)
        while not self._stop.is_set():
            due = it.get_next(datetime)
            if self._stop.wait(max(0.0, (due - datetime.now(timezone.utc)).total_seconds())):
                return
            late = (datetime.now(timezone.utc) - due).total_seconds()
            try:
                log.info("timer %s fires (schedule %s)", name, schedule)
                invoke(call, name, param, TimerRequest(past_due=late > 10))
            except Exception:
                log.exception("timer function %s raised", name)

    # -- queues --------------------------------------------------------------------
    def _run_queue(self, name: str, queue: str, connection: str, param: str, call: Callable[..., Any]) -> None:
        from azure.core.exceptions import AzureError, ResourceExistsError
        from azure.storage.queue import QueueClient

        conn = _expand(os.environ[connection])
        client = QueueClient.from_connection_string(conn, queue)
        poison = QueueClient.from_connection_string(conn, f"{queue}-poison")
        idle = 0.1
        while not self._stop.is_set():
            try:
                try:
                    client.create_queue()
                except ResourceExistsError:
                    pass
                messages = list(client.receive_messages(messages_per_page=8, visibility_timeout=60, max_messages=8))
            except AzureError as exc:
                log.warning("queue %s: cannot poll (%s)", queue, str(exc).splitlines()[0])
                self._stop.wait(2)
                continue
            if not messages:
                self._stop.wait(idle)
                idle = min(idle * 2, 1.0)
                continue
            idle = 0.1
            for msg in messages:
                try:
                    self._deliver(name, queue, param, call, client, poison, msg)
                except AzureError as exc:
                    # The message stays invisible until its timeout, then comes back: nothing is lost.
                    log.warning("queue %s: message %s not settled (%s)", queue, msg.id, str(exc).splitlines()[0])

    def _deliver(self, name: str, queue: str, param: str, call: Callable[..., Any], client: Any, poison: Any, msg: Any) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            body = base64.b64decode(msg.content)
        except (ValueError, TypeError):
            body = (msg.content or "").encode()
        qmsg = QueueMessage(
            id=msg.id, body=body, dequeue_count=msg.dequeue_count, pop_receipt=msg.pop_receipt,
            insertion_time=msg.inserted_on, expiration_time=msg.expires_on, time_next_visible=msg.next_visible_on,
        )
        try:
            invoke(call, name, param, qmsg)
        except Exception:
            log.exception("queue function %s failed on message %s (attempt %s)", name, msg.id, msg.dequeue_count)
            if msg.dequeue_count >= MAX_DEQUEUE_COUNT:
                try:
                    poison.create_queue()
                except ResourceExistsError:
                    pass
                poison.send_message(msg.content)
                client.delete_message(msg)
                log.error("message %s moved to %s-poison after %s attempts", msg.id, queue, msg.dequeue_count)
            else:
                client.update_message(msg, visibility_timeout=1)
            return
        client.delete_message(msg)

    # -- lifecycle -----------------------------------------------------------------
    def start_background(self) -> list[threading.Thread]:
        threads = []
        for spec in self.timers:
            threads.append(threading.Thread(target=self._run_timer, args=spec, name=f"timer-{spec[0]}", daemon=True))
        for spec in self.queues:
            threads.append(threading.Thread(target=self._run_queue, args=spec, name=f"queue-{spec[0]}", daemon=True))
        for t in threads:
            t.start()
        return threads

    def stop(self) -> None:
        self._stop.set()

    def describe(self) -> list[str]:
        lines = [f"  {','.join(sorted(r.methods)):<16} /api/{r.template}  [{r.name}]" for r in self.routes]
        lines += [f"  timer {s:<16} [{n}]" for n, s, _, _ in self.timers]
        lines += [f"  queue {q:<16} [{n}]" for n, q, _, _, _ in self.queues]
        return lines


def _expand(conn: str) -> str:
    from shared.storage import _expand_dev_storage

    return _expand_dev_storage(conn)


def _plain(start_response: Callable[..., Any], status: int, text: str) -> list[bytes]:
    data = text.encode()
    start_response(f"{status} {_reason(status)}", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("FUNCTIONS_HTTP_PORT", "7071")))
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    handler = logging.StreamHandler()
    # invocation_id: set on records inside an invocation by shared.telemetry, so one request's lines can be found.
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(invocation_id)s]: %(message)s",
                                           defaults={"invocation_id": "-"}))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("azure").setLevel(logging.WARNING)
    load_local_settings()
    host = FunctionHost()
    log.info("functions:\n%s", "\n".join(host.describe()))
    host.start_background()
    from waitress import serve

    # Threads: a double-click or twenty parallel POSTs must really run in parallel, as in Azure.
    serve(host.wsgi, host=args.host, port=args.port, threads=24, ident="local-functions-host", _quiet=True)


if __name__ == "__main__":
    main()
