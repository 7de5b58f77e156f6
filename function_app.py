"""The function app: logging, and one blueprint per feature. Nothing else lives here."""

import logging

import azure.functions as func

from accept_invite.functions import bp as accept_invite_bp
from attest_agreement.functions import bp as attest_agreement_bp
from health.functions import bp as health_bp
from invite_user.functions import bp as invite_user_bp

logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

# ANONYMOUS at the Functions level: every partner route checks the partner's bearer JWT itself (shared/partner_auth.py)
# before any work, so a function key would add only one shared secret handed to every partner.
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (health_bp, invite_user_bp, accept_invite_bp, attest_agreement_bp):
    app.register_functions(blueprint)
