"""Trigger functions of notifications: the queue function that sends every email, its poison queue, and the
Event Grid function that applies the mail service's delivery reports."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import azure.functions as func

from shared import telemetry
from shared.authorization import Action, runs_as
from shared.context import request_context
from shared.lazy import on_first_use

if TYPE_CHECKING:
    from notifications import queue, sender
else:  # every kind of email's modules, imported on a message's first delivery (cold start: shared/lazy.py)
    queue, sender = on_first_use("notifications.queue", "notifications.sender")

log = logging.getLogger(__name__)

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name="%EMAIL_QUEUE%", connection="AzureWebJobsStorage")
@runs_as(Action.SCHEDULED)
@telemetry.traced
def send_queued_email(msg: func.QueueMessage) -> None:
    """Sends queued emails. Raising lets the host retry (and poison the message after 5 attempts)."""
    ctx = request_context()
    counts = queue.deliver(ctx, sender.get_sender(ctx.settings), json.loads(msg.get_body()))
    log.info("email message %s (attempt %s): %s", msg.id, msg.dequeue_count, counts)


@bp.queue_trigger(arg_name="msg", queue_name="%EMAIL_QUEUE%-poison", connection="AzureWebJobsStorage")
@runs_as(Action.SCHEDULED)
@telemetry.traced
def record_failed_email(msg: func.QueueMessage) -> None:
    """Emails that failed five times: recorded where partners see them (an invitation's emailStatus Failed)."""
    marked = queue.poisoned(request_context(), json.loads(msg.get_body()))
    log.error("poisoned email message %s: %s record(s) marked Failed", msg.id, marked)


@bp.event_grid_trigger(arg_name="event")
@runs_as(Action.SCHEDULED)
@telemetry.traced
def receive_email_delivery_report(event: func.EventGridEvent) -> None:
    """ACS delivery reports (Event Grid system topic on the Communication Services resource). A report that cannot
    apply (unknown message, malformed) is dropped; only a storage outage raises, so Event Grid delivers it again."""
    outcome = queue.receive_report(request_context(), event.event_type, event.get_json())
    log.info("event %s (%s): %s", event.id, event.event_type, outcome)
