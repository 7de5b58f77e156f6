"""The local stack bends to the user: real environment variables win, ports move by variables, taken ports are named."""

import json
import os
import shutil
import socket
import subprocess

import pytest

from devhost.local_settings import ROOT, load_local_settings
from devhost.stack import PORT_VARIABLES, PortError, Ports, Stack, port_holder, port_is_free


def test_ports_default_and_move_by_their_variables():
    assert Ports.from_env({}) == Ports()
    moved = Ports.from_env({"FUNCTIONS_HTTP_PORT": "7171", "AZURITE_BLOB_PORT": "11000", "AZURITE_QUEUE_PORT": "11001",
                            "AZURITE_TABLE_PORT": "11002", "MAILDEV_SMTP_PORT": "2025", "MAILDEV_WEB_PORT": "2080",
                            "IDENTITY_PORT": "9444", "WEBHOOK_INBOX_PORT": "2090", "DNS_PORT": "2053"})
    assert moved == Ports(app=7171, blob=11000, queue=11001, table=11002, smtp=2025, mail_web=2080, identity=9444, webhook_inbox=2090,
                          dns=2053)
    assert set(PORT_VARIABLES.values()) == {"FUNCTIONS_HTTP_PORT", "AZURITE_BLOB_PORT", "AZURITE_QUEUE_PORT",
                                            "AZURITE_TABLE_PORT", "MAILDEV_SMTP_PORT", "MAILDEV_WEB_PORT", "IDENTITY_PORT",
                                            "WEBHOOK_INBOX_PORT", "DNS_PORT"}


def test_bad_port_settings_are_refused_with_their_names():
    with pytest.raises(PortError) as exc:
        Ports.from_env({"IDENTITY_PORT": "nine", "MAILDEV_WEB_PORT": "70000", "AZURITE_BLOB_PORT": "7071"})
    message = str(exc.value)
    assert "IDENTITY_PORT='nine'" in message and "MAILDEV_WEB_PORT='70000'" in message
    assert "AZURITE_BLOB_PORT and FUNCTIONS_HTTP_PORT are both 7071" in message


def test_a_taken_port_is_reported_with_what_holds_it():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert not port_is_free(port)
        assert f"pid {os.getpid()}" in port_holder(port)
        ports = Ports.random()
        ports.smtp = port
        with pytest.raises(PortError) as exc:
            ports.check_free(("azurite", "maildev"))
    message = str(exc.value)
    assert f"port {port} (maildev, MAILDEV_SMTP_PORT) is taken by pid {os.getpid()}" in message
    assert "nothing was started" in message
    assert port_is_free(port)


def test_the_users_environment_wins_over_the_stacks_settings():
    user = {"PARTNER_AUTH_ISSUER": "https://login.example/tenant-a/v2.0", "AUTH_AUTHORITY": "https://login.example/tenant-a",
            "PARTNER_AUTH_JWKS_URL": "https://login.example/tenant-a/keys", "HOME": "/root"}
    stack = Stack(ports=Ports.random(), user_env=user)
    env = stack.app_env()
    for key in ("PARTNER_AUTH_ISSUER", "AUTH_AUTHORITY", "PARTNER_AUTH_JWKS_URL"):
        assert env[key] == user[key]
    assert env["SMTP_PORT"] == str(stack.ports.smtp)  # not set by the user: the stack's own
    assert stack.overridden() == {k: v for k, v in user.items() if k != "HOME"}


def test_a_users_ca_bundle_is_kept_and_still_trusts_the_local_sign_in_provider(tmp_path):
    from devhost.identity import ensure_certs

    mine = tmp_path / "company-ca.pem"
    mine.write_text("-----BEGIN CERTIFICATE-----\nMY-COMPANY-CA\n-----END CERTIFICATE-----\n")
    env = Stack(ports=Ports.random(), user_env={"SSL_CERT_FILE": str(mine), "REQUESTS_CA_BUNDLE": str(mine)}).app_env()
    assert env["REQUESTS_CA_BUNDLE"] == env["SSL_CERT_FILE"]
    content = open(env["REQUESTS_CA_BUNDLE"]).read()
    local_ca = (ensure_certs()[0].parent / "ca.pem").read_text()
    assert "MY-COMPANY-CA" in content and local_ca in content


def test_a_stack_without_user_env_ignores_exported_settings(monkeypatch):
    """Tests start stacks without user_env, so a developer's exported issuer cannot redirect them."""
    monkeypatch.setenv("PARTNER_AUTH_ISSUER", "https://login.example/tenant-a/v2.0")
    stack = Stack(ports=Ports.random())
    assert stack.app_env()["PARTNER_AUTH_ISSUER"] == stack.partner_issuer
    assert stack.overridden() == {}


def test_real_environment_wins_over_local_settings_json(tmp_path, monkeypatch):
    shutil.copyfile(ROOT / "local.settings.json.example", tmp_path / "local.settings.json.example")
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"AUTH_AUTHORITY": "https://file.example/t",
                                                                          "AUTH_CLIENT_ID": "from-file"}}))
    monkeypatch.setattr(os, "environ", os.environ.copy())  # what the loader applies must not leak into other tests
    monkeypatch.setenv("AUTH_AUTHORITY", "https://env.example/t")
    monkeypatch.delenv("AUTH_CLIENT_ID", raising=False)
    applied = load_local_settings(tmp_path)
    assert applied["AUTH_CLIENT_ID"] == "from-file"
    assert "AUTH_AUTHORITY" not in applied
    assert os.environ["AUTH_AUTHORITY"] == "https://env.example/t"


def test_a_setting_added_to_the_example_later_still_applies(tmp_path, monkeypatch):
    """A local.settings.json made before a pull lacks the settings new functions bind to (%WEBHOOKS_QUEUE%)."""
    monkeypatch.setattr(os, "environ", os.environ.copy())
    (tmp_path / "local.settings.json.example").write_text(json.dumps({"Values": {"NEW_QUEUE": "new-queue", "OLD": "example"}}))
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"OLD": "mine"}}))
    monkeypatch.delenv("NEW_QUEUE", raising=False)
    monkeypatch.delenv("OLD", raising=False)
    load_local_settings(tmp_path)
    assert os.environ["NEW_QUEUE"] == "new-queue"
    assert os.environ["OLD"] == "mine"


def test_bootstrap_without_apt_get_skips_the_browser_with_a_clear_message(tmp_path):
    """Off Debian (no apt-get, no Chromium on PATH) bootstrap succeeds and says what to do for the browser tests."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "cat", "sha256sum", "cut", "dirname", "id", "python3", "env"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    done = subprocess.run([str(bin_dir / "bash"), str(ROOT / "scripts" / "bootstrap.sh"), "--browser"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no apt-get on this machine, so Chromium is not installed" in done.stderr
    assert "CHROMIUM_PATH" in done.stderr
