"""Demo data for `make run`: one partner, and ready-to-use partner tokens signed by the local key."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any

from devhost.identity import ensure_partner_key, mint_partner_token
from devhost.stack import Stack

DEMO_PARTNER_ID = "demo-partner"
# The platform operator's tenant locally (PLATFORM_TENANT_ID in local.settings.json.example): PlatformAdmin counts only there.
PLATFORM_TENANT_ID = "platform-operator"


def demo_tokens(stack: Stack) -> dict[str, str]:
    key = ensure_partner_key()
    audience = os.environ.get("PARTNER_AUTH_AUDIENCE", "api://invitation-service")
    return {
        "agent": mint_partner_token(key, issuer=stack.partner_issuer, audience=audience, tenant_id=DEMO_PARTNER_ID,
                                    roles=["AdminAgent"], name="Fiona Field", email="fiona@contoso-fs.example"),
        "admin": mint_partner_token(key, issuer=stack.partner_issuer, audience=audience,
                                    tenant_id=os.environ.get("PLATFORM_TENANT_ID") or PLATFORM_TENANT_ID,
                                    roles=["PlatformAdmin"], name="Platform Admin", email="admin@platform.example"),
    }


def subscribe_demo(stack: Stack, storage: Any) -> str:
    """The demo partner subscribed to every event, delivered to the local webhook inbox (which gets the secret)."""
    from webhooks.api_models import SUBSCRIBABLE
    from webhooks.subscriptions import SubscriptionRepository, new_subscription

    url = f"http://127.0.0.1:{stack.ports.webhook_inbox}/hooks/demo"
    repo = SubscriptionRepository(storage)
    sub = next((s for s in repo.of_partner(DEMO_PARTNER_ID) if s.url == url), None)
    if sub is None:
        sub = repo.insert(new_subscription(DEMO_PARTNER_ID, url, SUBSCRIBABLE, "the local webhook inbox", datetime.now(timezone.utc)))
    elif sorted(sub.events) != SUBSCRIBABLE or not sub.enabled:
        sub.events, sub.enabled, sub.disabled_reason, sub.failing_since = SUBSCRIBABLE, True, None, None
        repo.upsert(sub)
    stack.webhook_secrets.write_text(json.dumps({"demo": sub.secret}))
    return (f"\nand the webhooks (invitation.created now, invitation.accepted once the link is used) in {stack.webhook_inbox_url}"
            f"\n(the demo partner's subscription {sub.id}: GET {stack.app_url}/api/webhooks/{sub.id}/deliveries)")


def seed_demo(stack: Stack) -> str:
    from partners.registry import Partner, PartnerRepository, PartnerType
    from shared.settings import Settings
    from shared.storage import Storage

    overridden = stack.overridden()
    if "AzureWebJobsStorage" in overridden:
        return "\n  (no demo data: AzureWebJobsStorage comes from your environment, so the local Azurite is not the app's storage)"
    settings = Settings.model_validate({**os.environ, **stack.app_env()})
    storage = Storage(settings)
    PartnerRepository(storage).save(Partner(id=DEMO_PARTNER_ID, name="Contoso Field Services", type=PartnerType.DIRECT,
                                               contact_email="partner-admins@contoso-fs.example"))
    hooks = subscribe_demo(stack, storage) if "webhooks" in stack.services else ""
    if "PARTNER_AUTH_ISSUER" in overridden:
        return (f'\nDemo partner "{DEMO_PARTNER_ID}" is registered. No demo token: partner tokens come from your issuer '
                f'{overridden["PARTNER_AUTH_ISSUER"]} (PARTNER_AUTH_ISSUER), and the partner id is their `tid` claim.')
    tokens = demo_tokens(stack)
    path = stack.log_dir.parent / "demo-tokens.txt"
    path.write_text(f"AdminAgent: {tokens['agent']}\nPlatformAdmin: {tokens['admin']}\n")
    return f"""
Demo partner "{DEMO_PARTNER_ID}" is registered. Partner token (AdminAgent, 8 h; also in {path}):
  export TOKEN={tokens['agent']}
Try:
  curl -s -X POST {stack.app_url}/api/invitations -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
    -d '{{"email":"harry@contoso.com","firstName":"Harry","lastName":"Kim","language":"ko","countryRegion":"KR",
         "kind":"CustomerOnboarding","company":{{"name":"Contoso Korea","country":"KR"}}}}'
then open the email in {stack.mail_url}; on the local sign-in page type the invited address
(harry@contoso.com) in its `sub` field: only the invited person may accept.{hooks}"""
