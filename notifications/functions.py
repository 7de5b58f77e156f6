"""Trigger functions of notifications: the queue function that sends every email, and its poison queue."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from notifications import queue
from notifications.sender import get_sender
from shared import telemetry
from shared.authorization import Action, runs_as
from shared.context import request_context

log = logging.getLogger(__name__)

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name="%EMAIL_QUEUE%", connection="AzureWebJobsStorage")
@runs_as(Action.SCHEDULED)
@telemetry.traced
def send_queued_email(msg: func.QueueMessage) -> None:
    """Sends queued emails. Raising lets the host retry (and poison the message after 5 attempts)."""
    ctx = request_context()
    counts = queue.deliver(ctx, get_sender(ctx.settings), json.loads(msg.get_body()))
    log.info("email message %s (attempt %s): %s", msg.id, msg.dequeue_count, counts)


@bp.queue_trigger(arg_name="msg", queue_name="%EMAIL_QUEUE%-poison", connection="AzureWebJobsStorage")
@runs_as(Action.SCHEDULED)
@telemetry.traced
def record_failed_email(msg: func.QueueMessage) -> None:
    """Emails that failed five times: recorded where partners see them (an invitation's emailStatus Failed)."""
    marked = queue.poisoned(request_context(), json.loads(msg.get_body()))
    log.error("poisoned email message %s: %s record(s) marked Failed", msg.id, marked)
