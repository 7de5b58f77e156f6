"""Purchases wait for the customer agreement: new purchases need an acceptance, auto-renewals do not."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from attest_agreement.customers import AgreementAcceptance
from partners.registry import Partner, PartnerType

# What a customer sees on a new purchase without an accepted agreement (the platform's published wording).
NOT_ACCEPTED_MESSAGE = "Contact your partner to confirm acceptance of the customer agreement"


class PurchaseType(StrEnum):
    NEW = "New"
    AUTO_RENEWAL = "AutoRenewal"


def evaluate(customer_id: str, acceptance: AgreementAcceptance | None, purchase_type: PurchaseType, partner: Partner) -> dict[str, Any]:
    """Whether the customer may buy now, and if not, what the partner must do about it."""
    if purchase_type == PurchaseType.AUTO_RENEWAL:
        # Existing subscriptions renew whatever the agreement state: blocking them would cut customers off.
        return {"customerId": customer_id, "purchaseType": purchase_type.value, "eligible": True}
    if acceptance is not None:
        return {"customerId": customer_id, "purchaseType": purchase_type.value, "eligible": True,
                "agreement": {"type": acceptance.type, "how": acceptance.how.value, "dateAgreed": acceptance.date_agreed.isoformat()}}
    if partner.type == PartnerType.INDIRECT_RESELLER:
        action = {
            "type": "AskIndirectProviderToAttest",
            "detail": "Indirect resellers cannot attest; ask your indirect provider to attest that the customer accepted the agreement.",
            "indirectProviderId": partner.indirect_provider_id,
        }
    else:
        action = {
            "type": "AttestAgreement",
            "detail": "Attest that the customer accepted the Microsoft Customer Agreement, then retry the purchase.",
            "method": "POST",
            "href": f"/api/customers/{customer_id}/agreements",
        }
    return {
        "customerId": customer_id, "purchaseType": purchase_type.value, "eligible": False,
        "reason": "CustomerAgreementNotAccepted", "message": NOT_ACCEPTED_MESSAGE, "action": action,
    }
