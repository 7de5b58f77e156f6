"""Customers, agreement acceptance and reseller relationships: the public services other features and the routes call.

Every change to a customer is one transaction on its partition with its audit records (its unit of work);
the partners' customer lists and the confirmation email follow the commit and are safe to repeat.
"""

from __future__ import annotations

from attest_agreement.agreements import AlreadyAccepted, CustomerNotFound, InvalidPhoneNumber, NotAllowedToAccept
from attest_agreement.agreements_service import (
    agreement_status,
    attest,
    direct_signing_status,
    get_agreement,
    purchase_eligibility,
    record_attestation,
)
from attest_agreement.asking import request_direct_acceptance
from attest_agreement.attestations_service import (
    accept_attestation,
    agreement_pipeline,
    expire_attestations,
    get_attestation,
    open_attestation_link,
    request_attestation,
)
from attest_agreement.audit_trail import audit_trail
from attest_agreement.customers_service import company_users, create_customer, get_customer, list_customers, partners_of_customer
from attest_agreement.direct_acceptance import accept_directly, is_customer_admin, may_consent, standing_with
from attest_agreement.partner_rights import (
    END_RELATIONSHIP,
    REMOVE_ADMIN_RIGHTS,
    CustomerAdmin,
    PartnerChangeRefused,
    may_manage_partners,
    partners_of,
    take_back,
)
from attest_agreement.partner_rights import version_of as relationship_version
from attest_agreement.primary_contact import update_primary_contact
from attest_agreement.relationships_service import (
    get_relationship,
    index_partner_lists,
    join_relationship,
    remove,
    remove_relationship,
    request_relationship,
    standing,
)
from attest_agreement.steps import agreement_view, no_relationship

__all__ = [
    "AlreadyAccepted", "CustomerNotFound", "InvalidPhoneNumber", "NotAllowedToAccept",
    "accept_attestation", "accept_directly", "agreement_pipeline", "agreement_status", "expire_attestations", "get_attestation",
    "open_attestation_link", "request_attestation", "agreement_view", "attest", "audit_trail", "create_customer",
    "END_RELATIONSHIP", "REMOVE_ADMIN_RIGHTS", "CustomerAdmin", "PartnerChangeRefused", "company_users", "may_manage_partners",
    "partners_of", "relationship_version", "take_back",
    "direct_signing_status", "get_agreement", "get_customer", "get_relationship", "index_partner_lists", "is_customer_admin", "may_consent",
    "standing_with",
    "join_relationship", "list_customers", "no_relationship", "partners_of_customer", "purchase_eligibility",
    "record_attestation", "remove", "remove_relationship", "request_direct_acceptance", "request_relationship", "standing",
    "update_primary_contact",
]
