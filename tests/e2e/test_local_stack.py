"""The local stack as `make run` and `make services` start it: every service answers, the user's environment and ports win."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import certifi
import requests

from devhost.identity import ensure_certs, ensure_partner_key, mint_partner_token, partner_jwks
from devhost.local_settings import ROOT, app_setting_names
from devhost.stack import PORT_VARIABLES, Stack, free_port, port_is_free, wait_for_url


def test_stack_answers_over_http(local_stack):
    health = requests.get(f"{local_stack.app_url}/api/health", timeout=10)
    assert health.status_code == 200
    assert health.json()["storage"]["reachable"] is True
    assert requests.get(f"{local_stack.mail_url}/email", timeout=10).status_code == 200
    bundle, _ = ensure_certs()
    discovery = requests.get(f"{local_stack.authority}/.well-known/openid-configuration", timeout=10, verify=str(bundle))
    assert discovery.status_code == 200
    assert discovery.json()["authorization_endpoint"].startswith(local_stack.authority)


def test_unknown_route_is_404(local_stack):
    assert requests.get(f"{local_stack.app_url}/api/nothing-here", timeout=10).status_code == 404


# -- `make run` / `make services` as a user starts them: `python -m devhost` with settings in the environment --------

def _user_env(**settings: str) -> dict[str, str]:
    """This process's environment without any app setting (tests load local.settings.json into it), plus `settings`."""
    drop = app_setting_names() | set(PORT_VARIABLES.values())
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **settings}


def _ports_env():
    return {var: str(free_port()) for var in PORT_VARIABLES.values()}


