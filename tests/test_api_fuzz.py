"""Schemathesis fuzzes every operation of the project's own OpenAPI document, as each principal.

The schema is the one ``/api/schema/`` serves (drf-spectacular, built in-process); each
operation gets positive (schema-valid) and negative (schema-invalid) cases, sent through the
WSGI application with the credentials of every principal of the role matrix
(tests/accounts/role_matrix.py): staff roles as API keys of that role, the three single-scope
keys, and no credential at all. Whatever the input, the answer is never a server error (5xx),
and its body conforms to the schema where the schema describes it.

Examples are bounded (``FUZZ_EXAMPLES``) and derandomised: the same cases run on every
machine, so a failure reproduces with ``pytest tests/test_api_fuzz.py -k <operation>``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from accounts.roles import Role
from creditplatform.fastpath import FastPathApplication
from tests.accounts.role_matrix import KEY_SCOPES, PRINCIPALS
from tests.factories import ClientFactory, TransactionFactory
from tests.models import TrainedModel, register_trained

# Cases per (operation, principal, mode). Callers the API refuses (401/403) answer before any
# parsing, so they get fewer cases than the roles that reach the code behind the operation.
FUZZ_EXAMPLES = {"admin": 12, "analyst": 12, "apikey_score": 6, "apikey_fraud": 6}
FUZZ_EXAMPLES_REFUSED = 3

SCHEMA = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
SCHEMA.app = FastPathApplication(get_wsgi_application())  # as gunicorn serves it: the decision fast path first
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture
def fuzz_world(
    db: None, keep_test_connection: None, trained_credit: TrainedModel, api_key_for: Callable[..., str]
) -> dict[str, dict[str, str]]:
    """A champion credit model, a client and a transaction to aim at, and each principal's headers."""
    register_trained(trained_credit, version="credit-fuzz", status="champion")
    register_trained(trained_credit, version="credit-fuzz-2", status="challenger", threshold=0.5)
    client = ClientFactory(client_id="C0001")
    TransactionFactory(transaction_id="TX0001", client=client)
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    for principal in PRINCIPALS:
        if principal in KEY_SCOPES:
            headers[principal] = {"X-API-Key": api_key_for(Role.ANALYST, KEY_SCOPES[principal])}
        elif principal != "anonymous":
            headers[principal] = {"X-API-Key": api_key_for(principal)}
    return headers


def _json_numbers(value: Any) -> Any:
    """Decimals (drawn for ``multipleOf`` numbers) as floats: JSON has numbers, not Decimals."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: _json_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_numbers(item) for item in value]
    return value


def fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str], examples: int) -> set[int]:
    """Run the cases; returns the statuses seen."""
    statuses: set[int] = set()

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy(generation_mode=mode))
        case.body = _json_numbers(case.body)
        response = case.call(headers=headers)
        statuses.add(response.status_code)
        case.validate_response(response, checks=CHECKS)

    run()
    return statuses


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_server_error_for_any_principal(label: str, fuzz_world: dict[str, dict[str, str]]) -> None:
    operation = OPERATIONS[label]
    # An operation without parameters or body has no invalid input to generate.
    takes_input = bool(list(operation.iter_parameters())) or bool(operation.body)
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if takes_input else (GenerationMode.POSITIVE,)
    for principal in PRINCIPALS:
        examples = FUZZ_EXAMPLES.get(principal, FUZZ_EXAMPLES_REFUSED)
        for mode in modes:
            statuses = fuzz(operation, mode, fuzz_world[principal], examples)
            if principal == "admin":  # the credentials work: the cases reach the code behind them
                assert not statuses & {401, 403}, (mode, statuses)


# ---- What the fuzzing found (each failed before its fix) -----------------------------------


def test_a_transaction_without_channel_conforms_to_the_schema(fuzz_world: dict[str, dict[str, str]]) -> None:
    """A blank ``channel`` is a valid answer: the schema lists "" beside the six channels."""
    operation = OPERATIONS["GET /api/v1/transactions/"]
    case = operation.Case()
    response = case.call(headers=fuzz_world["admin"])
    assert response.status_code == 200
    assert response.json()["results"][0]["channel"] == ""
    case.validate_response(response, checks=[response_schema_conformance])


def test_a_client_with_blank_names_conforms_to_the_schema(fuzz_world: dict[str, dict[str, str]]) -> None:
    """Blank optional text fields (pattern or empty) no longer match both branches of a ``oneOf``."""
    operation = OPERATIONS["POST /api/v1/clients/"]
    case = operation.Case(body={"client_id": "C0002"}, media_type="application/json")
    response = case.call(headers=fuzz_world["admin"])
    assert response.status_code == 201
    assert response.json()["first_name"] == response.json()["address"] == ""
    case.validate_response(response, checks=[response_schema_conformance])
