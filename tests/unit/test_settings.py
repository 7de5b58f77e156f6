"""shared.settings: the app settings come from environment variables with Azure's exact names (pydantic-settings)."""

from __future__ import annotations

import pytest

from shared.settings import Settings, get_settings, reset_settings


@pytest.fixture
def fresh_settings():
    reset_settings()
    yield
    reset_settings()


def test_settings_are_read_from_the_environment_by_their_azure_names(monkeypatch: pytest.MonkeyPatch, fresh_settings) -> None:
    monkeypatch.setenv("AzureWebJobsStorage__tableServiceUri", "https://acct.table.core.windows.net")
    monkeypatch.setenv("TABLE_PREFIX", "t123")
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    s = get_settings()
    assert s.table_service_uri == "https://acct.table.core.windows.net"
    assert s.table_prefix == "t123" and s.smtp_port == 2525
    assert s.storage_connection_string is None
    assert get_settings() is s


def test_names_are_matched_exactly(monkeypatch: pytest.MonkeyPatch, fresh_settings) -> None:
    monkeypatch.delenv("TABLE_PREFIX", raising=False)
    monkeypatch.setenv("table_prefix", "wrong-case")  # also the field's name: fields are never read by their Python names
    monkeypatch.setenv("Table_Prefix", "wrong-case")
    assert get_settings().table_prefix == ""


def test_reset_settings_reads_the_environment_again(monkeypatch: pytest.MonkeyPatch, fresh_settings) -> None:
    monkeypatch.setenv("PLATFORM_NAME", "First")
    assert get_settings().platform_name == "First"
    monkeypatch.setenv("PLATFORM_NAME", "Second")
    assert get_settings().platform_name == "First"
    reset_settings()
    assert get_settings().platform_name == "Second"


def test_given_values_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_HOST", "from-env")
    assert Settings(SMTP_HOST="given").smtp_host == "given"


def test_a_malformed_value_is_an_error_not_a_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PORT", "twenty-five")
    with pytest.raises(ValueError, match="SMTP_PORT"):
        Settings()
