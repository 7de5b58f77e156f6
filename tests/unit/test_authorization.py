"""The one authorization policy: every function the app registers declares its action, and the table decides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import function_app  # noqa: F401  (registers every blueprint, so every route and timer has declared its action)
from shared import authorization as authz
from shared.authorization import POLICY, Action, Relationship, Standing, Who, check
from shared.endpoints import CONTRACTS
from shared.errors import Forbidden, NotFound
from tests.unit.fakes import memory_context

# get_functions() may run once per process: a fresh one lists every function the app registers and the action it declared.
_LIST = """
import json
import function_app
from shared import authorization
names = [f.get_function_name() for f in function_app.app.get_functions()]
print(json.dumps({n: authorization.DECLARED.get(n) for n in names}))
"""


def test_every_registered_function_declares_its_action():
    out = subprocess.run([sys.executable, "-c", _LIST], cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
                         timeout=120, check=True)
    declared = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(declared) >= 40
    undeclared = [n for n, action in declared.items() if action is None]
    assert undeclared == [], f"declare an action (endpoint(action=...) or @runs_as) for: {undeclared}"
    assert {Action(a) for a in declared.values()} <= set(Action)


def test_every_route_contract_names_its_action_and_timers_run_as_the_scheduler():
    assert all(c.action for c in CONTRACTS)
    for name in ("expire_invitations", "send_queued_email", "record_failed_email", "send_pending_attestation_notices",
                 "delete_stale_sign_in_flows"):
        assert authz.DECLARED[name] == Action.SCHEDULED


def test_a_route_without_an_action_does_not_register():
    import azure.functions as func

    from shared.endpoints import endpoint

    with pytest.raises(TypeError):
        endpoint(func.Blueprint(), "x", summary="x", tag="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        authz.declare("x", "read-customer")  # type: ignore[arg-type]


def test_every_action_has_a_rule_and_partner_rules_name_their_roles():
    assert set(POLICY) == set(Action)
    for action, rule in POLICY.items():
        if rule.who in (Who.PARTNER, Who.PLATFORM_ADMIN):
            assert rule.roles, action


ACTIVE = Standing(Relationship.ACTIVE, "Reseller", dap=True)
REMOVED = Standing(Relationship.REMOVED, "Reseller", dap=False)
NONE = Standing()
PROVIDER = Standing(Relationship.ACTIVE, "IndirectProvider", dap=True)
AGENT, SALES = frozenset({"AdminAgent"}), frozenset({"SalesAgent"})


@pytest.mark.parametrize(("action", "roles", "ptype", "standing", "expected"), [
    (Action.READ_CUSTOMER, AGENT, "Direct", ACTIVE, None),
    (Action.READ_CUSTOMER, AGENT, "Direct", REMOVED, NotFound),
    (Action.READ_CUSTOMER, AGENT, "Direct", NONE, NotFound),
    (Action.READ_AUDIT, AGENT, "Direct", REMOVED, NotFound),
    (Action.READ_RELATIONSHIP, AGENT, "Direct", REMOVED, None),
    (Action.INVITE_COMPANY_USER, AGENT, "Direct", ACTIVE, None),
    (Action.INVITE_COMPANY_USER, SALES, "Direct", ACTIVE, Forbidden),
    (Action.INVITE_COMPANY_USER, AGENT, "IndirectProvider", PROVIDER, Forbidden),
    (Action.INVITE_COMPANY_USER, AGENT, "Direct", Standing(Relationship.ACTIVE, "Reseller", dap=False), Forbidden),
    (Action.INVITE_COMPANY_USER, AGENT, "Direct", NONE, NotFound),
    (Action.ASK_DIRECT_ACCEPTANCE, SALES, "Direct", NONE, NotFound),
    (Action.REQUEST_RELATIONSHIP, SALES, "Direct", NONE, None),
    (Action.REQUEST_RELATIONSHIP, frozenset({"Reader"}), "Direct", NONE, Forbidden),
    (Action.ATTEST, AGENT, "IndirectReseller", ACTIVE, Forbidden),
    (Action.ATTEST, SALES, "IndirectProvider", PROVIDER, None),
    (Action.REGISTER_PARTNERS, AGENT, None, None, Forbidden),
    (Action.REGISTER_PARTNERS, frozenset({"PlatformAdmin"}), None, None, None),
])
def test_the_policy_decides(action, roles, ptype, standing, expected):
    if expected is None:
        check(action, roles=roles, partner_type=ptype, standing=standing, customer_id="c")
    else:
        with pytest.raises(expected):
            check(action, roles=roles, partner_type=ptype, standing=standing, customer_id="c")


def test_without_a_standing_provider_every_customer_is_not_the_callers(monkeypatch):
    monkeypatch.setattr(authz, "_standing_source", [])
    assert authz.standing_of(memory_context(), "p", "c") == authz.NO_STANDING
