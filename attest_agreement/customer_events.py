"""What the events about a customer say to partners: thin payloads (ids, roles, states), never a person's details."""

from __future__ import annotations

from typing import Any

from attest_agreement.customers import AgreementAcceptance, RelationshipRole, ResellerRelationship


def relationship_event(rel: ResellerRelationship) -> str:
    """Partner Center's names: the reseller hears its own acceptance, the indirect provider its reseller's."""
    if rel.role == RelationshipRole.INDIRECT_PROVIDER:
        return "indirect-reseller-relationship-accepted-by-customer"
    return "reseller-relationship-accepted-by-customer"


def relationship_fields(rel: ResellerRelationship) -> dict[str, Any]:
    """What an event about a relationship says (no people): ids, role, status, DAP and GDAP state."""
    return {"customerId": rel.customer_id, "role": rel.role.value, "status": rel.status.value, "dapActive": rel.dap.active,
            "gdapRoles": list(rel.gdap.roles), "resource": f"customers/{rel.customer_id}/relationship"}


def acceptance_fields(acceptance: AgreementAcceptance) -> dict[str, Any]:
    """What an event about an agreement acceptance says: never the contact's details."""
    return {"customerId": acceptance.customer_id, "agreementType": acceptance.type, "how": acceptance.how.value,
            "dateAgreed": acceptance.date_agreed.isoformat(), "resource": f"customers/{acceptance.customer_id}/agreements"}
