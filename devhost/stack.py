"""Starts and supervises the whole local stack on loopback; `make run` and the end-to-end tests share it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devhost.identity import LOCAL_DIR, PARTNER_ISSUER_PATH, ensure_certs, ensure_partner_key
from devhost.local_settings import ROOT, load_local_settings
from shared.storage import azurite_connection_string


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Ports:
    app: int = 7071
    blob: int = 10000
    queue: int = 10001
    table: int = 10002
    smtp: int = 1025
    mail_web: int = 1080
    identity: int = 9443

    @classmethod
    def random(cls) -> Ports:
        return cls(*(free_port() for _ in range(7)))


@dataclass
class Stack:
    ports: Ports = field(default_factory=Ports)
    data_dir: Path = LOCAL_DIR / "azurite"
    tenant: str = "local-tenant"
    services: tuple[str, ...] = ("azurite", "maildev", "identity", "app")
    # Tests and benchmarks keep Azurite's data in memory: faster, and nothing to clean up.
    in_memory: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
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
    def authority(self) -> str:
        return f"https://localhost:{self.ports.identity}/{self.tenant}"

    @property
    def partner_issuer(self) -> str:
        return f"https://localhost:{self.ports.identity}{PARTNER_ISSUER_PATH}"

    def app_env(self) -> dict[str, str]:
        """The settings the app needs to find this stack; they override local.settings.json."""
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
            **self.extra_env,
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
            if "identity" in want:
                self._spawn("identity", [sys.executable, "-m", "devhost.identity", "--port", str(p.identity), "--tenant", self.tenant])
            if "azurite" in want:
                for port in (p.blob, p.queue, p.table):
                    wait_for_port(port, self)
            if "maildev" in want:
                wait_for_port(p.smtp, self)
                wait_for_url(f"http://127.0.0.1:{p.mail_web}/email", self)
            if "identity" in want:
                wait_for_url(f"{self.authority}/.well-known/openid-configuration", self)
            if "app" in want:
                self._spawn("app", [sys.executable, "-m", "devhost.functions_host", "--port", str(p.app)])
                wait_for_url(f"{self.app_url}/api/health", self, accept_status=(200, 503))
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
