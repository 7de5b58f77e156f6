"""A small local host for this app's functions, standing in for Azure Functions Core Tools.

It reads the registered functions' trigger metadata through the azure-functions library, so adding a
function needs no change here: HTTP triggers are served on a real WSGI server (waitress), timer
triggers fire on their NCRONTAB schedules, queue triggers poll their Azurite queues with Azure's
dequeue-count and `-poison` rules, Event Grid triggers are served where the Functions host serves them
(`/runtime/webhooks/eventgrid?functionName=<name>`, with the `eventgrid_extension` system key). Like Azure
(and unlike Core Tools) it enforces route constraints and auth levels: a FUNCTION or ADMIN route needs a key,
generated once and kept in .local/function-keys.json.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hmac
import importlib
import inspect
import json
import logging
import os
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import azure.functions as func
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from devhost import event_grid
from devhost.event_grid import EVENT_GRID_PATH
from devhost.local_settings import ROOT, load_local_settings

log = logging.getLogger("devhost")

MAX_DEQUEUE_COUNT = 5  # host.json extensions.queues.maxDequeueCount, as in Azure


def resolve(value: str) -> str:
    """Resolve %SETTING% references the way the Functions host does, from the environment."""
    return re.sub(r"%([^%]+)%", lambda m: os.environ.get(m.group(1), m.group(0)), value)


def _long(value: str, bits: int = 64) -> int | None:
    """.NET's int/long.TryParse (invariant culture): optional sign, digits, surrounding blanks, in range."""
    if not re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return None
    number = int(value)
    return number if -(2 ** (bits - 1)) <= number < 2 ** (bits - 1) else None


def _is_guid(value: str) -> bool:
    # Guid.TryParse's formats: N (32 hex), D (8-4-4-4-12), B {D} and P (D).
    d = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    return bool(re.fullmatch(rf"\s*(?:[0-9a-fA-F]{{32}}|{d}|\{{{d}\}}|\({d}\))\s*", value))


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def _ints(args: str | None, count: int) -> list[int]:
    parts = [a.strip() for a in (args or "").split(",")]
    if len(parts) != count or any(_long(a) is None for a in parts):
        raise ValueError(f"expects {count} integer argument(s), got ({args or ''})")
    return [int(a) for a in parts]


_NUMBER = r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*"


def _constraint(name: str, args: str | None) -> Callable[[str], bool]:
    """One inline route constraint of ASP.NET routing, which the Functions host uses; unknown names fail at start, as in Azure."""
    kind = name.lower()
    simple: dict[str, Callable[[str], bool]] = {
        "int": lambda v: _long(v, 32) is not None,
        "long": lambda v: _long(v) is not None,
        "bool": lambda v: v.strip().lower() in ("true", "false"),
        "guid": _is_guid,
        "alpha": lambda v: re.fullmatch("[a-z]*", v, re.IGNORECASE) is not None,
        "decimal": lambda v: re.fullmatch(_NUMBER, v) is not None,
        "double": lambda v: re.fullmatch(_NUMBER, v) is not None,
        "float": lambda v: re.fullmatch(_NUMBER, v) is not None,
        "datetime": _is_datetime,
        "required": lambda v: v != "",
    }
    if kind in simple:
        if args is not None:
            raise ValueError(f"route constraint {name} takes no arguments")
        return simple[kind]
    if kind == "length":
        bounds = _ints(args, 2) if args and "," in args else _ints(args, 1) * 2
        return lambda v: bounds[0] <= len(v) <= bounds[1]
    if kind in ("minlength", "maxlength"):
        (n,) = _ints(args, 1)
        return (lambda v: len(v) >= n) if kind == "minlength" else (lambda v: len(v) <= n)
    if kind in ("min", "max"):
        (n,) = _ints(args, 1)

        def bounded(v: str) -> bool:
            number = _long(v)
            return number is not None and (number >= n if kind == "min" else number <= n)

        return bounded
    if kind == "range":
        low, high = _ints(args, 2)
        return lambda v: (number := _long(v)) is not None and low <= number <= high
    if kind == "regex":
        # As in ASP.NET: case-insensitive and not anchored (templates write ^...$ themselves); {{ }} are escaped braces.
        compiled = re.compile((args or "").replace("{{", "{").replace("}}", "}"), re.IGNORECASE)
        return lambda v: compiled.search(v) is not None
    raise ValueError(f"unknown route constraint '{name}'")


