"""GET /api/health answers from real storage, and 503 with Retry-After when storage is down."""

import json

from operations.functions import health
from shared.settings import Settings
from shared.storage import Storage, set_storage
from tests.support.http import build_request


def test_healthy_when_storage_answers(storage):
    resp = health(build_request("GET", "health"))
    body = json.loads(resp.get_body())
    assert resp.status_code == 200
    assert body["storage"]["reachable"] is True
    assert body["version"]


def test_503_when_storage_is_down(settings):
    dead = settings.model_copy(update={
        "storage_connection_string": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    })
    assert isinstance(dead, Settings)
    set_storage(Storage(dead))
    try:
        resp = health(build_request("GET", "health"))
    finally:
        set_storage(None)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"]
    assert json.loads(resp.get_body())["storage"]["reachable"] is False
    # Regression: the storage client's exception text (host, port, account) was in the anonymous answer.
    text = resp.get_body().decode()
    assert "127.0.0.1" not in text and "devstoreaccount1" not in text and "Connection" not in text
    assert json.loads(text)["storage"]["error"] == "unreachable"
