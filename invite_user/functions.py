"""Trigger functions of invite_user (thin: parse, call one service, map errors)."""

import azure.functions as func

bp = func.Blueprint()
