"""The short fault sweep of `make test`: create, create company, verify domain, remove a user and remove a partner's admin rights
with a storage fault at every storage request of their path, then the client's retry; nothing lost, nothing doubled, nothing
stuck (the full sweep: `python -m bench.faults`)."""

from __future__ import annotations

import pytest

from tests.support import fault_sweep


@pytest.fixture(scope="module")
def sweep(servers):
    s = fault_sweep.Sweep(servers.stack.ports)
    yield s
    s.close()


@pytest.mark.parametrize("mode,count", [("500", 3), ("lost-answer", 1)])
def test_create_at_every_storage_request(sweep, mode, count):
    scenario = fault_sweep.create_scenario()
    points = sweep.requests_of(scenario)
    assert points >= 5
    outcomes = [sweep.run(scenario, point, mode, count) for point in range(1, points + 1)]
    assert [(o.point, o.verdict) for o in outcomes if o.violations] == []
    assert any(o.during == 503 for o in outcomes)  # the faults did reach the app


def test_create_company_at_every_storage_request(sweep):
    scenario = fault_sweep.create_company_scenario()
    points = sweep.requests_of(scenario)
    outcomes = [sweep.run(scenario, point, "500", 3) for point in range(1, points + 1)]
    assert [(o.point, o.verdict) for o in outcomes if o.violations] == []


def test_update_primary_contact_at_every_storage_request(sweep):
    """A contact change under If-Match with a fault at each storage request: retried with the same key and tag, it ends 200
    (never 412 for its own committed change), with one audit record and one event."""
    scenario = fault_sweep.update_contact_scenario()
    points = sweep.requests_of(scenario)
    outcomes = [sweep.run(scenario, point, mode, count) for point in range(1, points + 1) for mode, count in (("500", 3), ("lost-answer", 1))]
    assert [(o.point, o.mode, o.verdict) for o in outcomes if o.violations] == []
    assert any(o.during == 503 for o in outcomes)


def test_verify_domain_at_every_storage_request(sweep):
    """The claim row (its own partition, written first) and the company's verification: one of each, whatever fails.
    Answers lost after storage acted (the claim's insert then meets itself); 500s run in `python -m bench.faults`."""
    scenario = fault_sweep.verify_domain_scenario()
    points = sweep.requests_of(scenario)
    assert points >= 8
    outcomes = [sweep.run(scenario, point, "lost-answer", 1) for point in range(1, points + 1)]
    assert [(o.point, o.verdict) for o in outcomes if o.violations] == []


def test_a_resend_whose_answer_was_lost_is_not_done_twice(sweep):
    """Storage resent, its answer was lost, the SDK retried under the old ETag: that conflict is its own write."""
    scenario = fault_sweep._change_scenario("resend", "resend", 2, "PendingAcceptance")
    points = sweep.requests_of(scenario)
    outcomes = [sweep.run(scenario, point, "lost-answer", 1) for point in range(1, points + 1)]
    assert [(o.point, o.verdict) for o in outcomes if o.violations] == []


def test_the_checker_sees_a_doubled_invitation(sweep):
    """The checker is not blind: a create retried with a NEW key (what the lock used to force) is counted doubled."""
    scenario = fault_sweep.create_scenario()
    act = scenario.act
    scenario.act = lambda w: (act(w), fault_sweep._post(fault_sweep.invite_fn.create_invitation, "invitations", w.token(),
                                                         fault_sweep._invitation_body(w.email("hanna")), "another-key"))[1]
    outcome = sweep.run(scenario, None)
    assert any(v.startswith("doubled: invitations") for v in outcome.violations)


def test_change_invitee_at_every_storage_request(sweep):
    """The invitee change (pointer, one transaction, announcement, email queued, old agreement pointer) with a fault at
    each of its storage requests: the client's keyed retry ends with the change done once."""
    scenario = fault_sweep.change_invitee_scenario()
    points = sweep.requests_of(scenario)
    assert points >= 5
    outcomes = [sweep.run(scenario, point, "500", 3) for point in range(1, points + 1)]
    assert [(o.point, o.verdict) for o in outcomes if o.violations] == []
    assert any(o.during == 503 for o in outcomes)


