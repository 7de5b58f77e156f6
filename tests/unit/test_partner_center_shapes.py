"""Partner Center's own shapes pass unchanged: the bodies below are its published examples (Agreement resource docs)."""

from datetime import date

import pytest
from pydantic import ValidationError

from attest_agreement.api_models import AttestationIn, NewCustomer
from tests.support.expect import found

# "Confirm customer acceptance of the Microsoft Customer Agreement": the REST request example's body.
CONFIRM_REQUEST = {
    "primaryContact": {"firstName": "Tania", "lastName": "Carr", "email": "someone@example.com", "phoneNumber": "1234567890"},
    "templateId": "117a77b0-9360-443b-8795-c6dedc750cf9",
    "dateAgreed": "2018-06-14T00:00:00.000Z",
    "type": "MicrosoftCustomerAgreement",
}
# The Agreement resource as Partner Center answers it (the response example): with userId, and agreementLink as in
# "Get confirmation of customer acceptance", whose dates carry no offset ("2018-07-28T00:00:00", UTC by definition).
AGREEMENT_RESOURCE = {
    "userId": "3d6f2c09-eb40-48ca-a4b3-d24c9c007531",
    "primaryContact": {"firstName": "Tania", "lastName": "Carr", "email": "someone@example.com", "phoneNumber": "1234567890"},
    "templateId": "117a77b0-9360-443b-8795-c6dedc750cf9",
    "dateAgreed": "2018-07-28T00:00:00",
    "type": "MicrosoftCustomerAgreement",
    "agreementLink": "https://aka.ms/customeragreement",
}


def test_confirm_request_example_is_an_attestation():
    parsed = AttestationIn.model_validate(CONFIRM_REQUEST)
    assert parsed.date_agreed == date(2018, 6, 14)
    assert found(parsed.primary_contact, "the primary contact").phone_number == "1234567890"  # read in the customer's country by the service
    assert parsed.template_id == CONFIRM_REQUEST["templateId"]  # accepted, carries nothing for us


def test_agreement_resource_as_answered_is_an_attestation():
    parsed = AttestationIn.model_validate(AGREEMENT_RESOURCE)
    assert parsed.date_agreed == date(2018, 7, 28)
    assert found(parsed.primary_contact, "the primary contact").email == "someone@example.com"


def test_customer_creation_takes_the_agreement_resource():
    body = {"name": "Contoso", "country": "US", "primaryContact": CONFIRM_REQUEST["primaryContact"], "agreement": AGREEMENT_RESOURCE}
    parsed = NewCustomer.model_validate(body)
    assert parsed.agreement is not None and parsed.agreement.date_agreed == date(2018, 7, 28)


def test_customer_creation_refuses_an_agreement_by_someone_else():
    other = {**AGREEMENT_RESOURCE, "primaryContact": {**AGREEMENT_RESOURCE["primaryContact"], "email": "other@example.com"}}
    with pytest.raises(ValidationError, match="primaryContact"):
        NewCustomer.model_validate({"name": "Contoso", "country": "US", "primaryContact": CONFIRM_REQUEST["primaryContact"],
                                    "agreement": other})


@pytest.mark.parametrize("when", ["2018-06-14T00:00:00+02:00", "2018-06-14T25:00:00Z", "14.06.2018"])
def test_date_agreed_other_than_a_date_or_utc_date_time_is_refused(when):
    with pytest.raises(ValidationError, match="dateAgreed|date_agreed"):
        AttestationIn.model_validate({**CONFIRM_REQUEST, "dateAgreed": when})


def test_fields_partner_center_does_not_have_are_still_refused():
    with pytest.raises(ValidationError, match="Extra inputs"):
        AttestationIn.model_validate({**CONFIRM_REQUEST, "surprise": 1})
