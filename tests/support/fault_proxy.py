"""A TCP fault proxy between the app and Azurite (loopback only): pause, reset connections, add latency, fail the N-th request.

It runs an asyncio loop in a thread and forwards bytes both ways. It counts HTTP requests (the lines that start
a request on a client connection) so a fault can hit exactly the N-th storage request of a path:
- `pause()`: requests are read but held, unanswered, until `resume()` (storage that stopped answering);
- `fail_nth(n, mode)`: the n-th request from now gets `mode` = "reset" (the connection is cut before it reaches
  storage), "500" (an HTTP 500 answer, nothing forwarded) or "blackhole" (held unanswered until cleared);
- `latency(seconds)`: every request waits that long first.
Bounded: at most `max_connections` open connections, and it stops when its owner stops it (or after `max_seconds`).
"""

from __future__ import annotations

import asyncio
import re
import threading
from contextlib import suppress
from dataclasses import dataclass, field

_REQUEST_LINE = re.compile(rb"^(GET|POST|PUT|PATCH|DELETE|HEAD|MERGE|OPTIONS) \S+ HTTP/1\.[01]\r\n", re.M)
_BODY = b'{"odata.error":{"code":"InternalError","message":{"lang":"en-US","value":"injected"}}}'
_500 = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(_BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + _BODY)


@dataclass
class _Fault:
    at: int  # the request number it hits
    mode: str


@dataclass
class FaultProxy:
    target_port: int
    max_connections: int = 64
    max_seconds: float = 3600
    port: int = 0
    requests: int = 0
    faults_hit: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"fault-proxy-{self.target_port}")
        self._lock = threading.Lock()
        self._fault: _Fault | None = None
        self._latency = 0.0
        self._open: set[asyncio.StreamWriter] = set()
        self._paused = False
        self._generation = 0  # moves on at every clear(): a black-holed request waits for that

    # -- control (from any thread) -------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def pause(self) -> None:
        self._paused = True  # a plain flag: it holds from the moment this returns, whatever the loop is doing

    def resume(self) -> None:
        self._paused = False

    def fail_nth(self, n: int, mode: str = "reset") -> None:
        """The n-th request from now (1 = the next one) meets `mode`."""
        with self._lock:
            self._fault = _Fault(self.requests + n, mode)

    def latency(self, seconds: float) -> None:
        self._latency = seconds

    def clear(self) -> None:
        with self._lock:
            self._fault = None
            self._generation += 1
        self._latency = 0.0
        self.resume()

    def reset_connections(self) -> None:
        """Cut every open connection now (storage restarting)."""
        def cut() -> None:
            for w in list(self._open):
                _abort(w)
        self._loop.call_soon_threadsafe(cut)

    # -- the proxy ----------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self.port = server.sockets[0].getsockname()[1]
        self._loop.call_later(self.max_seconds, self._loop.stop)
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            for w in list(self._open):
                _abort(w)
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            with suppress(Exception):
                self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if len(self._open) >= self.max_connections:
            _abort(client_w)
            return
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            _abort(client_w)
            return
        self._open |= {client_w, up_w}
        down = asyncio.ensure_future(self._pipe(up_r, client_w))
        try:
            while True:
                data = await client_r.read(65536)
                if not data:
                    break
                starts = len(_REQUEST_LINE.findall(data))
                if starts:
                    mode = self._count(starts)
                    if self._latency:
                        await asyncio.sleep(self._latency)
                    while self._paused:
                        await asyncio.sleep(0.02)
                    if mode == "reset":
                        _abort(client_w)
                        break
                    if mode == "500":
                        client_w.write(_500)
                        await client_w.drain()
                        _abort(client_w)
                        break
                    if mode == "blackhole":
                        await self._until_cleared()
                        _abort(client_w)
                        break
                up_w.write(data)
                await up_w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            down.cancel()
            for w in (client_w, up_w):
                _abort(w)
                self._open.discard(w)

    def _count(self, starts: int) -> str | None:
        with self._lock:
            first = self.requests + 1
            self.requests += starts
            fault = self._fault
            if fault is not None and first <= fault.at <= self.requests:
                self._fault = None
                self.faults_hit.append(fault.mode)
                return fault.mode
        return None

    async def _until_cleared(self) -> None:
        generation = self._generation
        while self._generation == generation:
            await asyncio.sleep(0.05)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            _abort(writer)


def _abort(writer: asyncio.StreamWriter) -> None:
    with suppress(Exception):
        transport = writer.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
