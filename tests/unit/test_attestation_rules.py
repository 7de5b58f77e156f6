"""The rules of an attestation the customer confirms itself: its link, its life, the name typed, the pipeline's stage."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from attest_agreement import attestations
from attest_agreement.attestations import NameMismatch, NameMissing, NotAccepted, NotPending
from attest_agreement.customers import (
    AcceptanceHow,
    AgreementAcceptance,
    AgreementAttestation,
    AttestationStatus,
    Contact,
    PipelineEntry,
    PipelineStage,
    pipeline_stage,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


def _attestation(**over) -> AgreementAttestation:
    link = attestations.new_link_id("c-1", "a-1")
    fields = {"id": "a-1", "customer_id": "c-1", "partner_id": "p-1", "partner_name": "Contoso Partner", "agreement_version": "v",
              "contact": Contact(first_name="Zoë", last_name="Nagy-Kovács", email="zoe@contoso.example"), "company_name": "Contoso",
              "link_hash": attestations.link_hash(link), "created_at": NOW, "created_by": {}, "expires_at": NOW + timedelta(days=30)}
    return AgreementAttestation(**{**fields, **over})


def test_a_link_names_its_attestation_and_only_its_hash_opens_it():
    link = attestations.new_link_id("c-1", "a-1")
    assert attestations.parse_link(link) == ("c-1", "a-1") and len(link.rsplit("~", 1)[1]) >= 32
    assert attestations.new_link_id("c-1", "a-1") != link  # random each time
    att = _attestation(link_hash=attestations.link_hash(link))
    assert attestations.opens(att, link) and not attestations.opens(att, link[:-1] + "x") and not attestations.opens(None, link)
    for bad in (None, "", "c-1~a-1", "c-1~a-1~s~t", "c|1~a-1~secret", "c-1~~secret"):
        assert attestations.parse_link(bad) is None


@pytest.mark.parametrize("typed", ["Zoë Nagy-Kovács", "zoe nagy-kovacs", "  NAGY-KOVÁCS   Zoë ", "Nagy-Kovács, Zoë", "Ｚｏë Nagy-Kovács"])
def test_the_name_as_the_partner_gave_it_in_either_order_case_or_accents(typed):
    att = _attestation()
    attestations.accept(att, typed, NOW)
    assert att.status == AttestationStatus.ACCEPTED and att.accepted_at == NOW and att.accepted_name == " ".join(typed.split())


@pytest.mark.parametrize(("typed", "error"), [("", NameMissing), ("   ", NameMissing), (None, NameMissing), ("Zoë", NameMismatch),
                                             ("Zoë Nagy", NameMismatch), ("Greta Maier", NameMismatch)])
def test_an_empty_or_another_name_is_refused(typed, error):
    att = _attestation()
    with pytest.raises(error):
        attestations.accept(att, typed, NOW)
    assert att.status == AttestationStatus.PENDING


def test_a_link_is_used_once_and_not_after_its_expiry_or_replacement():
    att = _attestation()
    attestations.accept(att, "Zoë Nagy-Kovács", NOW)
    with pytest.raises(NotPending) as used:
        attestations.accept(att, "Zoë Nagy-Kovács", NOW)
    assert used.value.status == AttestationStatus.ACCEPTED
    late = _attestation()
    assert attestations.effective_status(late, late.expires_at) == AttestationStatus.EXPIRED  # by its time, before any sweep
    with pytest.raises(NotPending):
        attestations.accept(late, "Zoë Nagy-Kovács", late.expires_at)
    replaced = _attestation()
    assert attestations.replace(replaced, "a-2", NOW) and replaced.replaced_by == "a-2"
    assert not attestations.replace(replaced, "a-3", NOW)  # only a pending one is replaced
    with pytest.raises(NotPending):
        attestations.accept(replaced, "Zoë Nagy-Kovács", NOW)


def test_the_sweep_expires_only_a_pending_link_past_its_time():
    att = _attestation()
    assert not attestations.expire(att, NOW)
    assert attestations.expire(att, att.expires_at) and att.status == AttestationStatus.EXPIRED
    assert not attestations.expire(att, att.expires_at)
    accepted = _attestation()
    attestations.accept(accepted, "Zoë Nagy-Kovács", NOW)
    assert not attestations.expire(accepted, accepted.expires_at + timedelta(days=1))


def test_only_an_accepted_attestation_is_finalized_into_the_customers_agreement():
    with pytest.raises(NotAccepted):
        attestations.finalize(None, NOW)
    pending = _attestation()
    with pytest.raises(NotAccepted, match="Pending"):
        attestations.finalize(pending, NOW)
    att = _attestation()
    attestations.accept(att, "Zoë Nagy-Kovács", NOW)
    attestations.finalize(att, NOW + timedelta(hours=1))
    assert att.status == AttestationStatus.FINALIZED
    acceptance = attestations.acceptance_of(att, {"partnerId": "p-1"}, NOW, NOW.date())
    assert acceptance.how == AcceptanceHow.CUSTOMER_CONFIRMED and acceptance.attestation_id == "a-1" and acceptance.contact == att.contact
    with pytest.raises(NotAccepted, match="Finalized"):
        attestations.finalize(att, NOW)


def test_the_pipeline_stage_of_a_customer():
    acceptance = AgreementAcceptance(customer_id="c-1", how=AcceptanceHow.PARTNER_ATTESTATION, date_agreed=NOW.date(), recorded_at=NOW,
                                     by={}, contact=_attestation().contact)
    assert pipeline_stage(acceptance, _attestation()) == PipelineStage.PROVIDED  # accepted in any way
    assert pipeline_stage(None, None) == PipelineStage.REQUIRED
    assert pipeline_stage(None, _attestation()) == PipelineStage.PENDING
    assert pipeline_stage(None, _attestation(status=AttestationStatus.ACCEPTED)) == PipelineStage.READY_TO_FINALIZE
    assert pipeline_stage(None, _attestation(status=AttestationStatus.EXPIRED)) == PipelineStage.EXPIRED
    assert pipeline_stage(None, _attestation(status=AttestationStatus.REPLACED)) == PipelineStage.REQUIRED
    entry = PipelineEntry(partner_id="p-1", customer_id="c-1", stage=PipelineStage.PENDING, expires_at=NOW, filed_at=NOW)
    assert attestations.stage_now(entry, NOW - timedelta(seconds=1)) == PipelineStage.PENDING
    assert attestations.stage_now(entry, NOW) == PipelineStage.EXPIRED  # the sweep has not come by yet
    assert attestations.stage_now(None, NOW) == PipelineStage.REQUIRED
