"""The emails MailDev (the session's SMTP server) received for an address."""

from __future__ import annotations

import time
from typing import Any

import requests


def inbox(servers: Any, to: str, timeout: float = 10) -> list[dict[str, Any]]:
    """The emails to `to` as soon as there is one, or none after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        mails = requests.get(f"http://127.0.0.1:{servers.stack.ports.mail_web}/email", timeout=10).json()
        found = [m for m in mails if any(t["address"].lower() == to.lower() for t in m["to"])]
        if found or time.time() > deadline:
            return found
        time.sleep(0.2)
