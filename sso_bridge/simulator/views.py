"""The simulated DR endpoints (``dr`` blueprint) and the control endpoints (``/_sim``)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from .config import ACCESS_RULES, SimPurchasePlan
from .state import Faults, SimulatorState, TokenRecord

EXTENSION = "dr_simulator"

#: RFC 6749 error codes: answered in the RFC format, everything else in the Shopper API format.
OAUTH_CODES = frozenset(
    {
        "invalid_client",
        "invalid_request",
        "invalid_token",
        "invalid_grant",
        "unsupported_grant_type",
        "unauthorized_client",
    }
)
_CODES_BY_STATUS = {
    400: "invalid-request",
    401: "invalid_token",
    403: "forbidden",
    404: "resource-not-found",
    405: "method-not-allowed",
    409: "rate-limit-quota-exceeded",
    412: "precondition-failed",
    413: "request-entity-too-large",
    415: "unsupported-media-type",
    429: "rate-limit-quota-exceeded",
    503: "service-unavailable",
}
_RELATION = "https://api.digitalriver.com/v1/shoppers"

dr = Blueprint("dr", __name__)
admin = Blueprint("sim_admin", __name__, url_prefix="/_sim")

_KINDS = {
    "dr.token": "token",
    "dr.inspect_token": "token_inspect",
    "dr.revoke_token": "token_revoke",
    "dr.create_shopper": "shopper_create",
    "dr.update_shopper": "shopper_update",
    "dr.get_shopper": "shopper_get",
    "dr.search_plans": "plan_search",
    "dr.authorize_plan": "plan_authorize",
}


class SimError(Exception):
    """An error answer; ``oauth`` selects the RFC 6749 body over the Shopper API one."""

    def __init__(
        self,
        status: int,
        code: str,
        description: str,
        *,
        oauth: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.oauth = oauth
        self.headers = dict(headers or {})


def state() -> SimulatorState:
    sim_state: SimulatorState = current_app.extensions[EXTENSION]
    return sim_state


def error_response(error: SimError) -> Response:
    body: dict[str, object]
    if error.oauth:
        body = {"error": error.code, "error_description": error.description}
    else:
        entry = {"relation": _RELATION, "code": error.code, "description": error.description}
        single = state().quirks.single_error_object
        body = {"errors": {"error": entry if single else [entry]}}
    response = jsonify(body)
    response.status_code = error.status
    response.headers.update(error.headers)
    if error.status == 401 and error.oauth and error.code == "invalid_client":
        response.headers["WWW-Authenticate"] = 'Basic realm="Digital River"'
    return response


def handle_sim_error(error: SimError) -> Response:
    return error_response(error)


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = _CODES_BY_STATUS.get(status, "system-error" if status >= 500 else "invalid-request")
    if status == 500:
        code = "system-error"
    headers = {}
    if status == 405:
        allow = exc.get_response().headers.get("Allow")
        if allow:
            headers["Allow"] = allow
    return error_response(SimError(status, code, exc.description or exc.name, headers=headers))


def _default_code(status: int, path: str) -> str:
    if status == 401:
        return "invalid_client" if path.startswith("/oauth20/token") else "invalid_token"
    return _CODES_BY_STATUS.get(status, "system-error" if status >= 500 else "invalid-request")


# --------------------------------------------------------------------------- every DR call


@dr.before_request
def count_and_inject_faults() -> Response | None:
    sim = state()
    kind = _KINDS.get(request.endpoint or "")
    if kind == "token" and _asks_for_app_token():
        kind = "app_token"  # counted apart: "token" stays one per shopper mint
    if kind is not None:
        sim.count(kind)
    if not sim.take_rate_slot():
        raise SimError(
            429,
            "rate-limit-quota-exceeded",
            "The rate limit for this API key was exceeded",
            headers={"Retry-After": "1"},
        )
    action = sim.take_fault(request.path)
    if action is None:
        return None
    sim.sleep(action.delay)
    if action.status is None:
        return None
    code = action.code or _default_code(action.status, request.path)
    headers = {}
    if action.retry_after is not None:
        headers["Retry-After"] = f"{action.retry_after:g}"
    raise SimError(
        action.status,
        code,
        f"Injected fault ({action.status})",
        oauth=request.path.startswith("/oauth20/") and code in OAUTH_CODES,
        headers=headers,
    )


# --------------------------------------------------------------------------- OAuth


@dr.post("/oauth20/token")
def token() -> Response:
    sim = state()
    auth = request.authorization
    if (
        auth is None
        or auth.type != "basic"
        or not _same(auth.username or "", sim.config.api_key)
        or not _same(auth.password or "", sim.config.api_secret)
    ):
        raise SimError(401, "invalid_client", "Client authentication failed", oauth=True)
    if request.mimetype != "application/x-www-form-urlencoded":
        raise SimError(
            400,
            "invalid_request",
            "The body must be application/x-www-form-urlencoded",
            oauth=True,
        )
    grant_type = request.form.get("grant_type")
    if not grant_type:
        raise SimError(400, "invalid_request", "grant_type is required", oauth=True)
    if grant_type != "client_credentials":
        raise SimError(
            400, "unsupported_grant_type", "Only client_credentials is supported", oauth=True
        )
    # Without an ERID the token is the application's own (no shopper behind it): good for the
    # calls that accept any token, refused by those that need a shopper.
    erid = request.form.get("dr_external_reference_id", "").strip() or None
    session_token = request.form.get("dr_session_token") or None
    if erid is None and session_token is not None:
        raise SimError(
            400, "invalid_request", "dr_session_token needs dr_external_reference_id", oauth=True
        )
    access_token, refresh_token, _record = sim.mint(erid, session_token)
    lifetime = sim.config.token_lifetime
    body: dict[str, object] = {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": str(lifetime) if sim.quirks.string_expires_in else lifetime,
        "refresh_token": refresh_token,
    }
    response = jsonify({"token": body} if sim.quirks.wrap_token else body)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@dr.get("/oauth20/access-tokens")
def inspect_token() -> Response:
    access_token = request.args.get("token", "")
    if not access_token:
        raise SimError(400, "invalid_request", "token is required", oauth=True)
    record = state().lookup(access_token)
    if record is None:
        raise SimError(401, "invalid_token", "The token is unknown or expired", oauth=True)
    erid = record.external_reference_id
    shopper = state().get_shopper(erid) if erid is not None else None
    return jsonify(
        {
            "externalReferenceId": record.external_reference_id,
            "expiresIn": record.expires_in(),
            "authenticated": "true" if erid is not None else "false",
            "sessionId": record.session_id,
            "sessionAware": record.session_token is not None,
            "locale": shopper.locale if shopper else "en_US",
            "currency": shopper.currency if shopper else "USD",
        }
    )


@dr.delete("/oauth20/access-tokens")
def revoke_token() -> Response:
    access_token = _bearer_token()
    if access_token is None or not state().revoke(access_token):
        raise SimError(401, "invalid_token", "The token is unknown or expired", oauth=True)
    return Response(status=204)


# --------------------------------------------------------------------------- shoppers


@dr.post("/v1/shoppers")
def create_shopper() -> Response:
    record = _authenticate(allow_api_key=True)
    fields = _shopper_fields(_json_object("shopper"))
    erid = fields.pop("externalReferenceId", None)
    if record is not None and record.external_reference_id is not None:
        if erid is not None and erid != record.external_reference_id:
            raise SimError(400, "validation-error", "externalReferenceId does not match the token")
        erid = record.external_reference_id
    if not erid:
        raise SimError(400, "validation-error", "externalReferenceId is required")
    created = state().create_shopper(erid, fields)
    if created is None:
        raise SimError(409, "shopper-already-exists", "A shopper with this ERID already exists")
    response = Response(status=201)
    response.headers["Location"] = "/v1/shoppers/me"
    return response


@dr.post("/v1/shoppers/me")
def update_shopper() -> Response:
    _, own_erid = _require_shopper_token()
    fields = _shopper_fields(_json_object("shopper"))
    erid = fields.pop("externalReferenceId", None)
    if erid is not None and erid != own_erid:
        raise SimError(400, "validation-error", "externalReferenceId cannot be changed")
    if not state().update_shopper(own_erid, fields):
        raise SimError(404, "resource-not-found", "The shopper does not exist")
    return Response(status=204)


@dr.get("/v1/shoppers/me")
def get_shopper() -> Response:
    _, erid = _require_shopper_token()
    shopper = state().get_shopper(erid)
    if shopper is None:
        raise SimError(404, "resource-not-found", "The shopper does not exist")
    expand = {part.strip().lower() for part in request.args.get("expand", "").split(",")}
    body: dict[str, object] = {
        "id": shopper.id,
        "firstName": shopper.first_name,
        "lastName": shopper.last_name,
        "emailAddress": shopper.email,
        "locale": shopper.locale,
        "currency": shopper.currency,
    }
    if expand & {"all", "externalreferenceid"}:
        body["externalReferenceId"] = shopper.external_reference_id
    return jsonify({"shopper": body})


# --------------------------------------------------------------------------- private stores


@dr.get("/v1/shoppers/me/purchase-plan/search")
def search_plans() -> Response:
    # "any token" (commerce-api.md): a shopper's or the application's; an API key alone is not.
    _authenticate(allow_api_key=False)
    rules = {name: request.args[name] for name in ACCESS_RULES if request.args.get(name)}
    if not rules:
        raise SimError(400, "invalid-request", f"One of {', '.join(ACCESS_RULES)} is required")
    sim = state()
    quirks = sim.quirks
    plans: list[dict[str, object]] = [
        _plan_json(p, quirks.lowercase_plan_keys) for p in sim.search_plans(rules)
    ]
    listing: object = plans[0] if quirks.single_plan_object and len(plans) == 1 else plans
    inner = {"purchasePlan": listing, "totalResults": str(len(plans))}
    if quirks.lowercase_plan_keys:
        inner = {key.lower(): value for key, value in inner.items()}
        return jsonify({"purchaseplans": inner})
    return jsonify({"purchasePlans": inner})


@dr.post("/v1/shoppers/me/purchase-plan/authorize")
def authorize_plan() -> Response:
    record, _ = _require_shopper_token()
    body = _json_object("purchasePlanAuthorize")
    plan_id = body.get("id")
    plan = state().find_plan(str(plan_id)) if isinstance(plan_id, (str, int)) else None
    rule = {name: str(body[name]) for name in ACCESS_RULES if body.get(name)}
    target_market_id = body.get("targetMarketId")
    if (
        plan is None
        or not rule
        or (target_market_id is not None and str(target_market_id) != plan.target_market_id)
        or not plan.matches_any(rule)
    ):
        raise SimError(400, "invalid-request", "The purchase plan could not be authorized")
    state().record_authorization(record, plan, rule)
    return Response(status=204)


def _plan_json(plan: SimPurchasePlan, lowercase: bool) -> dict[str, object]:
    body: dict[str, object] = {
        "uri": f"{_RELATION}/me/purchase-plan/{plan.id}",
        "id": plan.id,
        "isAuthenticationRequiredToBrowse": "true" if plan.authentication_required else "false",
        "purchasePlanName": plan.name,
        "targetMarketId": plan.target_market_id,
        "targetMarketName": plan.target_market_name,
    }
    return {key.lower(): value for key, value in body.items()} if lowercase else body


# --------------------------------------------------------------------------- helpers


def _asks_for_app_token() -> bool:
    return (
        request.mimetype == "application/x-www-form-urlencoded"
        and not request.form.get("dr_external_reference_id", "").strip()
        and not request.form.get("dr_session_token")
    )


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _bearer_token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _authenticate(*, allow_api_key: bool) -> TokenRecord | None:
    """The caller's token record, or None for an ``?apiKey=`` call where that is allowed."""
    access_token = _bearer_token()
    if access_token is None and allow_api_key and "apiKey" in request.args:
        if not _same(request.args["apiKey"], state().config.api_key):
            raise SimError(401, "invalid_client", "The API key is not valid")
        return None
    if access_token is None:
        raise SimError(401, "invalid_token", "A bearer token is required")
    record = state().lookup(access_token)
    if record is None:
        raise SimError(401, "invalid_token", "The token is unknown or expired")
    return record


