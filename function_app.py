"""The function app: logging, and one blueprint per feature. Nothing else lives here."""

import gc

# No cyclic garbage collection while the app's modules load: importing makes hundreds of thousands of objects that all
# live on, which the collector would scan over and over for nothing (about a sixth of a cold start). Once loaded, they
# are frozen (never scanned again) and collection resumes for what requests make.
gc.disable()

import logging  # every import after the pause (ruff.toml: E402 allowed here)

import azure.functions as func

from accept_invite.attestation_functions import bp as attestation_page_bp
from accept_invite.company_functions import bp as company_admin_bp
from accept_invite.domain_functions import bp as company_domains_bp
from accept_invite.functions import bp as accept_invite_bp
from attest_agreement.functions import bp as attest_agreement_bp
from invite_user.functions import bp as invite_user_bp
from notifications.functions import bp as notifications_bp
from operations.functions import bp as operations_bp
from partners.functions import bp as partners_bp
from shared import telemetry
from shared.settings import get_settings
from webhooks.functions import bp as webhooks_bp

logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
# Application Insights only when its connection string is set; otherwise nothing leaves the process.
telemetry.configure(get_settings())

# ANONYMOUS at the Functions level: partner routes authenticate by the partner's bearer token alone (checked by the
# app on every call), so no shared function key has to be handed to every partner; customer pages use their session.
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

for blueprint in (operations_bp, invite_user_bp, partners_bp, notifications_bp, accept_invite_bp, attest_agreement_bp,
                  webhooks_bp, company_domains_bp, attestation_page_bp, company_admin_bp):
    app.register_functions(blueprint)

gc.freeze()
gc.enable()
