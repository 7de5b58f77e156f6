"""The function app: logging, and one blueprint per feature. Nothing else lives here."""

import logging

import azure.functions as func

from accept_invite.functions import bp as accept_invite_bp
from attest_agreement.functions import bp as attest_agreement_bp
from health.functions import bp as health_bp
from invite_user.functions import bp as invite_user_bp
from shared import telemetry
from shared.settings import get_settings

logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
telemetry.configure(get_settings())  # telemetry

# FUNCTION: in Azure every non-anonymous route needs a function key on top of its own auth.
app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (health_bp, invite_user_bp, accept_invite_bp, attest_agreement_bp):
    app.register_functions(blueprint)