@dataclass
class RouteParameter:
    name: str
    checks: list[Callable[[str], bool]]
    optional: bool = False
    catch_all: bool = False
    default: str | None = None

    def accepts(self, value: str) -> bool:
        return all(check(value) for check in self.checks)


def _parse_parameter(text: str, template: str) -> RouteParameter:
    """`{name}`, `{name?}`, `{name=default}`, `{*rest}` and any chain of `:constraint` / `:constraint(args)`."""
    catch_all = text.startswith("*")
    text = text.lstrip("*")
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text)
    if not m:
        raise ValueError(f"route {template!r}: bad parameter {{{text}}}")
    name, i, checks = m.group(), m.end(), []
    while i < len(text) and text[i] == ":":
        c = re.match(r"[A-Za-z]+", text[i + 1 :])
        if not c:
            raise ValueError(f"route {template!r}: bad constraint in {{{text}}}")
        cname, i, args = c.group(), i + 1 + c.end(), None
        if i < len(text) and text[i] == "(":
            depth, j = 0, i
            while j < len(text):
                if text[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            args, i = text[i + 1 : j], j + 1
        try:
            checks.append(_constraint(cname, args))
        except ValueError as exc:
            raise ValueError(f"route {template!r}: {exc}") from exc
    rest = text[i:]
    if rest not in ("", "?") and not rest.startswith("="):
        raise ValueError(f"route {template!r}: cannot read {{{text}}}")
    return RouteParameter(name, checks, optional=rest == "?" or rest.startswith("=") or catch_all, catch_all=catch_all,
                          default=rest[1:] if rest.startswith("=") else None)


def _segment_parts(segment: str) -> list[str | tuple[str]]:
    """A segment's literal text and `{...}` parameters (as 1-tuples); `{{` and `}}` are literal braces."""
    parts: list[str | tuple[str]] = []
    literal, i = "", 0
    while i < len(segment):
        if segment.startswith("{{", i) or segment.startswith("}}", i):
            literal, i = literal + segment[i], i + 2
        elif segment[i] == "{":
            depth, j = 0, i
            while j < len(segment):
                if segment[j] == "\\":
                    j += 2
                    continue
                if segment[j] == "(":
                    depth += 1
                elif segment[j] == ")":
                    depth -= 1
                elif segment[j] == "}" and depth == 0:
                    break
                j += 1
            if literal:
                parts.append(literal)
                literal = ""
            parts.append((segment[i + 1 : j],))
            i = j + 1
        else:
            literal, i = literal + segment[i], i + 1
    if literal:
        parts.append(literal)
    return parts


@dataclass
class HttpRoute:
    name: str
    template: str
    methods: set[str]
    auth_level: str
    param: str
    call: Callable[..., Any]
    pattern: re.Pattern[str] = field(init=False)
    parameters: dict[str, RouteParameter] = field(init=False)
    precedence: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.auth_level = str(getattr(self.auth_level, "value", self.auth_level) or "function").lower()
        if self.auth_level not in ("anonymous", "function", "admin"):
            raise ValueError(f"function {self.name}: unknown auth level {self.auth_level}")
        regex, ranks, self.parameters = [], [], {}
        for seg in self.template.strip("/").split("/"):
            parts = _segment_parts(seg)
            if len(parts) == 1 and isinstance(parts[0], tuple):
                p = _parse_parameter(parts[0][0], self.template)
                self.parameters[p.name] = p
                body = f"(?P<{p.name}>.*)" if p.catch_all else f"(?P<{p.name}>[^/]+)"
                regex.append(f"(?:/{body})?" if p.optional else f"/{body}")
                # ASP.NET's inbound precedence: literal, complex segment, constrained, plain parameter, catch-all.
                ranks.append(5 if p.catch_all else 3 if p.checks else 4)
            elif any(isinstance(part, tuple) for part in parts):
                pieces = []
                for part in parts:
                    if isinstance(part, tuple):
                        p = _parse_parameter(part[0], self.template)
                        self.parameters[p.name] = p
                        # Greedy: ASP.NET reads a complex segment from the right ({name}.{ext} on a.b.txt: a.b, txt).
                        pieces.append(f"(?P<{p.name}>[^/]+)")
                    else:
                        pieces.append(re.escape(part))
                regex.append("/" + "".join(pieces))
                ranks.append(2)
            else:
                regex.append("/" + re.escape(seg.replace("{{", "{").replace("}}", "}")))
                ranks.append(1)
        self.pattern = re.compile("^" + "".join(regex) + "/?$", re.IGNORECASE)
        self.precedence = tuple(ranks)

    def match(self, path: str) -> dict[str, str] | None:
        """The route values for `path`, or None when the template or a constraint does not match (Azure: 404)."""
        m = self.pattern.match(path)
        if not m:
            return None
        values = {}
        for name, p in self.parameters.items():
            value = m.group(name)
            if value is None or (p.catch_all and value == ""):
                if p.default is not None:
                    values[name] = p.default
                continue
            if not p.accepts(value):
                return None
            values[name] = value
        return values


@dataclass(frozen=True)
class LocalKeys:
    """The local host's keys: `default` opens FUNCTION routes (like a host key in Azure), `master` opens every route."""

    default: str
    master: str

    def admits(self, auth_level: str, key: str | None) -> bool:
        if auth_level == "anonymous":
            return True
        if not key:
            return False
        if hmac.compare_digest(key, self.master):
            return True
        return auth_level == "function" and hmac.compare_digest(key, self.default)

    def system_key(self, name: str) -> str:
        """A system key (`eventgrid_extension`), derived from the master key so the kept file stays as it is."""
        digest = hmac.new(self.master.encode(), f"system-key:{name}".encode(), "sha256").digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def admits_system(self, name: str, key: str | None) -> bool:
        """An extension's webhook takes its system key or the master key, as in Azure."""
        return bool(key) and (hmac.compare_digest(key or "", self.master) or hmac.compare_digest(key or "", self.system_key(name)))


KEYS_PATH = ROOT / ".local" / "function-keys.json"


def local_keys(path: Path = KEYS_PATH) -> LocalKeys:
    """Made once and kept in the git-ignored .local/, so a key pasted into a client keeps working across restarts."""
    if path.exists():
        data = json.loads(path.read_text())
        return LocalKeys(default=data["default"], master=data["master"])
    keys = LocalKeys(default=secrets.token_urlsafe(40), master=secrets.token_urlsafe(40))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"default": keys.default, "master": keys.master}, indent=2) + "\n")
    tmp.chmod(0o600)
    # Two processes starting at once (tests) must end up with one pair of keys: the first rename wins.
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    tmp.unlink(missing_ok=True)
    return local_keys(path)


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
    def __init__(self, module: str = "function_app", functions: tuple[Any, ...] | None = None, keys: LocalKeys | None = None) -> None:
        self.keys = keys or local_keys()
        self.routes: list[HttpRoute] = []
        self.timers: list[tuple[str, str, str, Callable[..., Any]]] = []
        self.queues: list[tuple[str, str, str, str, Callable[..., Any]]] = []
        self.event_grid: dict[str, tuple[str, Callable[..., Any]]] = {}  # by lower-cased function name
        for fn in functions if functions is not None else registered_functions(module):
            trigger = fn.get_trigger()
            spec = trigger.get_dict_repr()
            kind = spec["type"]
            name = fn.get_function_name()
            call = fn.get_user_function()
            if kind == "httpTrigger":
                route = spec.get("route") or name
                methods = {str(m).upper().split(".")[-1] for m in (spec.get("methods") or ["GET", "POST"])}
                auth = getattr(spec.get("authLevel"), "value", spec.get("authLevel")) or "function"
                self.routes.append(HttpRoute(name, route, methods, auth, spec["name"], call))
            elif kind == "timerTrigger":
                self.timers.append((name, resolve(spec["schedule"]), spec["name"], call))
            elif kind == "queueTrigger":
                self.queues.append(
                    (name, resolve(spec["queueName"]), spec.get("connection") or "AzureWebJobsStorage", spec["name"], call)
                )
            elif kind == "eventGridTrigger":
                self.event_grid[name.lower()] = (spec["name"], call)
            else:
                log.warning("function %s has a %s trigger, which this local host does not run", name, kind)
        # ASP.NET routing tries literal segments before constrained parameters before plain ones (invitations/bulk
        # before invitations/{id}); a constraint that fails moves on to the next route, and to 404 at the end.
        self.routes.sort(key=lambda r: (r.precedence, r.template))
        self._stop = threading.Event()

    # -- HTTP ------------------------------------------------------------------------
    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"].upper()
        if path.rstrip("/").lower() == EVENT_GRID_PATH:
            return self._event_grid(environ, start_response)
        if not path.startswith("/api/"):
            return _plain(start_response, 404, "Not found")
        sub = path[len("/api") :]
        matched_path = False
        for route in self.routes:
            values = route.match(sub)
            if values is None:
                continue
            matched_path = True
            allowed = route.methods | ({"HEAD"} if "GET" in route.methods else set())
            if method not in allowed:
                continue
            if not self.keys.admits(route.auth_level, _function_key(environ)):
                # Azure answers a missing or wrong key with an empty 401, before the function runs.
                return _plain(start_response, 401, "")
            return self._invoke_http(route, values, environ, start_response)
        if matched_path:
            return _plain(start_response, 405, "Method not allowed")
        return _plain(start_response, 404, "Not found")

    def _invoke_http(self, route: HttpRoute, params: dict[str, str], environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        if environ.get("REMOTE_ADDR"):
            # As Azure's front end does: the peer's address after whatever the client sent (the app reads the last entry).
            headers["x-forwarded-for"] = ", ".join(p for p in (headers.get("x-forwarded-for"), environ["REMOTE_ADDR"]) if p)
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

    # -- Event Grid ----------------------------------------------------------------
    def _event_grid(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        def run(name: str, event: func.EventGridEvent) -> None:
            param, call = self.event_grid[name]
            try:
                invoke(call, name, param, event, headers.get("traceparent"))
            except Exception:
                log.exception("Event Grid function %s raised on event %s", name, event.id)
                raise

        status, out, payload = event_grid.answer(
            environ["REQUEST_METHOD"].upper(), headers, dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)),
            body, key_ok=self.keys.admits_system(event_grid.SYSTEM_KEY, _function_key(environ)), functions=set(self.event_grid), invoke=run)
        if not any(k.lower() == "content-length" for k, _ in out):
            out = [*out, ("Content-Length", str(len(payload)))]
        start_response(f"{status} {_reason(status)}", out)
        return [payload]

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
        lines = [f"  {','.join(sorted(r.methods)):<16} /api/{r.template}  [{r.name}, {r.auth_level}]" for r in self.routes]
        lines += [f"  timer {s:<16} [{n}]" for n, s, _, _ in self.timers]
        lines += [f"  queue {q:<16} [{n}]" for n, q, _, _, _ in self.queues]
        lines += [f"  event grid {EVENT_GRID_PATH}?functionName={n}  [system key eventgrid_extension]" for n in self.event_grid]
        return lines


def _function_key(environ: dict[str, Any]) -> str | None:
    """The key of a request, where Azure looks for it: the `code` query parameter, else the x-functions-key header."""
    code = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)).get("code")
    return code or environ.get("HTTP_X_FUNCTIONS_KEY")


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
    if any(r.auth_level != "anonymous" for r in host.routes):
        log.info("function key (x-functions-key header or ?code=): %s  (master key in %s)", host.keys.default, KEYS_PATH)
    if host.event_grid:
        log.info("Event Grid system key (eventgrid_extension): %s", host.keys.system_key(event_grid.SYSTEM_KEY))
    host.start_background()
    from waitress import serve

    # Threads: a double-click or twenty parallel POSTs must really run in parallel, as in Azure.
    serve(host.wsgi, host=args.host, port=args.port, threads=24, ident="local-functions-host", _quiet=True)


if __name__ == "__main__":
    main()
