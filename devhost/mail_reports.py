"""The local stack's delivery reports: for every mail MailDev accepts, the report ACS would publish through Event Grid.

It listens to MailDev's own push of received mail (the socket.io `newMail` event its web UI uses; on every (re)connect
it also reads `GET /email`, so a mail accepted while it was away is reported too) and posts one
`Microsoft.Communication.EmailDeliveryReportReceived` event per recipient, in the Event Grid schema, to the local
functions host's Event Grid webhook with the `eventgrid_extension` system key, as Event Grid does in Azure. The
report's `messageId` is the email's operation id (the local part of its Message-ID, which the SMTP sender makes from
it). Like the bounce-testing addresses of mail providers, the recipient's domain decides the outcome.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from typing import Any

from devhost.event_grid import EVENT_GRID_PATH, SYSTEM_KEY
from devhost.functions_host import local_keys

log = logging.getLogger("devhost.mail_reports")

FUNCTION = "receive_email_delivery_report"
EVENT_TYPE = "Microsoft.Communication.EmailDeliveryReportReceived"
TOPIC = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local/providers/Microsoft.Communication/communicationServices/local"
# Mail to these domains is reported as the mail network would treat it; anything else is Delivered.
OUTCOMES: dict[str, tuple[str, str]] = {
    "hardbounce.example": ("Bounced", "550 5.1.1 The email account that you tried to reach does not exist."),
    "quarantine.example": ("Quarantined", "The message was quarantined by the recipient's tenant (admin review)."),
    "spamfilter.example": ("FilteredSpam", "The message was identified as spam and delivered to the junk folder."),
}
DELIVERED = ("Delivered", "No error.")


def outcome_for(address: str) -> tuple[str, str]:
    domain = address.rpartition("@")[2].strip().lower().rstrip(">")
    return OUTCOMES.get(domain, DELIVERED)


def message_id_of(mail: dict[str, Any]) -> str | None:
    """The operation id the app sent this mail under: the local part of its Message-ID."""
    raw = mail.get("messageId") or (mail.get("headers") or {}).get("message-id")
    if not isinstance(raw, str) or "@" not in raw:
        return None
    return raw.strip().strip("<>").rpartition("@")[0] or None


def reports_for(mail: dict[str, Any], now: datetime | None = None) -> list[dict[str, Any]]:
    """The Event Grid events ACS would publish for one accepted mail: one per envelope recipient."""
    message_id = message_id_of(mail)
    if message_id is None:
        return []
    when = (now or datetime.now(timezone.utc)).isoformat().replace("+00:00", "Z")
    sender = ((mail.get("from") or [{}])[0] or {}).get("address", "")
    recipients = [r.get("address", "") for r in ((mail.get("envelope") or {}).get("to") or mail.get("to") or [])]
    events = []
    for recipient in recipients:
        status, words = outcome_for(recipient)
        events.append({
            "id": str(uuid.uuid4()), "topic": TOPIC, "subject": f"sender/{sender}/message/{message_id}",
            "eventType": EVENT_TYPE, "eventTime": when, "dataVersion": "1.0", "metadataVersion": "1",
            "data": {"sender": sender, "recipient": recipient, "messageId": message_id, "status": status,
                     "deliveryStatusDetails": {"statusMessage": words}, "deliveryAttemptTimestamp": when},
        })
    return events


class Relay:
    """Posts each accepted mail's reports once (a report posted twice would change nothing anyway)."""

    def __init__(self, mail_url: str, app_url: str, key: str) -> None:
        self.mail_url, self.key = mail_url.rstrip("/"), key
        self.endpoint = f"{app_url.rstrip('/')}{EVENT_GRID_PATH}?functionName={FUNCTION}"
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.waiting: queue.Queue[dict[str, Any]] = queue.Queue()

    def run(self) -> None:
        """Post what arrives, one mail after the other (the socket.io thread only hands mails over)."""
        while True:
            self.mail_arrived(self.waiting.get())

    def mail_arrived(self, mail: dict[str, Any]) -> None:
        with self.lock:
            if mail.get("id") in self.seen:
                return
            self.seen.add(str(mail.get("id")))
        events = reports_for(mail)
        if events:
            self.post(events)

    def catch_up(self) -> None:
        with urllib.request.urlopen(f"{self.mail_url}/email", timeout=10) as r:
            for mail in json.loads(r.read()):
                self.mail_arrived(mail)

    def post(self, events: list[dict[str, Any]], tries: int = 20) -> None:
        """As Event Grid: retried while the app does not answer 2xx (it may still be starting), then given up."""
        body = json.dumps(events).encode()
        for attempt in range(tries):
            req = urllib.request.Request(self.endpoint, data=body, method="POST", headers={
                "Content-Type": "application/json", "aeg-event-type": "Notification", "x-functions-key": self.key})
            try:
                with urllib.request.urlopen(req, timeout=10):
                    return
            except (urllib.error.URLError, OSError) as exc:
                log.warning("report not taken (%s); retrying", exc)
            time.sleep(min(0.2 * 2 ** attempt, 5))
        log.error("gave up on %d report(s) for %s", len(events), events[0]["data"]["messageId"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mail", required=True, help="MailDev's web URL")
    parser.add_argument("--app", required=True, help="the local functions host's URL")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import socketio  # the client MailDev's push speaks (socket.io 4)
    import socketio.exceptions

    relay = Relay(args.mail, args.app, local_keys().system_key(SYSTEM_KEY))
    client = socketio.Client(reconnection=True, reconnection_delay=1, reconnection_delay_max=2)
    threading.Thread(target=relay.run, daemon=True).start()
    client.on("newMail", relay.waiting.put)
    client.on("connect", lambda: threading.Thread(target=relay.catch_up, daemon=True).start())
    while True:
        try:
            client.connect(args.mail, transports=["websocket"])
            break
        except socketio.exceptions.ConnectionError as exc:
            log.warning("MailDev not reachable yet (%s)", exc)
            time.sleep(0.5)
    log.info("reporting every mail MailDev accepts to %s", relay.endpoint)
    client.wait()


if __name__ == "__main__":
    main()
