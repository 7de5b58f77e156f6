"""The deployment as code: checkov passes on infra/, azd finds what it needs, settings and secrets reach the app."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

# Settings that only the local stack or the tests use; everything else must be an app setting in Azure.
LOCAL_ONLY = {
    "AzureWebJobsStorage",  # a connection string: Azure uses the identity-based AzureWebJobsStorage__* settings
    "TABLE_PREFIX",
    "REQUESTS_CA_BUNDLE",
    "ACS_CONNECTION_STRING",  # a key: Azure uses ACS_ENDPOINT with the managed identity
    "SMTP_HOST",
    "SMTP_PORT",
    "APP_VERSION",
    "EMAIL_MAX_ATTEMPTS",
    "WEBHOOKS_ALLOW_LOOPBACK",  # local receivers only: in Azure a webhook never reaches loopback (false by default)
}
SECRETS = {"AUTH_CLIENT_SECRET", "SESSION_SECRET"}


@cache
def checkov_report() -> dict:
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    # A dead proxy: the scan must not need any network, so a download attempt would fail here rather than hang in CI.
    env.update(HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", NO_PROXY="")
    done = subprocess.run(
        [str(Path(sys.executable).with_name("checkov")), "-d", str(INFRA), "--framework", "bicep", "--output", "json",
         "--skip-download", "--compact"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=240,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return json.loads(done.stdout)


@cache
def app_settings() -> dict[str, str]:
    text = (INFRA / "resources.bicep").read_text()
    return dict(re.findall(r"\{ name: '([A-Za-z0-9_]+)', value: (.+?) \}", text))


def test_checkov_finds_no_failed_check_in_infra():
    report = checkov_report()
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] >= 40


def test_every_skipped_check_says_why():
    skipped = checkov_report()["results"]["skipped_checks"]
    assert skipped, "the public app skips some checks inline; an empty list means checkov no longer reads the skips"
    for check in skipped:
        assert len(check["check_result"].get("suppress_comment", "").strip()) > 40, check["check_id"]


def test_every_setting_of_the_app_is_set_in_azure():
    wanted = {f.alias for f in Settings.model_fields.values() if f.alias} - LOCAL_ONLY
    wanted |= {"AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId", "AzureWebJobsStorage__blobServiceUri",
               "APPLICATIONINSIGHTS_CONNECTION_STRING", "APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "PLATFORM_TENANT_ID"}
    assert wanted - set(app_settings()) == set()


def test_secrets_are_key_vault_references_not_values():
    settings = app_settings()
    for name in SECRETS:
        assert settings[name].startswith("'@Microsoft.KeyVault(SecretUri="), name
    main = (INFRA / "main.bicep").read_text()
    for param in ("authClientSecret", "sessionSecret"):
        assert re.search(rf"@secure\(\)\n(@[^\n]+\n)*param {param} string", main), param


def test_azd_finds_the_service_the_parameters_and_the_outputs():
    azure_yaml = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert azure_yaml["services"]["api"] == {"project": ".", "language": "python", "host": "function"}
    assert "'azd-service-name': 'api'" in (INFRA / "resources.bicep").read_text()

    main = (INFRA / "main.bicep").read_text()
    assert "targetScope = 'subscription'" in main
    declared = set(re.findall(r"^param (\w+) ", main, re.M))
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert declared == set(mapped), "every parameter comes from the azd environment, so azd prompts for none by surprise"
    for output in ("AZURE_LOCATION", "AZURE_TENANT_ID", "SERVICE_API_NAME", "SERVICE_API_URI", "AUTH_REDIRECT_URI"):
        assert re.search(rf"^output {output} ", main, re.M), output


@pytest.mark.parametrize("path", [".local/certs/ca.pem", ".local/partner/signing-key.pem", ".venv/bin/python",
                                  "node_modules/azurite/package.json", "tests/unit/test_infra.py", "local.settings.json",
                                  "bench/invitations.py", "devhost/stack.py", ".azure/prod/.env", "infra/main.bicep"])
def test_a_publish_leaves_local_files_behind(path):
    patterns = [line for line in (ROOT / ".funcignore").read_text().splitlines() if line and not line.startswith("#")]
    first = path.split("/")[0]
    assert any(fnmatch.fnmatch(first, p) or fnmatch.fnmatch(path, p) for p in patterns), path


@pytest.mark.parametrize("path", ["function_app.py", "host.json", "requirements.txt", "shared/settings.py",
                                  "notifications/templates", "shared/locales/de/LC_MESSAGES"])
def test_a_publish_keeps_the_app(path):
    patterns = [line for line in (ROOT / ".funcignore").read_text().splitlines() if line and not line.startswith("#")]
    assert (ROOT / path).exists(), path
    parts = path.split("/")
    assert not any(fnmatch.fnmatch(part, p) for part in parts for p in patterns), path
