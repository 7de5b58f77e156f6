"""A TCP fault proxy between the app and Azurite (loopback only): pause, reset connections, add latency, fail the N-th request.

One proxy listens on a port per target (Azurite's table and queue services) and numbers the HTTP requests of all of
them together, so a fault can hit exactly the N-th storage request of a path. It reads each request whole (head and
Content-Length body: a batch's inner requests are not counted) and then, for a faulted one:
- "500": answers 500 itself, nothing reaches storage (the SDK retries, as for a storage hiccup);
- "reset": cuts the connection, nothing reaches storage;
- "lost-answer": forwards it, storage acts, then cuts the connection before the answer (the write landed unseen);
- "blackhole": holds it unanswered until `clear()` (the client's read timeout fires).
`fail_nth(n, mode, count)` faults `count` consecutive requests from the n-th on (3 = every try of one SDK call).
`pause()` holds every request until `resume()`; `latency(s)` delays each; `reset_connections()` cuts all.
Bounded: at most `max_connections` open connections per target, and it stops after `max_seconds` at the latest.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import suppress
from dataclasses import dataclass

_BODY = b'{"odata.error":{"code":"InternalError","message":{"lang":"en-US","value":"injected"}}}'
_500 = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json;odata=minimalmetadata\r\n"
        b"Content-Length: " + str(len(_BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + _BODY)
MODES = ("500", "reset", "lost-answer", "blackhole")


@dataclass
class _Fault:
    first: int
    last: int
    mode: str


class FaultProxy:
    def __init__(self, *target_ports: int, max_connections: int = 64, max_seconds: float = 6 * 3600) -> None:
        self.targets = list(target_ports)
        self.ports: list[int] = []
        self.max_connections = max_connections
        self.max_seconds = max_seconds
        self.requests = 0
        self.faults_hit: list[str] = []
        self._lock = threading.Lock()
        self._fault: _Fault | None = None
        self._paused = False
        self._latency = 0.0
        self._generation = 0  # moves on at every clear(): a black-holed request waits for that
        self._open: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fault-proxy")

    @property
    def port(self) -> int:
        return self.ports[0]

    # -- control (from any thread) -------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault proxy did not start")
        return self

    def stop(self) -> None:
        self.clear()
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def pause(self) -> None:
        self._paused = True  # a plain flag: it holds from the moment this returns, whatever the loop is doing

    def resume(self) -> None:
        self._paused = False

    def fail_nth(self, n: int, mode: str = "500", count: int = 1) -> None:
        """Requests n .. n+count-1 from now (1 = the next one) meet `mode`."""
        if mode not in MODES:
            raise ValueError(mode)
        with self._lock:
            self._fault = _Fault(self.requests + n, self.requests + n + count - 1, mode)

    def latency(self, seconds: float) -> None:
        self._latency = seconds

    def clear(self) -> None:
        with self._lock:
            self._fault = None
            self._generation += 1
        self._latency = 0.0
        self._paused = False

    def reset_connections(self) -> None:
        """Cut every open connection now (storage restarting)."""
        self._loop.call_soon_threadsafe(lambda: [_abort(w) for w in list(self._open)])

    # -- the proxy ----------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        servers = []
        for target in self.targets:
            server = self._loop.run_until_complete(
                asyncio.start_server(lambda r, w, t=target: self._serve(r, w, t), "127.0.0.1", 0))
            servers.append(server)
            self.ports.append(server.sockets[0].getsockname()[1])
        self._loop.call_later(self.max_seconds, self._loop.stop)
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            for server in servers:
                server.close()
            for w in list(self._open):
                _abort(w)
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            with suppress(Exception):
                self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, target: int) -> None:
        if len(self._open) >= self.max_connections * len(self.targets):
            _abort(client_w)
            return
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            _abort(client_w)
            return
        self._open |= {client_w, up_w}
        dropping = asyncio.Event()  # set: the next answer is dropped and the connection cut
        down = asyncio.ensure_future(self._pipe(up_r, client_w, dropping))
        try:
            while True:
                request = await _read_request(client_r)
                if request is None:
                    break
                mode = self._count()
                if self._latency:
                    await asyncio.sleep(self._latency)
                while self._paused:
                    await asyncio.sleep(0.02)
                if mode in ("reset", "500", "blackhole"):
                    if mode == "500":
                        client_w.write(_500)
                        with suppress(ConnectionError, OSError):
                            await client_w.drain()
                    elif mode == "blackhole":
                        await self._until_cleared()
                    break
                if mode == "lost-answer":
                    dropping.set()
                up_w.write(request)
                await up_w.drain()
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            if not dropping.is_set():
                down.cancel()
                for w in (client_w, up_w):
                    _abort(w)
            else:
                with suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(down, 30)
                _abort(up_w)
            self._open.discard(client_w)
            self._open.discard(up_w)

    def _count(self) -> str | None:
        with self._lock:
            self.requests += 1
            fault = self._fault
            if fault is not None and fault.first <= self.requests <= fault.last:
                if self.requests == fault.last:
                    self._fault = None
                self.faults_hit.append(fault.mode)
                return fault.mode
        return None

    async def _until_cleared(self) -> None:
        generation = self._generation
        while self._generation == generation:
            await asyncio.sleep(0.05)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, dropping: asyncio.Event) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if dropping.is_set():
                    break  # storage answered: the write landed; the caller never hears it
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            _abort(writer)


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One whole HTTP/1.1 request (head + Content-Length body), or None when the client closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    body = await reader.readexactly(length) if length else b""
    return head + body


def _abort(writer: asyncio.StreamWriter) -> None:
    with suppress(Exception):
        transport = writer.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
