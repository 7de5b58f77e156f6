"""Starts and supervises the whole local stack on loopback; `make run` and the end-to-end tests share it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

from devhost.identity import LOCAL_DIR, PARTNER_ISSUER_PATH, combined_ca_bundle, ensure_certs, ensure_partner_key
from devhost.local_settings import ROOT, load_local_settings
from shared.storage import azurite_connection_string


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Each port of the stack, and the environment variable that moves it.
PORT_VARIABLES = {
    "app": "FUNCTIONS_HTTP_PORT",
    "blob": "AZURITE_BLOB_PORT",
    "queue": "AZURITE_QUEUE_PORT",
    "table": "AZURITE_TABLE_PORT",
    "smtp": "MAILDEV_SMTP_PORT",
    "mail_web": "MAILDEV_WEB_PORT",
    "identity": "IDENTITY_PORT",
    "webhook_inbox": "WEBHOOK_INBOX_PORT",
    "dns": "DNS_PORT",
}
CA_SETTINGS = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
# What stops the stack: Ctrl-C, a task runner or CI cancel, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SERVICE_PORTS = {"azurite": ("blob", "queue", "table"), "maildev": ("smtp", "mail_web"), "identity": ("identity",), "app": ("app",),
                 "webhooks": ("webhook_inbox",), "dns": ("dns",)}


class PortError(RuntimeError):
    """A port setting the stack cannot use: malformed, used twice, or already taken by another process."""


@dataclass
class Ports:
    app: int = 7071
    blob: int = 10000
    queue: int = 10001
    table: int = 10002
    smtp: int = 1025
    mail_web: int = 1080
    identity: int = 9443
    webhook_inbox: int = 1090
    dns: int = 1053

    @classmethod
    def random(cls) -> Ports:
        return cls(*(free_port() for _ in range(len(fields(cls)))))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        """The default ports, each moved by its variable (FUNCTIONS_HTTP_PORT, AZURITE_BLOB_PORT, ...) when set."""
        values, problems = {}, []
        for f in fields(cls):
            raw = (env.get(PORT_VARIABLES[f.name]) or "").strip()
            if not raw:
                continue
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                problems.append(f"{PORT_VARIABLES[f.name]}={raw!r} is not a port number (1-65535)")
                continue
            values[f.name] = int(raw)
        ports = cls(**values)
        seen: dict[int, str] = {}
        for f in fields(cls):
            port = getattr(ports, f.name)
            if port in seen:
                problems.append(f"{PORT_VARIABLES[f.name]} and {seen[port]} are both {port}")
            seen.setdefault(port, PORT_VARIABLES[f.name])
        if problems:
            raise PortError("Cannot use these port settings:\n  " + "\n  ".join(problems))
        return ports

    def check_free(self, services: tuple[str, ...]) -> None:
        """Raise PortError naming every taken port of `services` and what holds it, before anything is started."""
        taken = []
        for service in services:
            for name in SERVICE_PORTS.get(service, ()):
                port = getattr(self, name)
                if not port_is_free(port):
                    taken.append((PORT_VARIABLES[name], f"port {port} ({service}, {PORT_VARIABLES[name]}) is taken by {port_holder(port)}"))
        if taken:
            raise PortError(
                "Cannot start the local stack, nothing was started:\n  " + "\n  ".join(line for _, line in taken)
                + f"\nStop that process, or move the port with its variable, e.g. `{taken[0][0]}=<free port> make run`."
            )


def port_is_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:port and it can be bound (a listener on 0.0.0.0 or ::1-only counts as taken too)."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as s:
        # SO_REUSEADDR: a port left in TIME_WAIT by the last run is free to use, as the services themselves set it.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _socket_inode(fd: Path) -> str | None:
    try:
        link = os.readlink(fd)
    except OSError:  # closed meanwhile
        return None
    return link[8:-1] if link.startswith("socket:[") else None


def port_holder(port: int) -> str:
    """Which process listens on `port`: read from /proc on Linux (no extra tools), else from lsof (macOS)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(cols[9])
    if inodes:
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit():
                continue
            try:
                fds = list((pid_dir / "fd").iterdir())
            except OSError:
                continue
            if any(_socket_inode(fd) in inodes for fd in fds):
                try:
                    cmd = " ".join((pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split())
                except OSError:
                    cmd = "?"
                return f"pid {pid_dir.name} ({cmd[:200]})"
        return "a process of another user (see `sudo ss -ltnp`)"
    if shutil.which("lsof"):
        out = subprocess.run(["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"], capture_output=True, text=True).stdout
        pid = next((line[1:] for line in out.splitlines() if line.startswith("p")), None)
        cmd = next((line[1:] for line in out.splitlines() if line.startswith("c")), "?")
        if pid:
            return f"pid {pid} ({cmd})"
    return "an unknown process"


@dataclass
class Stack:
    ports: Ports = field(default_factory=Ports)
    data_dir: Path = LOCAL_DIR / "azurite"
    tenant: str = "local-tenant"
    services: tuple[str, ...] = ("azurite", "maildev", "identity", "webhooks", "dns", "app", "reports")
    # Tests and benchmarks keep Azurite's data in memory: faster, and nothing to clean up.
    in_memory: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    # The user's real environment (`make run` passes it): any setting in it wins over the stack's own. Tests leave it
    # empty, so a developer's exported PARTNER_AUTH_ISSUER cannot redirect the tests' stacks.
    user_env: Mapping[str, str] = field(default_factory=dict)
    log_dir: Path = LOCAL_DIR / "logs"
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # -- what is where ----------------------------------------------------------------
    @property
    def app_url(self) -> str:
        return f"http://localhost:{self.ports.app}"

    @property
    def mail_url(self) -> str:
        return f"http://localhost:{self.ports.mail_web}"

    @property
    def webhook_inbox_url(self) -> str:
        return f"http://localhost:{self.ports.webhook_inbox}"

    @property
    def webhook_secrets(self) -> Path:
        return self.log_dir.parent / "webhook-inbox-secrets.json"

    @property
    def dns_records(self) -> Path:
        """The local DNS server's TXT records (`python -m devhost.dns_server add <name> <text>` writes it)."""
        return self.log_dir.parent / "dns-records.json"

    @property
    def authority(self) -> str:
        return f"https://localhost:{self.ports.identity}/{self.tenant}"

    @property
    def partner_issuer(self) -> str:
        return f"https://localhost:{self.ports.identity}{PARTNER_ISSUER_PATH}"

    def app_env(self) -> dict[str, str]:
        """The settings the app needs: the user's environment, else this stack's services (over local.settings.json)."""
        own = self.own_env()
        env = {**own, **{k: v for k, v in self.user_env.items() if k in own and k not in CA_SETTINGS}}
        user_cas = [self.user_env[k] for k in CA_SETTINGS if self.user_env.get(k)]
        if user_cas:
            # Many machines export a CA bundle (the system's, a company proxy's); used alone it would not trust the local
            # sign-in provider, so the app gets the user's CAs plus the local CA.
            env["REQUESTS_CA_BUNDLE"] = env["SSL_CERT_FILE"] = str(combined_ca_bundle(user_cas))
        return {**env, **self.extra_env}

    def overridden(self) -> dict[str, str]:
        """The stack's settings the user's environment replaces (shown at start, so nobody wonders which one is used)."""
        own = self.own_env()
        return {k: v for k, v in self.user_env.items() if k in own and v != own[k]}

    def own_env(self) -> dict[str, str]:
        ca, _ = ensure_certs()
        p = self.ports
        return {
            "AzureWebJobsStorage": azurite_connection_string(p.blob, p.queue, p.table),
            "PUBLIC_BASE_URL": self.app_url,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(p.smtp),
            "AUTH_AUTHORITY": self.authority,
            "REQUESTS_CA_BUNDLE": str(ca),
            "SSL_CERT_FILE": str(ca),
            "PARTNER_AUTH_ISSUER": self.partner_issuer,
            "PARTNER_AUTH_JWKS_URL": f"{self.partner_issuer}/jwks.json",
            # The local webhook inbox listens on loopback; in Azure this setting is never set (false).
            "WEBHOOKS_ALLOW_LOOPBACK": "true",
            # Domain verification asks the stack's own DNS server (devhost/dns_server.py); in Azure the platform's resolver.
            "DNS_RESOLVER": f"127.0.0.1:{p.dns}",
        }

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> Stack:
        load_local_settings()
        ensure_certs()
        ensure_partner_key()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        bin_dir = ROOT / "node_modules" / ".bin"
        p = self.ports
        want = set(self.services)
        # All or nothing: a taken port is reported before any service starts, not after half of them did.
        p.check_free(self.services)
        try:
            if "azurite" in want:
                storage_flag = ["--inMemoryPersistence"] if self.in_memory else ["--location", str(self.data_dir)]
                self._spawn("azurite", [
                    str(bin_dir / "azurite"), "--disableTelemetry", "--skipApiVersionCheck", "--silent", *storage_flag,
                    "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1",
                    "--blobPort", str(p.blob), "--queuePort", str(p.queue), "--tablePort", str(p.table),
                ])
            if "maildev" in want:
                self._spawn("maildev", [
                    str(bin_dir / "maildev"), "--smtp", str(p.smtp), "--web", str(p.mail_web), "--ip", "127.0.0.1", "--silent",
                ])
            if "webhooks" in want:
                self._spawn("webhook-inbox", [sys.executable, "-m", "devhost.webhook_inbox", "--port", str(p.webhook_inbox),
                                              "--secrets", str(self.webhook_secrets)])
            if "dns" in want:
                self._spawn("dns", [sys.executable, "-m", "devhost.dns_server", "--records", str(self.dns_records), "serve",
                                    "--port", str(p.dns)])
            if "identity" in want:
                self._spawn("identity", [sys.executable, "-m", "devhost.identity", "--port", str(p.identity), "--tenant", self.tenant])
            if "azurite" in want:
                for port in (p.blob, p.queue, p.table):
                    wait_for_port(port, self)
            if "maildev" in want:
                wait_for_port(p.smtp, self)
                wait_for_url(f"http://127.0.0.1:{p.mail_web}/email", self)
            if "webhooks" in want:
                wait_for_url(self.webhook_inbox_url, self)
            if "dns" in want:
                wait_for_port(p.dns, self)
            if "identity" in want:
                wait_for_url(f"{self.authority}/.well-known/openid-configuration", self)
            if "app" in want:
                self._spawn("app", [sys.executable, "-m", "devhost.functions_host", "--port", str(p.app)])
                wait_for_url(f"{self.app_url}/api/health", self, accept_status=(200, 503))
            if {"reports", "app", "maildev"} <= want:
                # What ACS and Event Grid do in Azure: a delivery report for every mail accepted (devhost/mail_reports.py).
                self._spawn("mail-reports", [sys.executable, "-m", "devhost.mail_reports", "--mail", f"http://127.0.0.1:{p.mail_web}",
                                             "--app", f"http://127.0.0.1:{p.app}"])
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, cmd: list[str]) -> None:
        env = {**os.environ, **self.app_env()}
        log = open(self.log_dir / f"{name}.log", "ab")
        # Own process group: Ctrl-C on `make run` must stop every child it started, and only those.
        self.procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        """Stops every child, whatever arrives meanwhile: terminating `make run`'s process group delivers SIGTERM twice
        (once directly, once forwarded by make), and the second must not cut the shutdown short and leave children
        holding their ports. So SIGINT, SIGTERM and SIGHUP are ignored until the last child is gone (main thread only: Python
        sets handlers there; elsewhere no handler of ours runs anyway)."""
        ignoring = threading.current_thread() is threading.main_thread()
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in STOP_SIGNALS} if ignoring else {}
        try:
            self._stop_children()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop_children(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.time() + 10
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.procs.clear()

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.log_dir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wipe(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)


def wait_for_port(port: int, stack: Stack, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        stack.check_alive()
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


def wait_for_url(url: str, stack: Stack, timeout: float = 60, accept_status: tuple[int, ...] = (200,)) -> None:
    ca, _ = ensure_certs()
    ctx = ssl.create_default_context(cafile=str(ca))
    deadline = time.time() + timeout
    last: object = None
    while time.time() < deadline:
        stack.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=5, context=ctx if url.startswith("https") else None) as r:
                if r.status in accept_status:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in accept_status:
                return
            last = exc
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer after {timeout}s: {last}")


@contextmanager
def throwaway_stack(prefix: str = "stack-", *, services: tuple[str, ...] | None = None,
                    extra_env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """A stack on random loopback ports with Azurite in memory and logs in a temporary folder, stopped and removed after
    use: what the tests and benchmarks run against (the timers' schedules are theirs to set in `extra_env`)."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    stack = Stack(ports=Ports.random(), data_dir=d / "data", log_dir=d / "logs", in_memory=True,
                  extra_env=dict(extra_env or {}), services=services or Stack.services)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(d, ignore_errors=True)