def _start_devhost(tmp_path, env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "devhost", "--in-memory", "--log-dir", str(tmp_path / "logs"), *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None  # stdout=PIPE
    out: list[str] = []
    for line in proc.stdout:
        out.append(line)
        if "Ctrl-C stops everything." in line:
            return proc, "".join(out)
    proc.wait()
    raise AssertionError(f"devhost exited with {proc.returncode}:\n{''.join(out)}")


def _stop(proc):
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, rest


def _jwks_server(jwks):
    body = json.dumps(jwks).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_make_run_honours_the_users_issuer_authority_and_ports(tmp_path):
    """Done when: PARTNER_AUTH_* / AUTH_* set before `make run` reach the app, and every port moves by its variable."""
    key = ensure_partner_key()
    keys_server = _jwks_server(partner_jwks(key))
    issuer = "https://login.example/tenant-a/v2.0"
    ports = _ports_env()
    env = _user_env(**ports, PARTNER_AUTH_ISSUER=issuer, PARTNER_AUTH_AUDIENCE="api://tenant-a-invitations",
                    PARTNER_AUTH_JWKS_URL=f"http://127.0.0.1:{keys_server.server_port}/keys",
                    AUTH_AUTHORITY="https://login.example/tenant-a")
    proc, banner = _start_devhost(tmp_path, env)
    try:
        app = f"http://localhost:{ports['FUNCTIONS_HTTP_PORT']}"
        assert f"app            {app}/api/..." in banner
        assert f"blob {ports['AZURITE_BLOB_PORT']}, queue {ports['AZURITE_QUEUE_PORT']}, table {ports['AZURITE_TABLE_PORT']}" in banner
        assert f"http://localhost:{ports['MAILDEV_WEB_PORT']}" in banner
        assert f"PARTNER_AUTH_ISSUER={issuer}" in banner and "AUTH_AUTHORITY=https://login.example/tenant-a" in banner
        assert "No demo token" in banner
        assert requests.get(f"{app}/api/health", timeout=10).json()["storage"]["reachable"] is True

        def token(iss):
            return "Bearer " + mint_partner_token(key, issuer=iss, audience="api://tenant-a-invitations", tenant_id="tenant-a",
                                                  roles=["AdminAgent"])

        # The user's issuer is trusted: the token passes, and tenant-a, not a registered partner, is refused as such.
        mine = requests.get(f"{app}/api/invitations", headers={"Authorization": token(issuer)}, timeout=10)
        assert mine.status_code == 403 and mine.json()["type"].endswith("/partner-not-registered"), mine.text
        local_issuer = f"https://localhost:{ports['IDENTITY_PORT']}/partner-issuer"
        assert requests.get(f"{app}/api/invitations", headers={"Authorization": token(local_issuer)}, timeout=10).status_code == 401
    finally:
        _stop(proc)
        keys_server.shutdown()
    assert all(port_is_free(int(p)) for p in ports.values())


def test_a_taken_port_stops_the_start_before_anything_runs(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        ports = {**_ports_env(), "MAILDEV_WEB_PORT": str(held.getsockname()[1])}
        done = subprocess.run([sys.executable, "-m", "devhost", "--in-memory", "--log-dir", str(tmp_path / "logs")], cwd=ROOT,
                              env=_user_env(**ports), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"port {ports['MAILDEV_WEB_PORT']} (maildev, MAILDEV_WEB_PORT) is taken by pid {os.getpid()}" in done.stderr
    assert not list((tmp_path / "logs").glob("*.log"))  # no service was started


def test_services_only_prints_settings_that_run_the_app(tmp_path):
    """`make services`: storage, inbox and sign-in provider, no app; the printed settings are enough to run one."""
    ports = _ports_env()
    # Many machines export a CA bundle; the app must still trust the local sign-in provider and partner issuer.
    user_cas = {"SSL_CERT_FILE": certifi.where(), "REQUESTS_CA_BUNDLE": certifi.where()}
    proc, banner = _start_devhost(tmp_path, _user_env(**ports, **user_cas), "--services-only")
    app = None
    try:
        assert port_is_free(int(ports["FUNCTIONS_HTTP_PORT"]))
        assert f"func start --port {ports['FUNCTIONS_HTTP_PORT']}" in banner
        exports = dict(line[len("export "):].split("=", 1) for line in banner.splitlines() if line.startswith("export "))
        settings = {k: v.strip("'") for k, v in exports.items()}
        assert f"BlobEndpoint=http://127.0.0.1:{ports['AZURITE_BLOB_PORT']}/" in settings["AzureWebJobsStorage"]
        assert settings["SMTP_PORT"] == ports["MAILDEV_SMTP_PORT"]
        assert settings["PUBLIC_BASE_URL"] == f"http://localhost:{ports['FUNCTIONS_HTTP_PORT']}"
        env_file = dict(line.split("=", 1) for line in (tmp_path / "services.env").read_text().splitlines())
        assert env_file["AzureWebJobsStorage"] == settings["AzureWebJobsStorage"]
        assert requests.get(f"http://localhost:{ports['MAILDEV_WEB_PORT']}/email", timeout=10).status_code == 200
        # The stand-in for `func start` where Core Tools exist: the app on the printed settings alone.
        app = subprocess.Popen([sys.executable, "-m", "devhost.functions_host", "--port", ports["FUNCTIONS_HTTP_PORT"]], cwd=ROOT,
                               env={**_user_env(), **settings}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = Stack(log_dir=tmp_path / "logs")
        wait_for_url(f"{settings['PUBLIC_BASE_URL']}/api/health", probe, timeout=60)
        health = requests.get(f"{settings['PUBLIC_BASE_URL']}/api/health", timeout=10).json()
        assert health["storage"]["reachable"] is True
        # The demo token is checked against the local issuer's JWKS over TLS, with the user's CA bundle exported.
        token = next(line.split("TOKEN=", 1)[1] for line in banner.splitlines() if line.strip().startswith("export TOKEN="))
        listed = requests.get(f"{settings['PUBLIC_BASE_URL']}/api/invitations", headers={"Authorization": f"Bearer {token}"}, timeout=20)
        assert listed.status_code == 200, listed.text
    finally:
        if app is not None:
            app.terminate()
            app.wait(30)
        _stop(proc)
    assert os.path.exists(tmp_path / "logs" / "azurite.log")
    assert not (tmp_path / "services.env").exists()


def _descendants(pid):
    """Every process below `pid` (the services run in sessions of their own, but they are still its children)."""
    parents = {}
    for stat in os.scandir("/proc"):
        if stat.name.isdigit():
            try:
                with open(f"/proc/{stat.name}/stat") as f:
                    parents[int(stat.name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, todo = set(), [pid]
    while todo:
        below = todo.pop()
        kids = [p for p, parent in parents.items() if parent == below and p not in found]
        found.update(kids)
        todo += kids
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_second_sigterm_to_the_process_group_does_not_cut_the_shutdown_short(tmp_path):
    """Terminating `make run`'s process group delivers SIGTERM twice (directly and forwarded by make): every service
    still stops and every port is free, so the next `make run` starts."""
    ports = _ports_env()
    proc = subprocess.Popen([sys.executable, "-m", "devhost", "--in-memory", "--log-dir", str(tmp_path / "logs")],
                            cwd=ROOT, env=_user_env(**ports), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    assert proc.stdout is not None  # stdout=PIPE
    out, children = [], set()
    try:
        for line in proc.stdout:
            out.append(line)
            if "Ctrl-C stops everything." in line:
                break
        children = _descendants(proc.pid)
        assert len(children) >= 6, "".join(out)  # Azurite, MailDev, identity, webhook inbox, DNS, the app
        os.killpg(proc.pid, signal.SIGTERM)
        for line in proc.stdout:
            out.append(line)
            if "Stopping..." in line:
                break
        os.killpg(proc.pid, signal.SIGTERM)  # the second one, while the children are being stopped
        out.append(proc.communicate(timeout=60)[0])
        assert proc.returncode == 0, "".join(out)
        assert not [p for p in children if _alive(p)], "services left running after the stack stopped"
        taken = [f"{var}={port}" for var, port in ports.items() if not port_is_free(int(port))]
        assert not taken, f"ports still taken: {taken}"
    finally:  # a failing run must not leave a stack behind for the next test
        for pid in (proc.pid, *children):
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