def _require_shopper_token() -> tuple[TokenRecord, str]:
    """The record of a shopper's token: the application's own token has no ``/me``."""
    record = _authenticate(allow_api_key=False)
    assert record is not None
    erid = record.external_reference_id
    if erid is None:
        raise SimError(401, "invalid_token", "This call needs a shopper's token")
    return record, erid


def _json_object(wrapper: str) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise SimError(400, "invalid-request", "The body must be a JSON object")
    inner = body.get(wrapper)
    if not isinstance(inner, dict):
        raise SimError(400, "validation-error", f"The body must hold a {wrapper!r} object")
    return inner


def _shopper_fields(data: Mapping[str, Any]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name in (
        "externalReferenceId",
        "firstName",
        "lastName",
        "emailAddress",
        "locale",
        "currency",
    ):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise SimError(400, "validation-error", f"{name} must be a string")
        fields[name] = value
    return fields


# --------------------------------------------------------------------------- /_sim


@admin.get("/faults")
def get_faults() -> Response:
    return jsonify(state().faults.to_json())


@admin.post("/faults")
def set_faults() -> Response:
    sim = state()
    try:
        faults = Faults.from_json(request.get_json(silent=True), max_hang=sim.config.max_hang)
    except ValueError as exc:
        raise SimError(400, "validation-error", str(exc)) from exc
    sim.set_faults(faults)
    return jsonify(faults.to_json())


@admin.get("/quirks")
def get_quirks() -> Response:
    return jsonify(state().quirks.to_dict())


@admin.post("/quirks")
def set_quirks() -> Response:
    sim = state()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise SimError(400, "invalid-request", "The body must be a JSON object")
    try:
        quirks = sim.quirks.updated(body)
    except ValueError as exc:
        raise SimError(400, "validation-error", str(exc)) from exc
    sim.set_quirks(quirks)
    return jsonify(quirks.to_dict())


@admin.get("/stats")
def get_stats() -> Response:
    return jsonify(state().stats())


@admin.post("/reset")
def reset() -> Response:
    state().reset()
    return Response(status=204)
