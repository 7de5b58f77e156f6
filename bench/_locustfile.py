"""Locust users for bench/load.py: one scenario per run (LOAD_SCENARIO), loopback only, no wait between requests."""

from __future__ import annotations

import itertools
import json
import os

from locust import FastHttpUser, constant, task

SCENARIO = os.environ["LOAD_SCENARIO"]
TOKEN = os.environ["LOAD_TOKEN"]
LINKS = itertools.cycle(json.loads(os.environ.get("LOAD_LINKS", "[]")) or [""])
BODY = {"email": "load@contoso.example", "firstName": "Load", "lastName": "Test", "language": "en", "countryRegion": "DE",
        "kind": "CustomerOnboarding", "company": {"name": "Contoso", "country": "DE"}, "sendEmail": False}


class Client(FastHttpUser):
    wait_time = constant(0)

    @task
    def call(self) -> None:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        if SCENARIO == "landing":
            self.client.get(f"/api/InviteUser?invitationId={next(LINKS)}", name="GET /api/InviteUser")
        elif SCENARIO == "create":
            self.client.post("/api/invitations", json=BODY, headers=auth, name="POST /api/invitations")
        else:
            self.client.get("/api/invitations?pageSize=50", headers=auth, name="GET /api/invitations")
