"""Contract fuzzing: schemathesis generates requests from the served OpenAPI document and runs every check on the answers.

Against the whole local stack (real host, Azurite, MailDev), with the demo partner's tokens: schema-valid requests
must be accepted or refused only for a documented reason (state, not shape), schema-violating ones refused, every
status and content type documented, every body as its schema says. Deterministic (hypothesis `derandomize`), bounded
(a fixed number of cases per operation and generation mode). The summary goes to bench/RESULTS.md.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok

from bench.results_file import write_section
from devhost.seed import demo_tokens, seed_demo

# Cases per operation and generation mode: 32 operations x 2 modes x 40 >= 2,000 cases in a few minutes here.
CASES_PER_MODE = 40
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
TITLE = "Contract fuzzing (schemathesis)"


def _excluded(operation) -> str | None:
    """Why an operation is not fuzzed, or None."""
    security = operation.definition.raw.get("security")
    if security == [{"session": []}]:
        # Only a signed-in customer's session cookie (from a real sign-in) and its CSRF token reach these pages;
        # without them every generated request ends at the same sign-in redirect, which tests nothing.
        return "needs a customer session (sign-in through the identity provider) and its CSRF token"
    if operation.path == "/api/auth/callback":
        # The identity provider's answer: generated `code`/`state` values are refused before anything else happens.
        return "the identity provider's redirect; meaningful only with a real sign-in flow's state"
    return None


# Rules JSON Schema cannot state, each said in its field's description: check digits (vatNumber, registrationNumber),
# numbering plans (phone numbers), dates relative to today, a continuation token being one this API issued, and rules
# across fields (customerId for some kinds, a whole person or none, either agreement or askToAcceptDirectly). A schema-valid
# request refused only by these is not a contract failure; the summary counts them.
BEYOND_SCHEMA_FIELDS = {"vatNumber", "registrationNumber", "phone", "phoneNumber", "dateAgreed", "endDate", "continuationToken",
                        "(body)", "company", "roles", "invitations"}
# And refusals that depend on state, not shape: an Idempotency-Key the fuzzer sent before with another body, an
# indirect provider id that names no registered partner, a webhook URL whose host does not resolve to a public address.
BEYOND_SCHEMA_TYPES = ("invalid-phone-number", "date-agreed-in-future", "gdap-end-date", "malformed-continuation-token",
                       "idempotency-key-reused", "unknown_provider", "url-refused",
                       # only an indirect reseller's own provider may be named (which one that is: the registry's state)
                       "not-your-indirect-provider",
                       # an attestation naming another primary contact than the stored one needs If-Match (428)
                       "primary-contact-needs-if-match",
                       # cross-field: a CustomerOnboarding invitation must not name an existing customer
                       "onboarding-names-customer")


def _refused_beyond_schema(response) -> bool:
    if response.status_code not in (400, 422, 428):
        return False
    try:
        problem = response.json()
    except ValueError:
        return False
    if str(problem.get("type", "")).rsplit("/", 1)[-1] in BEYOND_SCHEMA_TYPES:
        return True
    errors = problem.get("errors") or []
    return bool(errors) and all(str(e.get("field", "")).split(".")[-1] in BEYOND_SCHEMA_FIELDS or
                                str(e.get("field", "")).split(".")[0] in BEYOND_SCHEMA_FIELDS for e in errors)


def _failures(exc: BaseException) -> list[Failure]:
    if isinstance(exc, FailureGroup):
        return list(exc.exceptions)
    if isinstance(exc, Failure):
        return [exc]
    raise exc


def _fuzz(operation, mode, label, check, send, cases) -> None:
    @settings(max_examples=CASES_PER_MODE, deadline=None, derandomize=True, database=None,
              phases=[Phase.generate], suppress_health_check=[HealthCheck(check) for check in HealthCheck])
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        cases[mode.value] += 1
        check(case, send(case))

    try:
        run()
    except Unsatisfiable:
        # Negative mode finds nothing to break on an operation without parameters or body (GET /api/health).
        if mode is not GenerationMode.NEGATIVE:
            raise


def _check(case, response, label, headers, base, session, failed, examples, beyond) -> None:
    excluded = []
    if _refused_beyond_schema(response):
        beyond[label] += 1
        excluded = [checks.positive_data_acceptance]
    if any(name == "" and value in ([], None, "") for name, value in (case.query or {}).items()):
        # A query parameter with an empty name and no value never reaches the wire, so the server cannot refuse it.
        excluded.append(checks.negative_data_rejection)
    try:
        case.validate_response(response, headers=headers, excluded_checks=excluded,
                               transport_kwargs={"base_url": base, "session": session})
    except (Failure, FailureGroup) as exc:
        for failure in _failures(exc):
            check = (type(failure).checks or (failure.title,))[0]
            failed[check][label] += 1
            examples.setdefault(f"{check} {label}", f"{failure.title}: {failure.message[:300]} "
                                                   f"(sent {case.method} {case.formatted_path} {case.query} {str(case.body)[:200]}; "
                                                   f"got {response.status_code} {response.text[:300]})")


@pytest.mark.timeout(900)
def test_served_contract_holds_under_fuzzing(local_stack):
    seed_demo(local_stack)
    tokens = demo_tokens(local_stack)
    base = local_stack.app_url
    document = requests.get(f"{base}/api/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    session = requests.Session()

    cases: Counter[str] = Counter()
    failed: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[str, str] = {}
    beyond: Counter[str] = Counter()
    excluded: dict[str, str] = {}
    operations = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"schemathesis cannot read an operation of the served document: {result.err()}"
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        reason = _excluded(operation)
        if reason:
            excluded[label] = reason
            continue
        operations += 1
        admin = operation.path.startswith("/api/partners")
        headers = {"Authorization": f"Bearer {tokens['admin' if admin else 'agent']}"}
        for mode in MODES:
            _fuzz(operation, mode, label,
                  lambda case, response, label=label, headers=headers: _check(case, response, label, headers, base, session,
                                                                              failed, examples, beyond),
                  lambda case, headers=headers: case.call(base_url=base, session=session, headers=headers, timeout=30), cases)
    seconds = time.monotonic() - started

    total = sum(cases.values())
    failures = sum(sum(by_op.values()) for by_op in failed.values())
    lines = [
        f"schemathesis {schemathesis.__version__}, all checks, against the local stack (`make test`, "
        f"tests/e2e/test_contract_fuzzing.py), {CASES_PER_MODE} cases per operation and mode, derandomized.",
        "",
        "| figure | value |", "|---|---|",
        f"| operations fuzzed | {operations} (excluded: {len(excluded)}) |",
        f"| cases | {total} ({', '.join(f'{mode}: {n}' for mode, n in sorted(cases.items()))}) |",
        f"| failures | {failures} |",
        f"| schema-valid cases refused by a rule JSON Schema cannot state (check digits, phone plans, dates, tokens, "
        f"cross-field) | {sum(beyond.values())} |",
        f"| time | {seconds:.0f} s |",
        "",
        "Failures by check: " + (", ".join(f"{check}: {sum(ops.values())}" for check, ops in sorted(failed.items())) or "none") + ".",
        "",
        "Not fuzzed: " + "; ".join(f"{why}: " + ", ".join(f"`{op}`" for op, w in sorted(excluded.items()) if w == why)
                                   for why in sorted(set(excluded.values()))) + ".",
    ]
    write_section(TITLE, "\n".join(lines))
    detail = "\n".join(f"{key}: {text}" for key, text in sorted(examples.items()))
    assert not failed, f"{failures} failures:\n{detail}"
    assert total >= 2000, f"only {total} cases generated"