@pytest.mark.parametrize("mode,count", [("500", 3), ("lost-answer", 1)])
def test_delivery_reports_at_every_storage_request(sweep, mode, count):
    """Reports delivered at least once and out of order, with a storage fault at each request of the report function:
    Event Grid's redelivery ends with the newest status, one invitation.deliveryFailed, nothing regressed or doubled."""
    scenario = fault_sweep.delivery_report_scenario()
    points = sweep.requests_of(scenario)
    assert points >= 4
    outcomes = [sweep.run(scenario, point, mode, count) for point in range(1, points + 1)]
    assert [(o.point, o.verdict) for o in outcomes if o.violations] == []
    assert any(o.during == 503 for o in outcomes)  # the faults did reach the function


@pytest.mark.parametrize("scenario", fault_sweep.other_kinds_report_scenarios(), ids=lambda s: s.name)
def test_every_kinds_reports_at_every_storage_request(sweep, scenario):
    """The reports of reminders, confirmations and receipts, each kept where its partner reads it: a storage fault at each
    request of the report function, then Event Grid's redelivery, leaves the newest status once, nothing regressed."""
    points = sweep.requests_of(scenario)
    assert points >= 4
    outcomes = [sweep.run(scenario, point, mode, count) for point in range(1, points + 1) for mode, count in (("500", 3),
                                                                                                          ("lost-answer", 1))]
    assert [(o.point, o.mode, o.verdict) for o in outcomes if o.violations] == []
    assert any(o.during == 503 for o in outcomes)


def test_opened_at_every_storage_request(sweep):
    """The press that opens an invitation, with its answer lost or a 500 at each storage request: opened once, one event."""
    scenario = fault_sweep.opened_scenario()
    points = sweep.requests_of(scenario)
    outcomes = [sweep.run(scenario, point, mode, count) for point in range(1, points + 1) for mode, count in (("500", 3), ("lost-answer", 1))]
    assert [(o.point, o.mode, o.verdict) for o in outcomes if o.violations] == []
    assert any(o.during == 503 for o in outcomes)


@pytest.mark.parametrize("scenario", ["accept", "finalize"])
def test_attestation_at_every_storage_request(sweep, scenario):
    """The contact's acceptance (page POST, resubmitted after a 503) and the partner's finalize (same Idempotency-Key): a fault
    or a lost answer at each storage request; accepted once with one receipt, one agreement."""
    make = {"accept": fault_sweep.accept_attestation_scenario, "finalize": fault_sweep.finalize_attestation_scenario}[scenario]
    points = sweep.requests_of(make())
    assert points >= 4
    outcomes = [sweep.run(make(), point, mode, count) for point in range(1, points + 1) for mode, count in (("500", 3), ("lost-answer", 1))]
    assert [(o.point, o.mode, o.verdict) for o in outcomes if o.violations] == []
    assert any(o.during == 503 for o in outcomes)


def test_remove_user_at_every_storage_request(sweep):
    """A colleague removed with an answer lost at each storage request, the same form sent again: removed once, audited once
    (500s at every point run in `python -m bench.faults`)."""
    scenario = fault_sweep.remove_user_scenario()
    points = sweep.requests_of(scenario)
    assert points >= 4
    outcomes = [sweep.run(scenario, point, "lost-answer", 1) for point in range(1, points + 1)]
    assert [(o.point, o.mode, o.verdict) for o in outcomes if o.violations] == []
    assert any(o.during == 503 for o in outcomes)


def test_remove_admin_rights_at_every_storage_request(sweep):
    """A partner's DAP removed with an answer lost at each storage request (the emails' message queued before the commit): one
    change, one audit record, one event, one email to each side, however often the form was sent again (500s at every
    point run in `python -m bench.faults`)."""
    scenario = fault_sweep.remove_admin_rights_scenario()
    points = sweep.requests_of(scenario)
    assert points >= 5
    outcomes = [sweep.run(scenario, point, "lost-answer", 1) for point in range(1, points + 1)]
    assert [(o.point, o.mode, o.verdict) for o in outcomes if o.violations] == []
    assert any(o.during == 503 for o in outcomes)
