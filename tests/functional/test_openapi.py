"""GET /openapi.json, and the implementation held to it by schemathesis.

The app runs on the machine's PostgreSQL and Redis with the DR simulator over real HTTP; every
generated request (valid and invalid bodies, missing auth, unsupported methods) must get an
answer that is no 5xx and that conforms to the documented status codes, headers and schemas;
bodies the schema calls valid must not be refused with 400, bodies it calls invalid must be.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient

from sso_bridge import create_app, openapi
from sso_bridge.simulator import SimulatorConfig
from sso_bridge.simulator.server import SimulatorServer
from tests.helpers import API_KEY, with_simulator

BEARER = {"Authorization": f"Bearer {API_KEY}"}

MAX_EXAMPLES = 100


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(token_lifetime=3600)) as server:
        yield server


@pytest.fixture
def openapi_app(real_config: dict[str, Any], simulator: SimulatorServer) -> Flask:
    return create_app(with_simulator(real_config, simulator.url))


@pytest.fixture
def api_schema(openapi_app: Flask) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
            "auth": {"openapi": {"bearerAuth": {"bearer": API_KEY}}},
            # Show failing requests as sent: the key is a test key, the user fields matter.
            "output": {"sanitization": {"enabled": False}},
        }
    )
    return schemathesis.openapi.from_wsgi("/openapi.json", openapi_app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def _pytest_9_2_node_id(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's from_fixture reads (and rewrites, for reporting) the private
    # `Function._nodeid`, which pytest 9.2 no longer has; give it one. Harmless once fixed.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.mark.usefixtures("_pytest_9_2_node_id")
@schema.parametrize()
def test_the_api_conforms_to_its_openapi_document(case: Any) -> None:
    # All of schemathesis' checks: not_a_server_error, status_code / content_type /
    # response_headers / response_schema conformance, negative_data_rejection,
    # positive_data_acceptance, ignored_auth, unsupported_method, ...
    case.call_and_validate()


def test_dr_down_gives_the_documented_503(openapi_app: Flask, simulator: SimulatorServer) -> None:
    api = schemathesis.openapi.from_wsgi("/openapi.json", openapi_app)
    case = api["/v1/tokens"]["POST"].Case(body={"userKey": "2"}, headers=BEARER)
    simulator.stop()
    response = case.call()
    assert response.status_code == 503
    assert int(response.headers["retry-after"][0]) >= 1  # schemathesis lower-cases names
    case.validate_response(
        response,
        checks=[
            schemathesis.checks.status_code_conformance,
            schemathesis.checks.content_type_conformance,
            schemathesis.checks.response_headers_conformance,
            schemathesis.checks.response_schema_conformance,
        ],
    )


def test_openapi_json_is_served_without_auth_and_covers_every_v1_route(
    openapi_app: Flask,
) -> None:
    client: FlaskClient = openapi_app.test_client()
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    document = json.loads(response.get_data(as_text=True))
    assert document["openapi"].startswith("3.")
    assert document == json.loads(json.dumps(openapi.OPENAPI_DOCUMENT))

    documented = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    routed = set()
    for rule in openapi_app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/") and rule.rule not in {"/healthz", "/readyz"}:
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        routed |= {
            (path, method) for method in rule.methods or () if method not in {"HEAD", "OPTIONS"}
        }
    assert routed, "no /v1 routes found"
    assert routed <= documented, f"routes missing from the OpenAPI document: {routed - documented}"
    v1_documented = {entry for entry in documented if entry[0].startswith("/v1/")}
    assert v1_documented <= routed, f"documented but not routed: {v1_documented - routed}"


# Strings JSON and the schema allow but the storage layers refuse: a NUL (PostgreSQL text), a lone
# surrogate (not encodable as UTF-8), a digit that `str.isdigit` knows and `int` does not. The
# fuzzer meets them only now and then; these requests meet them every run.
AWKWARD = (r"a\u0000b", r"\ud800", r"\u00b2")  # NUL, lone surrogate, superscript two (JSON escapes)


def awkward_requests() -> list[tuple[str, str, str | None]]:
    """(method, path, raw JSON body) for each awkward string in each place the API takes one."""
    found: list[tuple[str, str, str | None]] = []
    for escaped in AWKWARD:
        for path in ("/v1/tokens", "/v1/sessions"):
            for field in ("userKey", "login", "externalReferenceId"):
                found.append(("POST", path, f'{{"{field}": "{escaped}"}}'))
        found.append(
            (
                "POST",
                "/v1/tokens",
                f'{{"login": "demo@example.com", "drSessionToken": "{escaped}"}}',
            )
        )
    found += [("DELETE", "/v1/tokens/a%00b", None), ("DELETE", "/v1/sessions/a%00b", None)]
    return found


def test_awkward_strings_get_no_server_error(openapi_app: Flask) -> None:
    client = openapi_app.test_client()
    server_errors = []
    for method, path, body in awkward_requests():
        headers = {**BEARER, "Content-Type": "application/json"} if body else BEARER
        response = client.open(path, method=method, data=body, headers=headers)
        if response.status_code >= 500:
            server_errors.append(f"{method} {path} {body or ''} -> {response.status_code}")
    assert not server_errors, "server errors:\n" + "\n".join(server_errors)
