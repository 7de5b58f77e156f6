"""Trigger functions of attest_agreement (thin: parse, call one service, map errors)."""

import azure.functions as func

bp = func.Blueprint()
