"""Trigger functions of accept_invite (thin: parse, call one service, map errors)."""

import azure.functions as func

bp = func.Blueprint()
