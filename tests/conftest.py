"""Session-wide real servers (Azurite, MailDev) on random loopback ports, and per-test isolated storage."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from devhost.local_settings import app_setting_names
from devhost.stack import PORT_VARIABLES, Stack, throwaway_stack
from shared import clock as clock_module
from shared.settings import Settings, reset_settings
from shared.storage import RequestCounter, Storage, azurite_connection_string, set_storage

# Settings a developer exported for `make run` (PARTNER_AUTH_ISSUER, ports, ...) must not reach the tests, which
# start their own servers and pass their settings explicitly.
for _name in app_setting_names() | set(PORT_VARIABLES.values()):
    os.environ.pop(_name, None)


class _Servers:
    """Azurite and MailDev only: what integration tests need, without the app process."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    @property
    def connection_string(self) -> str:
        p = self.stack.ports
        return azurite_connection_string(p.blob, p.queue, p.table)


@pytest.fixture(scope="session")
def servers() -> Iterator[_Servers]:
    with throwaway_stack("servers-", services=("azurite", "maildev")) as stack:
        yield _Servers(stack)


@pytest.fixture
def settings(servers: _Servers, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing at the session's Azurite and MailDev, with tables and queues unique to this test."""
    suffix = uuid.uuid4().hex[:10]
    env = {
        "AzureWebJobsStorage": servers.connection_string,
        "TABLE_PREFIX": f"t{suffix}",
        "EMAIL_QUEUE": f"emails-{suffix}",
        "WEBHOOKS_QUEUE": f"webhooks-{suffix}",
        # Tests' webhook receivers listen on loopback, as the local stack's inbox does (never allowed in Azure).
        "WEBHOOKS_ALLOW_LOOPBACK": "true",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(servers.stack.ports.smtp),
        "PUBLIC_BASE_URL": "http://localhost:7071",
        "SESSION_SECRET": "test-session-secret",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    reset_settings()
    from shared.settings import get_settings

    yield get_settings()
    reset_settings()


@pytest.fixture
def storage(settings: Settings) -> Iterator[Storage]:
    """A real Azurite-backed storage with uuid-prefixed tables, dropped after the test."""
    st = Storage(settings, RequestCounter())
    set_storage(st)
    yield st
    set_storage(None)
    try:
        for t in st._table_service.list_tables(name_filter=f"TableName ge '{settings.table_prefix}' and TableName lt '{settings.table_prefix}~'"):
            st._table_service.delete_table(t.name)
        st.drop([], [settings.email_queue, settings.webhooks_queue])
    except Exception:
        pass


@pytest.fixture
def fixed_clock() -> Iterator[clock_module.FixedClock]:
    from datetime import datetime, timezone

    c = clock_module.FixedClock(datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc))
    previous = clock_module.set_clock(c)
    yield c
    clock_module.set_clock(previous)


@pytest.fixture(scope="session")
def local_stack() -> Iterator[Stack]:
    """The whole local stack, as `make run` starts it, on random ports (end-to-end tests)."""
    with throwaway_stack("stack-", extra_env={"EXPIRE_SCHEDULE": "0 0 0 1 1 *", "REMIND_SCHEDULE": "0 0 0 1 1 *",
                                                         "ATTESTATION_EXPIRE_SCHEDULE": "0 0 0 1 1 *"}) as stack:
        yield stack



from tests.support.partners import partner_tokens  # noqa: E402,F401  (a fixture shared by all tests)
from tests.support.telemetry import recorded  # noqa: E402,F401  (in-memory spans and metrics)
